"""The teacher: a trained run's actor, acting deterministically on what it was trained to read.

Any run whose actor reads low-dimensional keys (``state``, ``privileged``, ...) can teach: a SAC
run with ``obs.allow_privileged_actor`` is the intended one. The checkpoint name (``best``,
``latest`` or a step file) is resolved once to the exact ``step_*.pt`` file, which the student's
resolved config records, so a resumed distillation reads the same teacher even after the teacher
run has moved on and its ``best.pt`` points elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from liftrl.agents import make_agent
from liftrl.agents.networks import PIXELS
from liftrl.train.checkpoint import load_snapshot
from liftrl.train.init_from import SNAPSHOT_FORMAT, snapshot_file


@dataclass
class Teacher:
    agent: Any
    actor_keys: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    run: str
    snapshot: str
    env_steps: int
    config: dict

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """(B, action_dim) float32: the teacher's deterministic (evaluation) actions."""
        actions = self.agent.act({k: obs[k] for k in self.actor_keys}, self.env_steps, eval_mode=True)
        return np.asarray(actions, dtype=np.float32)

    def describe(self) -> dict:
        return {"run": self.run, "snapshot": self.snapshot, "env_steps": self.env_steps,
                "agent": self.config.get("agent", {}).get("name"), "actor": list(self.actor_keys)}


def resolve_snapshot(run_dir: str | os.PathLike, checkpoint: str) -> Path:
    """The periodic ``step_*.pt`` file that ``checkpoint`` (best, latest or a file name) is."""
    path = snapshot_file(run_dir, checkpoint)
    if path.name.startswith("step_"):
        return path
    for candidate in sorted(path.parent.glob("step_*.pt")):
        if os.path.samefile(candidate, path) or candidate.read_bytes() == path.read_bytes():
            return candidate
    raise ValueError(f"{path} matches no step_*.pt snapshot in {path.parent}: cannot tell which step it is")


def load_teacher(run_dir: str | os.PathLike, snapshot: str) -> Teacher:
    """Rebuild the teacher's agent from the snapshot's own metadata and weights."""
    from liftrl.config import ConfigError, config_from_dict

    path = snapshot_file(run_dir, snapshot)
    state, meta = load_snapshot(path, map_location="cpu")
    if meta.get("format") != SNAPSHOT_FORMAT or "agent" not in state:
        raise ValueError(f"teacher {path} is not a liftrl run snapshot")
    try:
        agent_cfg = config_from_dict(meta["config"]).agent
    except ConfigError as exc:
        raise ValueError(f"teacher {path}: its stored config is not valid today ({exc})") from None
    obs = meta["observations"]
    actor = tuple(obs["actor"])
    if PIXELS in actor:
        raise ValueError(f"teacher {path} reads pixels: a teacher is a state policy (e.g. SAC on "
                         f"[state, privileged]) whose actions are cheap to compute for every student step")
    shapes = {k: tuple(v) for k, v in obs["shapes"].items()}
    agent = make_agent(agent_cfg, shapes, int(meta["action_dim"]), actor, tuple(obs["critic"]), "cpu", seed=0)
    agent.load_state_dict(state["agent"])
    return Teacher(agent=agent, actor_keys=actor, shapes={k: shapes[k] for k in actor}, run=str(run_dir),
                   snapshot=path.name, env_steps=int(meta["env_steps"]), config=meta["config"])
