"""Environment throughput: render rate, env overhead against raw MuJoCo, and vector scaling.

Run: ``MUJOCO_GL=egl python bench/env_throughput.py [--repeats 5] [--seconds 3]``

Prints medians over repeats (the machines are noisy):
1. 84x84 wrist renders per second on one core (goal >= 1000).
2. Single-env steps/s with pixels+state at 50 Hz and at 15 Hz (``control_hz``, 100 ms latency),
   each against its raw limit measured in the same run, interleaved: at 50 Hz 10 ``mj_step`` plus
   one 84x84 render of the same model, at 15 Hz the period's 3-4 ticks of 10 ``mj_step`` plus one
   render; no env around them (goal >= 0.8 for both).
3. Env steps/s of 16 vectorised envs against 1 env on this machine (goal >= 1.7x on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from common import machine_line, rate  # noqa: E402  (bench/ is on sys.path when run as a script)


# The env every figure here measures, built by the same factory as training and evaluation.
ENV = dict(curriculum_stage=3, observations=("pixels", "state"), image_size=84)
# Wall-clock rates, and rates per CPU second of this process: on a shared, loaded machine the
# wall-clock ratio moves with the other processes' load, the CPU-time ratio hardly at all.
CLOCKS = {"": time.perf_counter, "_cpu": time.process_time}


def _pixel_env(control_hz: float):
    from liftrl.config import EnvConfig
    from liftrl.run.envs import make_env

    # 15 Hz with the user's ~100 ms latency, as the real arm runs; 50 Hz is the plain env.
    return make_env(EnvConfig(**ENV, control_hz=control_hz, latency_ms=0.0 if control_hz == 50.0 else 100.0))


def _timers(env, renderer, actions):
    """(raw step, env step) callables for one env: raw = its ticks' ``mj_step``s + one render."""
    from liftrl.sim.latency import ControlRateWrapper

    inner = env.unwrapped
    model, data = inner.model, inner.data
    ticks = env.ticks_in_period if isinstance(env, ControlRateWrapper) else (lambda k: 1)
    k, i = [0], [0]

    def raw_step():
        mujoco.mj_step(model, data, nstep=10 * ticks(k[0]))
        k[0] += 1
        renderer.update_scene(data, camera="wrist")
        renderer.render()

    def env_step():
        _, _, term, trunc, _ = env.step(actions[i[0] % len(actions)])
        i[0] += 1
        if term or trunc:
            env.reset()

    return raw_step, env_step


def bench_single(args, cpu_one: bool) -> dict[str, list[float]]:
    """Per repeat: render rate, and raw/env step rates at 50 Hz and 15 Hz, interleaved in time."""
    all_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpu_one and all_cpus:
        # One core, as the goal says; Mesa's llvmpipe would otherwise spread a frame over threads.
        os.sched_setaffinity(0, {sorted(all_cpus)[-1]})
    envs = {hz: _pixel_env(hz) for hz in (50.0, 15.0)}
    for env in envs.values():
        env.reset(seed=0)
    renderer = mujoco.Renderer(envs[50.0].unwrapped.model, 84, 84)
    data50 = envs[50.0].unwrapped.data
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(4096, 4)) * [0.3, 0.3, 0.3, 1.0]
    timers = {hz: _timers(env, renderer if hz == 50.0 else mujoco.Renderer(env.unwrapped.model, 84, 84), actions)
              for hz, env in envs.items()}

    def render_only():
        renderer.update_scene(data50, camera="wrist")
        renderer.render()

    out: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for clock_name, clock in CLOCKS.items():
            out.setdefault(f"render{clock_name}", []).append(rate(render_only, args.seconds, clock=clock))
            for hz, (raw_step, env_step) in timers.items():
                tag = f"{hz:.0f}{clock_name}"
                envs[hz].reset(seed=1)
                out.setdefault(f"raw{tag}", []).append(rate(raw_step, args.seconds, clock=clock))
                envs[hz].reset(seed=1)
                out.setdefault(f"env{tag}", []).append(rate(env_step, args.seconds, clock=clock))
    renderer.close()
    for env in envs.values():
        env.close()
    if all_cpus:
        os.sched_setaffinity(0, all_cpus)  # spawned vector workers inherit the mask
    return out


def bench_vector(num_envs: int, args) -> float:
    from liftrl.config import EnvConfig
    from liftrl.run.envs import make_vector_env

    venv = make_vector_env(EnvConfig(**ENV), num_envs=num_envs)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)

    def step():
        venv.step(rng.uniform(-1, 1, size=(num_envs, 4)).astype(np.float32) * [0.3, 0.3, 0.3, 1.0])

    rates = [rate(step, args.seconds) * num_envs for _ in range(args.repeats)]
    venv.close()
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--num-envs", type=int, default=16, help="0 skips the vector-env figures")
    args = parser.parse_args()

    runs = bench_single(args, cpu_one=True)
    single = {k: statistics.median(v) for k, v in runs.items()}
    one_env = bench_vector(1, args) if args.num_envs else 0.0
    many = bench_vector(args.num_envs, args) if args.num_envs else 0.0
    print(machine_line())
    print(f"mujoco {mujoco.__version__}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    print(f"medians of {args.repeats} repeats x {args.seconds:.0f} s, single-env figures on one pinned core; "
          "wall clock, and [per CPU second of this process]")
    print(f"84x84 wrist render, one process:      {single['render']:6.0f} [{single['render_cpu']:6.0f}] frames/s  "
          "(goal >= 1000)")
    for hz, what in (("50", "10 mj_step + one render"), ("15", "its ticks' mj_steps + one render")):
        print(f"raw limit {hz} Hz ({what}): {single[f'raw{hz}']:6.0f} [{single[f'raw{hz}_cpu']:6.0f}] steps/s")
        for clock in ("", "_cpu"):
            ratios = [e / r for e, r in zip(runs[f"env{hz}{clock}"], runs[f"raw{hz}{clock}"])]
            label = "per CPU second" if clock else "wall clock    "
            print(f"  pixel env {hz} Hz, {label}: {single[f'env{hz}{clock}']:6.0f} steps/s, ratio to raw "
                  f"{statistics.median(ratios):.2f} (goal >= 0.8; per repeat {', '.join(f'{x:.2f}' for x in ratios)})")
    if args.num_envs:
        print(f"vector env, 1 env:                        {one_env:8.0f} env steps/s")
        print(f"vector env, {args.num_envs} envs:                      {many:8.0f} env steps/s   "
              f"ratio to 1 env {many / one_env:.2f}x  (goal >= 1.7x)")

if __name__ == "__main__":
    main()
