"""How ``liftrl.sim.start_pose.START_POSE`` was found: the arm pose whose wrist camera sees a pick area best.

For a rectangle of table (grown by a cube's largest corner radius, 18 mm x sqrt 2, and raised to
the largest cube's top, 36 mm), a random local search over shoulder_pan, shoulder_lift,
elbow_flex and wrist_flex (wrist_roll as in training, jaws open) maximises the smallest distance
of the rectangle's corners to the wrist image's edge (``liftrl.sim.view``), with the tool point
kept 8 cm or more above the table. A positive margin leaves room for the randomised camera
offset; tests/test_pick.py then checks 1,000 randomised resets.

    MUJOCO_GL=egl python tools/pick_pose_search.py 0.24 0.48 -0.10 0.10

What it showed (docs/pick.md): the wrist_flex limit ends up binding, so the best poses pull the
upper arm back and look forward over the table; an area 24 cm across needs to start 26 cm or
more from the base, one 24 cm deep and 20 cm across fits from 24 cm.
"""

from __future__ import annotations

import os
import sys

import mujoco
import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

CORNER_GROWTH = 0.018 * np.sqrt(2)  # the largest cube's corner radius in xy, any yaw
CUBE_TOP = 0.036
STARTS = ((0.0, -1.3, 0.83, 1.63), (0.0, -1.0, 0.7, 1.6), (0.0, -0.5, 0.3, 1.5), (0.0, -1.5, 1.0, 1.6))


def area_points(x: tuple[float, float], y: tuple[float, float]) -> np.ndarray:
    g = CORNER_GROWTH
    return np.array([[px, py, pz] for px in (x[0] - g, x[1] + g) for py in (y[0] - g, y[1] + g)
                     for pz in (0.0, CUBE_TOP)])


def margin(env, q4: np.ndarray, points: np.ndarray) -> float:
    from liftrl.sim import view
    from liftrl.sim.ik import WRIST_ROLL
    from liftrl.sim.task import OPEN_GRIPPER

    m, d, ids = env.model, env.data, env.ids
    d.qpos[ids.arm_qpos] = [*q4, WRIST_ROLL, OPEN_GRIPPER]
    mujoco.mj_kinematics(m, d)
    mujoco.mj_camlight(m, d)
    if d.site_xpos[ids.tool_site][2] < 0.08:
        return -np.inf
    return view.view_margin(*view.project(m, d, ids.wrist_camera, points))


def search(env, points: np.ndarray, iterations: int = 1500, seed: int = 0) -> tuple[float, np.ndarray]:
    lo, hi = env.model.jnt_range[env.ids.arm_joint][:4].T
    best = (-np.inf, np.array(STARTS[0]))
    for start in STARTS:
        rng, q = np.random.default_rng(seed), np.array(start, dtype=float)
        value, step = margin(env, q, points), 0.2
        for k in range(iterations):
            trial = np.clip(q + rng.normal(size=4) * step, lo, hi)
            trial_value = margin(env, trial, points)
            if trial_value > value:
                q, value = trial, trial_value
            if k % 300 == 299:
                step *= 0.5
        if value > best[0]:
            best = (value, q)
    return best


def main(argv: list[str]) -> int:
    from liftrl.sim.env import LiftCubeEnv

    if len(argv) != 4:
        print("usage: pick_pose_search.py X_LO X_HI Y_LO Y_HI (metres)", file=sys.stderr)
        return 2
    x0, x1, y0, y1 = (float(v) for v in argv)
    env = LiftCubeEnv(observations=("state",), render_mode=None, randomize=False)
    value, q = search(env, area_points((x0, x1), (y0, y1)))
    margin(env, q, area_points((x0, x1), (y0, y1)))
    print(f"area x {x0}-{x1} y {y0}-{y1}: best margin {value:.3f} (image fractions) at joints "
          f"{np.round(q, 3).tolist()}; tool {np.round(env.data.site_xpos[env.ids.tool_site], 3).tolist()}, "
          f"camera {np.round(env.data.cam_xpos[env.ids.wrist_camera], 3).tolist()}")
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
