"""One Ray Tune trial: an ordinary run folder trained by the ordinary train loop.

How a trial starts decides everything about fault tolerance, so it is one small decision:

- Tune hands us a checkpoint pointing into *another* trial's folder: a PBT exploit. Copy that
  snapshot here (``liftrl.sweep.pbt``) and resume from it with the perturbed config.
- Our folder has ``snapshots/latest.pt``: a restart after a crash, a PBT pause, or
  ``liftrl sweep --resume``. Resume exactly from it; the loop drops metric rows written after that
  snapshot, so the history has neither gaps nor duplicate steps.
- Otherwise a fresh run (a folder left by an attempt that died before its first snapshot is
  cleared first: its rows would otherwise be duplicated).

Each evaluation goes to Tune through the loop's ``on_eval`` hook; when a snapshot was saved at
that step, the report carries a Tune checkpoint that is only a pointer to it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from ray import tune

from liftrl.config import config_to_dict, load_config, save_config
from liftrl.run.folder import CONFIG_FILE, LATEST, SNAPSHOT_DIR
from liftrl.sweep import pbt
from liftrl.sweep.spec import TRIAL_FILE, SweepSpec, read_trial_record, trial_config, with_params, write_json_atomic
from liftrl.train.loop import EvalEvent, build_trainer


class TuneReporter:
    """The train loop's ``on_eval`` hook: each evaluation becomes one ``tune.report``."""

    def __init__(self, trial: str):
        self.trial = trial

    def __call__(self, event: EvalEvent) -> None:
        metrics = {**event.summary.as_dict(), "env_steps": event.env_steps, "final": event.final}
        if event.snapshot is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="liftrl-pointer-") as tmp:
            pbt.write_pointer(Path(tmp), pbt.Pointer(self.trial, event.snapshot.name, event.env_steps))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def _pointer() -> pbt.Pointer | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return pbt.read_pointer(folder)


def _record_attempt(run_dir: Path, trial_id: str, params: Mapping[str, Any], start: str, step: int) -> None:
    """``sweep_trial.json``: the trial's identity, first parameters and every attempt (host, pid)."""
    record = read_trial_record(run_dir) or {"trial_id": trial_id, "trial": run_dir.name, "params": dict(params),
                                            "attempts": []}
    record["current_params"] = dict(params)
    record["attempts"].append({"start": start, "env_steps": step, "host": socket.gethostname(), "pid": os.getpid(),
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_json_atomic(run_dir / TRIAL_FILE, record)


def _exploit(spec: SweepSpec, sweep_dir: Path, run_dir: Path, pointer: pbt.Pointer, params: Mapping[str, Any]):
    """Copy the strong trial's snapshot here and return this trial's new config."""
    source_cfg = load_config(str(sweep_dir / pointer.trial / CONFIG_FILE), saved_run=True)
    source = config_to_dict(source_cfg)
    changed = {}
    for key in spec.perturb:
        section, name = key.split(".")
        changed[key] = (source[section][name], params[key])
    # The clone continues the strong trial's config (it was trained with it) with the new values.
    new = with_params(source, {k: params[k] for k in spec.perturb})
    run_dir.mkdir(parents=True, exist_ok=True)
    pbt.save_trial_config(run_dir, new)
    pbt.clone_snapshot(sweep_dir, pointer, run_dir, changed)
    return load_config(str(run_dir / CONFIG_FILE), saved_run=True)


def _start(spec: SweepSpec, sweep_dir: Path, run_dir: Path, params: Mapping[str, Any]):
    """(config, how the trial starts) after preparing the run folder for it."""
    pointer = _pointer()
    if pointer is not None and pointer.trial != run_dir.name:
        return _exploit(spec, sweep_dir, run_dir, pointer, params), "exploit"
    if (run_dir / SNAPSHOT_DIR / LATEST).is_file():
        return load_config(str(run_dir / CONFIG_FILE), saved_run=True), "resume"
    if run_dir.exists():  # an attempt that died before its first snapshot: nothing to continue
        for child in run_dir.iterdir():
            if child.name != TRIAL_FILE:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    cfg = trial_config(spec, params)
    (run_dir / SNAPSHOT_DIR).mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    return cfg, "fresh"


def run_trial(config: dict, spec: SweepSpec, sweep_dir: str) -> None:
    """The Tune function trainable: ``config`` holds this trial's parameters (dotted keys)."""
    context = tune.get_context()
    sweep = Path(sweep_dir)
    run_dir = sweep / context.get_trial_name()
    params = {k: config[k] for k in spec.keys}
    cfg, start = _start(spec, sweep, run_dir, params)
    trainer = build_trainer(cfg, run_dir, resume=start != "fresh", on_eval=TuneReporter(run_dir.name))
    try:
        if start == "exploit" and "agent.lr" in spec.perturb:
            if not pbt.apply_learning_rate(trainer.agent, cfg.agent.lr):
                raise RuntimeError(f"PBT: agent {cfg.agent.name} exposes no optimiser to set agent.lr on")
        _record_attempt(run_dir, context.get_trial_id(), params, start, trainer.env_steps)
        trainer.run()
    finally:
        trainer.close()
