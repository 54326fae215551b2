"""The teacher: a trained run's actor, acting deterministically on what it was trained to read.

Any run whose actor reads low-dimensional keys (``state``, ``privileged``, ...) can teach: a SAC
run with ``obs.allow_privileged_actor`` is the intended one. It is loaded by the one policy loader
(``liftrl.run.policy``). The checkpoint name (``best``, ``latest`` or a step) is resolved once to
the exact ``step_*.pt`` file, which the student's resolved config records, so a resumed
distillation reads the same teacher even after the teacher run has moved on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from liftrl.agents.networks import PIXELS
from liftrl.run.checkpoints import resolve_checkpoint
from liftrl.run.folder import SNAPSHOT_DIR
from liftrl.run.policy import LoadedPolicy, load_policy


@dataclass
class Teacher:
    policy: LoadedPolicy
    run: str
    snapshot: str

    @property
    def actor_keys(self) -> tuple[str, ...]:
        return self.policy.actor_keys

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = self.policy.meta["observations"]["shapes"]
        return {k: tuple(shapes[k]) for k in self.actor_keys}

    @property
    def config(self) -> dict:
        return self.policy.meta["config"]

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """(B, action_dim) float32: the teacher's deterministic (evaluation) actions."""
        return self.policy(obs)

    def describe(self) -> dict:
        return {"run": self.run, "snapshot": self.snapshot, "env_steps": self.policy.step,
                "agent": self.config.get("agent", {}).get("name"), "actor": list(self.actor_keys)}


def resolve_snapshot(run_dir: str | os.PathLike, checkpoint: str) -> Path:
    """The periodic ``step_*.pt`` file that ``checkpoint`` (best, latest or a step) names."""
    return resolve_checkpoint(run_dir, checkpoint).path


def load_teacher(run_dir: str | os.PathLike, snapshot: str) -> Teacher:
    """The teacher in ``run_dir/snapshots/<snapshot>`` (a ``step_*.pt`` file name)."""
    path = Path(run_dir) / SNAPSHOT_DIR / snapshot
    if not path.is_file():
        raise FileNotFoundError(f"teacher snapshot {path} does not exist")
    policy = load_policy(path)
    if PIXELS in policy.actor_keys:
        raise ValueError(f"teacher {path} reads pixels: a teacher is a state policy (e.g. SAC on "
                         f"[state, privileged]) whose actions are cheap to compute for every student step")
    return Teacher(policy=policy, run=str(run_dir), snapshot=path.name)
