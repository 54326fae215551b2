"""The evaluator: the policy on the fixed evaluation seeds, the best so far, and the collapse guard.

After each evaluation the guard goes first (``liftrl.train.guard``): an agent whose critic
diverged or whose success bound fell far below the best is rolled back to ``best.pt`` (its
learning rates scaled by ``guard_lr_scale`` per restore) and is never made best. Otherwise an
evaluation better than the best by the Wilson bound becomes the best. A ``Baseline`` (DAgger's
teacher) is evaluated once, at the start, on the same seeds and env: the line to reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from liftrl.agents.base import Agent
from liftrl.common.seeds import eval_seeds
from liftrl.common.types import Policy
from liftrl.train import guard as collapse_guard
from liftrl.train.checkpointer import Checkpointer
from liftrl.train.episodes import run_episodes
from liftrl.train.metrics import MetricsLogger
from liftrl.train.scoring import EvalSummary, is_better, summarize


@dataclass(frozen=True)
class Baseline:
    """A reference policy evaluated once, before training, on the evaluation seeds (``kind`` rows)."""

    kind: str  # metrics row kind and column prefix, e.g. "teacher"
    policy: Policy
    section: str  # the snapshot section its result is kept in, e.g. "distill" -> state["distill"]["teacher_eval"]
    announce: Callable[[EvalSummary], str]  # the line printed once it is known


class Evaluator:
    """Evaluation, best-by-Wilson-bound and the guard (see the module docstring)."""

    def __init__(self, make_env: Callable[[], Any], episodes: int, logger: MetricsLogger,
                 checkpointer: Checkpointer, guard_cfg: collapse_guard.GuardConfig, q_limit: float | None,
                 baseline: Baseline | None = None):
        self.make_env = make_env
        self.episodes = episodes
        self.logger = logger
        self.checkpointer = checkpointer
        self.guard_cfg = guard_cfg
        self.q_limit = q_limit
        self.baseline = baseline
        self.env = None  # built at the first evaluation
        self.best: dict | None = None
        self.last_eval: dict | None = None
        self.baseline_eval: dict | None = None
        self.restores = 0

    def _run(self, policy: Policy, kind: str, env_steps: int) -> EvalSummary:
        if self.env is None:
            self.env = self.make_env()
        summary = summarize(run_episodes(self.env, policy, eval_seeds(self.episodes)))
        self.logger.log(env_steps, kind, {f"{kind}/{k}": v for k, v in summary.as_dict().items()})
        return summary

    def start(self, env_steps: int) -> None:
        """Before the loop: the baseline's evaluation, once per run (a resume has it from the snapshot)."""
        if self.baseline is None or self.baseline_eval is not None:
            return
        summary = self._run(self.baseline.policy, self.baseline.kind, env_steps)
        self.baseline_eval = summary.as_dict()
        print(self.baseline.announce(summary), flush=True)

    def evaluate(self, policy: Policy, env_steps: int) -> EvalSummary:
        summary = self._run(policy, "eval", env_steps)
        self.last_eval = {**summary.as_dict(), "env_steps": env_steps}
        return summary

    def judge(self, summary: EvalSummary, agent: Agent, watch: collapse_guard.CriticWatch, env_steps: int) -> bool:
        """The guard, then the best: True if this evaluation is the new best."""
        improved = False
        if not self.guard(summary, agent, watch, env_steps) and is_better(summary, _summary(self.best)):
            self.best = dict(self.last_eval)
            improved = True
        watch.reset()
        return improved

    def guard(self, summary: EvalSummary, agent: Agent, watch: collapse_guard.CriticWatch, env_steps: int) -> bool:
        """Roll the agent back to ``best.pt`` if ``liftrl.train.guard`` says learning broke; True if it did."""
        reason = collapse_guard.restore_reason(self.guard_cfg, summary.success_lcb, self.best, watch,
                                               self.q_limit, self.restores)
        best = self.checkpointer.best() if reason is not None else None
        if best is None:
            return False
        state, meta = best
        agent.load_state_dict(state["agent"])
        self.restores += 1
        lr = agent.lr * self.guard_cfg.lr_scale ** self.restores
        collapse_guard.set_learning_rate(agent.optimizers(), lr)
        row = {"guard/restores": self.restores, "guard/restored_from": int(meta["env_steps"]), "guard/lr": lr,
               "guard/success_lcb": summary.success_lcb, "guard/best_success_lcb": float(self.best["success_lcb"]),
               "guard/q_abs_max": watch.q_abs_max, "guard/critic_loss_max": watch.loss_max}
        self.logger.log(env_steps, "guard", {**row, "guard/reason": reason})
        print(f"liftrl: collapse guard at {env_steps} env steps: {reason}; restored the agent of "
              f"{meta['env_steps']} env steps (restore {self.restores}/{self.guard_cfg.max_restores})", flush=True)
        return True

    @property
    def restarts(self) -> int:
        return self.env.restarts if self.env is not None else 0

    def state(self) -> dict:
        out: dict = {"counters": {"guard_restores": self.restores}, "best": self.best}
        if self.baseline is not None:
            out[self.baseline.section] = {f"{self.baseline.kind}_eval": self.baseline_eval}
        return out

    def load(self, state: Mapping[str, Any]) -> None:
        self.restores = int(state["counters"]["guard_restores"])
        self.best = state["best"]
        if self.baseline is not None:
            self.baseline_eval = state[self.baseline.section][f"{self.baseline.kind}_eval"]

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def _summary(d: dict | None) -> EvalSummary | None:
    return None if d is None else EvalSummary(**{k: d[k] for k in EvalSummary.__dataclass_fields__})
