"""The one loader of a trained policy: a run snapshot back into an acting agent.

``liftrl eval``, the end-of-training video, ``liftrl export`` (its golden actions) and anything
that continues from a run (distillation, sweeps) rebuild the agent here, from the snapshot's own
metadata (agent config, observation roles and shapes, action size), never from guesses. A policy
bundle for the arm is read by ``liftrl.deploy.policy`` instead: it must load without any training
code, so it rebuilds only the actor from the bundle's architecture record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from liftrl.run.folder import RunError
from liftrl.run.migrate import migrate_snapshot
from liftrl.run.snapshot import is_run_snapshot


class IncompatibleCheckpoint(ValueError):
    """A snapshot whose policy cannot act in the environment being evaluated; says why."""


@dataclass
class LoadedPolicy:
    """A snapshot's actor as ``batch of observations -> batch of deterministic actions``."""

    agent: Any
    meta: dict
    actor_keys: tuple[str, ...]

    @property
    def step(self) -> int:
        return int(self.meta["env_steps"])

    def __call__(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        actions = self.agent.act({k: obs[k] for k in self.actor_keys}, self.step, eval_mode=True)
        return np.asarray(actions, dtype=np.float32)


def _meta_field(meta: Mapping, *path: str) -> Any:
    node: Any = meta
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise RunError(f"snapshot metadata lacks {'.'.join(path)}: not a liftrl training snapshot")
        node = node[key]
    return node


def policy_from_snapshot(state: Mapping[str, Any], meta: Mapping[str, Any], device: str = "cpu",
                         where: str = "snapshot") -> LoadedPolicy:
    """Rebuild the agent a snapshot's ``(state, metadata)`` describe and load its weights."""
    import torch

    from liftrl.agents import make_agent
    from liftrl.config import ConfigError, agent_config_from_dict

    if not is_run_snapshot(meta):
        raise RunError(f"{where} is a snapshot but not of a training run (format {meta.get('format')!r})")
    state, meta = migrate_snapshot(state, meta, where)
    try:
        agent_cfg = agent_config_from_dict(_meta_field(meta, "config", "agent"))
    except ConfigError as exc:
        raise RunError(f"{where}: the agent config stored in the snapshot is not valid today ({exc})") from None
    actor = tuple(_meta_field(meta, "observations", "actor"))
    critic = tuple(_meta_field(meta, "observations", "critic"))
    shapes = {k: tuple(v) for k, v in _meta_field(meta, "observations", "shapes").items()}
    action_dim = int(_meta_field(meta, "action_dim"))
    _meta_field(meta, "env_steps")
    agent = make_agent(agent_cfg, shapes, action_dim, actor, critic, torch.device(device), seed=0)
    if "agent" not in state:
        raise RunError(f"{where} holds no agent weights")
    try:
        agent.load_state_dict(state["agent"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"{where}: the weights do not fit the {agent_cfg.name} agent its metadata describes "
                       f"({first})") from None
    return LoadedPolicy(agent=agent, meta=dict(meta), actor_keys=actor)


def load_policy(path: str | os.PathLike, device: str = "cpu") -> LoadedPolicy:
    """The policy in the snapshot file at ``path`` (refused, naming the file, if it is not one)."""
    from liftrl.run.snapshot import load_snapshot

    state, meta = load_snapshot(path, map_location=device)
    return policy_from_snapshot(state, meta, device, where=str(path))


def check_compatible(meta: Mapping, observation_space, action_space) -> None:
    """Refuse a snapshot whose actor inputs or action size differ from the env's, naming the difference."""
    actor = list(meta["observations"]["actor"])
    shapes = {k: tuple(v) for k, v in meta["observations"]["shapes"].items()}
    provided = list(observation_space.spaces) if hasattr(observation_space, "spaces") else []
    problems = []
    missing = [k for k in actor if k not in provided]
    if missing:
        problems.append(f"its actor reads {missing}, which this env does not provide (it gives {provided})")
    for key in actor:
        if key in provided and key in shapes and tuple(observation_space[key].shape) != shapes[key]:
            problems.append(f"observation {key!r} was {shapes[key]} in training but is "
                            f"{tuple(observation_space[key].shape)} here")
    env_dim = int(np.prod(action_space.shape))
    if env_dim != int(meta["action_dim"]):
        problems.append(f"it outputs {meta['action_dim']}-D actions but this env takes {env_dim}-D actions")
    if problems:
        raise IncompatibleCheckpoint("checkpoint refused: " + "; ".join(problems))
