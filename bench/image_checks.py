"""Does a pixel policy find the cube with its camera? Its success with its own frames, a grey image, and
another episode's frames.

If the policy really locates the cube in the image, success should collapse with a grey image
(nothing to see) and with another episode's frames at the same step (a cube somewhere else). A
student that keeps succeeding with another episode's frames reads the cube's position from
elsewhere (``state``, ``last_actions``) and uses the image only to tell which phase it is in: issue
23 measured 46/50 with another episode's frames on the stage-3 student. The pick stage's goal is
<= 10% for both checks.

    MUJOCO_GL=egl python bench/image_checks.py RUN[:CHECKPOINT] [--episodes 50] [--stage 5]

It uses the run's own evaluation env (rate, latency, camera noise, image size) at the chosen stage.
``bench/student.py`` adds these rows to a pick-stage student's summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

GREY = 128
MODES = ("own", "grey", "other episode")


def play(env, act: Callable[[dict], np.ndarray], seed: int, frames: list[np.ndarray] | None = None,
         grey: bool = False) -> tuple[bool, list[np.ndarray]]:
    """(success, the pixels the policy saw) of one episode; ``frames`` replaces the pixels with another
    episode's at the same step (its last frame once it has ended), ``grey`` with a uniform grey image."""
    obs, _ = env.reset(seed=seed)
    seen, done, info, t = [], False, {}, 0
    while not done:
        if grey:
            obs = {**obs, "pixels": np.full_like(obs["pixels"], GREY)}
        elif frames is not None:
            obs = {**obs, "pixels": frames[min(t, len(frames) - 1)]}
        seen.append(np.asarray(obs["pixels"]).copy())
        obs, _, term, trunc, info = env.step(act(obs))
        done, t = term or trunc, t + 1
    return bool(info.get("is_success")), seen


def image_checks(env, act: Callable[[dict], np.ndarray], seeds: list[int], other_offset: int = 100_000) -> dict:
    """Successes per mode over ``seeds``; the other episode of seed s is the policy's own episode of seed
    s + ``other_offset`` (a different cube position, size, colour and light)."""
    counts = dict.fromkeys(MODES, 0)
    for seed in seeds:
        counts["own"] += play(env, act, seed)[0]
        counts["grey"] += play(env, act, seed, grey=True)[0]
        _, others = play(env, act, seed + other_offset)
        counts["other episode"] += play(env, act, seed, frames=others)[0]
    n = len(seeds)
    return {mode: {"successes": int(c), "episodes": n, "success_rate": c / n} for mode, c in counts.items()}


def run_policy(spec: str, stage: int | None):
    """(env, act) of a run folder or ``FOLDER:CHECKPOINT`` in the run's evaluation env at ``stage``."""
    from liftrl.report.evaluation import eval_config
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.envs import make_env
    from liftrl.run.folder import open_run
    from liftrl.run.policy import load_policy

    folder, _, name = spec.partition(":")
    run = open_run(folder)
    policy = load_policy(resolve_checkpoint(folder, name or "best").path)
    if "pixels" not in policy.actor_keys:
        raise ValueError(f"{spec}: the actor reads {policy.actor_keys}, no pixels: nothing to check")
    cfg = eval_config(run, [] if stage is None else [f"env.curriculum_stage={stage}"])
    env = make_env(cfg.env)
    return env, lambda obs: policy({k: np.asarray(v)[None] for k, v in obs.items()})[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a pixel policy's run folder, or FOLDER:CHECKPOINT")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--stage", type=int, default=None, help="curriculum stage (default: the run's own)")
    ap.add_argument("--seed0", type=int, default=7000)
    args = ap.parse_args(argv)
    try:
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        env, act = run_policy(args.run, args.stage)
    except (ValueError, OSError) as exc:
        print(f"image_checks: error: {exc}", file=sys.stderr)
        return 2
    try:
        result = image_checks(env, act, list(range(args.seed0, args.seed0 + args.episodes)))
    finally:
        env.close()
    print(json.dumps({"run": args.run, "stage": args.stage, **result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
