"""Reward v20, made for the state teacher at the real arm's rate: bounded, grasp-gated, hold-paying.

Why a new version: under v11 the best state policy lifted the cube to 30-40 cm (v11's lift ramp is
not capped), its critic saw Q ~900 and losses ~5000, and it swung between 45% and 90% success. v11
also pays its height bonus without a grasp, so tipping the cube onto an edge (centre above 2 cm)
earned reward. v20 keeps the shape of v11/v19 but:

- every term is bounded, so one control tick pays at most ``STEP_MAX`` = 14 (4 without the
  success bonus) and at least ``STEP_MIN`` = -2.5; a critic's Q is therefore bounded by
  ``ticks per agent step * STEP_MAX / (1 - gamma)`` (``liftrl.train.guard`` uses this);
- the lift ramp and the height terms are paid only while grasping, and the ramp stops at the lift
  height (no pay for going higher);
- holding pays a constant ``HOLD_PAY`` per lifted tick (bounded, unlike v19's ``0.5 * hold_count``);
- each phase pays more per tick than the one before (reach < grasp < lift < hold), so the
  greedy direction is always the next phase.

Per tick: reach ``1 - tanh(10 d)``; cube centre below 1 cm: ``-min(0.5, 50 (0.01 - z))``; grasp lost
this tick: ``-2``; while grasping: ``+0.5`` and ``+1.0 * clip((z - 0.015) / (H - 0.015), 0, 1)``, and
above H also ``+0.5`` (height) and ``+1.0`` (hold); on success ``+10``. No smoothness term: under
the latency wrapper most ticks repeat a held command, so an action-change penalty would measure the
wrapper, not the policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from liftrl.rewards.base import TERMS, RewardResult, read_step

NAME = "v20"

REACH_SCALE = 10.0  # reach = 1 - tanh(REACH_SCALE * d), d in metres; in [0, 1]
PUSH_DOWN_Z = 0.01  # cube centre below this: pressed into the table
PUSH_DOWN_SCALE = 50.0
PUSH_DOWN_MAX = 0.5  # the push-down penalty's cap
DROP_PENALTY = 2.0
GRASP_BONUS = 0.5
REST_Z = 0.015  # resting cube centre height: the lift ramp starts here
LIFT_SCALE = 1.0  # ramp value at z >= lift_height (capped there)
ABOVE_LIFT_BONUS = 0.5  # grasping and above the lift height
HOLD_PAY = 1.0  # per lifted tick, constant
SUCCESS_BONUS = 10.0
# The per-tick bounds, stated as constants so the fingerprint pins them and the guard can read them.
STEP_MAX = 1.0 + GRASP_BONUS + LIFT_SCALE + ABOVE_LIFT_BONUS + HOLD_PAY + SUCCESS_BONUS
STEP_MIN = -(PUSH_DOWN_MAX + DROP_PENALTY)


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
        terms["push_down"] = -min(PUSH_DOWN_MAX, PUSH_DOWN_SCALE * (PUSH_DOWN_Z - z))
    if s.grasp_lost:
        terms["drop"] = -DROP_PENALTY
    if s.is_grasping:
        terms["grasp"] = GRASP_BONUS
        terms["lift"] = LIFT_SCALE * min(1.0, max(0.0, z - REST_Z) / (h - REST_Z))
        if z > h:
            terms["height"] = ABOVE_LIFT_BONUS
            terms["hold"] = HOLD_PAY
    if s.is_success:
        terms["success"] = SUCCESS_BONUS
    return RewardResult.from_terms(terms)
