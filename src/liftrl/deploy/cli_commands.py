"""``liftrl export`` and ``liftrl deploy``: a run folder -> a policy bundle -> a (simulated or real) arm.

Each ``add_*_parser`` adds its subcommand to the ``liftrl`` parser; heavy imports happen inside
the commands so ``liftrl --help`` stays instant and LeRobot is only needed for ``--robot so101``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REAL_RATE_HZ = 15.0  # the user's real loop: 10-20 Hz ...
REAL_LATENCY_MS = 100.0  # ... with about 100 ms from frame to motion (TASK.md)


def _export(args: argparse.Namespace) -> int:
    from liftrl.deploy.bundle import export_run, load_bundle

    out = export_run(args.run, checkpoint=args.checkpoint, out_dir=args.out)
    bundle = load_bundle(out)  # proves the bundle loads and reproduces its golden actions
    print(f"bundle: {out}")
    print(f"  agent {bundle.agent}, actor reads {list(bundle.policy.keys)}, trained at {bundle.control.hz:g} Hz "
          f"with {bundle.control.latency_ms:g} ms latency, reward {bundle.reward}")
    if bundle.sim_only_inputs:
        print(f"  note: the actor reads {list(bundle.sim_only_inputs)}: usable with --robot sim only")
    return 0


def add_export_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="write a run's actor as a self-checking policy bundle for the arm")
    p.add_argument("run", help="run folder (with snapshots/)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or an env-step number")
    p.add_argument("--out", default=None, help="bundle folder (default: RUN/bundle_<checkpoint>)")
    p.set_defaults(func=_export)
    return p


def _deploy_sim(args: argparse.Namespace) -> int:
    from liftrl.deploy.bundle import load_bundle
    from liftrl.common.seeds import DRY_RUN_SEED_BASE
    from liftrl.deploy.dryrun import dry_run, format_rows
    from liftrl.deploy.sim_robot import CameraNoise

    bundle = load_bundle(args.bundle)
    rate = REAL_RATE_HZ if args.rate is None else args.rate
    latency = REAL_LATENCY_MS if args.latency_ms is None else args.latency_ms
    noise = CameraNoise(std=args.camera_noise, gain=args.camera_gain)
    print(f"dry run of {bundle.path}: {args.episodes} episodes per row, stage {bundle.task.curriculum_stage}, "
          f"hold {bundle.task.hold_steps}")
    rows = dry_run(bundle, rate, latency, args.episodes, noise, log_dir=args.log_dir,
                   seed=DRY_RUN_SEED_BASE if args.seed is None else args.seed)
    print(format_rows(rows))
    return 0


def _deploy_so101(args: argparse.Namespace) -> int:
    from liftrl.common.units import CONTROL_PERIOD_S
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.episode_log import EpisodeLog
    from liftrl.deploy.mapping import JointMapping
    from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.runner import LoopConfig, run_arm_episode
    from liftrl.deploy.safety import SafetyLimits, Watchdog
    from liftrl.deploy.so101 import So101Robot, make_lerobot_follower

    if args.latency_ms is not None or args.camera_noise or args.camera_gain:
        raise ValueError("--latency-ms and --camera-noise emulate the real arm in simulation; with --robot so101 "
                         "latency and noise are real")
    if not args.port:
        raise ValueError("--robot so101 needs --port (the arm's serial port, e.g. /dev/ttyACM0)")
    bundle = load_bundle(args.bundle, real_arm=True)
    rate = REAL_RATE_HZ if args.rate is None else args.rate
    arm = ArmModel.build()
    mapping = JointMapping.from_model(arm.model, arm.ids)
    limits = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                  bundle.action.workspace_high, max_arm_step=args.max_arm_step)
    max_steps = args.max_steps or int(math.ceil(bundle.task.max_episode_steps * CONTROL_PERIOD_S * rate))
    try:
        follower = make_lerobot_follower(args.port, args.robot_id, camera_key=args.camera_key,
                                         camera=int(args.camera) if str(args.camera).isdigit() else args.camera,
                                         calibration_dir=args.calibration_dir)
    except ImportError as exc:
        print(f"liftrl deploy: error: {exc}", file=sys.stderr)
        return 2
    robot = So101Robot(follower, mapping, camera_key=args.camera_key)
    out = Path(args.log_dir or "runs/deploy")
    try:
        robot.connect()  # inside the try: a half-connected arm is still disconnected
        for episode in range(args.episodes):
            input(f"episode {episode + 1}/{args.episodes}: place the cube, then press Enter (Ctrl-C stops the arm) ")
            episode_log = EpisodeLog(log_frames=not args.no_log_frames)
            result = run_arm_episode(robot, WallClock(), bundle.policy,
                                 ObservationBuilder(bundle.observation, arm.kinematics),
                                 CommandMapper(bundle.action, bundle.task, arm), limits, Watchdog(),
                                 LoopConfig(rate_hz=rate, max_steps=max_steps), episode_log)
            episode_log.meta.update({"robot": "so101", "bundle": str(bundle.path), "episode": episode})
            path = episode_log.save(out / f"so101_episode{episode:03d}.npz")
            print(f"  {result.steps} steps, stop: {result.stop_reason} ({result.message}); log {path}")
            if result.stop_reason == "interrupted" or result.safety_stop:
                break
    finally:
        robot.disconnect()
    return 0


def _deploy(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.rate is not None and not args.rate > 0:
        raise ValueError(f"--rate must be a positive number of Hz, got {args.rate}")
    if args.latency_ms is not None and args.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {args.latency_ms}")
    return _deploy_sim(args) if args.robot == "sim" else _deploy_so101(args)


def add_deploy_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("deploy", help="run a policy bundle on the simulated robot (dry run) or the real SO-101")
    p.add_argument("bundle", help="bundle folder written by `liftrl export`")
    p.add_argument("--robot", choices=("sim", "so101"), default="sim")
    p.add_argument("--rate", type=float, default=None, help=f"control rate in Hz (default {REAL_RATE_HZ:g})")
    p.add_argument("--latency-ms", type=float, default=None,
                   help=f"sim only: command latency to emulate (default {REAL_LATENCY_MS:g})")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--camera-noise", type=float, default=0.0, help="sim only: per-pixel noise std (0-255 units)")
    p.add_argument("--camera-gain", type=float, default=0.0, help="sim only: per-episode brightness jitter, +-fraction")
    p.add_argument("--seed", type=int, default=None,
                   help="sim only: first episode seed (default: dry-run seeds, apart from training and evaluation)")
    p.add_argument("--log-dir", default=None, help="episode logs (.npz); so101 default runs/deploy")
    p.add_argument("--port", help="so101: serial port of the follower arm")
    p.add_argument("--robot-id", default="so101_follower", help="so101: LeRobot id naming the calibration file")
    p.add_argument("--calibration-dir", default=None, help="so101: LeRobot calibration folder (default: LeRobot's)")
    p.add_argument("--camera", default="0", help="so101: OpenCV camera index or device path")
    p.add_argument("--camera-key", default="wrist", help="so101: name of the wrist camera in LeRobot's observation")
    p.add_argument("--max-steps", type=int, default=None, help="so101: steps per episode (default: the task's 4 s)")
    p.add_argument("--max-arm-step", type=float, default=0.25, help="so101: max joint change per step (rad)")
    p.add_argument("--no-log-frames", action="store_true", help="so101: leave raw camera frames out of the logs")
    p.set_defaults(func=_deploy)
    return p
