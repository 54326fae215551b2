"""Batches that mix online replay with a fixed demonstration buffer, RLPD-style (Ball et al. 2023).

Why: at 15 Hz a grasp-lift-hold takes ~70 control steps and a random or early policy almost never
finishes one, so the critic has no example of what holding is worth. Keeping scripted
demonstrations in their own buffer and giving them a fixed share of every batch (rather than
pouring them into the online buffer, where new data would dilute and then evict them) shows the
learner successful episodes for the whole run.

The split is exact, not drawn: ``round(batch_size * fraction)`` rows come from the demos, the rest
from online replay, so the ratio is what the config says at every update.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def demo_rows(batch_size: int, fraction: float) -> int:
    """How many of ``batch_size`` rows come from the demo buffer."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"demo fraction must be in [0, 1], got {fraction!r}")
    return int(round(batch_size * fraction))


def concat_batches(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """Row-wise concatenation of two ``ReplayBuffer.sample`` batches with the same keys."""
    if set(first) != set(second) or set(first["obs"]) != set(second["obs"]):
        raise ValueError(f"cannot mix batches with different keys: {sorted(first['obs'])} vs {sorted(second['obs'])}")
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, Mapping):
            out[key] = {k: np.concatenate([value[k], second[key][k]]) for k in value}
        else:
            out[key] = np.concatenate([value, second[key]])
    return out


def sample_mixed(online, demos, batch_size: int, fraction: float) -> dict[str, Any]:
    """``batch_size`` transitions: the demo share from ``demos`` (after the online rows), the rest online.

    Each buffer samples with its own generator, so a resumed run that restores both continues the
    same batches. ``demos`` may be None (or the fraction 0): then the batch is all online.
    """
    n_demo = 0 if demos is None else demo_rows(batch_size, fraction)
    if n_demo == 0:
        return online.sample(batch_size)
    if n_demo == batch_size:
        return demos.sample(batch_size)
    return concat_batches(online.sample(batch_size - n_demo), demos.sample(n_demo))
