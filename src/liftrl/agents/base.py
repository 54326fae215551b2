"""The one interface the train loop knows: it never needs to know which agent it runs.

Observations reach an agent as dicts of numpy arrays with a leading batch dimension:
``pixels`` uint8 (B, 3*frame_stack, S, S) channel-first, oldest frame first; ``state`` float32
(B, 18); ``privileged`` float32 (B, 11) (``liftrl.sim.privileged``); ``last_actions`` float32
(B, 4 * k). Actions are float32 (B, 4) in [-1, 1].
A replay batch is a dict with ``obs`` and ``next_obs`` (dicts as above), ``action`` (B, 4),
``reward`` (B,) the n-step discounted return, and ``discount`` (B,) = gamma**k for the k steps
summed when the episode goes on (time-limit truncation included), 0 when it terminated.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    """What the loop calls; everything else is the agent's business."""

    actor_keys: tuple[str, ...]
    critic_keys: tuple[str, ...]

    def act(self, obs: Mapping[str, np.ndarray], step: int, eval_mode: bool) -> np.ndarray:
        """Actions for a batch of observations; exploration noise unless ``eval_mode``."""

    def update(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One gradient step on a replay batch; returns diagnostics (losses, Q stats, grad norms),
        or ``{}`` on an update the agent takes none from (they cost time on small networks)."""

    def state_dict(self) -> dict[str, Any]:
        """Networks, target networks and optimiser states: tensors and plain Python values only."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore exactly what ``state_dict`` returned, so a resumed run continues bit for bit."""
