"""From a trained run to the arm: policy bundles, the Robot interface, the safe control loop, dry runs.

Data path: robot reading -> ``pipeline.ObservationBuilder`` (the env's own camera and state code)
-> bundle actor -> ``pipeline.CommandMapper`` (the env's own IK) -> ``safety.limit_command`` -> robot.

The real arm speaks LeRobot's units: ``so101.So101Robot`` converts with a ``mapping.JointMapping``
built per arm by ``calibration`` (LeRobot's calibration file + the points ``bringup`` measured);
``sim_lerobot`` puts the simulation behind the same interface so that path runs in a dry run.
"""
