"""Why a pick-stage bundle does worse in the deploy loop than in the env: a diagnostic, not a fix.

The env at 15 Hz sends each action on one 50 Hz tick and holds still for the other 2-3 ticks of the
period, but it runs the IK (3 iterations, warm-started) on every tick. The deploy loop's
CommandMapper runs the IK once per control step. From stage 3 the IK is already converged and the
two agree. From the pick stage's start pose (wrist at its limit, upper arm pulled back) it is not:
the env's arm leaves the start pose along a different path. This script dry-runs a bundle in the
deploy loop as it is, with the mapper running the IK as often as the env does, and with the safety
caps relaxed.

    MUJOCO_GL=egl python bench/pick_dryrun_gap.py BUNDLE [episodes]
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def main(argv: list[str]) -> int:
    from liftrl.deploy import pipeline
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.dryrun import run_deploy, run_env
    from liftrl.deploy.safety import SafetyLimits
    from liftrl.sim.kinematics import action_to_joint_targets

    if not argv:
        print("usage: pick_dryrun_gap.py BUNDLE [episodes]", file=sys.stderr)
        return 2
    bundle = load_bundle(argv[0])
    seeds = list(range(1_500_000_000, 1_500_000_000 + (int(argv[1]) if len(argv) > 1 else 20)))
    hz, ms = bundle.control.hz, bundle.control.latency_ms
    arm = pipeline.ArmModel.build()
    rows = [("env (training loop)", run_env(bundle, seeds)),
            ("deploy loop as it is", run_deploy(bundle, seeds, hz, ms, arm=arm))]
    relaxed = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                   bundle.action.workspace_high, max_arm_speed=100.0, max_gripper_speed=100.0,
                                   max_arm_lead=7.0, max_gripper_lead=7.0)
    rows.append(("deploy loop, speed and lead caps x20", run_deploy(bundle, seeds, hz, ms, arm=arm, limits=relaxed)))
    original = pipeline.CommandMapper.step

    def step_as_env(self, action):  # the env's held ticks run the IK too: 2 more solves per 15 Hz period
        original(self, action)
        hold = np.array([0.0, 0.0, 0.0, float(np.clip(action[3], -1.0, 1.0))])
        for _ in range(2):
            self.target, self.q_cmd = action_to_joint_targets(hold, self.target, self.q_cmd[:4], self.arm.ik,
                                                              self.cfg, self.grip_low, self.grip_high)
        return self.q_cmd.copy()

    pipeline.CommandMapper.step = step_as_env
    try:
        rows.append(("deploy loop, IK run 3x per control step", run_deploy(bundle, seeds, hz, ms, arm=arm)))
    finally:
        pipeline.CommandMapper.step = original
    print(f"{bundle.path.name}: stage {bundle.task.curriculum_stage}, {hz:g} Hz, {ms:g} ms, {len(seeds)} episodes")
    print("| path | success |\n| --- | --- |")
    for label, row in rows:
        print(f"| {label} | {row.successes}/{row.episodes} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
