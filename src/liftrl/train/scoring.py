"""An evaluation's figures from its episodes, and how checkpoints are ranked by them.

The user's "best by reward" checkpoint once had 0% success, so ``best`` is ranked by the Wilson
lower confidence bound of the success rate first (1 of 2 must not beat 18 of 20), then by mean
reward. The episodes themselves are run by ``liftrl.train.episodes``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from liftrl.train.episodes import EpisodeResult


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (lo, hi) for a success rate; (0, 1) when nothing was tried.

    Unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-width at 0/n or n/n,
    which is where a stress condition or a good checkpoint often sits.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom), min(1.0, (centre + margin) / denom)


def wilson_lower_bound(successes: int, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval for a success rate (0 when nothing was tried)."""
    return wilson_interval(successes, n, z)[0] if n > 0 else 0.0


@dataclass(frozen=True)
class EvalSummary:
    episodes: int
    successes: int
    success_rate: float
    success_lcb: float
    reward_mean: float
    reward_std: float
    max_cube_z_mean: float
    max_cube_z_max: float
    hold_mean: float
    length_mean: float

    def as_dict(self) -> dict:
        return asdict(self)

    def rank_key(self) -> tuple[float, float]:
        return rank_key(self.success_lcb, self.reward_mean)


def rank_key(success_lcb: float, reward_mean: float) -> tuple[float, float]:
    """How checkpoints are ordered for ``best``: success lower bound, then mean reward (NaN last)."""
    lcb = -1.0 if math.isnan(success_lcb) else success_lcb
    reward = -math.inf if math.isnan(reward_mean) else reward_mean
    return (lcb, reward)


def summarize(rows: list[EpisodeResult]) -> EvalSummary:
    """Table figures from per-episode rows: the only way figures are computed, so they always match."""
    if not rows:
        raise ValueError("cannot summarise an evaluation with no episodes")
    rewards = np.array([r.reward for r in rows], dtype=float)
    successes = sum(r.success for r in rows)
    z = np.array([r.max_cube_z for r in rows], dtype=float)
    return EvalSummary(
        episodes=len(rows),
        successes=int(successes),
        success_rate=successes / len(rows),
        success_lcb=wilson_lower_bound(int(successes), len(rows)),
        reward_mean=float(rewards.mean()),
        reward_std=float(rewards.std()),
        max_cube_z_mean=float(z.mean()),
        max_cube_z_max=float(z.max()),
        hold_mean=float(np.mean([r.max_hold for r in rows])),
        length_mean=float(np.mean([r.length for r in rows])),
    )


def is_better(candidate: EvalSummary, incumbent: EvalSummary | None) -> bool:
    return incumbent is None or candidate.rank_key() > incumbent.rank_key()
