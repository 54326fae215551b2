"""Sparse reward: 1 on success, else 0.

The baseline that shows how much a shaped version helps, and the one reward no shaping bug can
reach into. All shaped terms are reported as 0.0 so its logs line up with the shaped versions'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liftrl.rewards.base import TERMS, RewardResult, read_step

NAME = "sparse"

SUCCESS_REWARD = 1.0


def reward(info: Mapping[str, Any]) -> RewardResult:
    s = read_step(info, NAME)
    terms = dict.fromkeys(TERMS, 0.0)
    if s.is_success:
        terms["success"] = SUCCESS_REWARD
    return RewardResult.from_terms(terms)
