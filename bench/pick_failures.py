"""Where a pick policy fails: each pick-stage episode sorted by how far it got.

A success rate says how often; this says where the misses are, which decides what to fix: a
student that never reaches the cube needs to find it, one that stops 2 cm from it needs a finer
approach, one that drops it needs a firmer hold. Categories, the first that applies:

    success           held lifted for the hold time
    lifted-not-held   lifted, then dropped (or the episode ended) before the hold time
    grasped-no-lift   the jaws held the cube, it never reached the lift height
    near-no-grasp     the tool point came within ``--near`` of the cube, never grasped
    never-near        it did not

Runs in the run's own pick-stage evaluation env (rate, latency, camera noise: ``liftrl eval``'s
env), on seeds ``--seed0 ...``, so policies compared on the same seeds meet the same cubes.

    MUJOCO_GL=egl python bench/pick_failures.py --run teacher=runs/sac/STAMP --run student=runs/distill/STAMP \\
        --episodes 30 --out bench/results/pick_failures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pick_heatmap import run_policy  # noqa: E402  (bench/ on sys.path)

CATEGORIES = ("success", "lifted-not-held", "grasped-no-lift", "near-no-grasp", "never-near")


def categorise(success: bool, lifted: bool, grasped: bool, nearest_m: float, near_m: float) -> str:
    """The furthest stage an episode reached (``CATEGORIES``, in order)."""
    if success:
        return "success"
    if lifted:
        return "lifted-not-held"
    if grasped:
        return "grasped-no-lift"
    return "near-no-grasp" if nearest_m < near_m else "never-near"


def episode_row(env, act, seed: int, near_m: float) -> dict:
    """One episode's progress: nearest tool-cube distance, first grasp step, longest hold, category."""
    obs, info = env.reset(seed=seed)
    cube0 = np.asarray(info["cube_pos"], float)
    nearest, first_grasp, grasped, lifted, hold = np.inf, None, False, False, 0
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(act(obs, info))
        done = term or trunc
        nearest = min(nearest, float(np.linalg.norm(np.asarray(info["cube_pos"]) - np.asarray(info["tool_pos"]))))
        if info["is_grasping"] and first_grasp is None:
            first_grasp = int(info["step"])
        grasped |= bool(info["is_grasping"])
        lifted |= bool(info["is_lifted"])
        hold = max(hold, int(info["hold_count"]))
    return {"seed": seed, "cube_xy": [round(float(cube0[0]), 3), round(float(cube0[1]), 3)],
            "nearest_m": round(nearest, 4), "first_grasp_tick": first_grasp, "longest_hold": hold,
            "category": categorise(bool(info["is_success"]), lifted, grasped, nearest, near_m)}


def failures(spec: str, episodes: int, seed0: int, near_m: float) -> dict:
    env, make_act = run_policy(spec)
    try:
        rows = [episode_row(env, make_act(), seed0 + k, near_m) for k in range(episodes)]
    finally:
        env.close()
    counts = {c: sum(r["category"] == c for r in rows) for c in CATEGORIES}
    return {"counts": counts, "episodes": rows}


def table(results: dict[str, dict], episodes: int) -> str:
    lines = ["| policy | " + " | ".join(CATEGORIES) + " |", "| --- |" + " --- |" * len(CATEGORIES)]
    for label, r in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{r['counts'][c]}/{episodes}" for c in CATEGORIES) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER[:CHECKPOINT]",
                        help="a policy to sort (repeatable); its best snapshot unless a checkpoint is named")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed0", type=int, default=20_000, help="first episode seed (the same for every policy)")
    parser.add_argument("--near", type=float, default=0.03, help="'near' means within this many metres")
    parser.add_argument("--out", default=None, help="stem for .json and .md (default: print only)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    runs = {}
    for item in args.run:
        label, sep, spec = item.partition("=")
        if not sep or not label or not spec:
            parser.error(f"--run must be LABEL=FOLDER[:CHECKPOINT], got {item!r}")
        runs[label] = spec
    results = {label: failures(spec, args.episodes, args.seed0, args.near) for label, spec in runs.items()}
    text = table(results, args.episodes)
    print(text)
    if args.out:
        stem = Path(args.out)
        stem.parent.mkdir(parents=True, exist_ok=True)
        meta = {"episodes": args.episodes, "seed0": args.seed0, "near_m": args.near,
                "runs": {label: Path(spec.partition(":")[0]).name for label, spec in runs.items()}}
        stem.with_suffix(".json").write_text(json.dumps({**meta, "results": results}, indent=1))
        stem.with_suffix(".md").write_text(f"# Where the pick policies fail\n\n{args.episodes} pick-stage episodes "
                                           f"each, seeds {args.seed0}-{args.seed0 + args.episodes - 1}; 'near' is "
                                           f"within {args.near * 100:g} cm.\n\n{text}\n")


if __name__ == "__main__":
    main()
