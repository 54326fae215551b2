"""Evaluation on seeds disjoint from training, and how checkpoints are ranked.

The user's "best by reward" checkpoint once had 0% success, so ``best`` is ranked by the Wilson
lower confidence bound of the success rate first (1 of 2 must not beat 18 of 20), then by mean
reward.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping

import numpy as np


def wilson_lower_bound(successes: int, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval for a success rate (0 when nothing was tried)."""
    if n <= 0:
        return 0.0
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom)


@dataclass(frozen=True)
class EpisodeResult:
    seed: int
    reward: float
    success: bool
    length: int
    max_cube_z: float
    max_hold: int
    final_hold: int


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


Policy = Callable[[Mapping[str, np.ndarray]], np.ndarray]
FrameHook = Callable[[int, int, Mapping[str, np.ndarray], Mapping, float], None]


def run_episodes(vec_env, policy: Policy, seeds: list[int], on_step: FrameHook | None = None) -> list[EpisodeResult]:
    """Run one episode per seed on a vector env, ``num_envs`` seeds at a time.

    ``policy`` maps a batch of observations to a batch of actions (deterministic for eval).
    Envs that finish early keep stepping (auto-reset) but their results are ignored until the
    batch is done, so every episode starts from exactly its seed.
    ``on_step(slot, seed, obs, info, reward)`` sees each live env's step, for videos.
    """
    n = vec_env.num_envs
    results: list[EpisodeResult] = []
    for start in range(0, len(seeds), n):
        batch = seeds[start:start + n]
        padded = batch + [batch[-1]] * (n - len(batch))
        obs, infos = vec_env.reset(seed=padded)
        live = np.zeros(n, dtype=bool)
        live[: len(batch)] = True
        ret = np.zeros(n)
        max_z = np.array([infos["cube_pos"][i][2] for i in range(n)], dtype=float)
        max_hold = np.zeros(n, dtype=int)
        length = np.zeros(n, dtype=int)
        if on_step is not None:
            for i in np.flatnonzero(live):
                on_step(int(i), batch[i], {k: v[i] for k, v in obs.items()}, _row(infos, i), 0.0)
        while live.any():
            actions = policy(obs)
            obs, rewards, term, trunc, infos = vec_env.step(actions)
            done = term | trunc
            for i in np.flatnonzero(live):
                info = _row(infos["final_info"], i) if done[i] else _row(infos, i)
                step_obs = infos["final_obs"][i] if done[i] else {k: v[i] for k, v in obs.items()}
                ret[i] += rewards[i]
                length[i] += 1
                max_z[i] = max(max_z[i], float(info["cube_pos"][2]))
                max_hold[i] = max(max_hold[i], int(info["hold_count"]))
                if on_step is not None:
                    on_step(int(i), batch[i], step_obs, info, float(rewards[i]))
                if done[i]:
                    live[i] = False
                    results.append(EpisodeResult(
                        seed=batch[i], reward=float(ret[i]), success=bool(info["is_success"]),
                        length=int(length[i]), max_cube_z=float(max_z[i]), max_hold=int(max_hold[i]),
                        final_hold=int(info["hold_count"]),
                    ))
    results.sort(key=lambda r: seeds.index(r.seed))
    return results


def _row(infos: Mapping, i: int) -> dict:
    """One env's info out of Gymnasium's batched info dict (nested dicts included)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = _row(value, i)
        else:
            out[key] = value[i]
    return out
