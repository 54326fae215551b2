"""The one episode runner: a policy acting in an env from a seeded reset until the episode ends.

Training-time evaluation (``run_episodes`` over the vector env), ``liftrl eval`` and the end-of-run
video (``run_episode``, filmed through ``on_frame``), the deploy dry run's env row and the scripted
demo all run their episodes here, and every one of them (the train loop's running training
episodes too) keeps its books with ``EpisodeStats``: return, length, highest cube, longest hold,
reward terms, success. So a table row, a logged metric and a video caption cannot disagree on
what an episode scored.

Hooks: ``on_frame(obs, info, reward, total)`` sees the reset and every step (a video has one frame
per observation the policy received: ``length + 1``); ``on_step(StepRecord)`` sees each step's
record (observation after the step, action, reward, info).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from liftrl.common.types import Policy

FrameHook = Callable[[Mapping[str, np.ndarray], Mapping[str, Any], float, float], None]


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
class StepRecord:
    seed: int
    step: int
    obs: Mapping[str, np.ndarray]
    action: np.ndarray
    reward: float
    info: Mapping[str, Any]


StepHook = Callable[[StepRecord], None]


@dataclass
class EpisodeStats:
    """Running sums of one episode; ``max_cube_z`` starts at the reset's cube height when given."""

    total: float = 0.0
    length: int = 0
    max_cube_z: float = 0.0
    max_hold: int = 0
    terms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def after_reset(cls, info: Mapping[str, Any]) -> "EpisodeStats":
        return cls(max_cube_z=float(info["cube_pos"][2]))

    def add(self, reward: float, info: Mapping[str, Any]) -> None:
        self.total += reward
        self.length += 1
        self.max_cube_z = max(self.max_cube_z, float(info["cube_pos"][2]))
        self.max_hold = max(self.max_hold, int(info["hold_count"]))
        for key, value in info.get("reward_terms", {}).items():
            self.terms[key] = self.terms.get(key, 0.0) + value

    def result(self, seed: int, final_info: Mapping[str, Any]) -> EpisodeResult:
        return EpisodeResult(seed=int(seed), reward=float(self.total), success=bool(final_info["is_success"]),
                             length=self.length, max_cube_z=float(self.max_cube_z), max_hold=self.max_hold,
                             final_hold=int(final_info["hold_count"]))


def run_episode(env, policy: Policy | Callable[[Mapping[str, Any]], np.ndarray], seed: int, *,
                on_frame: FrameHook | None = None, on_step: StepHook | None = None,
                reads_info: bool = False) -> EpisodeResult:
    """Reset ``env`` with ``seed`` and act until the episode ends.

    ``policy`` takes a batch of one observation dict and returns a batch of one action, the call
    the vector-env evaluation makes; with ``reads_info`` it is instead called on the step info
    (a scripted expert in simulation) and returns one action.
    """
    obs, info = env.reset(seed=seed)
    stats = EpisodeStats.after_reset(info)
    if on_frame is not None:
        on_frame(obs, info, 0.0, stats.total)
    done = False
    while not done:
        if reads_info:
            action = policy(info)
        else:
            action = np.asarray(policy({k: v[None] for k, v in obs.items()}), dtype=np.float32)[0]
        obs, reward, term, trunc, info = env.step(action)
        reward = float(reward)
        stats.add(reward, info)
        done = bool(term or trunc)
        if on_step is not None:
            on_step(StepRecord(int(seed), stats.length, obs, action, reward, info))
        if on_frame is not None:
            on_frame(obs, info, reward, stats.total)
    return stats.result(seed, info)


def run_episodes(vec_env, policy: Policy, seeds: Sequence[int], on_step: StepHook | None = None) -> list[EpisodeResult]:
    """One episode per seed on a vector env, ``num_envs`` seeds at a time, in ``seeds`` order.

    Envs that finish early keep stepping (auto-reset) but are ignored until the batch is done, so
    every episode starts from exactly its seed. A batch during which an env worker was restarted
    (``infos["worker_restarted"]``) runs again from its seeds: its episodes are deterministic, so
    the rerun gives what the interrupted run would have (``on_step`` then sees its steps again).
    """
    seeds = list(seeds)
    n = vec_env.num_envs
    results: list[EpisodeResult] = []
    for start in range(0, len(seeds), n):
        batch = seeds[start:start + n]
        done_batch = None
        while done_batch is None:
            done_batch = _run_batch(vec_env, policy, batch, on_step)
        results.extend(done_batch)
    results.sort(key=lambda r: seeds.index(r.seed))
    return results


def _run_batch(vec_env, policy: Policy, batch: list, on_step: StepHook | None) -> list[EpisodeResult] | None:
    """One episode per seed of ``batch`` side by side; None when a worker restart cut the batch short."""
    n = vec_env.num_envs
    padded = batch + [batch[-1]] * (n - len(batch))
    obs, infos = vec_env.reset(seed=padded)
    live = np.zeros(n, dtype=bool)
    live[: len(batch)] = True
    stats = [EpisodeStats.after_reset(env_info(infos, i)) for i in range(len(batch))]
    results: list[EpisodeResult] = []
    while live.any():
        actions = policy(obs)
        obs, rewards, term, trunc, infos = vec_env.step(actions)
        if "worker_restarted" in infos:
            return None
        done = term | trunc
        for i in np.flatnonzero(live):
            info = env_info(infos["final_info"], i) if done[i] else env_info(infos, i)
            stats[i].add(float(rewards[i]), info)
            if on_step is not None:
                step_obs = infos["final_obs"][i] if done[i] else {k: v[i] for k, v in obs.items()}
                on_step(StepRecord(batch[i], stats[i].length, step_obs, actions[i], float(rewards[i]), info))
            if done[i]:
                live[i] = False
                results.append(stats[i].result(batch[i], info))
    return results


def env_info(infos: Mapping, i: int) -> dict:
    """One env's info out of Gymnasium's batched info dict (nested dicts included)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = env_info(value, i)
        else:
            out[key] = value[i]
    return out
