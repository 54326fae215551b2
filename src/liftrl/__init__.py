"""liftrl: teach an SO-101 arm to grasp, lift and hold a cube, in simulation and on the real arm.

Importing the package registers the Gymnasium environment ``liftrl/LiftCube-v0`` so that
``gymnasium.make`` works in worker processes started with ``spawn`` as well.
"""

__version__ = "0.1.0"

try:  # registration needs gymnasium only; keep import light for tools that never build an env
    from liftrl.sim.registration import register_envs as _register_envs

    _register_envs()
except ImportError:  # pragma: no cover - only when optional sim deps are missing
    pass
