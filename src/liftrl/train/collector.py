"""The collector: the training envs, who acts in them, the replay adds and the episode books.

One vector step is: ask the ``Acting`` for the actions to execute and the actions to store (the
same for online RL; DAgger executes a teacher/student mixture and stores the teacher's labels),
step the envs, add the transition to the replay (the true final observation where an episode
ended, success stored as a truncation when the config asks), and keep each env's running episode
sums. The collector never updates the agent: the learner does, after each step.

Its snapshot part is everything a resumed run needs to continue these envs exactly: the env
physics states, the last observations, the episode sums in flight, its numpy generator (random
warm-up actions, DAgger's who-drives draws) and the episode rows not yet logged.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch

from liftrl.replay.buffer import ReplayBuffer
from liftrl.train.demos import replay_end_flags
from liftrl.train.episodes import EpisodeStats, env_info


class EpisodeTracker:
    """The training episodes in flight, one ``EpisodeStats`` per env (cube height counted from 0)."""

    def __init__(self, num_envs: int):
        self.stats = [EpisodeStats() for _ in range(num_envs)]

    def state(self) -> dict:
        keys = list(dict.fromkeys(k for s in self.stats for k in s.terms))
        return {"ret": [s.total for s in self.stats], "length": [s.length for s in self.stats],
                "max_z": [s.max_cube_z for s in self.stats],
                "terms": {k: [s.terms.get(k, 0.0) for s in self.stats] for k in keys}}

    def load(self, state: dict) -> None:
        self.stats = [EpisodeStats(total=float(ret), length=int(length), max_cube_z=float(max_z),
                                   terms={k: float(v[i]) for k, v in state["terms"].items()})
                      for i, (ret, length, max_z) in enumerate(zip(state["ret"], state["length"], state["max_z"]))]

    def finish(self, i: int, final_info: Mapping[str, Any]) -> dict:
        """The finished episode of env ``i`` as a log row; its slot starts the next episode."""
        done, self.stats[i] = self.stats[i], EpisodeStats()
        return {"episode/return": float(done.total), "episode/length": int(done.length),
                "episode/success": float(final_info["is_success"]), "episode/max_cube_z": float(done.max_cube_z),
                **{f"reward_terms/{k}": float(v) for k, v in done.terms.items()}}


class Acting(Protocol):
    """Who acts in the training envs, and what the replay keeps as each step's action."""

    def act(self, obs: Mapping[str, np.ndarray], env_steps: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
        """``(executed, stored)`` float32 (num_envs, action_dim) actions for this vector step."""

    def state(self) -> dict:
        """Its part of the snapshot (merged into the trainer's state; ``{}`` when it keeps nothing)."""

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state`` saved, from the whole snapshot state."""


class Explore:
    """Online RL's acting: uniform random actions for ``seed_steps`` env steps, then the agent's
    exploring actions; the replay stores what was executed."""

    def __init__(self, agent, actor_keys: Sequence[str], seed_steps: int, num_envs: int, action_dim: int):
        self.agent = agent
        self.actor_keys = tuple(actor_keys)
        self.seed_steps = seed_steps
        self.shape = (num_envs, action_dim)

    def act(self, obs, env_steps, rng):
        if env_steps < self.seed_steps:
            actions = rng.uniform(-1.0, 1.0, size=self.shape).astype(np.float32)
        else:
            actor_obs = {k: obs[k] for k in self.actor_keys}
            actions = np.asarray(self.agent.act(actor_obs, env_steps, eval_mode=False), dtype=np.float32)
        return actions, actions

    def state(self) -> dict:
        return {}

    def load(self, state) -> None:
        pass


class Collector:
    """The training vector env stepped by an ``Acting``, into a replay buffer (see the module docstring)."""

    def __init__(self, env, acting: Acting, replay: ReplayBuffer, keys: Sequence[str], rng: np.random.Generator,
                 bootstrap_on_success: bool):
        self.env = env
        self.acting = acting
        self.replay = replay
        self.keys = tuple(keys)  # the observation keys the replay stores
        self.rng = rng
        self.bootstrap_on_success = bootstrap_on_success
        self.num_envs = int(env.num_envs)
        self.env_steps = 0
        self.episodes = 0
        self.tracker = EpisodeTracker(self.num_envs)
        self.pending: list[dict] = []  # finished episodes' rows since the last log line
        self.obs: dict[str, np.ndarray] | None = None

    def start(self, seed: int) -> None:
        """A fresh run's first reset."""
        self.obs, _ = self.env.reset(seed=seed)

    def step(self) -> None:
        """One vector step: act, step the envs, store the transitions, keep the episode books."""
        executed, stored = self.acting.act(self.obs, self.env_steps, self.rng)
        next_obs, rewards, term, trunc, infos = self.env.step(executed)
        done = term | trunc
        true_next = {k: v.copy() for k, v in next_obs.items()}
        for i in np.flatnonzero(done):
            for k in true_next:
                true_next[k][i] = infos["final_obs"][i][k]
        restarted = infos.get("worker_restarted", np.zeros(self.num_envs, dtype=bool))
        success = np.zeros(self.num_envs, dtype=bool)
        if done.any():
            success = np.asarray(infos["final_info"]["is_success"], dtype=bool) & infos["_final_info"]
        store_term, store_trunc = replay_end_flags(term, trunc, success, self.bootstrap_on_success)
        self.replay.add({k: self.obs[k] for k in self.keys}, stored, rewards,
                        {k: true_next[k] for k in self.keys}, store_term, store_trunc, skip=restarted)
        self._record_episodes(rewards, done, infos, restarted)
        self.obs = next_obs
        self.env_steps += self.num_envs

    def _record_episodes(self, rewards, done, infos, restarted: np.ndarray) -> None:
        final_mask = infos.get("_final_info", np.zeros(self.num_envs, dtype=bool))
        for i in range(self.num_envs):
            if restarted[i]:  # its worker was restarted: the episode in flight is lost, not counted
                self.tracker.stats[i] = EpisodeStats()
                continue
            info = env_info(infos["final_info"], i) if done[i] and final_mask[i] else env_info(infos, i)
            self.tracker.stats[i].add(float(rewards[i]), info)
            if done[i]:
                self.pending.append(self.tracker.finish(i, info))
                self.episodes += 1

    def state(self) -> dict:
        return merge_states(self.acting.state(), {
            "counters": {"env_steps": self.env_steps, "episodes": self.episodes},
            "rng": {"numpy": self.rng.bit_generator.state},
            "envs": list(self.env.call("get_state")),
            "obs": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.obs.items()},
            "tracker": self.tracker.state(),
            "pending": {"episodes": list(self.pending)},
        })

    def load(self, state: Mapping[str, Any]) -> None:
        c = state["counters"]
        self.env_steps, self.episodes = int(c["env_steps"]), int(c["episodes"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        self.env.reset(seed=0)
        self.env.call_each("set_state", [(s,) for s in state["envs"]])
        self.obs = {k: v.cpu().numpy() for k, v in state["obs"].items()}
        self.tracker.load(state["tracker"])
        self.pending = list(state["pending"]["episodes"])
        self.acting.load(state)

    def close(self) -> None:
        self.env.close()


def merge_states(*parts: Mapping[str, Any]) -> dict:
    """The parts' snapshot fragments as one state: top-level sections that are dicts in several parts
    (``counters``, ``rng``, ``pending``, ...) are joined; any other key appears in one part only."""
    out: dict = {}
    for part in parts:
        for key, value in part.items():
            if key in out and isinstance(out[key], dict) and isinstance(value, Mapping):
                overlap = set(out[key]) & set(value)
                if overlap:
                    raise ValueError(f"two trainer parts both save {key}.{sorted(overlap)}")
                out[key] = {**out[key], **value}
            elif key in out:
                raise ValueError(f"two trainer parts both save {key!r}")
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
    return out
