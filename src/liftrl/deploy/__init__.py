"""From a trained run to the arm: policy bundles, the Robot interface, the safe control loop, dry runs.

Data path: robot reading -> ``pipeline.ObservationBuilder`` (the env's own camera and state code)
-> bundle actor -> ``pipeline.CommandMapper`` (the env's own IK) -> ``safety.limit_command`` -> robot.
"""
