"""The trainer: a loop over parts passed in, as TD-MPC2's ``train.py`` and DrQ-v2's ``Workspace``.

``Parts`` holds a collector (envs, acting, replay adds, episode books), a learner (the agent's
updates), an evaluator (evaluation, best, the collapse guard) and a checkpointer (identity,
snapshots, restore). ``liftrl.train.loop.online_parts`` builds online RL's,
``liftrl.distill.loop.dagger_parts`` DAgger's; this loop runs either without knowing which. Data
flows one way: collector -> replay -> learner -> evaluator / checkpointer, and a snapshot is every
part's state merged, so "resume" means "continue", not "start again from similar weights".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from liftrl.common.seeds import train_env_seed
from liftrl.config import Config
from liftrl.train import console
from liftrl.train.checkpointer import Checkpointer
from liftrl.train.collector import Collector, merge_states
from liftrl.train.evaluator import Evaluator
from liftrl.train.learner import Learner
from liftrl.train.metrics import MetricsLogger
from liftrl.train.scoring import EvalSummary
from liftrl.train.signals import StopRequest


@dataclass(frozen=True)
class EvalEvent:
    """What the loop tells an ``on_eval`` hook after each evaluation (and the snapshot decision).

    The hook is how a driver outside the loop (a Ray Tune trial, see ``liftrl.sweep``) follows a
    run without the loop knowing about it: ``snapshot`` is the file saved at this step, if any.
    """

    env_steps: int
    summary: EvalSummary
    snapshot: Path | None
    final: bool


@dataclass
class Parts:
    """What a trainer is made of; ``command`` is the liftrl command that continues such a run."""

    collector: Collector
    learner: Learner
    evaluator: Evaluator
    checkpointer: Checkpointer
    logger: MetricsLogger
    device: torch.device
    actor_keys: tuple[str, ...]
    command: str = "train"

    def close(self) -> None:
        self.logger.close()
        self.collector.close()
        self.evaluator.close()
        self.learner.close()


class Trainer:
    """Runs ``Parts`` until done (``run``); one ``step`` is a collector step and the updates it makes due."""

    def __init__(self, cfg: Config, parts: Parts, resume: bool = False, stop: StopRequest | None = None,
                 on_eval: Callable[[EvalEvent], None] | None = None):
        """Continue from ``latest.pt`` with ``resume``, else reset the envs for a new run; the parts are
        closed (no orphaned env workers) if either fails."""
        self.cfg = cfg
        self.parts = parts
        self.collector, self.learner, self.evaluator = parts.collector, parts.learner, parts.evaluator
        self.checkpointer, self.logger = parts.checkpointer, parts.logger
        self.run_dir, self.device, self.COMMAND = parts.checkpointer.run_dir, parts.device, parts.command
        self.stop = stop or StopRequest()
        self.on_eval = on_eval
        self._started = time.perf_counter()
        self._rate: float | None = None
        self._restarts_before = 0
        try:
            if resume:
                self.restore()
            else:
                self.collector.start(train_env_seed(cfg.train.seed))
        except BaseException:
            parts.close()
            raise

    # ------------------------------------------------------------------ what the drivers read
    agent = property(lambda self: self.learner.agent)
    replay = property(lambda self: self.learner.replay)
    env = property(lambda self: self.collector.env)
    obs = property(lambda self: self.collector.obs)
    tracker = property(lambda self: self.collector.tracker)
    num_envs = property(lambda self: self.collector.num_envs)
    env_steps = property(lambda self: self.collector.env_steps)
    episodes = property(lambda self: self.collector.episodes)
    updates = property(lambda self: self.learner.updates)
    best = property(lambda self: self.evaluator.best)
    last_eval = property(lambda self: self.evaluator.last_eval)

    @property
    def session_restarts(self) -> int:
        """Env worker restarts in this process, training and evaluation workers together."""
        return self.collector.env.restarts + self.evaluator.restarts

    @property
    def last_fault(self) -> str | None:
        """The latest env worker fault of this session, training or evaluation workers."""
        faults = [(env.fault_time, env.last_fault) for env in (self.collector.env, self.evaluator.env)
                  if env is not None and env.last_fault is not None]
        return max(faults)[1] if faults else None

    @property
    def worker_restarts(self) -> int:
        """Env worker restarts over the run's whole life (resumes included)."""
        return self._restarts_before + self.session_restarts

    # ------------------------------------------------------------------ snapshots
    def state(self) -> dict:
        """Every part's state merged: what ``save`` writes and ``restore`` reads back."""
        return merge_states(self.learner.state(), self.collector.state(), self.evaluator.state(), {
            "counters": {"worker_restarts": self.worker_restarts}, "rng": {"torch": torch.get_rng_state()}})

    def save(self, best: bool = False) -> Path:
        return self.checkpointer.save(self.env_steps, self.state(), self.learner.replay, best=best)

    def restore(self) -> None:
        """Continue from ``latest.pt``: every part, then the torch generator and the metrics file."""
        state = self.checkpointer.restore(self.learner.replay)
        self.learner.load(state)
        self.collector.load(state)
        self.evaluator.load(state)
        self._restarts_before = int(state["counters"]["worker_restarts"])
        torch.set_rng_state(state["rng"]["torch"])
        self.logger.truncate_after(self.env_steps)

    def load_best(self) -> tuple[int, str]:
        """Put ``best.pt``'s weights into the agent (training is over) and say which policy that is:
        ``(step, "best")``, or ``(env_steps, "last")`` for a run with no best snapshot."""
        best = self.checkpointer.best()
        if best is None:
            return self.env_steps, "last"
        state, meta = best
        self.agent.load_state_dict(state["agent"])
        return int(meta["env_steps"]), "best"

    def close(self) -> None:
        self.parts.close()

    # ------------------------------------------------------------------ one step, logging, evaluation
    def step(self) -> int:
        self.collector.step()
        return self.learner.after_step(self.collector.env_steps, self.collector.num_envs)

    def eval_policy(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The agent's deterministic actions now: what evaluation (and the end-of-training video) runs."""
        return np.asarray(self.agent.act({k: obs[k] for k in self.parts.actor_keys}, self.env_steps, eval_mode=True),
                          dtype=np.float32)

    def evaluate(self) -> EvalSummary:
        return self.evaluator.evaluate(self.eval_policy, self.env_steps)

    def log_train(self, elapsed: float, steps_done: int, updates_done: int) -> None:
        updates, episodes = self.learner.pending, self.collector.pending
        row: dict[str, float] = {}
        if updates:
            for key in updates[0]:
                row[f"train/{key}"] = float(np.mean([u[key] for u in updates]))
        if episodes:
            for key in episodes[0]:
                row[key] = float(np.mean([e[key] for e in episodes]))
            row["episode/count"] = len(episodes)
        row["progress/updates"] = self.updates
        row["progress/episodes"] = self.episodes
        row["progress/replay_size"] = len(self.replay)
        row["progress/worker_restarts"] = self.worker_restarts
        row["time/env_steps_per_s"] = steps_done / max(elapsed, 1e-9)
        row["time/updates_per_s"] = updates_done / max(elapsed, 1e-9)
        row["time/elapsed_s"] = time.perf_counter() - self._started  # of this process (resets on resume)
        # CPU seconds of the training process (its threads, not env workers): on a shared machine the
        # steps per CPU second do not move with other processes' load, steps per wall second do.
        row["time/cpu_s"] = time.process_time()
        self.logger.log(self.env_steps, "train", row)
        updates.clear()
        episodes.clear()

    # ------------------------------------------------------------------ the loop
    def _progress_bar(self):
        if not self.cfg.train.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.cfg.train.total_env_steps, initial=self.env_steps, unit="step", dynamic_ncols=True)

    def _show(self, bar, steps_per_s: float | None = None) -> None:
        if bar is None:
            return
        if steps_per_s is not None:
            self._rate = steps_per_s
        last = self.last_eval
        bar.set_postfix_str(console.postfix(self._rate, last and last["env_steps"], last))

    def _stop_reason(self, deadline: float) -> str | None:
        """Why the loop should stop after this step: None to go on."""
        t = self.cfg.train
        if self.stop.requested:
            return "interrupted"
        if self.session_restarts > self.cfg.env.max_worker_restarts:
            return "workers"
        if self.env_steps >= t.total_env_steps:
            return "finished"
        if time.perf_counter() >= deadline:
            print(f"liftrl: train.max_minutes={t.max_minutes} reached at {self.env_steps} env steps; "
                  "evaluating, saving and stopping (resume continues)", flush=True)
            return "budget"
        return None

    def _after_step(self, before: int, stop: str | None, bar, window: list) -> None:
        """Log, evaluate and snapshot as the step crossed their periods; a stop always snapshots."""
        t = self.cfg.train
        if crossed(before, self.env_steps, t.log_every):
            now = time.perf_counter()
            self.log_train(now - window[0], window[1], window[2])
            self._show(bar, window[1] / max(now - window[0], 1e-9))
            window[:] = [now, 0, 0]
        improved, summary = False, None
        # A signal or failing workers stop at once; the end of training or of the budget evaluates first.
        if crossed(before, self.env_steps, t.eval_every) or stop in ("finished", "budget"):
            summary = self.evaluate()
            # The guard goes first: an agent whose critic diverged is rolled back, never made best.
            improved = self.evaluator.judge(summary, self.agent, self.learner.watch, self.env_steps)
            self._show(bar)  # the bar shows this evaluation now, not at the next log line
        snapshot = None
        if crossed(before, self.env_steps, t.snapshot_every) or improved or stop is not None:
            snapshot = self.save(best=improved)
        if summary is not None and self.on_eval is not None:
            self.on_eval(EvalEvent(self.env_steps, summary, snapshot, stop is not None))

    def run(self) -> str:
        """Train until done; returns why it stopped: finished, budget, interrupted (a signal) or workers."""
        t = self.cfg.train
        self.learner.start()  # after the session's banner: e.g. the demo collection, with its own bar
        self.evaluator.start(self.env_steps)
        bar = self._progress_bar()
        window = [time.perf_counter(), 0, 0]  # since the last log line: start time, env steps, updates
        deadline = time.perf_counter() + 60 * t.max_minutes if t.max_minutes > 0 else float("inf")
        stop = "finished" if self.env_steps >= t.total_env_steps else None
        try:
            while stop is None:
                before = self.env_steps
                window[2] += self.step()
                window[1] += self.env_steps - before
                if bar is not None:
                    bar.update(self.env_steps - before)
                stop = self._stop_reason(deadline)
                self._after_step(before, stop, bar, window)
        finally:
            if bar is not None:
                bar.close()
        return stop


def crossed(before: int, after: int, every: int) -> bool:
    """Whether going from ``before`` to ``after`` env steps passed a multiple of ``every`` (0: never)."""
    return every > 0 and after // every > before // every
