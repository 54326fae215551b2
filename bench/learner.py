"""Learner throughput: the agents' gradient updates per second against a minimal update of the same math.

Run: ``python bench/learner.py [--device cpu|cuda] [--amp] [--compile] [--repeats 5] [--seconds 5]``

Why a ratio: updates/s alone says as much about the machine as about the code. The minimal
update here is the same network math written inline from plain ``torch.nn`` layers (no replay,
no logging, no diagnostics, no agent object): what any implementation must pay. The ratio
agent/minimal, measured in the same run in alternating blocks of calls (so both see the same
machine), is what the agent's own code costs on top (goal >= 0.9).

Measured, medians over repeats, both fed the same replay-shaped numpy batch each call:
1. DrQ-v2 from pixels (the shipped drqv2_v19 shapes: (3 frames x RGB) x 84 x 84 uint8 pixels,
   ``state`` 18 for the actor and the critic, ``privileged`` 3 for the critic only, 4 actions):
   encoder + actor + twin critic + target critic, random shift of both observations, the critic
   and actor losses, three Adam steps and the soft target update.
2. SAC from state (the shipped sac_v11 shapes: actor ``state`` 18, critic ``state`` +
   ``privileged`` 21, 256x2 MLPs): critic, actor and temperature losses and steps, soft update.
``--amp`` (bfloat16 autocast, as ``train.amp``: on CUDA and on CPUs with native bfloat16, DrQ-v2 only;
it also prints the agent's amp/fp32 speed-up) and ``--compile`` (``torch.compile`` of each network)
add their own measurements beside plain fp32 eager; ``--profile`` prints where the agent's update
spends its time compared with the minimal one. The figures are printed last.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import dataclasses
import io
import math
import os
import pstats
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import machine_line, median, paired_rates  # bench/ is on sys.path when run as a script

from liftrl.agents import DrQV2Agent, DrQV2Config, SACAgent, SACConfig
from liftrl.agents.precision import autocast, cpu_has_native_bf16, use_amp

STATE_DIM, PRIVILEGED_DIM, ACTION_DIM = 18, 3, 4
DRQ_ACTOR_KEYS = ("pixels", "state")
DRQ_CRITIC_KEYS = ("pixels", "state", "privileged")
SAC_ACTOR_KEYS = ("state",)
SAC_CRITIC_KEYS = ("state", "privileged")
GOAL_RATIO = 0.9


# ---------------------------------------------------------------------------------------- inputs
def make_batch(rng: np.random.Generator, batch: int, image_size: int | None, frame_stack: int) -> dict:
    """A batch in the replay buffer's layout: numpy arrays, uint8 pixels, float32 vectors."""

    def obs() -> dict[str, np.ndarray]:
        out = {"state": rng.standard_normal((batch, STATE_DIM), dtype=np.float32),
               "privileged": rng.standard_normal((batch, PRIVILEGED_DIM), dtype=np.float32)}
        if image_size is not None:
            out["pixels"] = rng.integers(0, 256, (batch, 3 * frame_stack, image_size, image_size), dtype=np.uint8)
        return out

    return {
        "obs": obs(), "next_obs": obs(),
        "action": rng.uniform(-1, 1, (batch, ACTION_DIM)).astype(np.float32),
        "reward": rng.uniform(0, 1, batch).astype(np.float32),
        "discount": np.full(batch, 0.99 ** 3, dtype=np.float32),
    }


def obs_shapes(image_size: int | None, frame_stack: int) -> dict[str, tuple[int, ...]]:
    shapes = {"state": (STATE_DIM,), "privileged": (PRIVILEGED_DIM,)}
    if image_size is not None:
        shapes["pixels"] = (3 * frame_stack, image_size, image_size)
    return shapes


def tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(x, device=device)


# ---------------------------------------------------------------------------------------- minimal DrQ-v2
def plain_mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [nn.Linear(in_dim, hidden), nn.ReLU(inplace=True)]
        in_dim = hidden
    return nn.Sequential(*mods, nn.Linear(in_dim, out_dim))


def shift_images(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image moved by a random whole-pixel offset in [-pad, pad]^2, edges replicated."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    hp, wp = h + 2 * pad, w + 2 * pad
    # grid_sample coordinates of the padded image's pixel centres, first h rows / w columns.
    gy = (2 * torch.arange(h, device=x.device, dtype=x.dtype) + 1) / hp - 1
    gx = (2 * torch.arange(w, device=x.device, dtype=x.dtype) + 1) / wp - 1
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]
    offset = torch.randint(0, 2 * pad + 1, (n, 1, 1, 2), device=x.device, generator=generator).to(x.dtype)
    step = torch.tensor([2.0 / wp, 2.0 / hp], device=x.device, dtype=x.dtype)
    return F.grid_sample(padded, grid + offset * step, mode="bilinear", padding_mode="zeros", align_corners=False)


class MinimalDrQ:
    """DrQ-v2's update with nothing around it: the floor an implementation can reach.

    Random numbers are drawn in the agent's order (shift obs, shift next obs, target noise, actor
    noise), so with the agent's weights and a generator in the agent's state it computes the
    agent's update exactly (tests/test_bench.py checks that it does).
    """

    def __init__(self, cfg: DrQV2Config, pixel_shape, actor_low: int, critic_low: int, device, amp: bool,
                 std: float, generator: torch.Generator | None = None):
        self.cfg, self.device, self.std, self.gen = cfg, device, std, generator
        self.amp = use_amp(amp, device)
        c, fd, hd = cfg.encoder_channels, cfg.feature_dim, cfg.hidden_dim
        convs: list[nn.Module] = []
        in_ch = pixel_shape[0]
        for i in range(cfg.encoder_layers):
            convs += [nn.Conv2d(in_ch, c, 3, stride=2 if i == 0 else 1), nn.ReLU()]
            in_ch = c
        self.encoder = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            repr_dim = self.encoder(torch.zeros(1, *pixel_shape)).shape[1]

        def trunk():
            return nn.Sequential(nn.Linear(repr_dim, fd), nn.LayerNorm(fd), nn.Tanh())

        self.actor = nn.ModuleDict({"trunk": trunk(), "mlp": plain_mlp(fd + actor_low, hd, 2, ACTION_DIM)})
        q_in = fd + critic_low + ACTION_DIM
        self.critic = nn.ModuleDict({"trunk": trunk(), "q1": plain_mlp(q_in, hd, 2, 1),
                                     "q2": plain_mlp(q_in, hd, 2, 1)})
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        for m in (self.encoder, self.actor, self.critic, self.target):
            m.to(device)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=cfg.lr)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.encode = self.encoder
        self.pi, self.q, self.q_target = self._pi, self._q, self._q_target

    def compile(self) -> None:
        self.encode = torch.compile(self.encoder)
        self.pi, self.q, self.q_target = torch.compile(self._pi), torch.compile(self._q), torch.compile(self._q_target)

    def _pi(self, h, low):
        return torch.tanh(self.actor["mlp"](torch.cat([self.actor["trunk"](h), low], -1)))

    def _q(self, h, low, a):
        x = torch.cat([self.critic["trunk"](h), low, a], -1)
        return self.critic["q1"](x), self.critic["q2"](x)

    def _q_target(self, h, low, a):
        x = torch.cat([self.target["trunk"](h), low, a], -1)
        return self.target["q1"](x), self.target["q2"](x)

    def _autocast(self):
        return autocast(self.device, self.amp)

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.gen, device=like.device, dtype=like.dtype)

    def update(self, batch: dict) -> None:
        cfg, d, std = self.cfg, self.device, self.std
        o, no = batch["obs"], batch["next_obs"]
        pix, next_pix = tensor(o["pixels"], d).float(), tensor(no["pixels"], d).float()
        state, next_state = tensor(o["state"], d), tensor(no["state"], d)
        critic_low = torch.cat([tensor(o["privileged"], d), state], -1)  # sorted key order, as the agent
        next_critic_low = torch.cat([tensor(no["privileged"], d), next_state], -1)
        action = tensor(batch["action"], d)
        reward, discount = tensor(batch["reward"], d)[:, None], tensor(batch["discount"], d)[:, None]

        x = shift_images(pix, cfg.augment_pad, self.gen) / 255.0 - 0.5
        nx = shift_images(next_pix, cfg.augment_pad, self.gen) / 255.0 - 0.5
        with self._autocast():
            h = self.encode(x)
        with torch.no_grad(), self._autocast():
            nh = self.encode(nx)
            mu = self.pi(nh, next_state).float()
            na = (mu + (self.noise(mu) * std).clamp(-cfg.stddev_clip, cfg.stddev_clip)).clamp(-1, 1)
            t1, t2 = self.q_target(nh, next_critic_low, na)
            y = reward + discount * torch.min(t1, t2).float()
        with self._autocast():
            q1, q2 = self.q(h, critic_low, action)
        critic_loss = F.mse_loss(q1.float(), y) + F.mse_loss(q2.float(), y)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.encoder_opt.step()

        h = h.detach()
        with self._autocast():
            mu = self.pi(h, state).float()
            a = mu + (self.noise(mu) * std).clamp(-cfg.stddev_clip, cfg.stddev_clip)
            a = a - a.detach() + a.detach().clamp(-1, 1)  # clamp with a straight-through gradient
            a1, a2 = self.q(h, critic_low, a)
        actor_loss = -torch.min(a1, a2).float().mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.target.parameters()):
                tp.lerp_(p, cfg.critic_target_tau)


# ---------------------------------------------------------------------------------------- minimal SAC
class MinimalSAC:
    """SAC's update (learned temperature, actor every step) with nothing around it.

    Draws its noise in the agent's order, so it can reproduce the agent's update exactly (tested).
    """

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(self, cfg: SACConfig, actor_dim: int, critic_dim: int, device,
                 generator: torch.Generator | None = None):
        self.cfg, self.device, self.gen = cfg, device, generator
        hd, hl = cfg.hidden_dim, cfg.hidden_layers
        self.actor = plain_mlp(actor_dim, hd, hl, 2 * ACTION_DIM).to(device)
        self.critic = nn.ModuleDict({"q1": plain_mlp(critic_dim + ACTION_DIM, hd, hl, 1),
                                     "q2": plain_mlp(critic_dim + ACTION_DIM, hd, hl, 1)}).to(device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(cfg.init_temperature), device=device, requires_grad=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr)
        self.target_entropy = -float(ACTION_DIM)
        self.sample, self.q, self.q_target = self._sample, self._q, self._q_target

    def compile(self) -> None:
        self.sample, self.q, self.q_target = (torch.compile(self._sample), torch.compile(self._q),
                                              torch.compile(self._q_target))

    def _sample(self, obs):
        mean, log_std = self.actor(obs).chunk(2, -1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        eps = torch.randn(mean.shape, generator=self.gen, device=mean.device, dtype=mean.dtype)
        u = mean + log_std.exp() * eps
        logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
                - 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        return torch.tanh(u), logp

    def _q(self, obs, a):
        x = torch.cat([obs, a], -1)
        return self.critic["q1"](x), self.critic["q2"](x)

    def _q_target(self, obs, a):
        x = torch.cat([obs, a], -1)
        return self.target["q1"](x), self.target["q2"](x)

    def update(self, batch: dict) -> None:
        cfg, d = self.cfg, self.device
        o, no = batch["obs"], batch["next_obs"]
        obs_a, next_a = tensor(o["state"], d), tensor(no["state"], d)
        obs_c = torch.cat([tensor(o["privileged"], d), obs_a], -1)
        next_c = torch.cat([tensor(no["privileged"], d), next_a], -1)
        action = tensor(batch["action"], d)
        reward, discount = tensor(batch["reward"], d)[:, None], tensor(batch["discount"], d)[:, None]
        alpha = self.log_alpha.detach().exp()

        with torch.no_grad():
            na, nlogp = self.sample(next_a)
            t1, t2 = self.q_target(next_c, na)
            y = reward + discount * (torch.min(t1, t2) - alpha * nlogp[:, None])
        q1, q2 = self.q(obs_c, action)
        critic_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        pi, logp = self.sample(obs_a)
        a1, a2 = self.q(obs_c, pi)
        actor_loss = (alpha * logp - torch.min(a1, a2).squeeze(-1)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()

        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.target.parameters()):
                tp.lerp_(p, cfg.critic_target_tau)


# ---------------------------------------------------------------------------------------- building
def new_generator(device: torch.device, seed: int = 0) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def compile_agent(agent) -> None:
    """Compile each of the agent's networks in place (the optimisers keep the same parameters)."""
    for name in ("encoder", "actor", "critic", "critic_target"):
        if hasattr(agent, name):
            setattr(agent, name, torch.compile(getattr(agent, name)))


def drq_pair(args, device: torch.device, amp: bool, compiled: bool):
    """(agent update, minimal update) as zero-argument callables on one fixed batch."""
    cfg = args.drq_cfg
    shapes = obs_shapes(args.image_size, args.frame_stack)
    agent = DrQV2Agent(cfg, shapes, ACTION_DIM, DRQ_ACTOR_KEYS, DRQ_CRITIC_KEYS, device, amp=amp, seed=0)
    minimal = MinimalDrQ(cfg, shapes["pixels"], STATE_DIM, STATE_DIM + PRIVILEGED_DIM, device, amp,
                         std=agent.stddev(0), generator=new_generator(device))
    if compiled:
        compile_agent(agent)
        minimal.compile()
    batch = make_batch(np.random.default_rng(0), args.batch, args.image_size, args.frame_stack)
    return (lambda: agent.update(batch, 0)), (lambda: minimal.update(batch))


def sac_pair(args, device: torch.device, compiled: bool):
    cfg = args.sac_cfg
    shapes = obs_shapes(None, 1)
    agent = SACAgent(cfg, shapes, ACTION_DIM, SAC_ACTOR_KEYS, SAC_CRITIC_KEYS, device, seed=0)
    minimal = MinimalSAC(cfg, STATE_DIM, STATE_DIM + PRIVILEGED_DIM, device, generator=new_generator(device))
    if compiled:
        compile_agent(agent)
        minimal.compile()
    batch = make_batch(np.random.default_rng(0), args.sac_batch, None, 1)
    return (lambda: agent.update(batch, 0)), (lambda: minimal.update(batch))


def measure_pair(agent_fn, minimal_fn, args, sync) -> dict[str, float]:
    """Medians of agent and minimal updates/s, and the median of their paired per-repeat ratios.

    Within a repeat the two are timed in alternating blocks (``common.paired_rates``), so a
    change of the machine's load hits both alike.
    """
    agent_rates, minimal_rates = [], []
    for _ in range(args.repeats):
        a, m = paired_rates(agent_fn, minimal_fn, args.seconds, warmup=args.warmup, sync=sync)
        agent_rates.append(a)
        minimal_rates.append(m)
    return {"agent": median(agent_rates), "minimal": median(minimal_rates),
            "ratio": median(a / m for a, m in zip(agent_rates, minimal_rates))}


# ---------------------------------------------------------------------------------------- profiling
def profile_pair(name: str, agent_fn, minimal_fn, calls: int, device: torch.device) -> None:
    """Top torch ops by self time, agent against minimal, then the agent's Python-level hot spots."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    for label, fn in (("agent", agent_fn), ("minimal", minimal_fn)):
        fn()
        with profile(activities=activities) as prof:
            for _ in range(calls):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
        print(f"\n--- profile {name} {label}: {calls} updates, top ops by self time")
        print(prof.key_averages().table(sort_by=sort, row_limit=15))
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        agent_fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(15)
    print(f"--- cProfile {name} agent update, {calls} calls, by own time")
    print(s.getvalue())


# ---------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true", help="also measure bfloat16 autocast (CUDA, or a CPU with native bfloat16)")
    p.add_argument("--compile", action="store_true", help="also measure with torch.compile of each network")
    p.add_argument("--repeats", type=int, default=None, help="timing windows per figure (default 5; tiny 1)")
    p.add_argument("--seconds", type=float, default=None,
                   help="timed seconds per agent and per minimal in each repeat (default 5; tiny 0.2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed updates before each repeat (default 3; tiny 1)")
    p.add_argument("--batch", type=int, default=None, help="DrQ-v2 batch size (default 256; tiny 8)")
    p.add_argument("--sac-batch", type=int, default=None, help="SAC batch size (default 256; tiny 8)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's; tiny 1). On a loaded machine use 1: "
                        "threads that wait for a busy core made updates 10-100x slower here")
    p.add_argument("--skip", choices=("drqv2", "sac"), action="append", default=[], help="leave an agent out")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="profile N updates of each agent first")
    p.add_argument("--tiny", action="store_true",
                   help="a seconds-long smoke run: 32x32 images, small networks, batch 8, one short repeat")
    args = p.parse_args(argv)
    args.image_size, args.frame_stack = 84, 3
    args.drq_cfg, args.sac_cfg = DrQV2Config(), SACConfig()
    defaults = {"repeats": 5, "seconds": 5.0, "warmup": 3, "batch": 256, "sac_batch": 256}
    if args.tiny:
        defaults = {"repeats": 1, "seconds": 0.2, "warmup": 1, "batch": 8, "sac_batch": 8}
        args.image_size = 32
        args.drq_cfg = dataclasses.replace(args.drq_cfg, feature_dim=16, hidden_dim=32, encoder_channels=8)
        args.sac_cfg = dataclasses.replace(args.sac_cfg, hidden_dim=32)
        if args.threads is None:
            args.threads = 1  # tiny ops on a busy machine: more threads only wait for each other
    for name, value in defaults.items():  # what is given on the command line wins, --tiny or not
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("repeats", "batch", "sac_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seconds <= 0:
        p.error(f"--seconds must be > 0, got {args.seconds}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU")
    amp = args.amp and (device.type == "cuda" or cpu_has_native_bf16())
    if args.amp and not amp:
        print(f"note: --amp needs CUDA or a CPU with native bfloat16; on {device} the amp rows are skipped",
              file=sys.stderr)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    variants = [("fp32", False, False)] + ([("amp-bf16", True, False)] if amp else [])
    if args.compile:
        variants.append(("fp32+compile", False, True))
        if amp:
            variants.append(("amp-bf16+compile", True, True))

    results: list[tuple[str, str, dict[str, float]]] = []
    for label, amp, compiled in variants:
        if "drqv2" not in args.skip:
            agent_fn, minimal_fn = drq_pair(args, device, amp, compiled)
            if args.profile and label == "fp32":
                profile_pair("drqv2", agent_fn, minimal_fn, args.profile, device)
            results.append(("drqv2", label, measure_pair(agent_fn, minimal_fn, args, sync)))
        if "sac" not in args.skip and not amp:  # the SAC agent ignores amp
            agent_fn, minimal_fn = sac_pair(args, device, compiled)
            if args.profile and label == "fp32":
                profile_pair("sac", agent_fn, minimal_fn, args.profile, device)
            results.append(("sac", label, measure_pair(agent_fn, minimal_fn, args, sync)))

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(machine_line())
    print(f"torch {torch.__version__}, device {args.device} ({dev}), {torch.get_num_threads()} threads, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"medians of {args.repeats} repeats of >= {args.seconds:g} s each side, agent and minimal in alternating "
          f"~0.5 s blocks (ratio: median of per-repeat ratios)")
    c = args.drq_cfg
    print(f"drqv2: batch {args.batch}, pixels {3 * args.frame_stack}x{args.image_size}x{args.image_size} uint8, "
          f"state {STATE_DIM} (actor+critic), privileged {PRIVILEGED_DIM} (critic), encoder {c.encoder_layers}x"
          f"{c.encoder_channels}ch, feature {c.feature_dim}, hidden {c.hidden_dim}")
    print(f"sac:   batch {args.sac_batch}, actor state {STATE_DIM}, critic state+privileged "
          f"{STATE_DIM + PRIVILEGED_DIM}, hidden {args.sac_cfg.hidden_dim}x{args.sac_cfg.hidden_layers}")
    for agent, label, r in results:
        print(f"{agent:5s} {label:17s} agent {r['agent']:9.2f} updates/s   minimal {r['minimal']:9.2f} updates/s"
              f"   ratio {r['ratio']:.3f}  (goal >= {GOAL_RATIO})")
    print_amp_speedups(results)


def print_amp_speedups(results: list[tuple[str, str, dict[str, float]]]) -> None:
    """The agent's updates/s with bfloat16 autocast over its float32 figure, per agent (same run)."""
    rates = {(agent, label): r["agent"] for agent, label, r in results}
    for (agent, label), rate in rates.items():
        base = rates.get((agent, label.replace("amp-bf16", "fp32")))
        if label.startswith("amp-bf16") and base:
            print(f"{agent:5s} {label} / {label.replace('amp-bf16', 'fp32')}: {rate / base:.2f}x agent updates/s")


if __name__ == "__main__":
    main()
