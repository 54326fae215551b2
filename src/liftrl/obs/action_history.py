"""The ``last_actions`` observation: the last k actions the policy sent, oldest first, flattened.

At 15 Hz with ~100 ms latency an action reaches the arm one or two control steps after it is
chosen, so the observed state does not yet show the commands in flight; a policy that sees what
it has already sent can account for them. The real deploy loop knows its own actions, so unlike
``privileged`` this key is legal for a real-arm actor. The simulator (``liftrl.sim``) and the
deploy loop (``liftrl.deploy.pipeline``) both keep it with this class, so they cannot drift.

Values are the policy's actions clipped to [-1, 1], as the env and the deploy loop apply them;
at the start of an episode the history is all zeros (nothing sent yet).
"""

from __future__ import annotations

import numpy as np

ACTION_DIM = 4


class ActionHistory:
    """A ring of the last ``k`` actions; ``values()`` is (k * dim,) float32, oldest first."""

    def __init__(self, k: int, dim: int = ACTION_DIM):
        if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1):
            raise ValueError(f"action history length must be an integer >= 1, got {k!r}")
        self.k = int(k)
        self.dim = int(dim)
        self._actions = np.zeros((self.k, self.dim), np.float32)

    @property
    def size(self) -> int:
        return self.k * self.dim

    def reset(self) -> np.ndarray:
        self._actions[:] = 0.0
        return self.values()

    def push(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (self.dim,) or not np.isfinite(a).all():
            raise ValueError(f"action history takes finite {self.dim}-D actions, got {a.tolist()}")
        # Shifted in place (the env pushes every 20 ms tick): the values np.concatenate + np.clip gave.
        self._actions[:-1] = self._actions[1:]
        np.minimum(np.maximum(a, -1.0), 1.0, out=self._actions[-1])
        return self.values()

    def values(self) -> np.ndarray:
        return self._actions.reshape(-1).copy()

    def state(self) -> list[list[float]]:
        return self._actions.tolist()

    def set_state(self, state) -> None:
        arr = np.asarray(state, dtype=np.float32)
        if arr.shape != (self.k, self.dim):
            raise ValueError(f"action history state must be ({self.k}, {self.dim}), got {arr.shape}")
        self._actions = arr.copy()


def history_length(shape: tuple[int, ...], dim: int = ACTION_DIM) -> int:
    """k from a ``last_actions`` shape ``(k * dim,)``; ValueError for any other shape."""
    if len(shape) != 1 or shape[0] < dim or shape[0] % dim:
        raise ValueError(f"a 'last_actions' observation has shape (k * {dim},), got {tuple(shape)}")
    return shape[0] // dim
