"""How precisely must a pixel student know where the cube is? The state teacher, fed a cube position
that is off by a per-episode error, on the pick-stage evaluation.

A distilled student that acted as its teacher would on its own idea of the cube's position would
do as well as the teacher does when its ``privileged`` cube centre carries that error. So this is a
guide to how well a student must localise the cube, and to which of the two to improve: the
student's localisation, or the teacher's tolerance of error. It is not a hard bound: the student
also sees the gap to the cube close in its image (bench/student_cube_guess.py --teacher runs the
teacher on a student's own guesses, beside the student, on the same episodes).

Each episode draws one error (normal, ``--bias`` metres per horizontal axis, half that vertically)
that stays for the whole episode, as a misjudged cube would; ``--jitter`` adds fresh noise per step.
The same seeds and the same errors for every setting.

    MUJOCO_GL=egl python bench/teacher_cube_error.py runs/sac/TEACHER --bias 0 0.005 0.01 0.02 \\
        --episodes 30 --out bench/results/pick_teacher_cube_error
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CUBE_CENTRE = slice(0, 3)  # liftrl.sim.privileged.PRIVILEGED_LAYOUT: cube_x, cube_y, cube_z first


def with_error(policy, bias: np.ndarray, jitter_m: float, rng: np.random.Generator):
    """``policy`` reading a cube centre moved by ``bias`` (+ per-step jitter) in its ``privileged`` input."""
    def act(obs):
        moved = dict(obs)
        privileged = np.array(obs["privileged"], dtype=np.float32, copy=True)
        privileged[:, CUBE_CENTRE] += bias + (rng.normal(0.0, jitter_m, 3) if jitter_m > 0 else 0.0)
        moved["privileged"] = privileged
        return policy(moved)
    return act


def success_with_error(env, policy, bias_m: float, jitter_m: float, episodes: int, seed0: int) -> int:
    from liftrl.train.episodes import run_episode

    rng = np.random.default_rng(seed0)  # the same draws for every setting: only their size differs
    wins = 0
    for k in range(episodes):
        bias = rng.normal(0.0, 1.0, 3) * np.array([bias_m, bias_m, bias_m / 2])
        wins += int(run_episode(env, with_error(policy, bias, jitter_m, rng), seed0 + k).success)
    return wins


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the state teacher's run folder (it must read 'privileged')")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--bias", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02],
                        help="per-episode error sizes (m, standard deviation per horizontal axis)")
    parser.add_argument("--jitter", type=float, default=0.0, help="per-step noise (m) on top")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed0", type=int, default=10_000)
    parser.add_argument("--out", default=None, help="stem for .json and .md (default: print only)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or any(b < 0 for b in args.bias) or args.jitter < 0:
        parser.error("--episodes must be >= 1 and the error sizes >= 0")
    from liftrl.report.evaluation import eval_config
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.envs import make_env
    from liftrl.run.folder import open_run
    from liftrl.run.policy import load_policy
    from liftrl.sim.task import PICK_STAGE

    policy = load_policy(resolve_checkpoint(args.run, args.checkpoint).path)
    if "privileged" not in policy.actor_keys:
        parser.error(f"{args.run}'s actor reads {list(policy.actor_keys)}, not 'privileged': not a state teacher")
    # A teacher trained against an error (env.privileged_cube_error_m) is measured on the true cube plus
    # this script's error only: the same env for every teacher.
    env = make_env(eval_config(open_run(args.run), [f"env.curriculum_stage={PICK_STAGE}", "env.num_envs=1",
                                                    "env.privileged_cube_error_m=0"]).env)
    try:
        rows = [{"bias_m": b, "jitter_m": args.jitter,
                 "successes": success_with_error(env, policy, b, args.jitter, args.episodes, args.seed0),
                 "episodes": args.episodes} for b in args.bias]
    finally:
        env.close()
    lines = ["| cube error per episode (sd per axis) | per-step jitter | success |", "| --- | --- | --- |"]
    lines += [f"| {r['bias_m'] * 100:g} cm | {r['jitter_m'] * 100:g} cm | {r['successes']}/{r['episodes']} |"
              for r in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        stem = Path(args.out)
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps({"run": Path(args.run).name, "checkpoint": args.checkpoint,
                                                         "seed0": args.seed0, "rows": rows}, indent=1))
        stem.with_suffix(".md").write_text(f"# The teacher with a misplaced cube\n\nTeacher run {Path(args.run).name} "
                                           f"({args.checkpoint}), pick-stage evaluation env, seeds {args.seed0}+.\n\n"
                                           f"{text}\n")


if __name__ == "__main__":
    main()
