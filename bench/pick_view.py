"""The pick stage's two promises, measured: the cube is in the wrist camera's view at the first frame,
and the scripted grasp reaches it from the start pose at the real arm's rate.

View: the cube's 8 corners projected through the wrist camera (liftrl.sim.view) at N randomised
resets (size 24-36 mm, any yaw, camera offset +-2.5 cm); the margin is the smallest distance of a
corner to the image edge, in image fractions. Scripted: ScriptedGrasp at 15 Hz with 66-133 ms
latency, hold 150 ticks, episodes of several lengths (the teacher's episode length comes from the
tick at which the hold starts, as for stage 3 in bench/scripted_rate.py).

    MUJOCO_GL=egl python bench/pick_view.py [resets] [scripted episodes] > bench/results/pick_scripted.txt
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

EPISODE_TICKS = (300, 400)


def view_margins(resets: int) -> np.ndarray:
    from liftrl.sim import view
    from liftrl.sim.env import LiftCubeEnv
    from liftrl.sim.task import PICK_STAGE

    env = LiftCubeEnv(curriculum_stage=PICK_STAGE, observations=("state",), render_mode=None)
    m, d, ids = env.model, env.data, env.ids
    out = []
    for seed in range(resets):
        _, info = env.reset(seed=seed)
        corners = view.box_corners(env.cube_pos(), d.qpos[ids.cube_qpos + 3:ids.cube_qpos + 7], info["cube_half_size"])
        out.append(view.view_margin(*view.project(m, d, ids.wrist_camera, corners)))
    env.close()
    return np.array(out)


def scripted(episodes: int, ticks: int, seed0: int = 1000) -> tuple[int, list[int]]:
    """(successes, the tick each successful hold started) over ``episodes`` seeded pick-stage episodes."""
    from liftrl.scripted import ScriptedGrasp
    from liftrl.sim.factory import build_env
    from liftrl.sim.task import PICK_STAGE

    env = build_env(control_hz=15, latency_ms=(66, 133), curriculum_stage=PICK_STAGE, hold_steps=150,
                   max_episode_steps=ticks, observations=("state",), reward="v20", render_mode=None)
    wins, starts = 0, []
    for seed in range(seed0, seed0 + episodes):
        _, info = env.reset(seed=seed)
        policy, done = ScriptedGrasp.for_env(env), False
        while not done:
            _, _, term, trunc, info = env.step(policy.act(info))
            done = term or trunc
        if info["is_success"]:
            wins += 1
            starts.append(int(info["step"]) - int(info["hold_count"]))
    env.close()
    return wins, starts


def main(argv: list[str] | None = None) -> int:
    from liftrl.sim.start_pose import PICK_AREA, START_POSE

    args = argv if argv is not None else sys.argv[1:]
    resets = int(args[0]) if args else 1000
    episodes = int(args[1]) if len(args) > 1 else 30
    print(f"pick stage: start pose {tuple(round(q, 3) for q in START_POSE)} rad, pick area x {PICK_AREA.x} "
          f"y {PICK_AREA.y} m ({PICK_AREA.size[0] * 100:.0f} x {PICK_AREA.size[1] * 100:.0f} cm), any yaw, randomised")
    margins = view_margins(resets)
    print(f"view: {int(np.sum(margins > 0))}/{resets} resets with all 8 cube corners in the wrist image; "
          f"smallest margin {margins.min():.3f}, 1st percentile {np.percentile(margins, 1):.3f} (image fractions)")
    print(f"scripted grasp, 15 Hz, 66-133 ms, hold 150 ticks, seeds 1000-{1000 + episodes - 1}")
    print("| episode ticks | success | hold starts at tick: median | 90th percentile | max |")
    print("| --- | --- | --- | --- | --- |")
    for ticks in EPISODE_TICKS:
        wins, starts = scripted(episodes, ticks)
        cols = [f"{np.percentile(starts, q):.0f}" for q in (50, 90, 100)] if starts else ["-"] * 3
        print(f"| {ticks} | {wins}/{episodes} | {' | '.join(cols)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
