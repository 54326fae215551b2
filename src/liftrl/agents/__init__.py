"""Agents: what turns replay batches into a policy. They see observation dicts, never the simulator.

``make_agent`` builds the agent a config names; every agent follows ``liftrl.agents.base.Agent``.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Mapping, Sequence

import torch

from liftrl.agents.base import Agent
from liftrl.agents.config import AGENT_CONFIGS, DrQV2Config, SACConfig, StudentConfig

# Imported on first use (PEP 562): a deploy bundle loads ``liftrl.agents.networks`` alone, and
# must not pull in the update code, optimisers or schedules with it.
_LAZY = {"DrQV2Agent": "liftrl.agents.drqv2", "SACAgent": "liftrl.agents.sac",
         "StudentAgent": "liftrl.agents.student"}
_AGENT_CLASSES = {"drqv2": "DrQV2Agent", "sac": "SACAgent", "student": "StudentAgent"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "AGENTS":
        return {key: __getattr__(cls) for key, cls in _AGENT_CLASSES.items()}
    raise AttributeError(f"module 'liftrl.agents' has no attribute {name!r}")


def make_agent(cfg, obs_shapes: Mapping[str, Sequence[int]], action_dim: int, actor_keys: Sequence[str],
               critic_keys: Sequence[str], device: str | torch.device, seed: int = 0, amp: bool = False) -> Agent:
    """The agent named by ``cfg.name``; ``amp`` applies to the pixel agents (DrQ-v2, the student) only.

    SAC's 256-wide MLPs gain little under CPU autocast (the casts eat most of the faster products;
    docs/performance.md), not worth a change of arithmetic; so ``amp`` there is refused with a warning."""
    name = getattr(cfg, "name", None)
    if name not in _AGENT_CLASSES:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(sorted(_AGENT_CLASSES))}")
    cls = __getattr__(_AGENT_CLASSES[name])
    if name in ("drqv2", "student"):
        return cls(cfg, obs_shapes, action_dim, actor_keys, critic_keys, device, amp=amp, seed=seed)
    if amp:
        warnings.warn(f"amp=True is ignored by the {name} agent", stacklevel=2)
    return cls(cfg, obs_shapes, action_dim, actor_keys, critic_keys, device, seed=seed)


__all__ = ["AGENTS", "AGENT_CONFIGS", "Agent", "DrQV2Agent", "DrQV2Config", "SACAgent", "SACConfig", "StudentAgent",
           "StudentConfig", "make_agent"]
