"""How precise must an arm's calibration be? Dry-run success through ``sim-lerobot`` under calibration errors.

Run: ``MUJOCO_GL=egl python bench/calibration_sensitivity.py BUNDLE [--episodes 20] [--sign-seeds 4]
[--joint-errors 0,1,3,5] [--gripper-errors 0,5,10] [--rate 15] [--latency-ms 100] [--label TEXT]``

For every cell (a zero error of J deg on each body joint, a gripper closed-stop error of G units,
random signs) the policy runs through the whole real path: the simulation behind LeRobot's
follower interface under that (wrong) LeRobot calibration, the arm adapter, the joint mapping,
the safety limits and the deploy loop, at the real arm's rate and latency. Two mappings per cell:

- without the per-arm file: the model's nominal mapping (``liftrl deploy --uncalibrated``), so the
  calibration error reaches the policy as it is;
- with it: ``liftrl bringup`` run against the same simulated arm, with a user who enters the true
  offsets (a perfect measurement), and the mapping ``liftrl deploy`` builds from its file.

Each cell's episodes are split over ``--sign-seeds`` sign patterns (the same patterns and episode
seeds in every cell), so a cell is not one lucky or unlucky set of signs. The row "no LeRobot
layer" is the plain ``--robot sim`` dry run at the same rate and latency: the reference.
Writes ``bench/results/calibration_sensitivity.{json,md}`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from common import machine_line  # noqa: E402  (bench/ is on sys.path when run as a script)

from liftrl.deploy.bringup import Bringup, Console  # noqa: E402
from liftrl.deploy.bundle import load_bundle  # noqa: E402
from liftrl.deploy.calibration import arm_mapping  # noqa: E402
from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds  # noqa: E402
from liftrl.deploy.dryrun import run_deploy  # noqa: E402
from liftrl.deploy.mapping import JointMapping  # noqa: E402
from liftrl.deploy.pipeline import ArmModel  # noqa: E402
from liftrl.deploy.safety import SafetyLimits  # noqa: E402
from liftrl.deploy.sim_lerobot import (SimCalibrationErrors, SimLeRobotFollower, lerobot_adapter,  # noqa: E402
                                       simulated_calibration)
from liftrl.deploy.sim_robot import SimRobot  # noqa: E402
from liftrl.sim.env import LiftCubeEnv  # noqa: E402


def bringup_mapping(arm: ArmModel, cal, errors: SimCalibrationErrors) -> JointMapping:
    """Run the bring-up on the simulated arm with a user who measures the true offsets; the mapping it yields."""
    env = LiftCubeEnv(curriculum_stage=0, randomize=False, observations=("state",))
    try:
        sim = SimRobot(env, render=False)
        sim.reset(0)
        follower = SimLeRobotFollower(sim, cal, arm.joint_range, camera_key=None)
        follower.connect()
        answers = iter(["", *["y"] * 5, *[f"{e:g}" for e in errors.zero_error_deg], "", "y", "", ""])
        console = Console(ask=lambda prompt: next(answers), say=lambda text: None)
        measured = Bringup(follower, sim, cal, arm, "bench", console, place_cube=follower.hold_cube_between_jaws).run()
    finally:
        env.close()
    return arm_mapping(arm.joint_range, cal, measured)


def run_cell(bundle, arm, limits, joint_deg: float, gripper_units: float, with_file: bool, episode_seeds: list[int],
             sign_seeds: int, rate: float, latency: float) -> dict:
    successes = stops = 0
    per = len(episode_seeds) // sign_seeds
    for s in range(sign_seeds):
        errors = SimCalibrationErrors.random(joint_deg, gripper_units, seed=s)
        cal = simulated_calibration(arm.joint_range, errors)
        mapping = bringup_mapping(arm, cal, errors) if with_file else JointMapping.from_joint_ranges(arm.joint_range)
        chunk = episode_seeds[s * per:(s + 1) * per] if s < sign_seeds - 1 else episode_seeds[s * per:]
        row = run_deploy(bundle, chunk, rate, latency, arm=arm, limits=limits, label="sim-lerobot",
                         adapter=lerobot_adapter(cal, mapping, arm.joint_range, limits))
        successes += row.successes
        stops += row.safety_stops
    return {"joint_error_deg": joint_deg, "gripper_error_units": gripper_units, "per_arm_file": with_file,
            "episodes": len(episode_seeds), "successes": successes, "safety_stops": stops}


def markdown(result: dict) -> str:
    def cell(c):
        return f"{c['successes']}/{c['episodes']} ({100 * c['successes'] / c['episodes']:.0f}%)" + (
            f", {c['safety_stops']} safety stop{'s' if c['safety_stops'] > 1 else ''}" if c["safety_stops"] else "")

    ref = result["reference"]
    lines = [f"Policy: {result['label']} (bundle `{result['bundle']}`), {result['rate_hz']:g} Hz, "
             f"{result['latency_ms']:g} ms latency, {ref['episodes']} episodes per cell over "
             f"{result['sign_seeds']} sign patterns, episode seeds from {result['first_seed']}.",
             f"Reference, plain `--robot sim` (no LeRobot layer): {cell(ref)}.", "",
             "| joint zero error (deg, each joint) | gripper stop error (units) | without per-arm file | "
             "with per-arm file (bring-up) |", "| --- | --- | --- | --- |"]
    cells = {(c["joint_error_deg"], c["gripper_error_units"], c["per_arm_file"]): c for c in result["cells"]}
    for j in result["joint_errors"]:
        for g in result["gripper_errors"]:
            lines.append(f"| {j:g} | {g:g} | {cell(cells[(j, g, False)])} | {cell(cells[(j, g, True)])} |")
    lines.append("")
    lines.append(f"Command: `{result['command']}`; {result['wall_s']:.0f} s on {result['machine']}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--sign-seeds", type=int, default=4)
    p.add_argument("--joint-errors", default="0,1,3,5")
    p.add_argument("--gripper-errors", default="0,5,10")
    p.add_argument("--rate", type=float, default=15.0)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--label", default="", help="what the policy is, for the table's first line")
    p.add_argument("--out", default="bench/results/calibration_sensitivity")
    args = p.parse_args(argv)
    if args.episodes < args.sign_seeds or args.sign_seeds < 1:
        raise SystemExit(f"--episodes ({args.episodes}) must be >= --sign-seeds ({args.sign_seeds}) >= 1")
    t0 = time.time()
    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    limits = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                  bundle.action.workspace_high)
    ep = dry_run_seeds(args.episodes, DRY_RUN_SEED_BASE)
    joints = [float(x) for x in args.joint_errors.split(",")]
    grips = [float(x) for x in args.gripper_errors.split(",")]
    ref = run_deploy(bundle, ep, args.rate, args.latency_ms, arm=arm, limits=limits)
    cells = []
    for j in joints:
        for g in grips:
            for with_file in (False, True):
                cells.append(run_cell(bundle, arm, limits, j, g, with_file, ep, args.sign_seeds, args.rate,
                                      args.latency_ms))
                print(json.dumps(cells[-1]), flush=True)
    result = {"label": args.label or bundle.agent, "bundle": Path(args.bundle).name, "rate_hz": args.rate,
              "latency_ms": args.latency_ms, "sign_seeds": args.sign_seeds, "first_seed": DRY_RUN_SEED_BASE,
              "joint_errors": joints, "gripper_errors": grips,
              "reference": {"episodes": ref.episodes, "successes": ref.successes, "safety_stops": ref.safety_stops},
              "cells": cells, "wall_s": time.time() - t0, "machine": machine_line().removeprefix("machine: "),
              "command": shlex.join(["python", "bench/calibration_sensitivity.py", "BUNDLE", *(
                  a for a in (argv if argv is not None else sys.argv[1:]) if a != args.bundle)])}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
