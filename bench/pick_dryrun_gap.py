"""Does a bundle do as well in the deploy loop as in the env it was trained in? A check per bundle.

Rows: the env's own 15 Hz loop, the deploy loop on ``SimRobot`` as it ships, and the deploy loop
with its safety layer's speed and lead caps relaxed x20 (the command path's own speed cap,
``sim.kinematics.MAX_JOINT_SPEED``, stays: the env has it too). If that row is far above the
second, the safety caps bind on what the policy asks for. Until 2026-12-06 the env re-solved the IK on every 50 Hz tick of a 15 Hz period
and the deploy loop once per period; from the pick stage's start pose (IK far from converged) the
two arms then left the pose along different paths (14/20 against 1/20 for one bundle). Both now
call ``sim.kinematics.action_to_joint_targets`` once per action (tests/test_deploy_parity.py).

    MUJOCO_GL=egl python bench/pick_dryrun_gap.py BUNDLE [episodes]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")


def main(argv: list[str]) -> int:
    from liftrl.deploy import pipeline
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.dryrun import run_deploy, run_env
    from liftrl.deploy.safety import SafetyLimits

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
    rows.append(("deploy loop, safety layer's speed and lead caps x20", run_deploy(bundle, seeds, hz, ms, arm=arm, limits=relaxed)))
    print(f"{bundle.path.name}: stage {bundle.task.curriculum_stage}, {hz:g} Hz, {ms:g} ms, {len(seeds)} episodes")
    print("| path | success |\n| --- | --- |")
    for label, row in rows:
        print(f"| {label} | {row.successes}/{row.episodes} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
