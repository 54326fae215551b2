"""Population-based training through our own snapshot files.

When Tune's PBT scheduler tells a weak trial to exploit a strong one, the weak trial receives a
Tune checkpoint that is only a pointer (``pointer.json``: which trial folder, which snapshot
file). The weak trial copies that ``step_*.pt`` (and its replay file, if the run saves one) into
its own ``snapshots/``, points ``latest.pt`` and ``best.pt`` at the copy, and then resumes
through the train loop's exact resume with its perturbed config. Both run folders get a line in
``pbt.jsonl`` saying who copied what at which step and which keys changed, so a PBT lineage can
be followed from either side.

No Ray here: the file side of an exploit is tested without starting a cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from liftrl.run.folder import BEST, CONFIG_FILE, LATEST, SNAPSHOT_DIR, link_atomic
from liftrl.run.identity import RUN_FILE
from liftrl.run.snapshot import load_snapshot
from liftrl.sweep.spec import PBT_LOG, SweepError, write_json_atomic

POINTER_FILE = "pointer.json"


@dataclass(frozen=True)
class Pointer:
    """A Tune checkpoint's content: the snapshot ``snapshot`` of trial folder ``trial`` at ``env_steps``."""

    trial: str
    snapshot: str
    env_steps: int


def write_pointer(folder: Path, pointer: Pointer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / POINTER_FILE, {"trial": pointer.trial, "snapshot": pointer.snapshot,
                                              "env_steps": pointer.env_steps})
    return folder


def read_pointer(folder: str | os.PathLike) -> Pointer:
    path = Path(folder) / POINTER_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Pointer(trial=str(raw["trial"]), snapshot=str(raw["snapshot"]), env_steps=int(raw["env_steps"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{path}: not a liftrl sweep checkpoint pointer ({exc})") from None


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def append_event(run_dir: Path, event: Mapping[str, Any]) -> None:
    """One JSON line in ``run_dir/pbt.jsonl`` (appended whole: other trials may write to it too)."""
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **event}, sort_keys=True) + "\n"
    fd = os.open(run_dir / PBT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def clone_snapshot(sweep_dir: Path, pointer: Pointer, target: Path, changed: Mapping[str, tuple]) -> Path:
    """Copy the pointed snapshot into ``target`` as its ``latest.pt`` and log it in both folders.

    ``changed`` maps each perturbed key to (value in the source, value now). Returns the copy.
    """
    source = Path(sweep_dir) / pointer.trial
    src_file = source / SNAPSHOT_DIR / pointer.snapshot
    if not src_file.is_file():
        raise SweepError(f"PBT: {src_file} is gone; cannot clone trial {pointer.trial} at step {pointer.env_steps}")
    snaps = Path(target) / SNAPSHOT_DIR
    snaps.mkdir(parents=True, exist_ok=True)
    copy = snaps / pointer.snapshot
    state, _ = load_snapshot(src_file)  # checked (format, safe load) before it replaces anything here
    replay = state.get("replay_file")
    if replay and (source / SNAPSHOT_DIR / replay).is_file():
        _copy_atomic(source / SNAPSHOT_DIR / replay, snaps / replay)
    if (source / RUN_FILE).is_file():  # the clone continues the strong trial's run: it adopts its identity
        _copy_atomic(source / RUN_FILE, Path(target) / RUN_FILE)
    _copy_atomic(src_file, copy)
    link_atomic(copy, snaps / LATEST)
    link_atomic(copy, snaps / BEST)  # the lineage now starts at the cloned, top-quantile state
    diff = {k: [a, b] for k, (a, b) in changed.items()}
    append_event(Path(target), {"event": "exploit", "from": pointer.trial, "snapshot": pointer.snapshot,
                                "env_steps": pointer.env_steps, "changed": diff})
    append_event(source, {"event": "cloned", "to": Path(target).name, "snapshot": pointer.snapshot,
                          "env_steps": pointer.env_steps, "changed": diff})
    return copy


def apply_learning_rate(agent: Any, lr: float) -> int:
    """Set ``lr`` on every optimiser of ``agent`` (a restored optimiser keeps the lr it was saved with).

    The agents build all their optimisers with ``agent.lr``, so this is what a fresh agent with
    the new config would have. Returns how many optimisers changed, so a caller can refuse 0.
    """
    count = 0
    for opt in agent.optimizers():
        for group in opt.param_groups:
            group["lr"] = lr
        count += 1
    return count


def save_trial_config(run_dir: Path, config: Mapping[str, Any]) -> None:
    """Rewrite ``config.yaml`` after an exploit: the run now continues with the perturbed config."""
    from liftrl.config import config_from_dict, save_config

    save_config(config_from_dict(config), Path(run_dir) / CONFIG_FILE)


__all__ = ["Pointer", "write_pointer", "read_pointer", "clone_snapshot", "append_event", "apply_learning_rate",
           "save_trial_config", "write_json_atomic"]
