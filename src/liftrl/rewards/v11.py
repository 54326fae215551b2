"""Reward v11, made for state-based SAC (100% success at 1M steps with a 150-step hold).

Kept exactly as trained so its runs stay comparable. Note what it does not do: it never pays for
holding (``hold`` is always 0) and its height bonuses do not require a grasp; that is why it was
superseded for long holds, not a bug to fix here. A changed rule is a new version, not an edit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from liftrl.rewards.base import TERMS, RewardResult, read_step

NAME = "v11"

REACH_SCALE = 10.0  # reach = 1 - tanh(REACH_SCALE * d), d in metres
PUSH_DOWN_Z = 0.01  # cube centre below this: pressed into the table
PUSH_DOWN_SCALE = 50.0
DROP_PENALTY = 2.0
GRASP_BONUS = 0.25
REST_Z = 0.015  # resting cube centre height: the lift ramp starts here
LIFT_SCALE = 2.0  # ramp value at z = lift_height (not capped above it)
OFF_TABLE_Z = 0.02
OFF_TABLE_BONUS = 1.0
ABOVE_LIFT_BONUS = 1.0
SMOOTH_Z = 0.06  # action-change penalty only once the cube is well up
SMOOTH_SCALE = 0.01
SUCCESS_BONUS = 10.0


def reward(info: Mapping[str, Any]) -> RewardResult:
    s = read_step(info, NAME)
    z = float(s.cube_pos[2])
    h = s.lift_height
    if h <= REST_Z:
        raise ValueError(f"reward version {NAME!r} needs lift_height > {REST_Z}, got {h}")
    d = float(np.linalg.norm(s.tool_pos - s.cube_pos))

    terms = dict.fromkeys(TERMS, 0.0)
    terms["reach"] = 1.0 - math.tanh(REACH_SCALE * d)
    if z < PUSH_DOWN_Z:
        terms["push_down"] = -PUSH_DOWN_SCALE * (PUSH_DOWN_Z - z)
    if s.grasp_lost:
        terms["drop"] = -DROP_PENALTY
    if s.is_grasping:
        terms["grasp"] = GRASP_BONUS
        terms["lift"] = LIFT_SCALE * max(0.0, z - REST_Z) / (h - REST_Z)
    if z > OFF_TABLE_Z:
        terms["height"] += OFF_TABLE_BONUS
    if z > h:
        terms["height"] += ABOVE_LIFT_BONUS
    if z > SMOOTH_Z:
        terms["smooth"] = -SMOOTH_SCALE * float(np.sum((s.action - s.prev_action) ** 2))
    if s.is_success:
        terms["success"] = SUCCESS_BONUS
    return RewardResult.from_terms(terms)
