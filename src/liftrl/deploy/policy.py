"""The deterministic actor of a bundle, rebuilt from its architecture record and flat weights.

It reuses the network definitions of ``liftrl.agents.networks`` (so the layer layout is written
once) but nothing of training: no agent, optimiser, replay, schedule or simulator. Actions are the
agents' own evaluation actions (DrQ-v2: tanh mean; SAC: tanh of the Gaussian mean).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from liftrl.agents.networks import PIXELS, Actor, Encoder, GaussianActor

KINDS = ("drqv2", "sac")
# Agents whose actor is DrQ-v2's encoder + actor, exported as kind "drqv2".
PIXEL_ACTORS = ("drqv2", "student")


class PolicyError(ValueError):
    """Architecture and weights that do not fit together; the message names the part."""


def input_keys(arch: Mapping[str, Any]) -> tuple[str, ...]:
    """The observation keys the actor actually reads, in the order it reads them."""
    if arch.get("kind") == "drqv2":
        return (PIXELS, *arch["low_dim_keys"])
    if arch.get("kind") == "sac":
        return tuple(arch["input_keys"])
    raise PolicyError(f"unknown actor kind {arch.get('kind')!r}; known kinds: {KINDS}")


def _load(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], prefix: str) -> None:
    own = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(own))
    extra = sorted(set(own) - set(expected))
    if missing or extra:
        raise PolicyError(f"weights do not fit the {prefix.rstrip('.')} architecture: missing {missing}, "
                          f"unexpected {extra}")
    for k, v in own.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise PolicyError(f"weight {prefix}{k} has shape {tuple(v.shape)}, the architecture needs "
                              f"{tuple(expected[k].shape)}")
    module.load_state_dict(own)


class BundlePolicy:
    """``policy(obs) -> (B, action_dim)`` float32 actions for a batch of observation dicts."""

    def __init__(self, arch: Mapping[str, Any], weights: Mapping[str, torch.Tensor]):
        self.arch = dict(arch)
        self.kind = arch.get("kind")
        self.keys = input_keys(arch)
        self.action_dim = int(arch["action_dim"])
        with torch.random.fork_rng(devices=[]):  # construction draws init weights; keep the caller's RNG
            if self.kind == "drqv2":
                # Bundles written before the keypoint head have no "encoder_keypoints": DrQ-v2's flat map.
                # ... and none before the student's cube head ("encoder_cube_head"): no head.
                self.encoder = Encoder(tuple(arch["pixels_shape"]), int(arch["encoder_channels"]),
                                       int(arch["encoder_layers"]), int(arch.get("encoder_keypoints", 0)),
                                       int(arch.get("encoder_cube_head", 0)))
                self.actor = Actor(self.encoder.repr_dim, int(arch["low_dim"]), self.action_dim,
                                   int(arch["feature_dim"]), int(arch["hidden_dim"]))
                _load(self.encoder, weights, "encoder.")
                self.encoder.eval()
            else:
                self.encoder = None
                self.actor = GaussianActor(int(arch["obs_dim"]), self.action_dim, int(arch["hidden_dim"]),
                                           int(arch["hidden_layers"]), bool(arch["layer_norm"]))
        _load(self.actor, weights, "actor.")
        self.actor.eval()

    def _tensor(self, obs: Mapping[str, np.ndarray], key: str) -> torch.Tensor:
        if key not in obs:
            raise KeyError(f"observation has no key {key!r}; this actor reads {list(self.keys)}")
        return torch.as_tensor(np.ascontiguousarray(obs[key]))

    @torch.no_grad()
    def __call__(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind == "drqv2":
            low_keys = self.keys[1:]
            low = torch.cat([self._tensor(obs, k).float().flatten(1) for k in low_keys], -1) if low_keys else None
            out = self.actor(self.encoder(self._tensor(obs, PIXELS)), low)
        else:
            x = torch.cat([self._tensor(obs, k).float().flatten(1) for k in self.keys], -1)
            out = torch.tanh(self.actor(x)[0])
        return out.numpy().astype(np.float32)


def _cube_head(agent_cfg: Mapping[str, Any]) -> int:
    """Hidden units of the encoder's cube head: a student whose actor reads its cube guess; else 0."""
    feeds = bool(agent_cfg.get("aux_feeds_actor", False)) and float(agent_cfg.get("aux_cube_weight", 0.0)) > 0
    return int(agent_cfg["hidden_dim"]) if feeds else 0


def actor_arch(agent_name: str, agent_cfg: Mapping[str, Any], actor_keys: tuple[str, ...],
               shapes: Mapping[str, tuple[int, ...]], action_dim: int) -> dict[str, Any]:
    """The architecture record of a run's actor, from its agent config and observation shapes."""
    low = tuple(sorted(k for k in actor_keys if k != PIXELS))
    if agent_name in PIXEL_ACTORS:  # the distilled student's actor is DrQ-v2's (a training-only aux head is not exported)
        if not agent_cfg.get("fuse_state", True):
            low = ()
        return {"kind": "drqv2", "pixels_shape": list(shapes[PIXELS]),
                "encoder_channels": int(agent_cfg["encoder_channels"]),
                "encoder_layers": int(agent_cfg["encoder_layers"]),
                "encoder_keypoints": int(agent_cfg.get("encoder_keypoints", 0)),
                "encoder_cube_head": _cube_head(agent_cfg), "feature_dim": int(agent_cfg["feature_dim"]),
                "hidden_dim": int(agent_cfg["hidden_dim"]), "low_dim_keys": list(low),
                "low_dim": int(sum(math.prod(shapes[k]) for k in low)), "action_dim": int(action_dim)}
    if agent_name == "sac":
        keys = tuple(sorted(actor_keys))
        return {"kind": "sac", "input_keys": list(keys), "obs_dim": int(sum(math.prod(shapes[k]) for k in keys)),
                "hidden_dim": int(agent_cfg["hidden_dim"]), "hidden_layers": int(agent_cfg["hidden_layers"]),
                "layer_norm": bool(agent_cfg.get("layer_norm", False)), "action_dim": int(action_dim)}
    raise PolicyError(f"cannot export agent {agent_name!r}; exportable agents: {(*PIXEL_ACTORS, 'sac')}")


def actor_weights(agent_name: str, agent_state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The flat ``{"encoder.*", "actor.*": tensor}`` weights of a run's actor from its agent state."""
    parts = ("encoder", "actor") if agent_name in PIXEL_ACTORS else ("actor",)
    out: dict[str, torch.Tensor] = {}
    for part in parts:
        if part not in agent_state:
            raise PolicyError(f"agent state has no {part!r} weights (has {sorted(agent_state)})")
        for k, v in agent_state[part].items():
            out[f"{part}.{k}"] = v.detach().to("cpu", torch.float32).clone().contiguous()
    return out
