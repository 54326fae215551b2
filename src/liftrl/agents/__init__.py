"""Agents: what turns replay batches into a policy. They see observation dicts, never the simulator.

``make_agent`` builds the agent a config names; every agent follows ``liftrl.agents.base.Agent``.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import torch

from liftrl.agents.base import Agent
from liftrl.agents.config import AGENT_CONFIGS, DrQV2Config, SACConfig
from liftrl.agents.drqv2 import DrQV2Agent
from liftrl.agents.sac import SACAgent

AGENTS: dict[str, type] = {"drqv2": DrQV2Agent, "sac": SACAgent}


def make_agent(cfg, obs_shapes: Mapping[str, Sequence[int]], action_dim: int, actor_keys: Sequence[str],
               critic_keys: Sequence[str], device: str | torch.device, seed: int = 0, amp: bool = False) -> Agent:
    """The agent named by ``cfg.name``; ``amp`` applies to DrQ-v2 only (SAC's MLPs gain nothing)."""
    name = getattr(cfg, "name", None)
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(sorted(AGENTS))}")
    if name == "drqv2":
        return DrQV2Agent(cfg, obs_shapes, action_dim, actor_keys, critic_keys, device, amp=amp, seed=seed)
    if amp:
        warnings.warn(f"amp=True is ignored by the {name} agent", stacklevel=2)
    return AGENTS[name](cfg, obs_shapes, action_dim, actor_keys, critic_keys, device, seed=seed)


__all__ = ["AGENTS", "AGENT_CONFIGS", "Agent", "DrQV2Agent", "DrQV2Config", "SACAgent", "SACConfig", "make_agent"]
