"""liftrl train against Stable-Baselines3 SAC: env steps/s on one core (or N), identical settings, one run.

Run: ``MUJOCO_GL=egl python bench/peer_sb3.py [--repeats 3] [--seed-steps 1000] [--steps 3000] [--cpu N]``
(needs the ``[bench]`` extra: ``pip install -e .[bench]`` installs stable-baselines3).
On two cores, liftrl with each of its placements against SB3 as it comes (its default single env, torch's
default threads): ``python bench/peer_sb3.py --cores 2 --variants 0:1 0:2 1:1`` (``WORKERS:THREADS``
= ``env.num_workers``:``train.torch_threads``); the best variant's ratio is the figure.

Why a peer: "fast" means little without the generic tool's figure on the same core. Both sides
train SAC on ``liftrl/LiftCube-v0`` with the same settings: batch 128, one gradient step per 2 env
steps, 256x256 MLPs, lr 3e-4, gamma 0.99, tau 0.005, initial temperature 0.1 (learned, target
entropy -4), ``seed_steps`` random actions first, reward v11, curriculum stage 3 with the
0/25/25/50/0 stage mix, state + privileged observations, one env, one torch thread. (SB3 feeds
both keys to actor and critic; liftrl's actor reads ``state`` only, its critic both, as the real
arm requires: a few hundred fewer multiply-adds per sample for liftrl's actor, a rounding error.)

Each side runs in its own child process, the two alternate (SB3, liftrl, SB3, liftrl, ...) so
they see the same machine, and the process (with its children: env workers) is pinned to one
core (``--cpu``, default the last usable one), or with ``--cores N`` to the first N usable cores. Throughput is taken from timestamps once learning
runs: env steps between ``seed_steps + steps/4`` and the end, over the seconds between them (the
first quarter warms up the optimisers and the buffer). The random-action phase is reported too
(up to one log period before learning starts).
Both wall-clock rates and rates per CPU second of the training process are printed: on a shared,
loaded machine the wall-clock figures swing with the other processes (paired ratios from 0.8 to
1.3 were seen in one run), the CPU-time ones hardly. (liftrl's CPU time is its training process's:
with worker processes their time is not in it, so compare CPU figures in-process, as on one core.)
``liftrl train`` runs through its CLI, everything included (logging, TensorBoard, snapshots
outside the timed window), once per ``--variants`` placement (default on one core: null:1, the path
it picks with one torch thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from common import machine_line  # noqa: E402  (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
MIX = (0.0, 0.25, 0.25, 0.5, 0.0)
BATCH, UPDATE_EVERY, HIDDEN, LR, GAMMA, TAU, TEMPERATURE = 128, 2, 256, 3e-4, 0.99, 0.005, 0.1


def liftrl_overrides(args, variant: tuple[str, int] | None = None) -> list[str]:
    """``liftrl train`` overrides for the shared settings and one placement (default: the first variant)."""
    workers, threads = variant or args.variants[0]
    return [
        "env.num_envs=1", f"env.num_workers={workers}", "env.curriculum_stage=3",
        f"env.curriculum_mix=[{','.join(str(p) for p in MIX)}]", "env.reward=v11", "env.hold_steps=150",
        "env.max_episode_steps=200", "obs.actor=[state]", "obs.critic=[state,privileged]",
        f"agent.batch_size={BATCH}", f"agent.update_every_steps={UPDATE_EVERY}", "agent.updates_per_step=1",
        f"agent.hidden_dim={HIDDEN}", "agent.hidden_layers=2", f"agent.lr={LR}", f"agent.gamma={GAMMA}",
        f"agent.critic_target_tau={TAU}", f"agent.init_temperature={TEMPERATURE}", "agent.n_step=1",
        "replay.capacity=100000", f"train.torch_threads={threads}", "train.device=cpu", f"train.seed={args.seed}",
        f"train.seed_steps={args.seed_steps}", f"train.total_env_steps={args.seed_steps + args.steps}",
        f"train.log_every={args.log_every}", "train.eval_every=1000000000", "train.snapshot_every=1000000000",
        "train.eval_episodes=1", "train.video_episodes=0", "train.progress=false",
    ]


def window(marks: list[tuple], start: int, end: int, clock: int = 1) -> float:
    """Env steps per second of ``clock`` (1: wall, 2: CPU of the process) between the marks at ``start`` and ``end``."""
    s = next(m for m in marks if m[0] >= start)
    e = next(m for m in marks if m[0] >= end)
    return (e[0] - s[0]) / max(e[clock] - s[clock], 1e-9)


def rates(marks: list[tuple], args) -> dict[str, float]:
    learn = (args.seed_steps + args.steps // 4, args.seed_steps + args.steps)
    # The random phase ends one log period early where it can: liftrl logs its row at seed_steps after
    # that step's first update (the optimisers' one-time set-up), SB3 before it.
    end = args.seed_steps - args.log_every if args.seed_steps - args.log_every > args.log_every else args.seed_steps
    return {"random": window(marks, args.log_every, end), "learning": window(marks, *learn),
            "random_cpu": window(marks, args.log_every, end, 2), "learning_cpu": window(marks, *learn, clock=2)}


def run_liftrl(args, variant: tuple[str, int]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="liftrl-peer-") as tmp:
        cmd = [sys.executable, "-m", "liftrl.cli", "train", "--runs", tmp, str(REPO / "configs" / "sac_v11.yaml"),
               *liftrl_overrides(args, variant)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"liftrl train failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        metrics = next(Path(tmp).rglob("metrics.jsonl"))
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        marks = [(r["step"], r["time/elapsed_s"], r["time/cpu_s"]) for r in rows if r.get("kind") == "train"]
        placement = next((line for line in out.stdout.splitlines() if "training envs:" in line), "")
    return {**rates(marks, args), "placement": placement.split("training envs:")[-1].strip()}


def _sb3_model(args, learning_starts: int):
    """SB3 SAC on liftrl's training env for these settings (built by liftrl's own factory)."""
    from stable_baselines3 import SAC

    from liftrl.config import EnvConfig
    from liftrl.run.envs import make_env

    env = make_env(EnvConfig(curriculum_stage=3, curriculum_mix=MIX, observations=("state", "privileged"),
                             reward="v11", hold_steps=150, max_episode_steps=200, randomize=True),
                   training=True, render_mode=None)
    return SAC("MultiInputPolicy", env, learning_rate=LR, buffer_size=100_000, learning_starts=learning_starts,
               batch_size=BATCH, tau=TAU, gamma=GAMMA, train_freq=UPDATE_EVERY, gradient_steps=1,
               ent_coef=f"auto_{TEMPERATURE}", policy_kwargs={"net_arch": [HIDDEN, HIDDEN]}, seed=args.seed,
               device="cpu", verbose=0)


def update_costs(args, blocks: int = 5, per_block: int = 100) -> dict[str, float]:
    """Milliseconds per gradient update alone, SB3's and liftrl's, on batches from one filled buffer.

    Why: the loops differ in env, acting and replay too; this isolates the update, which takes most
    of a learning step. Both sides train on the same 128-row batches (SB3's buffer, filled with
    ``seed_steps`` random steps; liftrl gets them as numpy, as its replay hands them over) in
    alternating blocks; SB3's figure includes its own replay sample, timed alone and reported too.
    """
    import torch

    from liftrl.agents import make_agent
    from liftrl.config import load_config

    torch.set_num_threads(1)
    model = _sb3_model(args, learning_starts=args.seed_steps + 1)
    model.learn(total_timesteps=args.seed_steps)  # random actions only: fills the buffer, no update
    space = model.observation_space
    # The agent `liftrl train` builds for the loop comparison: same config file, same overrides.
    cfg = load_config(str(REPO / "configs" / "sac_v11.yaml"), liftrl_overrides(args))
    ours = make_agent(cfg.agent, {k: v.shape for k, v in space.spaces.items()}, int(model.action_space.shape[0]),
                      cfg.obs.actor, cfg.obs.critic, "cpu", seed=args.seed)

    def as_batch(b) -> dict:
        obs = {k: v.numpy() for k, v in b.observations.items()}
        nxt = {k: v.numpy() for k, v in b.next_observations.items()}
        return {"obs": obs, "next_obs": nxt, "action": b.actions.numpy(), "reward": b.rewards.numpy().reshape(-1),
                "discount": (GAMMA * (1.0 - b.dones.numpy())).reshape(-1).astype(np.float32)}

    batches = [as_batch(model.replay_buffer.sample(BATCH)) for _ in range(per_block)]
    times: dict[str, list[float]] = {"sb3": [], "liftrl": [], "sb3_sample": []}
    jobs = {"sb3": lambda: model.train(gradient_steps=per_block, batch_size=BATCH),
            "liftrl": lambda: [ours.update(b, 0) for b in batches],
            "sb3_sample": lambda: [model.replay_buffer.sample(BATCH) for _ in range(per_block)]}
    for _ in range(blocks + 1):  # the first block warms up and is dropped
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            times[name].append(1e3 * (time.perf_counter() - start) / per_block)
    return {name: statistics.median(ts[1:]) for name, ts in times.items()}


def sb3_child(args) -> None:
    """Runs in its own process: SB3 SAC on the same env and settings; prints the marks as JSON."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    if args.cores == 1:
        torch.set_num_threads(1)  # on more cores SB3 runs as it comes: torch's default threads
    marks: list[tuple[int, float]] = []

    class Marks(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % args.log_every == 0:
                marks.append((self.num_timesteps, time.perf_counter(), time.process_time()))
            return True

    model = _sb3_model(args, learning_starts=args.seed_steps)
    model.learn(total_timesteps=args.seed_steps + args.steps, callback=Marks())
    print(json.dumps(marks))


def run_sb3(args) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--sb3-child", "--seed-steps", str(args.seed_steps), "--steps", str(args.steps),
           "--log-every", str(args.log_every), "--seed", str(args.seed), "--cores", str(args.cores)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"SB3 child failed:\n{out.stderr[-4000:]}")
    return rates([tuple(m) for m in json.loads(out.stdout.strip().splitlines()[-1])], args)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    p.add_argument("--seed-steps", type=int, default=1000, help="random-action env steps before learning")
    p.add_argument("--steps", type=int, default=3000, help="learning env steps after the random phase")
    p.add_argument("--log-every", type=int, default=250, help="env steps between timestamps (liftrl log rows)")
    p.add_argument("--cpu", type=int, default=None, help="with --cores 1, the core to pin to (default: the last usable one)")
    p.add_argument("--cores", type=int, default=1,
                   help="cores both sides may use (1: pinned, one torch thread each; more: the first N usable cores, "
                        "SB3 with torch's default threads)")
    p.add_argument("--variants", nargs="+", default=None, metavar="WORKERS:THREADS",
                   help="liftrl placements to measure, env.num_workers:train.torch_threads (default: "
                        "null:1 on one core; 0:1 0:N 1:1 on N cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--updates", action="store_true",
                   help="time the gradient update alone, SB3's against liftrl's, on the same batches (one core)")
    p.add_argument("--sb3-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps % args.log_every or args.seed_steps % args.log_every or args.steps < 4 * args.log_every:
        p.error("--seed-steps and --steps must be multiples of --log-every, and --steps >= 4 x --log-every")
    if args.cores < 1:
        p.error("--cores must be >= 1")
    default = ["null:1"] if args.cores == 1 else ["0:1", f"0:{args.cores}", "1:1"]
    try:
        args.variants = [_variant(v) for v in (args.variants or default)]
    except ValueError as e:
        p.error(str(e))
    return args


def _variant(text: str) -> tuple[str, int]:
    """``WORKERS:THREADS`` -> (env.num_workers as written, train.torch_threads)."""
    workers, sep, threads = text.partition(":")
    if not sep or not (workers == "null" or workers.isdigit()) or not threads.isdigit():
        raise ValueError(f"--variants takes WORKERS:THREADS (e.g. 0:1, 1:1, null:1), got {text!r}")
    return workers, int(threads)


def _label(variant: tuple[str, int]) -> str:
    return f"liftrl {variant[0]}:{variant[1]}"


def _pin(args) -> str:
    """Narrow this process (and so its children) to the cores the comparison may use; says which."""
    cpus = sorted(os.sched_getaffinity(0))
    if args.cores > len(cpus):
        raise SystemExit(f"--cores {args.cores} but only {len(cpus)} usable cores")
    chosen = [cpus[-1] if args.cpu is None else args.cpu] if args.cores == 1 else cpus[:args.cores]
    os.sched_setaffinity(0, set(chosen))
    return f"pinned to cpu {','.join(map(str, chosen))}"


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.sb3_child:
        return sb3_child(args)
    print(machine_line(), "before pinning")
    pinned = _pin(args)  # the children (and liftrl's env workers) inherit the cores
    if args.updates:
        cost = update_costs(args)
        print(machine_line() + f"; {pinned}; 1 torch thread; load average {os.getloadavg()[0]:.1f}")
        print(f"ms per SAC update, batch {BATCH}, {HIDDEN}x{HIDDEN}, medians of 5 blocks of 100: SB3 {cost['sb3']:.2f} "
              f"(of it its replay sample {cost['sb3_sample']:.2f}), liftrl {cost['liftrl']:.2f} (batch given as numpy); "
              f"SB3 / liftrl {cost['sb3'] / cost['liftrl']:.2f}x, without SB3's sample "
              f"{(cost['sb3'] - cost['sb3_sample']) / cost['liftrl']:.2f}x")
        return None
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    names = ["sb3", *(_label(v) for v in args.variants)]
    results: dict[str, list[dict]] = {name: [] for name in names}
    for i in range(args.repeats):
        for name in (names if i % 2 == 0 else names[::-1]):  # alternating order: both see the same machine
            variant = None if name == "sb3" else args.variants[names.index(name) - 1]
            results[name].append(run_sb3(args) if variant is None else run_liftrl(args, variant))
            r = results[name][-1]
            print(f"repeat {i + 1} {name:13s}: random phase {r['random']:6.0f} [{r['random_cpu']:6.0f}], learning "
                  f"{r['learning']:6.1f} [{r['learning_cpu']:6.1f}] env steps/s", flush=True)
    report(args, results, pinned)


def report(args, results: dict[str, list[dict]], pinned: str) -> None:
    keys = ("random", "learning", "random_cpu", "learning_cpu")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in results.items()}
    print(machine_line() + f"; {pinned}; load average at the end {os.getloadavg()[0]:.1f}")
    threads = "1 torch thread each" if args.cores == 1 else "SB3 with torch's default threads"
    print(f"settings: SAC, batch {BATCH}, 1 update per {UPDATE_EVERY} env steps, {HIDDEN}x{HIDDEN}, {args.cores} core(s), "
          f"{threads}, state + privileged, v11, stage 3 mix {list(MIX)}, one env; {args.seed_steps} random + "
          f"{args.steps} learning steps, medians of {args.repeats}, run alternately")
    for name, rs in results.items():
        if name != "sb3":
            print(f"{name} (env.num_workers:train.torch_threads) envs: {rs[0]['placement']}")
    print("env steps per wall second [per CPU second of the training process]:")
    for name, m in med.items():
        print(f"  {name:13s}: random phase {m['random']:6.0f} [{m['random_cpu']:6.0f}], learning {m['learning']:6.1f} "
              f"[{m['learning_cpu']:6.1f}]")
    clocks = (("", "wall"), ("_cpu", "CPU")) if args.cores == 1 else (("", "wall"),)  # CPU time: one core only
    for name in (n for n in results if n != "sb3"):
        for clock, label in clocks:
            paired = [lr[f"learning{clock}"] / sb[f"learning{clock}"] for lr, sb in zip(results[name], results["sb3"])]
            ratio = med[name][f"learning{clock}"] / med["sb3"][f"learning{clock}"]
            print(f"{name} / SB3 while learning, per {label} second: {ratio:.2f}x (ratio of medians; paired "
                  f"{', '.join(f'{x:.2f}' for x in paired)}; goal >= 1.5x)")
    if len(results) > 2:
        best = max((n for n in results if n != "sb3"), key=lambda n: med[n]["learning"])
        print(f"best liftrl placement: {best}, {med[best]['learning'] / med['sb3']['learning']:.2f}x SB3 per wall second")


if __name__ == "__main__":
    sys.exit(main())
