"""A run folder: where it goes, what it holds, and how its ``latest``/``best`` names move.

``liftrl train`` leaves ``runs/<agent>/<YYYYMMDD_HHMMSS>/`` with ``config.yaml`` (the resolved
config), ``metrics.jsonl``, ``tb/`` and ``snapshots/step_<env steps>.pt`` plus ``latest.pt`` and
``best.pt``, which are hard links to (or, where links fail, copies of) one periodic snapshot,
replaced atomically so a reader never sees a half-written name. Reading a folder needs neither
torch nor MuJoCo, so ``compare`` and ``report`` stay light.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SNAPSHOT_DIR = "snapshots"
LATEST = "latest.pt"
BEST = "best.pt"


class RunError(ValueError):
    """A run folder, checkpoint name or metrics file that cannot be used, with the reason."""


def snapshot_name(env_steps: int) -> str:
    """``step_000012345.pt``: zero-padded so the names sort in step order."""
    return f"step_{env_steps:09d}.pt"


def replay_name(env_steps: int) -> str:
    return f"replay_{env_steps:09d}.npz"


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict = field(repr=False)

    @property
    def name(self) -> str:
        """``agent/stamp``: enough to tell runs apart in a table or a legend."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def snapshots(self) -> Path:
        return self.path / SNAPSHOT_DIR

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def num_envs(self) -> int:
        return int(self.config.get("env", {}).get("num_envs", 1) or 1)

    def setting(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def open_run(path: str | os.PathLike) -> Run:
    """The run at ``path``; a missing folder or one without ``config.yaml`` is refused by name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no run folder at {path}")
    if not path.is_dir():
        raise RunError(f"{path} is a file, not a run folder")
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{path} has no {CONFIG_FILE}: not a liftrl run folder")
    with open(config_file, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise RunError(f"{config_file} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise RunError(f"{config_file} does not hold a mapping of settings")
    return Run(path=path, config=config)


def new_run_dir(root: str | os.PathLike, agent: str) -> Path:
    """``root/agent/YYYYMMDD_HHMMSS`` (``_1``, ``_2`` ... when two runs start in the same second)."""
    base = Path(root) / agent
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    path = base / stamp
    n = 1
    while path.exists():
        path = base / f"{stamp}_{n}"
        n += 1
    (path / SNAPSHOT_DIR).mkdir(parents=True)
    return path


def link_atomic(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src``'s bytes atomically (hard link, or a copy where links fail)."""
    tmp = dst.with_name(dst.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
