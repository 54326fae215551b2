"""liftrl train against Stable-Baselines3 SAC: env steps/s on one core, identical settings, one run.

Run: ``MUJOCO_GL=egl python bench/peer_sb3.py [--repeats 3] [--seed-steps 1000] [--steps 3000] [--cpu N]``
(needs the ``[bench]`` extra: ``pip install -e .[bench]`` installs stable-baselines3).

Why a peer: "fast" means little without the generic tool's figure on the same core. Both sides
train SAC on ``liftrl/LiftCube-v0`` with the same settings: batch 128, one gradient step per 2 env
steps, 256x256 MLPs, lr 3e-4, gamma 0.99, tau 0.005, initial temperature 0.1 (learned, target
entropy -4), ``seed_steps`` random actions first, reward v11, curriculum stage 3 with the
0/25/25/50/0 stage mix, state + privileged observations, one env, one torch thread. (SB3 feeds
both keys to actor and critic; liftrl's actor reads ``state`` only, its critic both, as the real
arm requires: a few hundred fewer multiply-adds per sample for liftrl's actor, a rounding error.)

Each side runs in its own child process, the two alternate (SB3, liftrl, SB3, liftrl, ...) so
they see the same machine, and the process (with its children: env workers) is pinned to one
core (``--cpu``, default the last usable one). Throughput is taken from timestamps once learning
runs: env steps between ``seed_steps + steps/4`` and the end, over the seconds between them (the
first quarter warms up the optimisers and the buffer). The random-action phase is reported too.
Both wall-clock rates and rates per CPU second of the training process are printed: on a shared,
loaded machine the wall-clock figures swing with the other processes (paired ratios from 0.8 to
1.3 were seen in one run), the CPU-time ones hardly. (liftrl's CPU time is its training process's:
with worker processes their time is not in it, so compare CPU figures in-process, as on one core.)
``liftrl train`` runs through its CLI, everything included (logging, TensorBoard, snapshots
outside the timed window), with ``env.num_workers`` as given (default null: the path it picks).
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

os.environ.setdefault("MUJOCO_GL", "egl")

from common import machine_line  # noqa: E402  (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
MIX = (0.0, 0.25, 0.25, 0.5, 0.0)
BATCH, UPDATE_EVERY, HIDDEN, LR, GAMMA, TAU, TEMPERATURE = 128, 2, 256, 3e-4, 0.99, 0.005, 0.1


def liftrl_overrides(args) -> list[str]:
    return [
        "env.num_envs=1", f"env.num_workers={args.num_workers}", "env.curriculum_stage=3",
        f"env.curriculum_mix=[{','.join(str(p) for p in MIX)}]", "env.reward=v11", "env.hold_steps=150",
        "env.max_episode_steps=200", "obs.actor=[state]", "obs.critic=[state,privileged]",
        f"agent.batch_size={BATCH}", f"agent.update_every_steps={UPDATE_EVERY}", "agent.updates_per_step=1",
        f"agent.hidden_dim={HIDDEN}", "agent.hidden_layers=2", f"agent.lr={LR}", f"agent.gamma={GAMMA}",
        f"agent.critic_target_tau={TAU}", f"agent.init_temperature={TEMPERATURE}", "agent.n_step=1",
        "replay.capacity=100000", "train.torch_threads=1", "train.device=cpu", f"train.seed={args.seed}",
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
    return {"random": window(marks, args.log_every, args.seed_steps), "learning": window(marks, *learn),
            "random_cpu": window(marks, args.log_every, args.seed_steps, 2), "learning_cpu": window(marks, *learn, clock=2)}


def run_liftrl(args) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="liftrl-peer-") as tmp:
        cmd = [sys.executable, "-m", "liftrl.cli", "train", "--runs", tmp, str(REPO / "configs" / "sac_v11.yaml"),
               *liftrl_overrides(args)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"liftrl train failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        metrics = next(Path(tmp).rglob("metrics.jsonl"))
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        marks = [(r["step"], r["time/elapsed_s"], r["time/cpu_s"]) for r in rows if r.get("kind") == "train"]
        placement = next((line for line in out.stdout.splitlines() if "training envs:" in line), "")
    return {**rates(marks, args), "placement": placement.split("training envs:")[-1].strip()}


def sb3_child(args) -> None:
    """Runs in its own process: SB3 SAC on the same env and settings; prints the marks as JSON."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from liftrl.config import EnvConfig
    from liftrl.run.envs import make_env

    torch.set_num_threads(1)
    # The training env liftrl builds for the same settings, through the same factory.
    env = make_env(EnvConfig(curriculum_stage=3, curriculum_mix=MIX, observations=("state", "privileged"),
                             reward="v11", hold_steps=150, max_episode_steps=200, randomize=True),
                   training=True, render_mode=None)
    marks: list[tuple[int, float]] = []

    class Marks(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % args.log_every == 0:
                marks.append((self.num_timesteps, time.perf_counter(), time.process_time()))
            return True

    model = SAC("MultiInputPolicy", env, learning_rate=LR, buffer_size=100_000, learning_starts=args.seed_steps,
                batch_size=BATCH, tau=TAU, gamma=GAMMA, train_freq=UPDATE_EVERY, gradient_steps=1,
                ent_coef=f"auto_{TEMPERATURE}", policy_kwargs={"net_arch": [HIDDEN, HIDDEN]}, seed=args.seed,
                device="cpu", verbose=0)
    model.learn(total_timesteps=args.seed_steps + args.steps, callback=Marks())
    print(json.dumps(marks))


def run_sb3(args) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--sb3-child", "--seed-steps", str(args.seed_steps), "--steps", str(args.steps),
           "--log-every", str(args.log_every), "--seed", str(args.seed)]
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
    p.add_argument("--num-workers", default="null", help="liftrl env.num_workers (0, 1, ... or null)")
    p.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last usable one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sb3-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps % args.log_every or args.seed_steps % args.log_every or args.steps < 4 * args.log_every:
        p.error("--seed-steps and --steps must be multiples of --log-every, and --steps >= 4 x --log-every")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.sb3_child:
        return sb3_child(args)
    print(machine_line(), "before pinning")
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1] if args.cpu is None else args.cpu
    os.sched_setaffinity(0, {cpu})  # the children (and liftrl's env workers) inherit the one core
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    results: dict[str, list[dict]] = {"sb3": [], "liftrl": []}
    for i in range(args.repeats):
        order = ("sb3", "liftrl") if i % 2 == 0 else ("liftrl", "sb3")
        for name in order:
            results[name].append(run_sb3(args) if name == "sb3" else run_liftrl(args))
            r = results[name][-1]
            print(f"repeat {i + 1} {name:6s}: random phase {r['random']:6.0f} [{r['random_cpu']:6.0f}], learning "
                  f"{r['learning']:6.1f} [{r['learning_cpu']:6.1f}] env steps/s", flush=True)
    keys = ("random", "learning", "random_cpu", "learning_cpu")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in results.items()}
    print(machine_line() + f"; pinned to cpu {cpu}; load average at the end {os.getloadavg()[0]:.1f}")
    print(f"settings: SAC, batch {BATCH}, 1 update per {UPDATE_EVERY} env steps, {HIDDEN}x{HIDDEN}, 1 torch thread, "
          f"state + privileged, v11, stage 3 mix {list(MIX)}, one env; {args.seed_steps} random + {args.steps} "
          f"learning steps, medians of {args.repeats}, run alternately")
    print(f"liftrl envs: {results['liftrl'][0]['placement']}")
    print("env steps per wall second [per CPU second of the training process]:")
    for name in ("sb3", "liftrl"):
        m = med[name]
        print(f"  {name:6s}: random phase {m['random']:6.0f} [{m['random_cpu']:6.0f}], learning {m['learning']:6.1f} "
              f"[{m['learning_cpu']:6.1f}]")
    for clock, label in (("", "wall"), ("_cpu", "CPU")):
        paired = [lr[f"learning{clock}"] / sb[f"learning{clock}"] for lr, sb in zip(results["liftrl"], results["sb3"])]
        ratio = med["liftrl"][f"learning{clock}"] / med["sb3"][f"learning{clock}"]
        print(f"liftrl / SB3 while learning, per {label} second: {ratio:.2f}x (ratio of medians; paired "
              f"{', '.join(f'{x:.2f}' for x in paired)}; goal >= 1.5x)")

if __name__ == "__main__":
    sys.exit(main())
