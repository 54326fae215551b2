"""Collapse guard: after an evaluation, roll the agent back to its best snapshot when learning broke.

The user's state runs peaked and then collapsed (reward 656 at 500k steps, 4 at 800k), and this
project's own v11 run swung from one evaluation to the next while its Q and critic loss grew
(bench/results/learn_state_sac.json, report_state_sac.png). No
usual framework rolls back on its own. The guard checks two things after each evaluation:

- the evaluation: its success lower bound (Wilson, as ``best`` is ranked) fell more than
  ``lcb_drop`` below the best evaluation's;
- the critic since the previous evaluation: any Q or critic loss that was not finite, or a |Q|
  above ``q_factor`` times the largest return the reward can pay, ``ticks * step_bound * scale /
  (1 - gamma)`` (a rewarded tick pays at most ``step_bound``; one agent step spans at most
  ``ticks`` env ticks), or a critic loss above ``2 (2 q_limit)^2`` (twin MSE of two values that
  each lie within the limit). Reward versions without a bound are checked for non-finite values only.

On a trigger it restores the best snapshot's agent state (weights, target networks, optimisers,
temperature, the agent's generator); the replay buffer, the envs and the counters go on, so the
restored agent learns from everything seen since. Each restore can scale the learning rates down,
and a run restores at most ``max_restores`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch

from liftrl.agents.base import return_bound


@dataclass(frozen=True)
class GuardConfig:
    enabled: bool = True
    lcb_drop: float = 0.35
    q_factor: float = 2.0
    max_restores: int = 3
    lr_scale: float = 1.0


def q_limit(step_bound: float | None, reward_scale: float, gamma: float, ticks_per_step: int,
            factor: float) -> float | None:
    """The largest |Q| the guard accepts, or None when the reward promises no bound (or gamma = 1)."""
    return scaled(return_bound(step_bound, reward_scale, gamma, ticks_per_step), factor)


def scaled(bound: float | None, factor: float) -> float | None:
    """``factor`` times an agent's ``value_bound`` (``liftrl.agents.base``): the guard's |Q| limit."""
    return None if bound is None else factor * bound


@dataclass
class CriticWatch:
    """The extremes of the critic's diagnostics since the last ``reset`` (one per evaluation period)."""

    q_abs_max: float = 0.0
    loss_max: float = 0.0
    non_finite: list[str] = field(default_factory=list)

    def observe(self, diagnostics: Mapping[str, float]) -> None:
        for key in ("q_min", "q_max", "critic_loss"):
            value = diagnostics.get(key)
            if value is None:
                continue
            if not math.isfinite(value):
                if key not in self.non_finite:
                    self.non_finite.append(key)
                continue
            if key == "critic_loss":
                self.loss_max = max(self.loss_max, value)
            else:
                self.q_abs_max = max(self.q_abs_max, abs(value))

    def reset(self) -> None:
        self.q_abs_max, self.loss_max, self.non_finite = 0.0, 0.0, []


def restore_reason(cfg: GuardConfig, success_lcb: float, best: Mapping[str, Any] | None, watch: CriticWatch,
                   limit: float | None, restores: int) -> str | None:
    """Why the agent must be rolled back now, or None. Pure: the decision is testable without a run."""
    if not cfg.enabled or best is None or restores >= cfg.max_restores:
        return None
    if watch.non_finite:
        return f"non-finite {', '.join(watch.non_finite)} since the last evaluation"
    if limit is not None:
        if watch.q_abs_max > limit:
            return f"|Q| reached {watch.q_abs_max:.4g}, above the bound {limit:.4g}"
        loss_limit = 2.0 * (2.0 * limit) ** 2
        if watch.loss_max > loss_limit:
            return f"critic loss reached {watch.loss_max:.4g}, above the bound {loss_limit:.4g}"
    best_lcb = float(best["success_lcb"])
    if success_lcb < best_lcb - cfg.lcb_drop:
        return (f"success lower bound {success_lcb:.3f} fell more than {cfg.lcb_drop} below the best's "
                f"{best_lcb:.3f} (at {best.get('env_steps')} env steps)")
    return None


def set_learning_rate(optimizers: Iterable[torch.optim.Optimizer], lr: float) -> None:
    """Every optimiser (an agent's ``optimizers()``) to ``lr`` (the agents here use one rate for all)."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr
