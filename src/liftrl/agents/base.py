"""The one interface the train loop knows: it never needs to know which agent it runs.

Observations reach an agent as dicts of numpy arrays with a leading batch dimension:
``pixels`` uint8 (B, 3*frame_stack, S, S) channel-first, oldest frame first; ``state`` float32
(B, 18); ``privileged`` float32 (B, 11) (``liftrl.sim.privileged``); ``last_actions`` float32
(B, A * k). Actions are float32 (B, A) in [-1, 1], A = 4 ([dx, dy, dz, gripper]) or 5 (with the
env's wrist_roll_action, droll last).
A replay batch is a dict with ``obs`` and ``next_obs`` (dicts as above), ``action`` (B, A),
``reward`` (B,) the n-step discounted return, and ``discount`` (B,) = gamma**k for the k steps
summed when the episode goes on (time-limit truncation included), 0 when it terminated.

Besides acting and learning, an agent says what the loop must know of it, so the loop never
reads an agent's config or attributes (``docs/trainer.md``): what its replay must hold
(``replay_keys``, ``n_step``, ``discount``), its batch size, its learning rate and optimisers (the
collapse guard scales them), and the largest value its critic may predict (``value_bound``). An
agent the online loop trains also gives its update cadence (``OnlineAgent``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Agent(Protocol):
    """What the loop calls; everything else is the agent's business."""

    actor_keys: tuple[str, ...]
    critic_keys: tuple[str, ...]

    @property
    def replay_keys(self) -> tuple[str, ...]:
        """Observation keys a replay batch must hold for ``update`` (sorted)."""

    @property
    def n_step(self) -> int:
        """Steps summed into one replay return (1 for an agent without a TD target)."""

    @property
    def discount(self) -> float:
        """Per-step discount of those returns (1.0 for an agent without a TD target)."""

    @property
    def batch_size(self) -> int:
        """Transitions per ``update`` batch."""

    @property
    def lr(self) -> float:
        """The learning rate every optimiser of the agent starts from."""

    def optimizers(self) -> Sequence["torch.optim.Optimizer"]:
        """Every optimiser of the agent, so the guard and PBT can set their learning rate."""

    def value_bound(self, step_bound: float | None, ticks_per_step: int) -> float | None:
        """The largest |value| its critic can be right to predict when a rewarded tick pays at most
        ``step_bound`` and one agent step spans ``ticks_per_step`` ticks; None: no critic or no bound."""

    def act(self, obs: Mapping[str, np.ndarray], step: int, eval_mode: bool) -> np.ndarray:
        """Actions for a batch of observations; exploration noise unless ``eval_mode``."""

    def update(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One gradient step on a replay batch; returns diagnostics (losses, Q stats, grad norms),
        or ``{}`` on an update the agent takes none from (they cost time on small networks)."""

    def state_dict(self) -> dict[str, Any]:
        """Networks, target networks and optimiser states: tensors and plain Python values only."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore exactly what ``state_dict`` returned, so a resumed run continues bit for bit."""


@runtime_checkable
class OnlineAgent(Agent, Protocol):
    """An agent the online train loop updates from its own experience, at its own cadence."""

    @property
    def update_every_steps(self) -> int:
        """Env steps (counted over all envs) between two rounds of updates."""

    @property
    def updates_per_step(self) -> int:
        """Gradient steps in each round."""


def return_bound(step_bound: float | None, reward_scale: float, gamma: float, ticks_per_step: int) -> float | None:
    """The largest discounted return ``ticks * step_bound * scale / (1 - gamma)``; None without a bound
    (or with gamma = 1, where returns are unbounded)."""
    if step_bound is None or gamma >= 1.0:
        return None
    return ticks_per_step * step_bound * reward_scale / (1.0 - gamma)


class TDLoopFacts:
    """The loop's members for an agent with a TD critic whose config has ``n_step``, ``gamma``,
    ``batch_size``, ``lr``, ``reward_scale``, ``update_every_steps`` and ``updates_per_step``
    (SAC and DrQ-v2 share them). Each agent still lists its own ``optimizers``."""

    cfg: Any
    actor_keys: tuple[str, ...]
    critic_keys: tuple[str, ...]

    @property
    def replay_keys(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.actor_keys) | set(self.critic_keys)))

    @property
    def n_step(self) -> int:
        return int(self.cfg.n_step)

    @property
    def discount(self) -> float:
        return float(self.cfg.gamma)

    @property
    def batch_size(self) -> int:
        return int(self.cfg.batch_size)

    @property
    def lr(self) -> float:
        return float(self.cfg.lr)

    @property
    def update_every_steps(self) -> int:
        return int(self.cfg.update_every_steps)

    @property
    def updates_per_step(self) -> int:
        return int(self.cfg.updates_per_step)

    def value_bound(self, step_bound: float | None, ticks_per_step: int) -> float | None:
        return return_bound(step_bound, self.cfg.reward_scale, self.cfg.gamma, ticks_per_step)
