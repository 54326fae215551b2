"""Reward v19, made for pixel-based DrQ-v2 with a long hold.

Differs from v11 where v11 failed the 150-step hold: holding pays (``0.5 * hold_count`` above the
lift height), the height bonus off the table needs a grasp, and close to the cube the moving pad's
own reach is blended in so the policy learns to bring the moving jaw around the cube.

Term mapping (TASK.md lists the rules, not the names): the two grasped ramps, ``4.0 * ...`` from
the table and ``2.0 * min(1, ...)`` above 0.04 m, are both ``lift``; the step bonuses (off the table
while grasping, above the lift height) are ``height``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from liftrl.rewards.base import TERMS, RewardResult, read_step

NAME = "v19"

REACH_SCALE = 10.0  # r = 1 - tanh(REACH_SCALE * distance), distance in metres
REACH_BLEND_FROM = 0.7  # r_g at or above this: reach = mean(r_g, moving pad's reach)
CLOSED_PAD_REACH = 1.0  # moving pad's reach once the gripper is closed
PUSH_DOWN_Z = 0.01
PUSH_DOWN_SCALE = 50.0
DROP_PENALTY = 2.0
GRASP_BONUS = 1.5
REST_Z = 0.015  # resting cube centre height: the first lift ramp starts here
LIFT_SCALE = 4.0  # first ramp's value at z = lift_height (not capped above it)
HIGH_LIFT_Z = 0.04  # second ramp starts here ...
HIGH_LIFT_SCALE = 2.0  # ... and is capped at this value from z = lift_height up
OFF_TABLE_Z = 0.02
OFF_TABLE_BONUS = 1.0
ABOVE_LIFT_BONUS = 1.0
HOLD_SCALE = 0.5  # per consecutive lifted step so far
SMOOTH_SCALE = 0.02
SUCCESS_BONUS = 10.0


def reward(info: Mapping[str, Any]) -> RewardResult:
    s = read_step(info, NAME)
    z = float(s.cube_pos[2])
    h = s.lift_height
    if h <= HIGH_LIFT_Z:
        raise ValueError(f"reward version {NAME!r} needs lift_height > {HIGH_LIFT_Z}, got {h}")
    d = float(np.linalg.norm(s.tool_pos - s.cube_pos))
    d_moving = float(np.linalg.norm(s.moving_pad_pos - s.cube_pos))

    terms = dict.fromkeys(TERMS, 0.0)
    r_g = 1.0 - math.tanh(REACH_SCALE * d)
    if r_g < REACH_BLEND_FROM:
        terms["reach"] = r_g
    else:
        r_m = CLOSED_PAD_REACH if s.gripper_closed else 1.0 - math.tanh(REACH_SCALE * d_moving)
        terms["reach"] = (r_g + r_m) / 2.0
    if z < PUSH_DOWN_Z:
        terms["push_down"] = -PUSH_DOWN_SCALE * (PUSH_DOWN_Z - z)
    if s.grasp_lost:
        terms["drop"] = -DROP_PENALTY
    if s.is_grasping:
        terms["grasp"] = GRASP_BONUS
        terms["lift"] = LIFT_SCALE * max(0.0, z - REST_Z) / (h - REST_Z)
        if z > HIGH_LIFT_Z:
            terms["lift"] += HIGH_LIFT_SCALE * min(1.0, (z - HIGH_LIFT_Z) / (h - HIGH_LIFT_Z))
        if z > OFF_TABLE_Z:
            terms["height"] += OFF_TABLE_BONUS
    if z > h:
        terms["height"] += ABOVE_LIFT_BONUS
        terms["hold"] = HOLD_SCALE * s.hold_count
        if s.hold_count > 0:
            terms["smooth"] = -SMOOTH_SCALE * float(np.sum((s.action - s.prev_action) ** 2))
    if s.is_success:
        terms["success"] = SUCCESS_BONUS
    return RewardResult.from_terms(terms)
