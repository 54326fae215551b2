"""The distilled pixel student: DrQ-v2's actor trained by regression on a teacher's actions.

Why this shape: the student must run on the real arm, so it reads only what the arm has
(``pixels``, ``state``, its own last actions), and it must be able to hand its weights to RL
fine-tuning later, so its network *is* DrQ-v2's actor: the same ``Encoder`` and ``Actor`` classes
with the same size keys, saved under the same ``encoder`` / ``actor`` names.

A replay batch's ``action`` is the teacher's label for that observation (the distill loop stores
labels, not the actions that were executed). The loss is the mean squared error between the
student's deterministic action and the label, on randomly shifted images (DrQ's augmentation),
plus, when ``aux_cube_weight > 0``, the error of a small head that predicts where the cube is
relative to the tool point (``privileged``'s cube centre minus ``state``'s tool point, in
decimetres, along the world's or the gripper's axes: ``aux_cube_frame``) from the encoder's features alone: what the wrist camera shows, so it teaches the
encoder to find the cube. By default a training signal only, not part of the actor (export drops
it); with ``aux_feeds_actor`` the head sits in the encoder (``Encoder(cube_head=...)``) and its
guess is one more feature the actor reads, exported with the encoder. Unlike DrQ-v2, the encoder
learns from the actor's loss.

``act`` is deterministic in both modes: in DAgger the student drives as it will be evaluated.
All randomness (augmentation) comes from the agent's own ``torch.Generator``, which
``state_dict`` carries, so a resumed distillation continues bit for bit.

``amp=True`` runs the forward passes under bfloat16 autocast where that pays
(``liftrl.agents.precision``: CUDA, CPUs with native bfloat16) in ``update`` only; the loss, the
weights and the optimiser stay float32. ``act`` stays float32 (a little dearer), so
DAgger's rollouts and the evaluations that pick the best student run the network as the arm does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from liftrl.agents.augment import random_shift
from liftrl.agents.config import StudentConfig
from liftrl.agents.networks import (
    PIXELS, Actor, Encoder, as_tensors, concat_low_dim, grad_norm, low_dim_keys, low_dim_size, weight_init,
)
from liftrl.agents.precision import autocast, use_amp

AUX_TARGET = "privileged"  # the cube position (its first three values), known only in simulation
AUX_DIM = 3
TOOL_POINT = slice(12, 15)  # the tool point in ``state`` (liftrl.sim.kinematics.state_vector)
EE_EULER = slice(15, 18)  # the end effector's roll, pitch, yaw in ``state``
AUX_SCALE = 10.0  # metres -> decimetres: the pick area's offsets become values of about 1
DIAGNOSTICS = ("loss", "action_mse", "aux_loss", "grad_norm", "action_abs_error")
_STATE_KEYS = ("encoder", "actor", "opt", "generator", "updates")


def euler_to_matrix(rpy: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation matrices from ``state``'s (roll, pitch, yaw) triple, x-y-z extrinsic
    (R = Rz(yaw) Ry(pitch) Rx(roll)), the inverse of ``liftrl.sim.ik.rotation_to_euler``."""
    cr, cp, cy = torch.cos(rpy).unbind(-1)
    sr, sp, sy = torch.sin(rpy).unbind(-1)
    rows = (cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
            sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
            -sp, cp * sr, cp * cr)
    return torch.stack(rows, -1).reshape(*rpy.shape[:-1], 3, 3)


def aux_target(obs: Mapping[str, torch.Tensor], frame: str = "world") -> torch.Tensor:
    """(B, 3) where the cube's centre is from the tool point, in decimetres, along the world's axes or
    (``frame="gripper"``) the end effector's: R^T (cube - tool), R from ``state``'s orientation."""
    state = obs["state"].float()
    offset = obs[AUX_TARGET].float()[:, :AUX_DIM] - state[:, TOOL_POINT]
    if frame == "gripper":
        offset = torch.einsum("bji,bj->bi", euler_to_matrix(state[:, EE_EULER]), offset)
    return offset * AUX_SCALE


def cube_from_guess(state: torch.Tensor, guess: torch.Tensor, frame: str = "world") -> torch.Tensor:
    """(B, 3) the cube centre in world metres that a guess in ``aux_target``'s units and axes stands
    for: its inverse, so a student's guess can stand in for ``privileged``'s cube centre (what its
    teacher would do with the student's idea of the cube: bench/student_cube_guess.py --teacher)."""
    offset = guess.float() / AUX_SCALE
    if frame == "gripper":
        offset = torch.einsum("bij,bj->bi", euler_to_matrix(state[:, EE_EULER].float()), offset)
    return state[:, TOOL_POINT].float() + offset


class StudentAgent:
    """Follows ``liftrl.agents.base.Agent``; ``critic_keys`` is empty (there is no critic)."""

    def __init__(self, cfg: StudentConfig, obs_shapes: Mapping[str, Sequence[int]], action_dim: int,
                 actor_keys: Sequence[str], critic_keys: Sequence[str] = (), device: str | torch.device = "cpu",
                 seed: int = 0, amp: bool = False):
        self.cfg = cfg
        self.actor_keys = tuple(actor_keys)
        self.critic_keys = ()
        if PIXELS not in self.actor_keys:
            raise ValueError(f"the student learns from pixels: actor_keys must contain {PIXELS!r}, got {self.actor_keys}")
        if AUX_TARGET in self.actor_keys:
            raise ValueError(f"the student must run on the real arm: its actor may not read {AUX_TARGET!r}")
        missing = [k for k in self.actor_keys if k not in obs_shapes]
        if missing:
            raise ValueError(f"actor_keys {missing} not in obs_shapes (has {sorted(obs_shapes)})")
        self.device = torch.device(device)
        self.amp = use_amp(amp, self.device)
        self.action_dim = int(action_dim)
        self.actor_low = low_dim_keys(self.actor_keys) if cfg.fuse_state else ()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            feeds = cfg.aux_feeds_actor and cfg.aux_cube_weight > 0
            self.encoder = Encoder(obs_shapes[PIXELS], cfg.encoder_channels, cfg.encoder_layers, cfg.encoder_keypoints,
                                   cube_head=cfg.hidden_dim if feeds else 0)
            self.actor = Actor(self.encoder.repr_dim, low_dim_size(self.actor_low, obs_shapes), self.action_dim,
                               cfg.feature_dim, cfg.hidden_dim)
            self.aux = None
            if cfg.aux_cube_weight > 0 and not feeds:
                self.aux = nn.Sequential(nn.Linear(self.encoder.repr_dim, cfg.hidden_dim), nn.ReLU(),
                                         nn.Linear(cfg.hidden_dim, AUX_DIM))
                self.aux.apply(weight_init)
        nets = [net for net in (self.encoder, self.actor, self.aux) if net is not None]
        for net in nets:
            net.to(self.device)
        self.opt = torch.optim.Adam([p for net in nets for p in net.parameters()], lr=cfg.lr)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.updates = 0

    @property
    def replay_keys(self) -> tuple[str, ...]:
        """Observation keys a training batch must hold: the actor's, plus the aux target when on."""
        return tuple(sorted(set(self.actor_keys) | ({AUX_TARGET, "state"} if self.learns_cube else set())))

    @property
    def learns_cube(self) -> bool:
        """Whether the update has a cube guess to train (a separate aux head or the encoder's own)."""
        return self.aux is not None or self.encoder.cube is not None

    def _cube_guess(self, features: torch.Tensor) -> torch.Tensor | None:
        if self.encoder.cube is not None:
            return self.encoder.cube_guess(features)
        return self.aux(features) if self.aux is not None else None

    # What the loop needs to know: a regression has no TD target (returns of one step, undiscounted)
    # and no critic to bound; ``liftrl distill`` sets the update cadence (``distill.updates_per_round``).
    n_step = 1
    discount = 1.0

    @property
    def batch_size(self) -> int:
        return int(self.cfg.batch_size)

    @property
    def lr(self) -> float:
        return float(self.cfg.lr)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt]

    def value_bound(self, step_bound: float | None, ticks_per_step: int) -> float | None:
        return None

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: Mapping[str, np.ndarray], step: int, eval_mode: bool) -> np.ndarray:
        """(B, action_dim) float32 deterministic actions in [-1, 1] from the actor's keys only."""
        t = as_tensors(obs, (PIXELS, *self.actor_low), self.device)
        mu = self.actor(self.encoder(t[PIXELS]), concat_low_dim(t, self.actor_low))  # float32, as deployed
        return mu.cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------ learning
    def update(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One regression step on labelled observations (``batch["action"]`` are the teacher's labels)."""
        obs = as_tensors(batch["obs"], self.replay_keys, self.device)
        label = torch.as_tensor(batch["action"], device=self.device, dtype=torch.float32)
        pixels = random_shift(obs[PIXELS].float(), self.cfg.augment_pad, self.generator)
        with autocast(self.device, self.amp):
            features = self.encoder(pixels)
            mu = self.actor(features, concat_low_dim(obs, self.actor_low)).float()
            cube_guess = self._cube_guess(features)
            cube_guess = None if cube_guess is None else cube_guess.float()
        action_mse = F.mse_loss(mu, label)
        loss = action_mse
        aux_loss = torch.zeros((), device=self.device)
        if cube_guess is not None:
            aux_loss = F.mse_loss(cube_guess, aux_target(obs, self.cfg.aux_cube_frame))
            loss = loss + self.cfg.aux_cube_weight * aux_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(p for group in self.opt.param_groups for p in group["params"])
        self.opt.step()
        self.updates += 1
        values = torch.stack([loss.detach(), action_mse.detach(), aux_loss.detach(), gn,
                              (mu.detach() - label).abs().mean()])
        return dict(zip(DIAGNOSTICS, values.cpu().tolist()))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only; ``encoder`` and ``actor`` are named as DrQ-v2 names them."""
        state = {"encoder": self.encoder.state_dict(), "actor": self.actor.state_dict(),
                 "opt": self.opt.state_dict(), "generator": self.generator.get_state(), "updates": self.updates}
        if self.aux is not None:
            state["aux"] = self.aux.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in _STATE_KEYS if k not in state]
        if self.aux is not None and "aux" not in state:
            missing.append("aux")
        if missing:
            raise ValueError(f"not a student agent state: missing {missing}")
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        if self.aux is not None:
            self.aux.load_state_dict(state["aux"])
        self.opt.load_state_dict(state["opt"])
        self.generator.set_state(state["generator"].cpu())
        self.updates = int(state["updates"])
