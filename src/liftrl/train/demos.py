"""Scripted demonstrations for off-policy training: collected once, at the run's own rate and latency.

``train.demos: N`` rolls out ``liftrl.scripted.ScriptedGrasp`` for N episodes in an env built from
the run's training settings (control rate, latency range, curriculum mix, reward, observations),
keeps the successful episodes in a replay buffer of their own and saves it in the run folder as
``demos.npz``; the train loop then draws ``replay.demo_fraction`` of every batch from it
(``liftrl.replay.mixing``). A resumed run reads ``demos.npz`` back instead of collecting again.

Only successful episodes are kept: the buffer is there to show the learner what a complete grasp,
lift and hold is worth, which failed scripted episodes do not. Transitions are stored exactly as
the online ones are (same keys, n-step, gamma, success handling), so one critic target fits both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from liftrl.common.seeds import demo_seeds
from liftrl.common.units import CONTROL_HZ
from liftrl.replay.buffer import ReplayBuffer
from liftrl.scripted import ScriptedGrasp
from liftrl.train.episodes import run_episode

DEMO_FILE = "demos.npz"


@dataclass(frozen=True)
class DemoStats:
    episodes: int
    successes: int
    transitions: int

    def as_dict(self) -> dict[str, int]:
        return {"demo/episodes": self.episodes, "demo/successes": self.successes, "demo/transitions": self.transitions}


def replay_end_flags(term: np.ndarray, trunc: np.ndarray, success: np.ndarray,
                     bootstrap_on_success: bool) -> tuple[np.ndarray, np.ndarray]:
    """Episode-end flags for the replay: with ``bootstrap_on_success`` a success ending is a truncation.

    Why: the episode stops at success because the task is done, not because the state is terminal;
    holding would go on paying. Stored as a termination, the critic learns that the step that
    completes the hold is worth nothing afterwards, while a dip just before it keeps its future:
    an incentive to avoid success that an unobservable hold counter cannot explain to the critic.
    Stored as a truncation (bootstrap from the final observation), holding keeps its value.
    """
    term, trunc, success = (np.asarray(x, dtype=bool) for x in (term, trunc, success))
    if not bootstrap_on_success:
        return term, trunc
    moved = term & success
    return term & ~moved, trunc | moved


def collect(env, episodes: int, buffer: ReplayBuffer, obs_keys: tuple[str, ...], bootstrap_on_success: bool,
            run_seed: int = 0) -> DemoStats:
    """Roll out the scripted policy for ``episodes`` episodes in ``env``; add the successful ones to ``buffer``.

    Episodes run through the one episode runner (``liftrl.train.episodes.run_episode``), one after
    another on the run's demo seeds; ``buffer`` must have ``num_envs == 1``, each episode is added whole.
    """
    if buffer.num_envs != 1:
        raise ValueError(f"the demo buffer adds whole episodes one at a time: it needs num_envs=1, got {buffer.num_envs}")
    from liftrl.common.progress import SuccessBar

    terminate_on_success = bool(env.unwrapped.cfg.terminate_on_success)
    with SuccessBar(episodes, desc="scripted demos") as bar:  # a bar on a terminal: collection takes ~20 s
        return _collect(env, episodes, buffer, obs_keys, bootstrap_on_success, run_seed, terminate_on_success, bar)


def _collect(env, episodes: int, buffer: ReplayBuffer, obs_keys: tuple[str, ...], bootstrap_on_success: bool,
             run_seed: int, terminate_on_success: bool, bar) -> DemoStats:
    successes = transitions = 0
    for seed in demo_seeds(episodes, run_seed):
        observations, steps = [], []
        policy = ScriptedGrasp.for_env(env)
        result = run_episode(env, policy.act, seed, reads_info=True,
                             on_frame=lambda obs, info, reward, total: observations.append(obs),
                             on_step=steps.append)
        bar.add(result.success, group="succeeded")
        if not result.success:
            continue
        successes += 1
        transitions += len(steps)
        for t, record in enumerate(steps):
            last = t == len(steps) - 1
            term = last and terminate_on_success and bool(record.info["is_success"])
            store_term, store_trunc = replay_end_flags(np.array([term]), np.array([last and not term]),
                                                       np.array([bool(record.info["is_success"])]), bootstrap_on_success)
            buffer.add({k: np.asarray(observations[t][k])[None] for k in obs_keys}, np.asarray(record.action, np.float32)[None],
                       np.array([record.reward]), {k: np.asarray(observations[t + 1][k])[None] for k in obs_keys},
                       store_term, store_trunc)
    return DemoStats(episodes=episodes, successes=successes, transitions=transitions)


def demo_capacity(episodes: int, max_episode_ticks: int, control_hz: float, tick_hz: float = CONTROL_HZ) -> int:
    """Slots for ``episodes`` whole episodes: each takes at most ceil(ticks * hz / tick_hz) steps + 1 slot."""
    steps = int(np.ceil(max_episode_ticks * control_hz / tick_hz)) + 1
    return max(episodes, 1) * (steps + 1)


def load_or_collect(buffer: ReplayBuffer, run_dir: Path, collect_fn: Callable[[], DemoStats]) -> DemoStats | None:
    """Read ``run_dir/demos.npz`` into ``buffer`` if it exists (a resume), else collect and save it.

    Returns the collection's stats, or None when the buffer was read back.
    """
    path = Path(run_dir) / DEMO_FILE
    if path.is_file():
        buffer.load(path)
        return None
    stats = collect_fn()
    if len(buffer) == 0:
        raise RuntimeError(f"none of the {stats.episodes} scripted demonstration episodes succeeded at these "
                           f"settings, so there is nothing to learn from; check the scripted policy at this rate "
                           f"and latency (liftrl.scripted) or set train.demos=0")
    buffer.save(path)
    return stats
