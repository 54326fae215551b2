"""How well does a pick student know where the cube is? Its aux head's guess against the truth, on its
own episodes, by distance from the tool point.

The student's aux head (``agent.aux_cube_weight``) guesses where the cube is from the tool point,
from the image alone. bench/teacher_cube_error.py says how large a cube error its teacher
tolerates; this says how large the student's is, and whether it lags: the slope of the error on
the true per-step change is 0 for a guess of the present and -1 for one a control step behind.
Only steps before the grasp count (once held, the cube moves with the tool).

    MUJOCO_GL=egl python bench/student_cube_guess.py runs/distill/STUDENT --episodes 12 \\
        --out bench/results/pick_student_cube_guess
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


def collect(run: str, checkpoint: str, episodes: int, seed0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    from liftrl.agents.student import AUX_SCALE

    env, policy = load_pick_policy(f"{run}:{checkpoint}")
    agent = policy.agent
    if not getattr(agent, "learns_cube", False):
        env.close()
        raise SystemExit(f"{run} is not a student with a cube guess (agent.aux_cube_weight > 0)")
    errors, changes, distances = [], [], []
    try:
        for seed in range(seed0, seed0 + episodes):
            obs, info = env.reset(seed=seed)
            done, previous = False, None
            while not done:
                with torch.no_grad():
                    features = agent.encoder(torch.as_tensor(np.asarray(obs["pixels"])[None]))
                    guess = agent._cube_guess(features).float().numpy()[0] / AUX_SCALE
                true = np.asarray(info["cube_pos"]) - np.asarray(info["tool_pos"])
                if previous is not None and not info["is_grasping"] and np.linalg.norm(true) < BANDS[-1][1]:
                    errors.append(guess - true)
                    changes.append(true - previous)
                    distances.append(float(np.linalg.norm(true)))
                previous = true
                obs, _, term, trunc, info = env.step(policy({k: np.asarray(v)[None] for k, v in obs.items()})[0])
                done = term or trunc
    finally:
        env.close()
    return np.array(errors), np.array(changes), np.array(distances)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a pick student's run folder (liftrl distill with agent.aux_cube_weight > 0)")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--seed0", type=int, default=20_000)
    parser.add_argument("--out", default=None, help="stem for .json (default: print only)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    stats = guess_stats(*collect(args.run, args.checkpoint, args.episodes, args.seed0))
    print(json.dumps(stats, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).with_suffix(".json").write_text(json.dumps(
            {"run": Path(args.run).name, "checkpoint": args.checkpoint, "episodes": args.episodes,
             "seed0": args.seed0, **stats}, indent=1))


if __name__ == "__main__":
    main()
