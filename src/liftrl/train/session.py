"""A run's session in the terminal, the same for ``liftrl train`` and ``liftrl distill``.

``run_new`` starts a new run folder's session, ``resume_run`` continues one (the one resume path:
the folder checked, the overrides checked against what may change, the config re-read and saved,
the trainer rebuilt from ``latest.pt``), and ``run_session`` runs a built trainer to its end
inside ``writer_session``, printing where it is, how it ended and what next.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from liftrl.config import Config, load_config, save_config
from liftrl.run.folder import BEST, CONFIG_FILE, LATEST, SNAPSHOT_DIR
from liftrl.train import console
from liftrl.train.checkpointer import writer_session
from liftrl.train.signals import StopRequest
from liftrl.train.trainer import Trainer

# Called with the finished Trainer before it closes; returns the files it wrote (the CLI films the
# end-of-training video this way, so train/ needs nothing from report/).
AfterTraining = Callable[[Trainer], list[Path]]
# Builds a trainer for a run folder: (config, run folder, resume?, stop) -> Trainer.
BuildTrainer = Callable[[Config, Path, bool, StopRequest], Trainer]


class TrainingStopped(RuntimeError):
    """The run stopped early for a reason that needs a person (e.g. env workers kept failing); it was saved."""


def run_session(trainer: Trainer, banner: console.Banner, after: AfterTraining | None) -> None:
    """Run a constructed trainer to its end and close it, telling the terminal where it is, how it
    ended and what next (inside :func:`writer_session`)."""
    try:
        _report_session(trainer, banner, after)
    finally:
        trainer.close()


def _report_session(trainer: Trainer, banner: console.Banner, after: AfterTraining | None) -> None:
    for line in console.banner_lines(banner):
        print(line, flush=True)
    started = time.perf_counter()
    outcome = trainer.run()
    run_dir = trainer.run_dir
    if outcome == "interrupted":
        print(console.stopped_line(trainer.env_steps, run_dir, trainer.COMMAND), flush=True)
        return
    if outcome == "workers":
        raise TrainingStopped(
            f"stopped at step {trainer.env_steps} (snapshot saved): env workers failed {trainer.session_restarts} "
            f"times, more than env.max_worker_restarts={trainer.cfg.env.max_worker_restarts}; last: "
            f"{trainer.last_fault}. Resume with: {console.resume_hint(run_dir, trainer.COMMAND)}")
    videos = after(trainer) if after is not None else []
    best = run_dir / SNAPSHOT_DIR / BEST
    for line in console.summary_lines(run_dir, trainer.env_steps, time.perf_counter() - started, trainer.last_eval,
                                      trainer.last_eval and trainer.last_eval["env_steps"], trainer.best,
                                      best if best.is_file() else None, videos, trainer.worker_restarts,
                                      trainer.COMMAND):
        print(line, flush=True)


def session_banner(trainer: Trainer, config: str, overrides: list[str], resumed_from: str | None = None) -> console.Banner:
    return console.Banner(run_dir=trainer.run_dir, device=str(trainer.device), torch_threads=torch.get_num_threads(),
                          num_envs=trainer.num_envs, envs=trainer.env.placement, config=config,
                          overrides=tuple(overrides), resumed_from=resumed_from, command=trainer.COMMAND,
                          update_threads=getattr(trainer.learner, "update_threads", None))


def run_new(run_dir: Path, make: Callable[[StopRequest], Trainer], config: str, overrides: list[str],
            after: AfterTraining | None) -> None:
    """A new run folder's whole session: ``make(stop)`` builds its trainer inside :func:`writer_session`,
    then :func:`run_session`. If the trainer cannot be built nothing ran, so the half-made folder goes."""
    with writer_session(run_dir) as stop:
        try:
            trainer = make(stop)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        run_session(trainer, session_banner(trainer, config, overrides), after)


@dataclass(frozen=True)
class ResumeRules:
    """How a kind of run is resumed: which settings may change, how its saved config is completed
    (``prepare``, e.g. DAgger re-reads its teacher) and how its trainer is built."""

    overridable: tuple[str, ...]
    build: BuildTrainer
    prepare: Callable[[Config, Path], Config] = lambda cfg, config_file: cfg


def check_resume_overrides(overrides: list[str], allowed: tuple[str, ...]) -> None:
    """Refuse a resume override of anything but ``allowed``, listing what may change."""
    bad = [o for o in overrides if o.split("=", 1)[0].strip() not in allowed]
    if bad:
        what = (" and ".join(allowed) if len(allowed) <= 2 else "these settings") + " may be overridden"
        listed = "" if len(allowed) <= 2 else ": " + ", ".join(allowed)
        raise ValueError(f"on resume only {what}{listed}; got {bad} (what is learned, env, agent and replay, "
                         f"stays as the run began)")


def resume_run(run_dir: str | os.PathLike, overrides: list[str] | None, rules: ResumeRules,
               after: AfterTraining | None = None) -> Path:
    """Continue a run from ``snapshots/latest.pt`` exactly; only ``rules.overridable`` settings may change."""
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}: not a liftrl run folder")
    overrides = list(overrides or [])
    check_resume_overrides(overrides, rules.overridable)
    with writer_session(run_dir) as stop:  # one writer: a second is refused before it reads or writes
        latest = run_dir / SNAPSHOT_DIR / LATEST
        if not latest.is_file():
            raise FileNotFoundError(f"{run_dir} has no {SNAPSHOT_DIR}/{LATEST} to resume from")
        cfg = rules.prepare(load_config(str(config_file), overrides, saved_run=True), config_file)
        if overrides:
            save_config(cfg, config_file)
        trainer = rules.build(cfg, run_dir, True, stop)
        run_session(trainer, session_banner(trainer, str(config_file), overrides,
                                            resumed_from=f"{latest} (step {trainer.env_steps})"), after)
    return run_dir
