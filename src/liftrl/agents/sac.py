"""SAC (Haarnoja et al. 2018) with a learned temperature, from low-dimensional observations only.

- actor: tanh-squashed Gaussian on the actor's keys (sorted, concatenated); critic: twin Q MLPs on
  the critic's keys, which may include privileged ones the actor never receives;
- critic target = reward + discount * (min(Q1', Q2')(next_obs, a') - alpha * log pi(a'|next_obs)),
  with ``reward`` the n-step return and ``discount`` gamma**k or 0 straight from the replay batch;
- the actor and the temperature update every ``cfg.actor_update_every`` updates (diagnostics then
  repeat their last values); alpha = exp(log_alpha), target entropy -action_dim unless configured;
- soft target update by ``critic_target_tau`` after every critic step;
- ``update`` returns diagnostics from every ``cfg.diagnostics_every``-th update, ``{}`` otherwise;
- options against collapse (``SACConfig``, all off by default): LayerNorm in every hidden layer,
  a floor under alpha (log_alpha is clamped after each temperature step), and global-norm clipping
  of each network's gradient (the logged gradient norms are the norms before clipping; with
  clipping the norm is computed at every update).

Made for one CPU core as much as for a GPU: fused Adam, one fused soft update over kept
parameter lists, and no critic weight gradients in the actor's backward (bench/peer_sb3.py).

All randomness comes from the agent's own ``torch.Generator`` (seeded by ``seed``), which
``state_dict`` carries together with the update counter, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from liftrl.agents.base import TDLoopFacts
from liftrl.agents.config import SACConfig
from liftrl.agents.networks import (PIXELS, GaussianActor, TwinQ, adam, as_tensors, concat_low_dim, grad_norm,
                                    soft_update)

DIAGNOSTICS = (
    "critic_loss", "actor_loss", "q1_mean", "q_min", "q_max", "target_q_mean", "target_q_max",
    "reward_mean", "actor_stddev", "actor_grad_norm", "critic_grad_norm", "saturated_action_frac",
    "alpha", "alpha_loss", "entropy",
)
_STATE_KEYS = ("actor", "critic", "critic_target", "log_alpha", "actor_opt", "critic_opt", "alpha_opt",
               "generator", "updates")


class SACAgent(TDLoopFacts):
    def __init__(self, cfg: SACConfig, obs_shapes: Mapping[str, Sequence[int]], action_dim: int,
                 actor_keys: Sequence[str], critic_keys: Sequence[str], device: str | torch.device,
                 seed: int = 0):
        self.cfg = cfg
        self.actor_keys = tuple(actor_keys)
        self.critic_keys = tuple(critic_keys)
        for role, keys in (("actor_keys", self.actor_keys), ("critic_keys", self.critic_keys)):
            if not keys:
                raise ValueError(f"SAC needs at least one observation key in {role}")
            images = [k for k in keys if k == PIXELS or len(obs_shapes.get(k, ())) > 1]
            if images:
                raise ValueError(f"SAC learns from low-dimensional keys only; {role} has image keys {images} "
                                 f"(use the drqv2 agent for pixels)")
            missing = [k for k in keys if k not in obs_shapes]
            if missing:
                raise ValueError(f"{role} {missing} not in obs_shapes (has {sorted(obs_shapes)})")
        self.actor_in = tuple(sorted(self.actor_keys))
        self.critic_in = tuple(sorted(self.critic_keys))
        self.device = torch.device(device)
        self.action_dim = int(action_dim)
        self.target_entropy = float(-self.action_dim if cfg.target_entropy is None else cfg.target_entropy)

        actor_dim = sum(math.prod(obs_shapes[k]) for k in self.actor_in)
        critic_dim = sum(math.prod(obs_shapes[k]) for k in self.critic_in)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ln = cfg.layer_norm
            self.actor = GaussianActor(actor_dim, self.action_dim, cfg.hidden_dim, cfg.hidden_layers, ln)
            self.critic = TwinQ(critic_dim, self.action_dim, cfg.hidden_dim, cfg.hidden_layers, ln)
            self.critic_target = TwinQ(critic_dim, self.action_dim, cfg.hidden_dim, cfg.hidden_layers, ln)
        for net in (self.actor, self.critic, self.critic_target):
            net.to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(max(cfg.init_temperature, cfg.alpha_min)), device=self.device,
                                      requires_grad=True)
        self._log_alpha_min = math.log(cfg.alpha_min) if cfg.alpha_min > 0 else None

        # Parameter lists kept: walking the modules for them costs more than a fused op on them.
        self._actor_params = list(self.actor.parameters())
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.critic_target.parameters())
        self.actor_opt = adam(self._actor_params, cfg.lr, self.device)
        self.critic_opt = adam(self._critic_params, cfg.lr, self.device)
        self.alpha_opt = adam([self.log_alpha], cfg.lr, self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.updates = 0
        self._actor_diag: dict[str, torch.Tensor] = {}

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.actor_opt, self.critic_opt, self.alpha_opt]

    # ------------------------------------------------------------------ acting
    def _flat(self, obs: Mapping[str, Any], keys: Sequence[str]) -> torch.Tensor:
        return concat_low_dim(as_tensors(obs, keys, self.device), keys)

    @torch.no_grad()
    def act(self, obs: Mapping[str, np.ndarray], step: int, eval_mode: bool) -> np.ndarray:
        """(B, action_dim) float32 actions in [-1, 1]: tanh(mean) in eval mode, a policy sample otherwise."""
        x = self._flat(obs, self.actor_in)
        if eval_mode:
            action = torch.tanh(self.actor(x)[0])
        else:
            action = self.actor.act(x, self.generator)
        return action.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def critic_q(self, obs: Mapping[str, np.ndarray], action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q1, Q2), each (B,), of the online critic; for inspection."""
        act = torch.as_tensor(action, device=self.device, dtype=torch.float32)
        q1, q2 = self.critic(self._flat(obs, self.critic_in), act)
        return q1.squeeze(-1).cpu().numpy(), q2.squeeze(-1).cpu().numpy()

    # ------------------------------------------------------------------ learning
    def update(self, batch: Mapping[str, Any], step: int) -> dict[str, float]:
        """One gradient step: ``update_critic``, then (every ``actor_update_every``) ``update_actor``.

        Returns the diagnostics on every ``diagnostics_every``-th update (the first included), else ``{}``.
        """
        obs_a, obs_c = self._flat(batch["obs"], self.actor_in), self._flat(batch["obs"], self.critic_in)
        next_a, next_c = self._flat(batch["next_obs"], self.actor_in), self._flat(batch["next_obs"], self.critic_in)
        action = torch.as_tensor(batch["action"], device=self.device, dtype=torch.float32)
        reward = self.cfg.reward_scale * torch.as_tensor(batch["reward"], device=self.device,
                                                         dtype=torch.float32).reshape(-1, 1)
        discount = torch.as_tensor(batch["discount"], device=self.device, dtype=torch.float32).reshape(-1, 1)
        alpha = self.log_alpha.detach().exp()

        diagnose = self.updates % self.cfg.diagnostics_every == 0
        critic = self.update_critic(obs_c, action, reward, discount, next_a, next_c, alpha, diagnose=diagnose)
        if self.updates % self.cfg.actor_update_every == 0:
            # Merged: an actor step without diagnostics keeps the last grad norm (repeated, as on skipped steps).
            self._actor_diag = {**self._actor_diag, **self.update_actor(obs_a, obs_c, alpha, diagnose=diagnose)}
        soft_update(self._critic_params, self._target_params, self.cfg.critic_target_tau)
        self.updates += 1
        if not diagnose:
            return {}

        q = torch.cat([critic["q1"], critic["q2"]]).detach()
        values = {
            "critic_loss": critic["loss"], "q1_mean": critic["q1"].detach().mean(), "q_min": q.min(), "q_max": q.max(),
            "target_q_mean": critic["target_q"].mean(), "target_q_max": critic["target_q"].max(),
            "reward_mean": reward.mean(), "critic_grad_norm": critic["grad_norm"],
            "alpha": self.log_alpha.detach().exp(), **self._actor_diag,
        }
        stacked = torch.stack([values[k].float().reshape(()) for k in DIAGNOSTICS]).cpu().tolist()
        return dict(zip(DIAGNOSTICS, stacked))

    def update_critic(self, obs_c, action, reward, discount, next_a, next_c, alpha,
                      diagnose: bool = True) -> dict[str, torch.Tensor]:
        """Critic: both Q heads on the soft clipped-double-Q n-step target (grad norm only if ``diagnose``)."""
        with torch.no_grad():
            next_action, next_logp, _, _ = self.actor.sample(next_a, self.generator)
            target_q1, target_q2 = self.critic_target(next_c, next_action)
            target_q = reward + discount * (torch.min(target_q1, target_q2) - alpha * next_logp.unsqueeze(-1))
        q1, q2 = self.critic(obs_c, action)
        loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        out = {"loss": loss.detach(), "q1": q1, "q2": q2, "target_q": target_q}
        if diagnose or self.cfg.grad_clip > 0:  # clipping needs the norm at every update
            norm = grad_norm(self._critic_params)
            self._clip(self._critic_params, norm)
            if diagnose:
                out["grad_norm"] = norm
        self.critic_opt.step()
        return out

    def update_actor(self, obs_a, obs_c, alpha, diagnose: bool = True) -> dict[str, torch.Tensor]:
        """Actor (maximise soft min-Q of its sample) and temperature (toward the target entropy);
        the actor's grad norm only if ``diagnose``."""
        pi, logp, mean, log_std = self.actor.sample(obs_a, self.generator)
        # The critic only passes gradients through to the action here: without this its weight
        # gradients (a third of this backward's matrix products) were computed and thrown away.
        for p in self._critic_params:
            p.requires_grad_(False)
        try:
            q1, q2 = self.critic(obs_c, pi)
            actor_loss = (alpha * logp - torch.min(q1, q2).squeeze(-1)).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
        finally:
            for p in self._critic_params:
                p.requires_grad_(True)
        actor_gn = grad_norm(self._actor_params) if diagnose or self.cfg.grad_clip > 0 else None
        if actor_gn is not None:
            self._clip(self._actor_params, actor_gn)
        self.actor_opt.step()

        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()
        if self._log_alpha_min is not None:
            with torch.no_grad():
                self.log_alpha.clamp_(min=self._log_alpha_min)
        out = {
            "actor_loss": actor_loss.detach(), "actor_stddev": log_std.detach().exp().mean(),
            "saturated_action_frac": (torch.tanh(mean.detach()).abs() > 0.99).float().mean(),
            "alpha_loss": alpha_loss.detach(), "entropy": -logp.detach().mean(),
        }
        if diagnose:
            out["actor_grad_norm"] = actor_gn
        return out

    def _clip(self, params, norm: torch.Tensor) -> None:
        """Scale the gradients down to ``cfg.grad_clip`` (global L2 norm) when they exceed it.

        ``norm`` is the already computed pre-clip norm (logged as such), so clipping costs no
        second pass over the gradients.
        """
        if self.cfg.grad_clip > 0:
            scale = torch.clamp(self.cfg.grad_clip / (norm + 1e-6), max=1.0)
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (``torch.load(weights_only=True)`` reads it back).

        Like ``nn.Module.state_dict`` it holds references to live tensors: save or copy it before
        the next ``update``.
        """
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "actor_diagnostics": {k: v.detach() for k, v in self._actor_diag.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"not a SAC agent state: missing {missing}")
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.generator.set_state(state["generator"].cpu())
        self.updates = int(state["updates"])
        self._actor_diag = {k: v.to(self.device).clone() for k, v in state.get("actor_diagnostics", {}).items()}
