"""How well does a pick student know where the cube is? Its aux head's guess against the truth, on its
own episodes, by distance from the tool point.

The student's aux head (``agent.aux_cube_weight``) guesses where the cube is from the tool point,
from the image alone, along the world's or the gripper's axes (``agent.aux_cube_frame``; the truth is
compared in the same axes). bench/teacher_cube_error.py says how large a cube error its teacher
tolerates; this says how large the student's is, and whether it lags: the slope of the error on
the true per-step change is 0 for a guess of the present and -1 for one a control step behind.
Only steps before the grasp count (once held, the cube moves with the tool). With ``--teacher`` it
also runs the student's teacher on the same episodes, on the true cube centre and on the student's
guess in its place: would "estimate the cube, then act as the teacher" beat the student?

    MUJOCO_GL=egl python bench/student_cube_guess.py runs/distill/STUDENT --episodes 12 \\
        --out bench/results/pick_student_cube_guess --teacher runs/sac/TEACHER
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pick_heatmap import load_pick_policy  # noqa: E402  (bench/ on sys.path)

BANDS = ((0.0, 0.03), (0.03, 0.08), (0.08, 0.2))  # tool-to-cube distance (m)


def guess_stats(errors: np.ndarray, changes: np.ndarray, distances: np.ndarray) -> dict:
    """RMS error and bias per axis and distance band, and the lag slope per axis (least squares of
    error on change through the origin). Arrays: (N, 3), (N, 3), (N,) in metres."""
    slope = [float(np.dot(changes[:, a], errors[:, a]) / max(float(np.dot(changes[:, a], changes[:, a])), 1e-12))
             for a in range(3)]
    bands = []
    for lo, hi in BANDS:
        m = (distances >= lo) & (distances < hi)
        if m.any():
            bands.append({"from_m": lo, "to_m": hi, "steps": int(m.sum()),
                          "rms_m": np.sqrt((errors[m] ** 2).mean(0)).round(4).tolist(),
                          "bias_m": errors[m].mean(0).round(4).tolist()})
    return {"steps": len(errors), "rms_m": np.sqrt((errors ** 2).mean(0)).round(4).tolist(),
            "lag_slope": [round(s, 2) for s in slope], "bands": bands}


def collect(run: str, checkpoint: str, episodes: int, seed0: int,
            overrides: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    import torch

    from liftrl.agents.student import AUX_SCALE, aux_target

    env, policy = load_pick_policy(f"{run}:{checkpoint}", overrides)
    agent = policy.agent
    if not getattr(agent, "learns_cube", False):
        env.close()
        raise SystemExit(f"{run} is not a student with a cube guess (agent.aux_cube_weight > 0)")
    frame = getattr(agent.cfg, "aux_cube_frame", "world")  # the guess's axes; the truth is put in them
    errors, changes, distances, successes = [], [], [], 0
    try:
        for seed in range(seed0, seed0 + episodes):
            obs, info = env.reset(seed=seed)
            done, previous = False, None
            while not done:
                with torch.no_grad():
                    features = agent.encoder(torch.as_tensor(np.asarray(obs["pixels"])[None]))
                    guess = agent._cube_guess(features).float().numpy()[0] / AUX_SCALE
                true = aux_target({k: torch.as_tensor(np.asarray(obs[k])[None]) for k in ("privileged", "state")},
                                  frame).numpy()[0].astype(float) / AUX_SCALE
                if previous is not None and not info["is_grasping"] and np.linalg.norm(true) < BANDS[-1][1]:
                    errors.append(guess - true)
                    changes.append(true - previous)
                    distances.append(float(np.linalg.norm(true)))
                previous = true
                obs, _, term, trunc, info = env.step(policy({k: np.asarray(v)[None] for k, v in obs.items()})[0])
                done = term or trunc
            successes += bool(info["is_success"])
    finally:
        env.close()
    return np.array(errors), np.array(changes), np.array(distances), successes


def teacher_on_guess(run: str, checkpoint: str, teacher: str, episodes: int, seed0: int,
                     overrides: tuple[str, ...] = ()) -> dict:
    """Successes of the student's teacher on the same episodes, acting on the true cube centre and on
    the student's guess: each step ``privileged``'s cube centre replaced by the one the guess stands
    for (``cube_from_guess``), the rest the truth. Whether "estimate the cube, then act as the
    teacher" would do better than the student's own imitation."""
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.policy import load_policy

    env, student = load_pick_policy(f"{run}:{checkpoint}", overrides)
    folder, _, name = teacher.partition(":")
    expert = load_policy(resolve_checkpoint(folder, name or "best").path)
    try:
        result = {"teacher": Path(folder).name}
        for key, agent in (("on_truth", None), ("on_guess", student.agent)):
            result[key] = sum(_teacher_episode(env, expert, agent, seed) for seed in range(seed0, seed0 + episodes))
    finally:
        env.close()
    return result


def _teacher_episode(env, expert, agent, seed: int) -> bool:
    """One episode of the teacher; with a student ``agent``, on that student's cube guess."""
    import torch

    from liftrl.agents.student import cube_from_guess

    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        batch = {k: np.asarray(v)[None] for k, v in obs.items()}
        if agent is not None:
            with torch.no_grad():
                guess = agent._cube_guess(agent.encoder(torch.as_tensor(batch["pixels"])))
                frame = getattr(agent.cfg, "aux_cube_frame", "world")
                cube = cube_from_guess(torch.as_tensor(batch["state"]), guess, frame).numpy()
            batch["privileged"] = batch["privileged"].copy()
            batch["privileged"][:, :3] = cube
        obs, _, term, trunc, info = env.step(expert(batch)[0])
        done = term or trunc
    return bool(info["is_success"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a pick student's run folder (liftrl distill with agent.aux_cube_weight > 0)")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--seed0", type=int, default=20_000)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override on the run's env, e.g. env.camera_shift_m=0 (repeatable)")
    parser.add_argument("--teacher", default=None, metavar="RUN[:CHECKPOINT]",
                        help="also run this teacher acting on the student's guess (its distillation teacher)")
    parser.add_argument("--out", default=None, help="stem for .json (default: print only)")
    args = parser.parse_args(argv)
    if args.out and args.out.endswith(".json"):
        args.out = args.out[: -len(".json")]
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    *arrays, successes = collect(args.run, args.checkpoint, args.episodes, args.seed0, tuple(args.set))
    stats = {"overrides": args.set, "successes": successes, **guess_stats(*arrays)}
    if args.teacher:
        stats["teacher"] = teacher_on_guess(args.run, args.checkpoint, args.teacher, args.episodes, args.seed0,
                                            tuple(args.set))
    print(json.dumps(stats, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.json").write_text(json.dumps(
            {"run": Path(args.run).name, "checkpoint": args.checkpoint, "episodes": args.episodes,
             "seed0": args.seed0, **stats}, indent=1))


if __name__ == "__main__":
    main()
