"""End to end: env steps/s of a training config through the real Trainer, and where the time goes.

Run: ``MUJOCO_GL=egl python bench/e2e.py [--config configs/drqv2_v19.yaml] [--steps 2000] [--num-envs 16]
[key=value ...]``

Why wrap the real loop: a throughput figure from a re-implementation says nothing about the code
that trains. So the script builds the online ``Trainer`` (``liftrl.train.loop.build_trainer``) from the config and calls its
``step`` (what ``Trainer.run`` calls, plus ``log_train`` at ``train.log_every`` as ``run`` does;
periodic evaluation and snapshots are left out, they are not per step), with timers put around
the bound methods of the trainer's own objects:
- simulation: ``trainer.env.step`` (the workers' physics, IK, rewards and wrist rendering, and the
  pipes, as the training process waits for them);
- replay: ``trainer.replay.add`` and ``trainer.replay.sample``;
- updates: ``trainer.agent.update``; acting: ``trainer.agent.act``;
- bookkeeping: ``trainer.collector._record_episodes`` and ``trainer.log_train``; other: the rest of ``step``.
Timing starts once updates have started (after ``train.seed_steps`` and a first batch in the
replay) and one more step, so the figures describe the steady state, not the random warm-up.

Rendering cannot be timed inside the worker processes, so it is measured on a single env of the
same config in this process (``LiftCubeEnv.render_wrist`` inside ``env.step``); its share of
the loop is estimated as (simulation share) x (render share of a single env's step). The figures
are printed last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# One llvmpipe thread per process, as the vector env's workers use: the single-env render figure
# is then comparable with what a worker pays.
os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import machine_line  # noqa: E402  (bench/ is on sys.path when run as a script)

from liftrl.config import Config, load_config  # noqa: E402
from liftrl.run.envs import make_env  # noqa: E402
from liftrl.run.folder import new_run_dir  # noqa: E402
from liftrl.train.loop import Trainer, build_trainer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "drqv2_v19.yaml"
TINY_CONFIG = REPO / "configs" / "tiny_drqv2.yaml"
PARTS = ("simulation", "replay_add", "replay_sample", "update", "act", "bookkeeping")


class Timers:
    """Seconds and calls accumulated per part, while ``on``."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = False

    def wrap(self, obj, method: str, part: str) -> None:
        """Replace ``obj.method`` (on the instance only) by a timed call of the original."""
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            if not self.on:
                return inner(*args, **kwargs)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - start
                self.calls[part] += 1

        setattr(obj, method, timed)


def instrument(trainer: Trainer, timers: Timers) -> None:
    timers.wrap(trainer.env, "step", "simulation")
    timers.wrap(trainer.replay, "add", "replay_add")
    timers.wrap(trainer.replay, "sample", "replay_sample")
    timers.wrap(trainer.agent, "update", "update")
    timers.wrap(trainer.agent, "act", "act")
    timers.wrap(trainer.collector, "_record_episodes", "bookkeeping")
    timers.wrap(trainer, "log_train", "bookkeeping")


def learning_started(trainer: Trainer) -> bool:
    return trainer.env_steps >= trainer.cfg.train.seed_steps and len(trainer.replay) >= trainer.agent.batch_size


def run_loop(trainer: Trainer, steps: int, timers: Timers) -> dict:
    """Warm up to the first updates, then time ``steps`` env steps of ``Trainer.step``."""
    cfg = trainer.cfg
    warm_start = time.perf_counter()
    while not learning_started(trainer):
        trainer.step()
    trainer.step()  # the first update builds optimiser state and warms kernels: not steady state
    warmup = {"env_steps": trainer.env_steps, "seconds": time.perf_counter() - warm_start}

    updates_before, start_steps = trainer.updates, trainer.env_steps
    last_log, steps_since, updates_since = time.perf_counter(), 0, 0
    timers.on = True
    start = time.perf_counter()
    while trainer.env_steps - start_steps < steps:
        before = trainer.env_steps
        updates_since += trainer.step()
        steps_since += trainer.env_steps - before
        every = cfg.train.log_every
        if every > 0 and trainer.env_steps // every > before // every:  # as Trainer.run logs
            now = time.perf_counter()
            trainer.log_train(now - last_log, steps_since, updates_since)
            last_log, steps_since, updates_since = now, 0, 0
    wall = time.perf_counter() - start
    timers.on = False
    return {"wall": wall, "env_steps": trainer.env_steps - start_steps, "updates": trainer.updates - updates_before,
            "warmup": warmup}


def measure_render(cfg: Config, steps: int, seed: int = 0) -> dict:
    """ms per env step and per wrist render on one env of ``cfg`` in this process.

    The env is built as the vector env's workers build theirs (with the control-rate wrapper
    when the config asks for one); ``render_wrist`` is timed on the inner ``LiftCubeEnv``.
    """
    env = make_env(cfg.env)  # load_config has filled env.observations in
    timers = Timers()
    timers.wrap(env.unwrapped, "render_wrist", "render")
    rng = np.random.default_rng(seed)
    try:
        env.reset(seed=seed)
        for _ in range(5):  # the first render creates the GL context
            env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        env.reset(seed=seed + 1)
        timers.on = True
        step_seconds = 0.0
        for _ in range(steps):
            start = time.perf_counter()
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            step_seconds += time.perf_counter() - start
            if term or trunc:
                env.reset()
    finally:
        env.close()
    render = timers.seconds["render"]
    return {"step_ms": 1000 * step_seconds / steps, "render_ms": 1000 * render / max(timers.calls["render"], 1),
            "fraction": render / step_seconds}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. replay.capacity=50000")
    p.add_argument("--config", default=None, help=f"YAML config (default {DEFAULT_CONFIG.relative_to(REPO)})")
    p.add_argument("--steps", type=int, default=None, help="timed env steps, over all envs (default 2000; tiny 16)")
    p.add_argument("--num-envs", type=int, default=None, help="override env.num_envs")
    p.add_argument("--render-steps", type=int, default=None, help="single-env steps for the render figure "
                   "(default 500; tiny 20)")
    p.add_argument("--device", default=None, help="override train.device (cpu, cuda, auto)")
    p.add_argument("--threads", type=int, default=None,
                   help="override train.torch_threads (torch threads of the training process)")
    p.add_argument("--tiny", action="store_true", help=f"a seconds-long smoke run of {TINY_CONFIG.relative_to(REPO)}")
    args = p.parse_args(argv)
    if args.config is None:
        args.config = str(TINY_CONFIG if args.tiny else DEFAULT_CONFIG)
    if args.steps is None:
        args.steps = 16 if args.tiny else 2000
    if args.render_steps is None:
        args.render_steps = 20 if args.tiny else 500
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    if args.render_steps < 1:
        p.error(f"--render-steps must be >= 1, got {args.render_steps}")
    # Given last so they win over the file; no progress bar, no video (nothing here evaluates).
    args.overrides = ["train.progress=false", "train.video_episodes=0", *args.overrides]
    if args.tiny:
        args.overrides.insert(0, "train.seed_steps=8")
    if args.num_envs is not None:
        args.overrides.append(f"env.num_envs={args.num_envs}")
    if args.device is not None:
        args.overrides.append(f"train.device={args.device}")
    if args.threads is not None:
        args.overrides.append(f"train.torch_threads={args.threads}")
    return args


def _shown_path(path) -> str:
    """A config path as results should record it: relative to the repository, never this machine's layout."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    timers = Timers()
    with tempfile.TemporaryDirectory(prefix="liftrl-e2e-") as tmp:
        trainer = build_trainer(cfg, new_run_dir(tmp, cfg.agent.name))
        try:
            instrument(trainer, timers)
            loop = run_loop(trainer, args.steps, timers)
            device = str(trainer.device)
            placement = trainer.env.placement
        finally:
            trainer.close()
    render = measure_render(cfg, args.render_steps)

    wall = loop["wall"]
    shares = {part: timers.seconds[part] / wall for part in PARTS}
    shares["other"] = max(0.0, 1.0 - sum(shares.values()))
    per_step = 1000 * wall / loop["env_steps"]
    agent, env = cfg.agent, cfg.env
    print(machine_line())
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads in the training "
          f"process, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, env workers: "
          f"{placement}")
    print(f"config {_shown_path(args.config)} + {' '.join(args.overrides)}")
    print(f"agent {agent.name}, batch {agent.batch_size}, {env.num_envs} envs, image {env.image_size}, frame_stack "
          f"{env.frame_stack}, update every {agent.update_every_steps} env steps x {agent.updates_per_step}")
    print(f"warm-up (random actions until updates start): {loop['warmup']['env_steps']} env steps in "
          f"{loop['warmup']['seconds']:.1f} s")
    print(f"timed: {loop['env_steps']} env steps, {loop['updates']} updates in {wall:.1f} s")
    print(f"single env, same config: {render['step_ms']:.2f} ms per env step, {render['render_ms']:.2f} ms per "
          f"wrist render ({100 * render['fraction']:.0f}% of the step), {args.render_steps} steps")
    print(f"env steps/s end to end:   {loop['env_steps'] / wall:10.1f}")
    print(f"ms per env step:          {per_step:10.3f}")
    print(f"updates/s end to end:     {loop['updates'] / wall:10.2f}")
    labels = {"simulation": "simulation (env.step)", "replay_add": "replay add", "replay_sample": "replay sample",
              "update": "agent update", "act": "agent act", "bookkeeping": "episode stats + logging",
              "other": "other"}
    for part in (*PARTS, "other"):
        print(f"share {labels[part] + ':':27s} {100 * shares[part]:5.1f}%   {shares[part] * per_step:7.3f} ms per env step")
    print(f"share {'rendering (estimated):':27s} {100 * shares['simulation'] * render['fraction']:5.1f}%"
          f"   (simulation share x single-env render fraction; inside simulation)")


if __name__ == "__main__":
    sys.exit(main())
