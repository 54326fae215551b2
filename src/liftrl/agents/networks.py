"""The agents' networks: DrQ-v2's conv encoder, actor and twin critic; SAC's MLP actor and critic.

Inputs follow ``liftrl.agents.base``: ``pixels`` uint8 (B, C, H, W) and low-dimensional keys
(B, n) float32. A role (actor or critic) reads its low-dimensional keys concatenated in sorted
key order (``low_dim_keys``), so the layout never depends on how a config lists them.
Initialisation follows the DrQ-v2 reference: orthogonal weights (ReLU gain for convolutions),
zero biases.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PIXELS = "pixels"


# ---------------------------------------------------------------------------- input layout
def low_dim_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The non-pixel keys of a role, in the fixed (sorted) order their values are concatenated."""
    return tuple(sorted(k for k in keys if k != PIXELS))


def low_dim_size(keys: Iterable[str], obs_shapes: Mapping[str, Sequence[int]]) -> int:
    return sum(math.prod(obs_shapes[k]) for k in keys)


def concat_low_dim(obs: Mapping[str, torch.Tensor], keys: Sequence[str]) -> torch.Tensor | None:
    """(B, sum of sizes) float tensor of ``keys`` in the given order; None when there are none."""
    if not keys:
        return None
    return torch.cat([obs[k].float().flatten(1) for k in keys], dim=-1)


def as_tensors(obs: Mapping[str, object], keys: Iterable[str], device: torch.device) -> dict[str, torch.Tensor]:
    """The given keys of an observation dict (numpy or torch) as tensors on ``device``, dtypes kept."""
    out = {}
    for k in keys:
        if k not in obs:
            raise KeyError(f"observation has no key {k!r} (has {sorted(obs)})")
        v = obs[k]
        if isinstance(v, np.ndarray) and not v.flags.writeable:
            v = v.copy()  # torch warns on read-only numpy arrays
        out[k] = torch.as_tensor(v, device=device)
    return out


# ---------------------------------------------------------------------------- helpers
def weight_init(m: nn.Module) -> None:
    """The DrQ-v2 reference's init: orthogonal weights, zero biases."""
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight.data)
        if m.bias is not None:
            m.bias.data.fill_(0.0)
    elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.orthogonal_(m.weight.data, nn.init.calculate_gain("relu"))
        if m.bias is not None:
            m.bias.data.fill_(0.0)


@torch.no_grad()
def soft_update(net: nn.Module | Sequence[torch.Tensor], target: nn.Module | Sequence[torch.Tensor],
                tau: float) -> None:
    """target <- tau * net + (1 - tau) * target: one fused lerp over all parameters.

    Takes modules or their parameter lists (an agent can keep the lists: walking the modules
    for them every update costs more than the lerp on a CPU).
    """
    params = list(net.parameters()) if isinstance(net, nn.Module) else list(net)
    targets = list(target.parameters()) if isinstance(target, nn.Module) else list(target)
    torch._foreach_lerp_(targets, params, tau)


def adam(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with its fused kernel where torch has one for ``device`` (CPU, CUDA): one pass over all
    parameters per step instead of a dozen small ops per tensor (most of a small MLP's Adam step)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def grad_norm(params: Iterable[nn.Parameter]) -> torch.Tensor:
    """Global L2 norm of the gradients (0 when there are none); a tensor, to avoid a device sync.

    One fused call instead of a norm per parameter: on a GPU that is a few kernel launches per
    update rather than one per weight tensor.
    """
    params = list(params)
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0).float()


def mlp(in_dim: int, hidden_dim: int, hidden_layers: int, out_dim: int, layer_norm: bool = False) -> nn.Sequential:
    """ReLU MLP; with ``layer_norm`` each hidden Linear is followed by a LayerNorm before its ReLU.

    LayerNorm keeps the hidden activations (and so Q) from growing without bound when the critic's
    targets drift upwards, the usual start of an off-policy collapse (Ball et al. 2023, RLPD).
    """
    layers: list[nn.Module] = []
    for _ in range(hidden_layers):
        layers.append(nn.Linear(in_dim, hidden_dim))
        if layer_norm:
            layers.append(nn.LayerNorm(hidden_dim))
        layers.append(nn.ReLU(inplace=True))
        in_dim = hidden_dim
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def _trunk(repr_dim: int, feature_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


# ---------------------------------------------------------------------------- DrQ-v2
CUBE_GUESS_DIM = 3  # where the cube is from the tool point (x, y, z), as the student's aux target


class SpatialSoftmax(nn.Module):
    """``keypoints`` image positions from a conv feature map: a 1x1 conv makes one map per keypoint,
    a softmax over each map's pixels turns it into a distribution, and its expected (x, y) in
    [-1, 1] is the feature (Levine et al. 2016; robomimic's visuomotor policies).

    Why: a flattened conv map (DrQ-v2's head) must learn *where* a 6-pixel cube is from a
    15,000-value vector, one position at a time; an expected coordinate says where by construction,
    and it moves smoothly with the cube. The softmax temperature is learnt.
    """

    def __init__(self, channels: int, keypoints: int):
        super().__init__()
        self.maps = nn.Conv2d(channels, keypoints, 1)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.maps(x)
        b, k, h, w = maps.shape
        attention = F.softmax(maps.flatten(2).float() / self.log_temperature.exp(), dim=-1)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device).repeat_interleave(w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device).repeat(h)
        expected = torch.stack([attention @ xs, attention @ ys], dim=-1)  # (B, K, 2)
        return expected.flatten(1)


class Encoder(nn.Module):
    """``layers`` 3x3 convolutions of ``channels`` channels (first stride 2), ReLU after each, then
    DrQ-v2's flattened map (``keypoints=0``) or ``keypoints`` expected image positions
    (``SpatialSoftmax``: 2 values each).

    ``cube_head > 0`` appends ``CUBE_GUESS_DIM`` values to the features: a small MLP (that many
    hidden units) over them, which the pixel student trains to say where the cube is from the tool
    point (``agent.aux_feeds_actor``). Why in the encoder: the actor then reads the guess as it reads
    any feature, and an exported actor carries the head with the encoder's weights.

    Takes uint8 (or float 0..255) images and scales them to [-0.5, 0.5] itself.
    ``repr_dim`` is the output size, found by a dummy forward on ``obs_shape``.
    """

    def __init__(self, obs_shape: Sequence[int], channels: int = 32, layers: int = 4, keypoints: int = 0,
                 cube_head: int = 0):
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"Encoder needs a (C, H, W) image shape, got {tuple(obs_shape)}")
        if min(obs_shape[1:]) < 16:
            raise ValueError(f"Encoder needs images of at least 16x16, got {tuple(obs_shape)}")
        if layers < 1:
            raise ValueError(f"Encoder needs at least one layer, got {layers}")
        if keypoints < 0:
            raise ValueError(f"Encoder keypoints must be 0 (flattened map) or more, got {keypoints}")
        if cube_head < 0:
            raise ValueError(f"Encoder cube_head must be 0 (none) or a number of hidden units, got {cube_head}")
        convs: list[nn.Module] = []
        in_ch = obs_shape[0]
        for i in range(layers):
            convs += [nn.Conv2d(in_ch, channels, 3, stride=2 if i == 0 else 1), nn.ReLU()]
            in_ch = channels
        self.convnet = nn.Sequential(*convs)
        self.keypoints = SpatialSoftmax(channels, keypoints) if keypoints else None
        try:
            with torch.no_grad():
                base_dim = int(self._head(self.convnet(torch.zeros(1, *obs_shape))).shape[1])
        except RuntimeError as e:
            raise ValueError(f"{layers} conv layers shrink a {tuple(obs_shape)} image to nothing") from e
        self.cube = (nn.Sequential(nn.Linear(base_dim, cube_head), nn.ReLU(), nn.Linear(cube_head, CUBE_GUESS_DIM))
                     if cube_head else None)
        self.repr_dim = base_dim + (CUBE_GUESS_DIM if cube_head else 0)
        self.apply(weight_init)

    def _head(self, maps: torch.Tensor) -> torch.Tensor:
        return self.keypoints(maps) if self.keypoints is not None else maps.flatten(1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0 - 0.5
        h = self._head(self.convnet(x))
        return h if self.cube is None else torch.cat([h, self.cube(h)], dim=-1)

    def cube_guess(self, features: torch.Tensor) -> torch.Tensor:
        """The cube guess inside ``forward``'s features (its last values); only with a ``cube_head``."""
        if self.cube is None:
            raise ValueError("this encoder has no cube head (cube_head=0)")
        return features[:, -CUBE_GUESS_DIM:]


class Actor(nn.Module):
    """Deterministic DrQ-v2 actor: trunk (Linear, LayerNorm, Tanh) -> [+ low-dim] -> MLP -> tanh mean."""

    def __init__(self, repr_dim: int, low_dim: int, action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = _trunk(repr_dim, feature_dim)
        self.policy = mlp(feature_dim + low_dim, hidden_dim, 2, action_dim)
        self.apply(weight_init)

    def forward(self, features: torch.Tensor, low: torch.Tensor | None = None) -> torch.Tensor:
        h = self.trunk(features)
        if low is not None:
            h = torch.cat([h, low.to(h.dtype)], dim=-1)
        return torch.tanh(self.policy(h))


class Critic(nn.Module):
    """DrQ-v2 twin critic with its own trunk; each Q head reads [features, low-dim, action]."""

    def __init__(self, repr_dim: int, low_dim: int, action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = _trunk(repr_dim, feature_dim)
        in_dim = feature_dim + low_dim + action_dim
        self.q1 = mlp(in_dim, hidden_dim, 2, 1)
        self.q2 = mlp(in_dim, hidden_dim, 2, 1)
        self.apply(weight_init)

    def forward(self, features: torch.Tensor, low: torch.Tensor | None, action: torch.Tensor):
        h = self.trunk(features)
        parts = [h] + ([low.to(h.dtype)] if low is not None else []) + [action.to(h.dtype)]
        x = torch.cat(parts, dim=-1)
        return self.q1(x), self.q2(x)


# ---------------------------------------------------------------------------- SAC
class GaussianActor(nn.Module):
    """Tanh-squashed Gaussian policy on a flat observation vector.

    log_std is squashed smoothly into [LOG_STD_MIN, LOG_STD_MAX] (as CleanRL), so it stays
    bounded with a gradient everywhere.
    """

    LOG_STD_MIN = -5.0
    LOG_STD_MAX = 2.0

    def __init__(self, obs_dim: int, action_dim: int, hidden_dim: int, hidden_layers: int, layer_norm: bool = False):
        super().__init__()
        self.net = mlp(obs_dim, hidden_dim, hidden_layers, 2 * action_dim, layer_norm)
        self.apply(weight_init)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1.0)
        return mean, log_std

    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The action of :meth:`sample` alone, from the same noise draw (same bits, same generator state).

        Acting runs once per env step and needs no log-probability: skipping it halves the small
        ops of a batch-1 forward, which per-op overhead dominates on a CPU.
        """
        return torch.tanh(self._draw(obs, generator)[3])

    def _draw(self, obs: torch.Tensor, generator: torch.Generator | None):
        """(mean, log_std, noise, pre-tanh sample u = mean + std * noise): what acting and sampling share."""
        mean, log_std = self(obs)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean, log_std, eps, mean + log_std.exp() * eps

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None):
        """(action in (-1, 1), log-prob (B,), mean (B, A), log_std (B, A)), reparameterised (gradients flow).

        ``mean`` is before the tanh squashing.
        """
        mean, log_std, eps, u = self._draw(obs, generator)
        action = torch.tanh(u)
        gaussian = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2.0 * math.pi)
        # Change of variables through tanh: log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable form.
        log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
        return action, (gaussian - log_det).sum(dim=-1), mean, log_std


class TwinQ(nn.Module):
    """Two Q MLPs on [observation vector, action]."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dim: int, hidden_layers: int, layer_norm: bool = False):
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, hidden_dim, hidden_layers, 1, layer_norm)
        self.q2 = mlp(obs_dim + action_dim, hidden_dim, hidden_layers, 1, layer_norm)
        self.apply(weight_init)

    def forward(self, obs: torch.Tensor, action: torch.Tensor):
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x), self.q2(x)
