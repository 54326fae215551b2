"""The observation keys, and which of them the real arm can provide.

``pixels`` (the wrist camera's frame stack) and ``state`` (measured joints and their forward
kinematics) exist on the real arm; ``privileged`` (the cube position) exists only in simulation,
so it may feed critics and teachers but never an actor meant for the arm.
"""

from __future__ import annotations

OBSERVATION_KEYS = ("pixels", "state", "privileged")
REAL_ARM_KEYS = ("pixels", "state")
SIM_ONLY_KEYS = ("privileged",)
