"""How sharply does the state teacher's action depend on where it is told the cube is?

A pixel student regresses its teacher's actions from an estimate of the cube that is 1-2.5 cm off
(bench/student_cube_guess.py). If the teacher's action changes a lot for a few millimetres of cube
position, the student is asked to follow a function it cannot resolve. This plays the teacher on
the true cube (pick-stage evaluation env) and, at every step, also asks it what it would do with
the cube centre moved by ``--shift`` metres along +x, -x, +y and -y. It reports, by how far the
tool is from the cube, the mean absolute change of each action value under those shifts, beside
the mean change between the teacher's own consecutive actions (the scale of what it does anyway).
Actions are in [-1, 1]; one unit of dx/dy/dz is 2 cm of target motion.

    MUJOCO_GL=egl python bench/teacher_cube_sensitivity.py runs/sac/TEACHER --episodes 10 \\
        --shift 0.005 --out bench/results/pick_teacher_cube_sensitivity_seed0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from teacher_cube_error import CUBE_CENTRE

TOOL = slice(12, 15)  # liftrl.sim.kinematics.STATE_LAYOUT: tool.x, tool.y, tool.z
BINS_CM = (0.0, 1.5, 3.0, 5.0, 8.0, 15.0, 100.0)
ACTION_NAMES = ("dx", "dy", "dz", "gripper", "roll")


def shifted(obs, delta: np.ndarray) -> dict:
    """``obs`` (a batch of one) with the cube centre in ``privileged`` moved by ``delta`` (m)."""
    moved = dict(obs)
    privileged = np.array(obs["privileged"], dtype=np.float32, copy=True)
    privileged[:, CUBE_CENTRE] += delta
    moved["privileged"] = privileged
    return moved


def record_episode(env, policy, seed: int, shift_m: float) -> tuple[list[dict], bool]:
    """(per step: the tool-cube distance (cm), |action change| under the shifts, |change| from the last action;
    whether the episode succeeded)."""
    from liftrl.train.episodes import run_episode

    deltas = [np.array(v, dtype=np.float32) * shift_m for v in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))]
    rows, last = [], [None]

    def act(obs):
        action = np.asarray(policy(obs), dtype=np.float32)
        moved = np.stack([np.asarray(policy(shifted(obs, d)), dtype=np.float32)[0] for d in deltas])
        gap = obs["privileged"][0, CUBE_CENTRE] - obs["state"][0, TOOL]
        rows.append({"distance_cm": float(100 * np.linalg.norm(gap)),
                     "shift_change": np.abs(moved - action[0]).mean(axis=0),
                     "step_change": None if last[0] is None else np.abs(action[0] - last[0])})
        last[0] = action[0]
        return action

    return rows, bool(run_episode(env, act, seed).success)


def table(rows: list[dict], dim: int) -> tuple[str, list[dict]]:
    """Markdown table and JSON rows, one per distance bin."""
    names = ACTION_NAMES[:dim]
    lines = ["| tool to cube | steps | " + " | ".join(f"{n}: shift / step" for n in names) + " |",
             "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    out = []
    for lo, hi in zip(BINS_CM[:-1], BINS_CM[1:]):
        inside = [r for r in rows if lo <= r["distance_cm"] < hi]
        if not inside:
            continue
        shift = np.mean([r["shift_change"] for r in inside], axis=0)
        steps = [r["step_change"] for r in inside if r["step_change"] is not None]
        step = np.mean(steps, axis=0) if steps else np.full(dim, np.nan)
        lines.append(f"| {lo:g}-{hi:g} cm | {len(inside)} | "
                     + " | ".join(f"{s:.3f} / {t:.3f}" for s, t in zip(shift, step)) + " |")
        out.append({"from_cm": lo, "to_cm": hi, "steps": len(inside), "shift_change": shift.round(4).tolist(),
                    "step_change": step.round(4).tolist()})
    return "\n".join(lines), out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the state teacher's run folder (it must read 'privileged')")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--shift", type=float, default=0.005, help="how far the cube is moved (m)")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed0", type=int, default=10_000)
    parser.add_argument("--out", default=None, help="stem for .json and .md (default: print only)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or not args.shift > 0:
        parser.error("--episodes must be >= 1 and --shift > 0")
    from liftrl.report.evaluation import eval_config
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.envs import make_env
    from liftrl.run.folder import open_run
    from liftrl.run.policy import load_policy
    from liftrl.sim.task import PICK_STAGE

    policy = load_policy(resolve_checkpoint(args.run, args.checkpoint).path)
    if not {"privileged", "state"} <= set(policy.actor_keys):
        parser.error(f"{args.run}'s actor reads {list(policy.actor_keys)}: not a state teacher (state + privileged)")
    env = make_env(eval_config(open_run(args.run), [f"env.curriculum_stage={PICK_STAGE}", "env.num_envs=1",
                                                    "env.privileged_cube_error_m=0"]).env)
    try:
        episodes = [record_episode(env, policy, args.seed0 + k, args.shift) for k in range(args.episodes)]
    finally:
        env.close()
    rows, successes = [r for ep, _ in episodes for r in ep], sum(ok for _, ok in episodes)
    dim = len(rows[0]["shift_change"])
    text, bins = table(rows, dim)
    header = (f"Teacher {Path(args.run).name} ({args.checkpoint}), cube centre moved {100 * args.shift:g} cm along "
              f"+-x and +-y; {args.episodes} pick-stage episodes from seed {args.seed0} ({successes} successes); mean "
              f"|change| of each "
              f"action value under the shifts / between consecutive actions.")
    print(header + "\n\n" + text)
    if args.out:
        stem = Path(args.out)
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps({
            "run": Path(args.run).name, "checkpoint": args.checkpoint, "shift_m": args.shift,
            "episodes": args.episodes, "successes": successes, "seed0": args.seed0, "steps": len(rows),
            "bins": bins}, indent=1))
        stem.with_suffix(".md").write_text(f"# How sharply the teacher's action follows the cube\n\n{header}\n\n{text}\n")


if __name__ == "__main__":
    main()
