"""The learner: when and how the agent updates from the replay, after each vector step.

``OnlineLearner`` is online RL's: an update credit grows by ``num_envs / update_every_steps`` each
vector step, and each whole unit runs ``updates_per_step`` gradient steps on batches that mix the
online replay with the demo buffer, once the warm-up is over and the replay holds a batch. The
critic's diagnostics feed the collapse guard's ``CriticWatch``. DAgger's learner (round by round)
is in ``liftrl.distill.loop``; both follow ``Learner``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

from liftrl.agents.base import Agent, OnlineAgent
from liftrl.replay.buffer import ReplayBuffer
from liftrl.replay.mixing import sample_mixed
from liftrl.train.guard import CriticWatch


class Learner(Protocol):
    """What the trainer needs of a learner."""

    agent: Agent
    replay: ReplayBuffer
    updates: int
    pending: list[dict]  # update diagnostics since the last log line
    watch: CriticWatch  # the critic's extremes since the last evaluation, for the guard

    def start(self) -> None:
        """Prepare what takes a while before the first update (the trainer calls it once its banner
        is out, so a user sees what runs before waiting on it)."""

    def after_step(self, env_steps: int, num_envs: int) -> int:
        """Updates due after the vector step that reached ``env_steps``; returns how many ran."""

    def state(self) -> dict:
        """Its part of the snapshot: the agent, its counters, the replay's (and demos') generators."""

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state`` saved, from the whole snapshot state."""

    def close(self) -> None:
        """Release what it holds beyond the agent and replay (a renderer); the trainer calls it once."""


class OnlineLearner:
    """Online RL's updates (see the module docstring)."""

    def __init__(self, agent: OnlineAgent, replay: ReplayBuffer, demos: Callable[[], ReplayBuffer | None] | None,
                 demo_fraction: float, seed_steps: int):
        """``demos`` makes the demo buffer (collects or reads back the scripted demonstrations); it
        runs in ``start``, after the run's banner, or at the first step of a caller that skips it."""
        self.agent = agent
        self.replay = replay
        self.demos: ReplayBuffer | None = None
        self._make_demos = demos
        self._demo_rng: Any = None  # a restored snapshot's demo generator, applied once the demos exist
        self.demo_fraction = demo_fraction
        self.seed_steps = seed_steps
        self.updates = 0
        self.update_credit = 0.0
        self.pending: list[dict] = []
        self.watch = CriticWatch()

    def start(self) -> None:
        if self._make_demos is None:
            return
        self.demos, self._make_demos = self._make_demos(), None
        if self.demos is not None and self._demo_rng is not None:
            self.demos.set_rng_state(self._demo_rng)

    def after_step(self, env_steps: int, num_envs: int) -> int:
        self.start()
        agent = self.agent
        self.update_credit += num_envs / agent.update_every_steps
        rounds = int(self.update_credit)
        self.update_credit -= rounds
        if env_steps < self.seed_steps or len(self.replay) < agent.batch_size:
            return 0
        n = rounds * agent.updates_per_step
        for _ in range(n):
            batch = sample_mixed(self.replay, self.demos, agent.batch_size, self.demo_fraction)
            diagnostics = agent.update(batch, env_steps)
            if diagnostics:  # an agent may take them from every k-th update only
                self.watch.observe(diagnostics)
                self.pending.append(diagnostics)
            self.updates += 1
        return n

    def state(self) -> dict:
        self.start()
        return {"agent": self.agent.state_dict(),
                "counters": {"updates": self.updates, "update_credit": self.update_credit},
                "rng": {"replay": self.replay.rng_state(),
                        **({"demos": self.demos.rng_state()} if self.demos is not None else {})},
                "pending": {"updates": list(self.pending)}}

    def load(self, state: Mapping[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.updates = int(state["counters"]["updates"])
        self.update_credit = float(state["counters"]["update_credit"])
        self.replay.set_rng_state(state["rng"]["replay"])
        self._demo_rng = state["rng"].get("demos")
        if self.demos is not None and self._demo_rng is not None:
            self.demos.set_rng_state(self._demo_rng)
        self.pending = list(state["pending"]["updates"])

    def close(self) -> None:
        """Nothing beyond the agent and the replays, which the trainer's core owns."""
