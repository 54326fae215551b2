"""What every reward version reads and returns, shared so that versions stay comparable.

The step info is validated here, once, because a reward silently computed from a missing, mis-shaped
or NaN field poisons a training run without any error; failing loudly at the first step is cheaper.
The term set is fixed and shared by all versions so that per-episode term sums from runs with
different versions line up column for column in logs.

Pure Python + numpy on purpose: evaluation, reporting and tests import rewards without MuJoCo or torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

REQUIRED_INFO_KEYS: tuple[str, ...] = (
    "tool_pos",
    "cube_pos",
    "moving_pad_pos",
    "gripper_closed",
    "is_grasping",
    "was_grasping",
    "grasp_lost",
    "hold_count",
    "is_success",
    "action",
    "prev_action",
    "lift_height",
)

# Every version reports all of these, 0.0 when inactive, in this order.
TERMS: tuple[str, ...] = ("reach", "push_down", "drop", "grasp", "lift", "height", "hold", "smooth", "success")

_VECTOR_SIZES = {"tool_pos": 3, "cube_pos": 3, "moving_pad_pos": 3, "action": 4, "prev_action": 4}
_BOOL_KEYS = ("gripper_closed", "is_grasping", "was_grasping", "grasp_lost", "is_success")


class MissingInfoKeyError(KeyError):
    """A KeyError whose message says which version needed which key, not just the bare key."""

    def __init__(self, key: str, version: str):
        super().__init__(key)
        self.key = key
        self.version = version

    def __str__(self) -> str:
        return (
            f"reward version {self.version!r} needs info[{self.key!r}], which the step info lacks "
            f"(required keys: {', '.join(REQUIRED_INFO_KEYS)})"
        )


@dataclass(frozen=True)
class RewardResult:
    """One step's reward, split into named terms so a collapse can be traced to the term that moved.

    ``total`` is by construction the sum of ``terms`` in ``TERMS`` order (checked exactly), so the
    logged terms always explain the logged return. Build it with :meth:`from_terms`.
    """

    total: float
    terms: dict[str, float]

    def __post_init__(self) -> None:
        if tuple(self.terms) != TERMS:
            raise ValueError(f"reward terms must be exactly {TERMS} in that order, got {tuple(self.terms)}")
        if self.total != sum(self.terms.values()):
            raise ValueError(f"total {self.total!r} is not the sum of the terms {self.terms}")

    @classmethod
    def from_terms(cls, terms: Mapping[str, float]) -> RewardResult:
        if set(terms) != set(TERMS):
            raise ValueError(f"reward terms must be exactly {TERMS}, got {tuple(terms)}")
        ordered = {name: float(terms[name]) for name in TERMS}
        return cls(total=sum(ordered.values()), terms=ordered)


@dataclass(frozen=True)
class Step:
    """The validated view of a step info that reward functions compute from."""

    tool_pos: np.ndarray
    cube_pos: np.ndarray
    moving_pad_pos: np.ndarray
    gripper_closed: bool
    is_grasping: bool
    was_grasping: bool
    grasp_lost: bool
    hold_count: int
    is_success: bool
    action: np.ndarray
    prev_action: np.ndarray
    lift_height: float


def read_step(info: Mapping[str, Any], version: str) -> Step:
    if not isinstance(info, Mapping):
        raise TypeError(f"reward version {version!r} expects the step info as a mapping, got {type(info).__name__}")
    for key in REQUIRED_INFO_KEYS:
        if key not in info:
            raise MissingInfoKeyError(key, version)

    values: dict[str, Any] = {}
    for key, size in _VECTOR_SIZES.items():
        arr = np.asarray(info[key], dtype=np.float64)
        if arr.shape != (size,):
            raise ValueError(f"reward version {version!r}: info[{key!r}] must have shape ({size},), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"reward version {version!r}: info[{key!r}] is not finite: {arr.tolist()}")
        values[key] = arr
    for key in _BOOL_KEYS:
        flag = info[key]
        # bool("False") is True: only real booleans are accepted.
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"reward version {version!r}: info[{key!r}] must be a bool, got {type(flag).__name__}")
        values[key] = bool(flag)

    hold = info["hold_count"]
    if isinstance(hold, (bool, np.bool_)) or not isinstance(hold, (int, np.integer)) or hold < 0:
        raise ValueError(f"reward version {version!r}: info['hold_count'] must be an int >= 0, got {hold!r}")
    values["hold_count"] = int(hold)

    height = info["lift_height"]
    if isinstance(height, (bool, np.bool_)) or not isinstance(height, Real) or not math.isfinite(height) or height <= 0:
        raise ValueError(f"reward version {version!r}: info['lift_height'] must be a finite float > 0, got {height!r}")
    values["lift_height"] = float(height)

    # The drop penalty reads grasp_lost; an info where it disagrees with the grasp states is a bug upstream.
    if values["grasp_lost"] != (values["was_grasping"] and not values["is_grasping"]):
        raise ValueError(
            f"reward version {version!r}: inconsistent grasp state: grasp_lost={values['grasp_lost']} but "
            f"was_grasping={values['was_grasping']}, is_grasping={values['is_grasping']}"
        )
    return Step(**values)


def episode_term_sums(results: Iterable[RewardResult]) -> dict[str, float]:
    """Per-term episode sums: the episode return decomposed, so a log shows which term drove it.

    Always every term of ``TERMS`` (an empty episode gives zeros), so rows from any run line up.
    """
    sums = dict.fromkeys(TERMS, 0.0)
    for result in results:
        for name, value in result.terms.items():
            sums[name] += value
    return sums
