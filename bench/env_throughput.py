"""Environment throughput: render rate, env overhead against raw MuJoCo, and vector scaling.

Run: ``MUJOCO_GL=egl python bench/env_throughput.py [--repeats 5] [--seconds 3]``

Prints medians over repeats (the machines are noisy):
1. 84x84 wrist renders per second on one core (goal >= 1000).
2. Single-env steps/s with pixels+state, and its ratio to the raw limit measured in the same
   run: 10 ``mj_step`` plus one 84x84 render of the same model, no env around it (goal >= 0.8).
3. Env steps/s of 16 vectorised envs against 1 env on this machine (goal >= 1.7x on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from common import rate  # noqa: E402  (bench/ is on sys.path when run as a script)


# The env every figure here measures, built by the same factory as training and evaluation.
ENV = dict(curriculum_stage=3, observations=("pixels", "state"), image_size=84)


def bench_single(args, cpu_one: bool) -> dict[str, float]:
    from liftrl.config import EnvConfig
    from liftrl.run.envs import make_env

    all_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpu_one and all_cpus:
        # One core, as the goal says; Mesa's llvmpipe would otherwise spread a frame over threads.
        os.sched_setaffinity(0, {sorted(all_cpus)[0]})
    env = make_env(EnvConfig(**ENV))
    env.reset(seed=0)
    model, data = env.model, env.data
    renderer = mujoco.Renderer(model, 84, 84)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(4096, 4)) * [0.3, 0.3, 0.3, 1.0]
    i = [0]

    def render_only():
        renderer.update_scene(data, camera="wrist")
        renderer.render()

    def raw_step():
        mujoco.mj_step(model, data, nstep=10)
        renderer.update_scene(data, camera="wrist")
        renderer.render()

    def env_step():
        _, _, term, trunc, _ = env.step(actions[i[0] % len(actions)])
        i[0] += 1
        if term or trunc:
            env.reset()

    out = {"render": [], "raw": [], "env": []}
    for _ in range(args.repeats):
        out["render"].append(rate(render_only, args.seconds))
        env.reset(seed=1)
        out["raw"].append(rate(raw_step, args.seconds))
        env.reset(seed=1)
        out["env"].append(rate(env_step, args.seconds))
    renderer.close()
    env.close()
    if all_cpus:
        os.sched_setaffinity(0, all_cpus)  # spawned vector workers inherit the mask
    return {k: statistics.median(v) for k, v in out.items()}


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
    parser.add_argument("--num-envs", type=int, default=16)
    args = parser.parse_args()

    single = bench_single(args, cpu_one=True)
    one_env = bench_vector(1, args)
    many = bench_vector(args.num_envs, args)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"mujoco {mujoco.__version__}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}")
    print(f"medians of {args.repeats} repeats x {args.seconds:.0f} s")
    print(f"84x84 wrist render, one process:          {single['render']:8.0f} frames/s   (goal >= 1000)")
    print(f"raw limit: 10 mj_step + one 84x84 render: {single['raw']:8.0f} steps/s")
    print(f"single env, pixels+state:                 {single['env']:8.0f} steps/s   "
          f"ratio to raw {single['env'] / single['raw']:.2f}  (goal >= 0.8)")
    print(f"vector env, 1 env:                        {one_env:8.0f} env steps/s")
    print(f"vector env, {args.num_envs} envs:                      {many:8.0f} env steps/s   "
          f"ratio to 1 env {many / one_env:.2f}x  (goal >= 1.7x)")


if __name__ == "__main__":
    main()
