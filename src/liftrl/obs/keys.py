"""The observation keys, and which of them the real arm can provide.

``pixels`` (the wrist camera's frame stack) and ``state`` (measured joints and their forward
kinematics) exist on the real arm, and its deploy loop knows the actions it sent (``last_actions``,
``liftrl.obs.action_history``); ``privileged`` (the cube's position, size, orientation and
velocity, ``liftrl.sim.privileged``) exists only in simulation, so it may feed critics and teachers
but never an actor meant for the arm.
"""

from __future__ import annotations

OBSERVATION_KEYS = ("pixels", "state", "privileged", "last_actions")
REAL_ARM_KEYS = ("pixels", "state", "last_actions")
SIM_ONLY_KEYS = ("privileged",)
