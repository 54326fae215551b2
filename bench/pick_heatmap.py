"""Success over a grid of cube positions in the pick area, one panel per policy (teacher and student side
by side): where in front of the arm a policy picks the cube, and where it does not.

Each cell runs ``--episodes`` pick-stage episodes with the cube's centre at the cell's centre (the
env's reset option ``cube_xy``; yaw, size, colour, light and camera offset still drawn per episode)
in the run's own evaluation env (rate, latency, camera noise, image size: ``liftrl eval``'s env).

    MUJOCO_GL=egl python bench/pick_heatmap.py --run teacher=runs/sac/STAMP --run student=runs/student/STAMP \\
        --grid 4x4 --episodes 3 --out bench/results/pick_heatmap.png

A run is a run folder (its ``best`` snapshot) or ``FOLDER:CHECKPOINT`` (e.g. ``:final``, ``:100k``).
``--scripted`` adds the scripted grasp (privileged, simulation only) as a reference panel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import pyplot  # noqa: E402  (bench/ on sys.path)


@dataclass(frozen=True)
class Grid:
    """Cell centres of an ``nx`` x ``ny`` grid over the pick area (x: away from the arm, y: sideways)."""

    nx: int
    ny: int

    def centres(self, area) -> tuple[np.ndarray, np.ndarray]:
        xs = area.x[0] + (np.arange(self.nx) + 0.5) * area.size[0] / self.nx
        ys = area.y[0] + (np.arange(self.ny) + 0.5) * area.size[1] / self.ny
        return xs, ys


def parse_grid(text: str) -> Grid:
    try:
        nx, ny = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--grid must look like 4x4 (cells along x, along y), got {text!r}") from None
    if nx < 1 or ny < 1:
        raise ValueError(f"--grid needs at least one cell each way, got {text!r}")
    return Grid(nx, ny)


def run_episode(env, act: Callable[[dict, dict], np.ndarray], seed: int, cube_xy: tuple[float, float]) -> bool:
    """One pick-stage episode with the cube at ``cube_xy``; ``act(obs, info)`` gives the action."""
    obs, info = env.reset(seed=seed, options={"cube_xy": cube_xy})
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(act(obs, info))
        done = term or trunc
    return bool(info["is_success"])


def success_grid(env, make_act: Callable[[], Callable[[dict, dict], np.ndarray]], grid: Grid, episodes: int,
                 seed0: int = 5000) -> np.ndarray:
    """Success rate per cell, shape (ny, nx); ``make_act()`` gives a fresh policy per episode. Cell (i, j)
    uses seeds ``seed0 + (j * nx + i) * episodes + k``, so every policy meets the same cubes."""
    from liftrl.sim.start_pose import PICK_AREA

    xs, ys = grid.centres(PICK_AREA)
    rates = np.zeros((grid.ny, grid.nx))
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            first = seed0 + (j * grid.nx + i) * episodes
            wins = sum(run_episode(env, make_act(), first + k, (float(x), float(y))) for k in range(episodes))
            rates[j, i] = wins / episodes
    return rates


def plot(panels: dict[str, np.ndarray], grid: Grid, episodes: int, out: Path) -> None:
    from liftrl.sim.start_pose import PICK_AREA

    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.2, 4.6), squeeze=False,
                             layout="constrained")
    extent = (PICK_AREA.y[0] * 100, PICK_AREA.y[1] * 100, PICK_AREA.x[0] * 100, PICK_AREA.x[1] * 100)
    image = None
    for ax, (label, rates) in zip(axes[0], panels.items()):
        # x (away from the arm) up the page, y sideways: the table as the arm's camera faces it
        image = ax.imshow(rates.T, origin="lower", extent=extent, vmin=0, vmax=1, cmap="viridis", aspect="equal")
        for j, y in enumerate(grid.centres(PICK_AREA)[1]):
            for i, x in enumerate(grid.centres(PICK_AREA)[0]):
                ax.text(y * 100, x * 100, f"{rates[j, i] * episodes:.0f}", ha="center", va="center", color="w",
                        fontsize=8)
        ax.set_title(f"{label}: {rates.mean():.0%}")
        ax.set_xlabel("y (cm, sideways)")
        ax.set_ylabel("x (cm, from the base)")
    fig.colorbar(image, ax=list(axes[0]), label=f"success (of {episodes} per cell)")
    fig.suptitle("pick area: success by cube position, from the start pose")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def load_pick_policy(spec: str, overrides: tuple[str, ...] = ()):
    """(env, policy) for a run folder or ``FOLDER:CHECKPOINT``: its snapshot and the run's pick-stage env,
    with config ``overrides`` (``env.camera_shift_m=0``) on top."""
    from liftrl.report.evaluation import eval_config
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.envs import make_env
    from liftrl.run.folder import open_run
    from liftrl.run.policy import load_policy
    from liftrl.sim.task import PICK_STAGE

    folder, _, name = spec.partition(":")
    run = open_run(folder)
    checkpoint = resolve_checkpoint(folder, name or "best")
    cfg = eval_config(run, [f"env.curriculum_stage={PICK_STAGE}", *overrides])
    return make_env(cfg.env), load_policy(checkpoint.path)


def run_policy(spec: str):
    """(env, make_act) for a run folder, ``FOLDER:CHECKPOINT``, evaluated in the run's pick-stage env."""
    env, policy = load_pick_policy(spec)

    def make_act():
        return lambda obs, info: policy({k: np.asarray(v)[None] for k, v in obs.items()})[0]

    return env, make_act


def scripted_policy(max_episode_steps: int = 400, roll: bool = True):
    """The scripted grasp with configs/teacher_pick.yaml's action space (wrist roll on, by default)."""
    from liftrl.scripted import ScriptedGrasp
    from liftrl.sim.factory import build_env
    from liftrl.sim.task import PICK_STAGE

    env = build_env(control_hz=15, latency_ms=(66, 133), curriculum_stage=PICK_STAGE, hold_steps=150,
                   max_episode_steps=max_episode_steps, observations=("state",), reward="v20",
                   wrist_roll_action=roll, render_mode=None)

    def make_act():
        policy = ScriptedGrasp.for_env(env)
        return lambda obs, info: policy.act(info)

    return env, make_act


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", default=[], help="LABEL=RUN_FOLDER[:CHECKPOINT], repeatable")
    ap.add_argument("--scripted", action="store_true", help="add the scripted grasp's panel (wrist roll on)")
    ap.add_argument("--scripted-held", action="store_true", help="add the scripted grasp with the roll held (4-D)")
    ap.add_argument("--grid", default="4x4")
    ap.add_argument("--episodes", type=int, default=3, help="episodes per cell")
    ap.add_argument("--out", type=Path, default=Path("bench/results/pick_heatmap.png"))
    args = ap.parse_args(argv)
    try:
        grid = parse_grid(args.grid)
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        sources = [(label, run_policy(path)) for label, _, path in (r.partition("=") for r in args.run)]
        if args.scripted:
            sources.append(("scripted", scripted_policy()))
        if args.scripted_held:
            sources.append(("scripted, roll held", scripted_policy(roll=False)))
        if not sources:
            raise ValueError("nothing to map: give --run LABEL=RUN (repeatable), --scripted and/or --scripted-held")
    except (ValueError, OSError) as exc:
        print(f"pick_heatmap: error: {exc}", file=sys.stderr)
        return 2
    panels = {}
    for label, (env, make_act) in sources:
        panels[label] = success_grid(env, make_act, grid, args.episodes)
        env.close()
        print(json.dumps({"policy": label, "success": round(float(panels[label].mean()), 3),
                          "grid": panels[label].round(3).tolist()}), flush=True)
    plot(panels, grid, args.episodes, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
