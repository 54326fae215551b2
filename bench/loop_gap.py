"""Where do the env and the deploy loop part? One episode of a bundle, step by step.

The dry run scores a bundle in the env (its training loop) and in the deploy loop on the simulated
robot; for the pick students they differ by up to 21 of 50 episodes (docs/pick.md). This plays one
episode in the deploy loop (logged), then feeds the same actions to the env row's env on the same
seed and compares what the policy would have seen at each step: the joints, their velocities, the
last actions and the newest frame, next to the deploy loop's safety events on that step. Where they
stop being identical, and whether a cap fired there, says which of the two loops' differences acts.

    MUJOCO_GL=egl python bench/loop_gap.py BUNDLE --seed 123 --steps 25
    MUJOCO_GL=egl python bench/loop_gap.py BUNDLE --max-lead 3 --gripper-lead 3   # caps out of the way
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def deploy_episode(bundle, seed: int, limits, log_dir: Path) -> dict[str, np.ndarray]:
    """The deploy loop's logged episode (actions, observations, events) for ``seed``."""
    from liftrl.deploy.dryrun import run_deploy
    from liftrl.deploy.episode_log import load_log

    run_deploy(bundle, [seed], bundle.control.hz, bundle.control.latency_ms, log_dir=log_dir,
               arm=limits[0], limits=limits[1])
    logs = sorted(log_dir.glob("*.npz"))
    if not logs:
        raise SystemExit(f"the deploy loop wrote no episode log under {log_dir}")
    return load_log(logs[-1])[0]


def compare(bundle, logged: dict[str, np.ndarray], seed: int, steps: int) -> list[dict]:
    """Per step: the env's observation after the same actions against the deploy loop's."""
    from liftrl.deploy.dryrun import env_config
    from liftrl.run.envs import make_env

    env = make_env(env_config(bundle, trained_scene=True))
    rows = []
    try:
        obs, _ = env.reset(seed=seed)
        for k in range(min(steps, len(logged["action"]))):
            row = {"step": k, "events": str(logged["events"][k])}
            if "state" in obs:
                diff = np.abs(np.asarray(obs["state"], float) - logged["obs.state"][k])
                row["joints_rad"] = round(float(diff[:6].max()), 4)
                row["velocities_rad_s"] = round(float(diff[6:12].max()), 3)
            if "last_actions" in obs:
                row["last_actions"] = round(float(np.abs(obs["last_actions"] - logged["obs.last_actions"][k]).max()), 4)
            if "pixels" in obs:
                newest = slice(-3, None)  # the newest frame's channels
                row["newest_frame_mean_abs"] = round(float(np.abs(
                    np.asarray(obs["pixels"][newest], float) - logged["obs.pixels"][k][newest]).mean()), 2)
            rows.append(row)
            obs, _, term, trunc, _ = env.step(logged["action"][k])
            if term or trunc:
                break
    finally:
        env.close()
    return rows


def first_parting(rows: list[dict], tol: float = 1e-6) -> int | None:
    """The first step whose observation differs between the two loops (None: identical throughout)."""
    keys = ("joints_rad", "velocities_rad_s", "last_actions", "newest_frame_mean_abs")
    return next((r["step"] for r in rows if any(r.get(k, 0.0) > tol for k in keys)), None)


def main(argv: list[str] | None = None) -> None:
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.safety import SafetyLimits

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle")
    p.add_argument("--seed", type=int, default=123, help="the episode's seed (both loops)")
    p.add_argument("--steps", type=int, default=25, help="control steps to compare")
    p.add_argument("--max-lead", type=float, default=0.35, help="the deploy loop's body lead cap (rad)")
    p.add_argument("--gripper-lead", type=float, default=0.8, help="the deploy loop's gripper lead cap (rad)")
    p.add_argument("--max-joint-speed", type=float, default=5.0, help="the deploy loop's body speed cap (rad/s)")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args(argv)
    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    limits = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                  bundle.action.workspace_high, max_arm_speed=args.max_joint_speed,
                                  max_arm_lead=args.max_lead, max_gripper_lead=args.gripper_lead)
    with tempfile.TemporaryDirectory() as tmp:
        logged = deploy_episode(bundle, args.seed, (arm, limits), Path(tmp))
    rows = compare(bundle, logged, args.seed, args.steps)
    for r in rows:
        print(json.dumps(r))
    parted = first_parting(rows)
    print(f"the loops part at step {parted}" if parted is not None else f"identical for {len(rows)} steps")
    if args.out:
        args.out.write_text(json.dumps({"bundle": Path(args.bundle).name, "seed": args.seed, "first_parting": parted,
                                        "limits": {"max_lead": args.max_lead, "gripper_lead": args.gripper_lead,
                                                   "max_joint_speed": args.max_joint_speed}, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
