"""DrQ-v2 (Yarats et al. 2021): DDPG-style actor-critic from pixels with random-shift augmentation.

As the reference implementation (facebookresearch/drqv2):
- one conv encoder on ``pixels``, trained only by the critic loss; the actor reads detached features;
- actor = deterministic tanh mean; exploration adds Gaussian noise whose stddev follows
  ``cfg.stddev_schedule`` (in ``act`` the noise is not clipped, as the reference; in the target and
  the actor loss it is clipped to ``cfg.stddev_clip``); actions are clamped to [-1, 1];
- critic target = reward + discount * min(Q1', Q2')(next_obs, a'), with ``reward`` the n-step return
  and ``discount`` gamma**k or 0 straight from the replay batch; the target critic has its own trunk
  but shares the online encoder (no target encoder); soft target update by ``critic_target_tau``.
Added here: with ``cfg.fuse_state`` each role concatenates its low-dimensional keys (sorted) after
its trunk, so the critic can read privileged keys the actor never receives.

All randomness (augmentation, noise) comes from the agent's own ``torch.Generator`` (seeded by
``seed``), which ``state_dict`` carries, so a resumed run continues bit for bit.

``amp=True`` runs forward passes under ``torch.autocast`` in bfloat16 (no loss scaler needed) on CUDA
and on CPUs with native bfloat16 (``liftrl.agents.precision``); elsewhere it is ignored with a
warning, so one config runs anywhere.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from liftrl.agents.augment import random_shift
from liftrl.agents.base import TDLoopFacts
from liftrl.agents.config import DrQV2Config
from liftrl.agents.networks import (
    PIXELS,
    Actor,
    Critic,
    Encoder,
    as_tensors,
    concat_low_dim,
    grad_norm,
    low_dim_keys,
    low_dim_size,
    soft_update,
)
from liftrl.agents.precision import autocast, use_amp
# The one schedule parser; a pure, dependency-free module, so importing it keeps agents free of the
# simulator and of the train loop (liftrl.train's package init imports nothing).
from liftrl.common.schedules import parse_schedule

DIAGNOSTICS = (
    "critic_loss", "actor_loss", "q1_mean", "q_min", "q_max", "target_q_mean", "target_q_max",
    "reward_mean", "actor_stddev", "actor_grad_norm", "critic_grad_norm", "encoder_grad_norm",
    "saturated_action_frac",
)
_STATE_KEYS = ("encoder", "actor", "critic", "critic_target", "encoder_opt", "actor_opt", "critic_opt",
               "generator")


def noisy_action(mu: torch.Tensor, std: float, clip: float | None, generator: torch.Generator) -> torch.Tensor:
    """mu + N(0, std) noise (clipped to +-clip unless None), clamped to [-1, 1].

    The clamp passes gradients straight through, as the reference's TruncatedNormal.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) * std
    if clip is not None:
        eps = eps.clamp(-clip, clip)
    x = mu + eps
    return x - x.detach() + x.detach().clamp(-1.0, 1.0)


class DrQV2Agent(TDLoopFacts):
    def __init__(self, cfg: DrQV2Config, obs_shapes: Mapping[str, Sequence[int]], action_dim: int,
                 actor_keys: Sequence[str], critic_keys: Sequence[str], device: str | torch.device,
                 amp: bool = False, seed: int = 0):
        self.cfg = cfg
        self.actor_keys = tuple(actor_keys)
        self.critic_keys = tuple(critic_keys)
        for role, keys in (("actor_keys", self.actor_keys), ("critic_keys", self.critic_keys)):
            if PIXELS not in keys:
                raise ValueError(f"DrQ-v2 learns from pixels: {role} must contain {PIXELS!r}, got {keys}")
            missing = [k for k in keys if k not in obs_shapes]
            if missing:
                raise ValueError(f"{role} {missing} not in obs_shapes (has {sorted(obs_shapes)})")
        self.device = torch.device(device)
        self.action_dim = int(action_dim)
        self.amp = use_amp(amp, self.device)
        # Low-dimensional keys each role reads (sorted); none at all without state fusion.
        self.actor_low = low_dim_keys(self.actor_keys) if cfg.fuse_state else ()
        self.critic_low = low_dim_keys(self.critic_keys) if cfg.fuse_state else ()
        self.stddev_schedule = parse_schedule(cfg.stddev_schedule)

        # Networks are initialised from `seed` without touching the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = Encoder(obs_shapes[PIXELS], cfg.encoder_channels, cfg.encoder_layers, cfg.encoder_keypoints)
            r = self.encoder.repr_dim
            self.actor = Actor(r, low_dim_size(self.actor_low, obs_shapes), self.action_dim,
                               cfg.feature_dim, cfg.hidden_dim)
            self.critic = Critic(r, low_dim_size(self.critic_low, obs_shapes), self.action_dim,
                                 cfg.feature_dim, cfg.hidden_dim)
            self.critic_target = Critic(r, low_dim_size(self.critic_low, obs_shapes), self.action_dim,
                                        cfg.feature_dim, cfg.hidden_dim)
        for net in (self.encoder, self.actor, self.critic, self.critic_target):
            net.to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)

        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.lr)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    # ------------------------------------------------------------------ small pieces
    def _autocast(self):
        return autocast(self.device, self.amp)

    def stddev(self, step: int) -> float:
        return float(self.stddev_schedule(step))

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.encoder_opt, self.actor_opt, self.critic_opt]

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: Mapping[str, np.ndarray], step: int, eval_mode: bool) -> np.ndarray:
        """(B, action_dim) float32 actions in [-1, 1] from the actor's keys only (others are ignored)."""
        x = as_tensors(obs, (PIXELS, *self.actor_low), self.device)
        with self._autocast():
            mu = self.actor(self.encoder(x[PIXELS]), concat_low_dim(x, self.actor_low)).float()
        action = mu if eval_mode else noisy_action(mu, self.stddev(step), None, self.generator)
        return action.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def critic_q(self, obs: Mapping[str, np.ndarray], action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q1, Q2), each (B,), of the online critic on un-augmented observations; for inspection."""
        x = as_tensors(obs, (PIXELS, *self.critic_low), self.device)
        act = torch.as_tensor(action, device=self.device, dtype=torch.float32)
        with self._autocast():
            q1, q2 = self.critic(self.encoder(x[PIXELS]), concat_low_dim(x, self.critic_low), act)
        return q1.float().squeeze(-1).cpu().numpy(), q2.float().squeeze(-1).cpu().numpy()

    # ------------------------------------------------------------------ learning
    def update(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One gradient step: augment, encode, ``update_critic`` (with the encoder), ``update_actor``."""
        cfg = self.cfg
        keys = (PIXELS, *sorted(set(self.actor_low) | set(self.critic_low)))
        obs = as_tensors(batch["obs"], keys, self.device)
        next_obs = as_tensors(batch["next_obs"], keys, self.device)
        action = torch.as_tensor(batch["action"], device=self.device, dtype=torch.float32)
        reward = self.cfg.reward_scale * torch.as_tensor(batch["reward"], device=self.device,
                                                         dtype=torch.float32).reshape(-1, 1)
        discount = torch.as_tensor(batch["discount"], device=self.device, dtype=torch.float32).reshape(-1, 1)
        std = self.stddev(step)

        pixels = random_shift(obs[PIXELS].float(), cfg.augment_pad, self.generator)
        next_pixels = random_shift(next_obs[PIXELS].float(), cfg.augment_pad, self.generator)
        with self._autocast():
            features = self.encoder(pixels)
        with torch.no_grad(), self._autocast():
            next_features = self.encoder(next_pixels)

        critic = self.update_critic(features, obs, action, reward, discount, next_features, next_obs, std)
        actor = self.update_actor(features.detach(), obs, std)  # the encoder learns from the critic only
        soft_update(self.critic, self.critic_target, cfg.critic_target_tau)

        q = torch.cat([critic["q1"], critic["q2"]]).detach()
        values = torch.stack([
            critic["loss"], actor["loss"], critic["q1"].detach().mean(), q.min(), q.max(),
            critic["target_q"].mean(), critic["target_q"].max(), reward.mean(), torch.tensor(std, device=self.device),
            actor["grad_norm"], critic["grad_norm"], critic["encoder_grad_norm"],
            (actor["mu"].abs() > 0.99).float().mean(),
        ])
        return dict(zip(DIAGNOSTICS, values.cpu().tolist()))

    def update_critic(self, features, obs, action, reward, discount, next_features, next_obs,
                      std: float) -> dict[str, torch.Tensor]:
        """Critic and encoder: regress both Q heads on the clipped-double-Q n-step target."""
        with torch.no_grad(), self._autocast():
            next_mu = self.actor(next_features, concat_low_dim(next_obs, self.actor_low)).float()
            next_action = noisy_action(next_mu, std, self.cfg.stddev_clip, self.generator)
            target_q1, target_q2 = self.critic_target(next_features, concat_low_dim(next_obs, self.critic_low),
                                                      next_action)
            target_q = reward + discount * torch.min(target_q1, target_q2).float()
        with self._autocast():
            q1, q2 = self.critic(features, concat_low_dim(obs, self.critic_low), action)
        q1, q2 = q1.float(), q2.float()
        loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        critic_gn = grad_norm(self.critic.parameters())
        encoder_gn = grad_norm(self.encoder.parameters())
        self.critic_opt.step()
        self.encoder_opt.step()
        return {"loss": loss.detach(), "q1": q1, "q2": q2, "target_q": target_q, "grad_norm": critic_gn,
                "encoder_grad_norm": encoder_gn}

    def update_actor(self, features, obs, std: float) -> dict[str, torch.Tensor]:
        """Actor: maximise min(Q1, Q2) of its clipped-noise action on detached features."""
        with self._autocast():
            mu = self.actor(features, concat_low_dim(obs, self.actor_low)).float()
            pi = noisy_action(mu, std, self.cfg.stddev_clip, self.generator)
            q1, q2 = self.critic(features, concat_low_dim(obs, self.critic_low), pi)
        loss = -torch.min(q1, q2).float().mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        actor_gn = grad_norm(self.actor.parameters())
        self.actor_opt.step()
        return {"loss": loss.detach(), "grad_norm": actor_gn, "mu": mu.detach()}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (``torch.load(weights_only=True)`` reads it back).

        Like ``nn.Module.state_dict`` it holds references to live tensors: save or copy it before
        the next ``update``.
        """
        return {
            "encoder": self.encoder.state_dict(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "encoder_opt": self.encoder_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_actor_weights(self, state: Mapping[str, Any]) -> None:
        """Take ``encoder`` and ``actor`` weights from another agent's state (a distilled student's).

        The critic, its target and every optimiser keep their fresh state: this starts RL fine-tuning,
        it does not resume anything. Layer sizes must match exactly (ValueError naming the part otherwise).
        """
        for part, net in (("encoder", self.encoder), ("actor", self.actor)):
            if part not in state:
                raise ValueError(f"the state has no {part!r} weights (has {sorted(state)})")
            mine = net.state_dict()
            theirs = state[part]
            bad = [f"{k}: {tuple(theirs[k].shape) if k in theirs else 'missing'} vs {tuple(v.shape)}"
                   for k, v in mine.items() if k not in theirs or tuple(theirs[k].shape) != tuple(v.shape)]
            if bad or set(theirs) != set(mine):
                raise ValueError(f"{part} weights do not fit this DrQ-v2 {part} (agent.feature_dim, hidden_dim, "
                                 f"encoder_channels, encoder_layers, encoder_keypoints must match; DrQ-v2 has no cube head, so a "
                                 f"student with agent.aux_feeds_actor cannot hand over its encoder): {bad or sorted(set(theirs) ^ set(mine))}")
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"not a DrQ-v2 agent state: missing {missing}")
        self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.encoder_opt.load_state_dict(state["encoder_opt"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.generator.set_state(state["generator"].cpu())
