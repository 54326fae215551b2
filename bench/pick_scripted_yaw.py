"""Where and why the scripted grasp fails from the start pose: success by distance and cube yaw, with
the wrist roll held (4-D actions) and with the ``wrist_roll_action`` option (5-D).

Pick stage, 15 Hz, 66-133 ms, hold 150 ticks, 400-tick episodes, randomised, the same seeds for
both rows. The cube's yaw is taken relative to the jaws at roll pi/2 (the shoulder pan's
direction), folded into 0-45 degrees: a cube repeats every 90.

    MUJOCO_GL=egl python bench/pick_scripted_yaw.py [episodes] > bench/results/pick_scripted_yaw.txt
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

DISTANCE_BANDS = ((0.24, 0.32), (0.32, 0.40), (0.40, 0.49))  # x of the cube (m), the pick area's 24 cm
YAW_BANDS = ((0, 15), (15, 30), (30, 45.01))  # degrees between the cube's faces and the jaws


def relative_yaw(info: dict) -> float:
    """Degrees (0-45) between the cube's nearest face normal and the jaws' closing direction at roll pi/2."""
    from liftrl.sim.privileged import yaw

    heading = np.degrees(yaw(info["cube_quat"]))
    pan = np.degrees(np.arctan2(info["cube_pos"][1], info["cube_pos"][0]))
    return abs((heading - pan + 45.0) % 90.0 - 45.0)


def run(roll: bool, seeds: range) -> np.ndarray:
    """Rows of (x, relative yaw, success) for each seed."""
    from liftrl.scripted import ScriptedGrasp
    from liftrl.sim.factory import build_env

    env = build_env(control_hz=15, latency_ms=(66, 133), curriculum_stage=5, hold_steps=150, max_episode_steps=400,
                    observations=("state",), reward="v20", wrist_roll_action=roll, render_mode=None)
    rows = []
    try:
        for seed in seeds:
            _, info = env.reset(seed=seed)
            x, rel = float(info["cube_pos"][0]), relative_yaw(info)
            policy, done = ScriptedGrasp.for_env(env), False
            while not done:
                _, _, term, trunc, info = env.step(policy.act(info))
                done = term or trunc
            rows.append((x, rel, float(info["is_success"])))
    finally:
        env.close()
    return np.array(rows)


def table(rows: np.ndarray) -> list[str]:
    head = "| cube x (m) | " + " | ".join(f"yaw {lo:g}-{min(hi, 45):g} deg" for lo, hi in YAW_BANDS) + " | all |"
    lines = [head, "|" + " --- |" * (len(YAW_BANDS) + 2)]
    for xl, xh in DISTANCE_BANDS:
        cells = []
        band = (rows[:, 0] >= xl) & (rows[:, 0] < xh)
        for lo, hi in YAW_BANDS:
            m = band & (rows[:, 1] >= lo) & (rows[:, 1] < hi)
            cells.append(f"{int(rows[m, 2].sum())}/{int(m.sum())}")
        cells.append(f"{int(rows[band, 2].sum())}/{int(band.sum())}")
        lines.append(f"| {xl:.2f}-{xh:.2f} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str]) -> int:
    episodes = int(argv[0]) if argv else 150
    seeds = range(1000, 1000 + episodes)
    print(f"scripted grasp from the start pose, 15 Hz, 66-133 ms, hold 150 ticks, seeds {seeds.start}-{seeds.stop - 1}")
    for roll in (False, True):
        rows = run(roll, seeds)
        label = "wrist_roll_action (5-D: the jaws turn face-on within 0.40 m)" if roll else "roll held (4-D actions)"
        print(f"\n{label}: {int(rows[:, 2].sum())}/{len(rows)}")
        print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
