"""The checkpointer: a run's snapshots, what they say they are, and the run's one writer.

It owns the run folder's side of training: the run identity (``run.json``: run id and the
architecture of the agent) that every snapshot names, writing a snapshot (``step_*.pt``, then
``latest.pt`` and ``best.pt`` moved onto it, with the replay buffer saved beside it first when the
config asks), reading ``latest.pt`` back for a resume (refusing another run's snapshot, another
network or another reward by name), reading ``best.pt`` for the guard and the end-of-run video,
and ``writer_session``: the ``RunLock`` and clean stop every driver runs its trainer inside.
It never knows which parts made the state it writes.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from liftrl.config import Config
from liftrl.replay.buffer import ReplayBuffer
from liftrl.rewards import check_fingerprint
from liftrl.run.folder import BEST, CONFIG_FILE, LATEST, SNAPSHOT_DIR, link_atomic, replay_name, snapshot_name
from liftrl.run.identity import (
    ForeignSnapshot, architecture_hash, create_run_identity, differences, load_checked_snapshot, read_run_identity,
    snapshot_architecture,
)
from liftrl.run.lock import RunLock
from liftrl.run.snapshot import load_snapshot, read_metadata, run_metadata, save_snapshot
from liftrl.sim.privileged import layout_problem
from liftrl.train.signals import StopRequest


@contextlib.contextmanager
def writer_session(run_dir: Path) -> Iterator[StopRequest]:
    """The run's one writer (``RunLock``) and a clean stop on SIGINT/SIGTERM, for as long as it runs.

    Every driver (``liftrl train`` and ``liftrl distill``, new or resumed) runs its trainer inside
    this, with the yielded ``StopRequest`` passed to the trainer.
    """
    stop = StopRequest()
    with stop.installed(), RunLock(run_dir):
        yield stop


class Checkpointer:
    """Snapshots of one run folder (see the module docstring)."""

    def __init__(self, cfg: Config, run_dir: Path, arch: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]],
                 action_dim: int, device: torch.device, resume: bool, extra_metadata: Mapping[str, Any] | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.snapshots = self.run_dir / SNAPSHOT_DIR
        self.architecture = dict(arch)
        self.shapes = dict(shapes)
        self.action_dim = action_dim
        self.device = device
        self.extra_metadata = dict(extra_metadata or {})
        self.identity = (read_run_identity(self.run_dir) if resume else None) or self._new_identity(resume)

    def _new_identity(self, resume: bool) -> dict:
        if resume:
            warnings.warn(f"{self.run_dir} was made before liftrl recorded run ids: it gets one now, and its "
                          f"earlier snapshots load with a warning", stacklevel=4)
        return create_run_identity(self.run_dir, self.architecture)

    def metadata(self, kind: str, env_steps: int) -> dict:
        """What a snapshot says it is: ``run_metadata`` plus this run's id and architecture hash."""
        return {**run_metadata(self.cfg, kind, env_steps, self.shapes, self.action_dim),
                "run_id": self.identity["run_id"], "architecture_hash": architecture_hash(self.architecture),
                **self.extra_metadata}

    def save(self, env_steps: int, state: dict, replay: ReplayBuffer, best: bool = False) -> Path:
        """Snapshot now: ``step_*.pt``, then ``latest.pt`` (and ``best.pt``) pointed at it.

        With ``replay.save_with_snapshot`` the buffer goes to ``replay_<step>.npz`` *before* the
        snapshot that names it, and older replay files are removed only after ``latest`` moved on,
        so a crash at any point leaves ``latest`` with the buffer it was saved with.
        """
        path = self.snapshots / snapshot_name(env_steps)
        replay_file = None
        if self.cfg.replay.save_with_snapshot:
            replay_file = replay_name(env_steps)
            replay.save(self.snapshots / replay_file)
        save_snapshot(path, {**state, "replay_file": replay_file},
                      self.metadata("best" if best else "periodic", env_steps))
        link_atomic(path, self.snapshots / LATEST)
        if best:
            link_atomic(path, self.snapshots / BEST)
        for old in self.snapshots.glob("replay_*.npz"):
            if old.name != replay_file:
                old.unlink()
        return path

    def restore(self, replay: ReplayBuffer) -> dict:
        """The state of ``latest.pt`` once checked (another run's or network's refused by name), with the
        replay buffer it names loaded into ``replay``."""
        latest = self.snapshots / LATEST
        saved = read_metadata(latest).get("observations", {}).get("shapes", {})
        if "privileged" in saved:  # an older observation layout is named as such, before the identity check
            problem = layout_problem(saved["privileged"][0], f"{self.run_dir}")
            if problem:
                raise ValueError(f"cannot resume: {problem}")
        state, meta = load_checked_snapshot(self.run_dir, latest, map_location=self.device)
        changed = differences(snapshot_architecture(state, meta), self.architecture)
        if changed:  # config.yaml was edited since the run began: refused by name, not by a torch traceback
            raise ForeignSnapshot(f"resume refused: {latest} holds another network than {self.run_dir / CONFIG_FILE} "
                                  f"builds ({'; '.join(changed)})")
        check_fingerprint(meta["reward"]["name"], meta["reward"]["fingerprint"])
        self._load_replay(state.get("replay_file"), replay)
        return state

    def _load_replay(self, replay_file: str | None, replay: ReplayBuffer) -> None:
        if replay_file and (self.snapshots / replay_file).is_file():
            replay.load(self.snapshots / replay_file)
            return
        # Documented behaviour: everything else continues exactly; the buffer refills from the
        # current policy (no second random-action phase) and updates wait for a batch's worth.
        why = (f"{replay_file} is missing" if replay_file
               else "the run was saved without its replay buffer (replay.save_with_snapshot=false)")
        warnings.warn(f"resuming {self.run_dir} with an empty replay buffer: {why}", stacklevel=4)

    def best(self) -> tuple[dict, dict] | None:
        """``(state, metadata)`` of ``best.pt``, or None while the run has none."""
        path = self.snapshots / BEST
        if not path.is_file():
            return None
        return load_snapshot(path, map_location=self.device)
