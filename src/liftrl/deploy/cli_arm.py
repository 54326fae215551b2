"""The arm's side of the CLI: ``liftrl bringup`` and ``liftrl deploy --robot so101 | sim-lerobot``.

Both robots take the same calibration arguments (``--robot-id``, ``--calibration``, ``--arm-file``,
``--uncalibrated``) and the same safety limits, so a dry run on ``sim-lerobot`` exercises exactly
the options the real arm will be run with. For ``sim-lerobot`` the LeRobot calibration is the
simulated arm's own: read from ``--calibration`` if that file exists, else made from the
``--sim-*`` errors (and written to ``--calibration`` if a path was given, so it can be edited).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

SIM_ARM_DIR = Path("runs") / "sim-lerobot"  # where the simulated arm's per-arm file goes by default


def add_arm_arguments(p: argparse.ArgumentParser) -> None:
    """Calibration and simulated-arm options shared by ``deploy`` and ``bringup``."""
    p.add_argument("--robot-id", default=None, help="LeRobot id naming the calibration file (so101 default "
                                                    "so101_follower, sim-lerobot default sim_arm)")
    p.add_argument("--calibration", default=None, help="LeRobot calibration file (default: LeRobot's file for "
                                                       "--robot-id)")
    p.add_argument("--calibration-dir", default=None, help="so101: LeRobot calibration folder (default: LeRobot's)")
    p.add_argument("--arm-file", default=None,
                   help="per-arm file written by `liftrl bringup` (default: ~/.cache/liftrl/arms/ID.json; "
                        "sim-lerobot: runs/sim-lerobot/ID.json)")
    p.add_argument("--sim-calibration-error", type=float, default=0.0,
                   help="sim-lerobot: every body joint's LeRobot zero off by this many deg (random signs)")
    p.add_argument("--sim-gripper-error", type=float, default=0.0,
                   help="sim-lerobot: the gripper's recorded closed stop off by this many 0-100 units")
    p.add_argument("--sim-error-seed", type=int, default=0, help="sim-lerobot: seed of the error signs")


def robot_id(args: argparse.Namespace) -> str:
    return args.robot_id or ("sim_arm" if args.robot == "sim-lerobot" else "so101_follower")


def arm_file(args: argparse.Namespace) -> Path:
    from liftrl.deploy.calibration import default_arm_file

    if args.arm_file:
        return Path(args.arm_file).expanduser()
    return SIM_ARM_DIR / f"{robot_id(args)}.json" if args.robot == "sim-lerobot" else default_arm_file(robot_id(args))


def lerobot_dir(args: argparse.Namespace) -> str | None:
    """The folder LeRobot reads the arm's calibration from: the one our mapping read, so the two agree."""
    if not args.calibration:
        return args.calibration_dir
    path = Path(args.calibration).expanduser()
    if path.stem != robot_id(args):
        raise ValueError(f"--calibration {path} is not {robot_id(args)}.json: LeRobot reads <folder>/<robot-id>.json "
                         f"itself, so pass the file of the arm's --robot-id")
    return str(path.parent)


def sim_calibration(args: argparse.Namespace, jnt_range):
    """The simulated arm's LeRobot calibration (see the module docstring)."""
    from liftrl.deploy.calibration import write_json_atomic
    from liftrl.deploy.lerobot_units import calibration_dict, load_calibration
    from liftrl.deploy.sim_lerobot import SimCalibrationErrors, simulated_calibration

    if args.calibration and Path(args.calibration).is_file():
        if args.sim_calibration_error or args.sim_gripper_error:
            print(f"note: the simulated arm keeps its calibration {args.calibration}; --sim-* errors apply only "
                  f"when that file does not exist yet")
        return load_calibration(args.calibration)
    errors = SimCalibrationErrors.random(args.sim_calibration_error, args.sim_gripper_error, args.sim_error_seed)
    cal = simulated_calibration(jnt_range, errors)
    if args.calibration:
        write_json_atomic(Path(args.calibration), calibration_dict(cal))
        print(f"simulated arm's LeRobot calibration written to {args.calibration} (zero errors "
              f"{list(errors.zero_error_deg)} deg, gripper stop {errors.gripper_stop_error:+g})")
    return cal


def mapping(args: argparse.Namespace, arm):
    """(LeRobot calibration or None, the joint mapping, where it came from) for the robot in ``args``."""
    from liftrl.deploy.calibration import load_lerobot_calibration, mapping_for_arm

    if args.robot == "sim-lerobot":
        cal = sim_calibration(args, arm.joint_range)
    elif args.uncalibrated:
        cal = None
    else:
        cal, _ = load_lerobot_calibration(robot_id(args), args.calibration, args.calibration_dir)
    joint_mapping, source = mapping_for_arm(arm.joint_range, cal, robot_id(args), arm_file(args), args.uncalibrated)
    return cal, joint_mapping, source


def limits_from_args(args: argparse.Namespace, arm, bundle):
    from liftrl.deploy.safety import SafetyLimits

    return SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                bundle.action.workspace_high, max_arm_speed=args.max_joint_speed,
                                max_arm_lead=args.max_lead)


# ---------------------------------------------------------------------------------------------- deploy
def deploy_sim_lerobot(args: argparse.Namespace, rate: float, latency: float) -> int:
    from liftrl.deploy.bundle import load_bundle
    from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
    from liftrl.deploy.dryrun import format_rows, run_deploy
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.sim_lerobot import lerobot_adapter

    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    cal, joint_mapping, source = mapping(args, arm)
    limits = limits_from_args(args, arm, bundle)
    print(f"sim-lerobot dry run of {bundle.path}: {args.episodes} episodes per row; mapping {source}")
    s = dry_run_seeds(args.episodes, DRY_RUN_SEED_BASE if args.seed is None else args.seed)
    rows = [run_deploy(bundle, s, rate, latency, arm=arm, limits=limits),
            run_deploy(bundle, s, rate, latency, log_dir=args.log_dir, arm=arm, limits=limits,
                       adapter=lerobot_adapter(cal, joint_mapping, arm.joint_range, limits),
                       label="deploy loop on sim-lerobot")]
    print(format_rows(rows))
    return 0


def _start_pose(robot, start, limits, rate: float, speed: float) -> bool:
    """The slow move to the start pose; on a safety stop or Ctrl-C the arm holds and the episodes end."""
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.safety import SafetyStop
    from liftrl.deploy.start_pose import move_to_pose

    try:
        move_to_pose(robot, WallClock(), start, limits, rate_hz=rate, speed=speed)
        return True
    except (SafetyStop, KeyboardInterrupt) as exc:
        robot.stop()
        print(f"  start pose not reached, arm holding: {exc or 'Ctrl-C'}")
        return False


def deploy_so101(args: argparse.Namespace, rate: float) -> int:
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.episode_log import EpisodeLog
    from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
    from liftrl.deploy.robot import WallClock
    from liftrl.common.units import CONTROL_PERIOD_S
    from liftrl.deploy.runner import LoopConfig, run_arm_episode
    from liftrl.deploy.safety import Watchdog
    from liftrl.deploy.so101 import So101Robot, make_lerobot_follower
    from liftrl.deploy.start_pose import episode_start_pose

    if args.latency_ms is not None or args.camera_noise or args.camera_gain:
        raise ValueError("--latency-ms and --camera-noise emulate the real arm in simulation; with --robot so101 "
                         "latency and noise are real")
    if not args.port:
        raise ValueError("--robot so101 needs --port (the arm's serial port, e.g. /dev/ttyACM0)")
    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    _, joint_mapping, source = mapping(args, arm)
    print(f"mapping: {source}")
    limits = limits_from_args(args, arm, bundle)
    camera_key = args.camera_key if "pixels" in bundle.observation.keys else None
    try:
        follower = make_lerobot_follower(args.port, robot_id(args), camera_key=camera_key,
                                         camera=int(args.camera) if str(args.camera).isdigit() else args.camera,
                                         calibration_dir=lerobot_dir(args),
                                         max_relative_target=joint_mapping.lerobot_caps(limits.max_lead))
    except ImportError as exc:
        print(f"liftrl deploy: error: {exc}", file=sys.stderr)
        return 2
    robot = So101Robot(follower, joint_mapping, camera_key=camera_key)
    mapper = CommandMapper(bundle.action, bundle.task, arm)
    start = episode_start_pose(arm, mapper.cfg)
    max_steps = args.max_steps or int(math.ceil(bundle.task.max_episode_steps * CONTROL_PERIOD_S * rate))
    out = Path(args.log_dir or "runs/deploy")
    try:
        robot.connect()  # inside the try: a half-connected arm is still disconnected
        for episode in range(args.episodes):
            input(f"episode {episode + 1}/{args.episodes}: place the cube, then press Enter (Ctrl-C stops the arm) ")
            if not _start_pose(robot, start, limits, rate, args.start_speed):
                break
            episode_log = EpisodeLog(log_frames=not args.no_log_frames)
            result = run_arm_episode(robot, WallClock(), bundle.policy,
                                     ObservationBuilder(bundle.observation, arm.kinematics),
                                     CommandMapper(bundle.action, bundle.task, arm), limits, Watchdog(),
                                     LoopConfig(rate_hz=rate, max_steps=max_steps), episode_log)
            episode_log.meta.update({"robot": "so101", "bundle": str(bundle.path), "episode": episode,
                                     "mapping": source})
            path = episode_log.save(out / f"so101_episode{episode:03d}.npz")
            print(f"  {result.steps} steps, stop: {result.stop_reason} ({result.message}); log {path}")
            if result.stop_reason == "interrupted" or result.safety_stop:
                break
    finally:
        robot.disconnect()
    return 0


# ---------------------------------------------------------------------------------------------- bringup
def _sim_follower(args: argparse.Namespace, arm):
    from liftrl.deploy.sim_lerobot import SimLeRobotFollower
    from liftrl.deploy.sim_robot import SimRobot
    from liftrl.sim.env import LiftCubeEnv

    env = LiftCubeEnv(curriculum_stage=0, randomize=False, observations=("state",))
    sim = SimRobot(env, render=False)
    sim.reset(args.sim_error_seed)
    cal = sim_calibration(args, arm.joint_range)
    follower = SimLeRobotFollower(sim, cal, arm.joint_range, camera_key=None)
    return follower, sim, cal, follower.hold_cube_between_jaws


def _real_follower(args: argparse.Namespace):
    from liftrl.deploy.calibration import load_lerobot_calibration
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.so101 import make_lerobot_follower

    if not args.port:
        raise ValueError("bringup --robot so101 needs --port (the arm's serial port, e.g. /dev/ttyACM0)")
    cal, path = load_lerobot_calibration(robot_id(args), args.calibration, args.calibration_dir)
    print(f"LeRobot calibration: {path}")
    follower = make_lerobot_follower(args.port, robot_id(args), camera_key=None, calibration_dir=lerobot_dir(args))
    return follower, WallClock(), cal, None


def _bringup(args: argparse.Namespace) -> int:
    from liftrl.deploy.bringup import Bringup, BringupAborted, BringupConfig
    from liftrl.deploy.calibration import save_arm_file
    from liftrl.deploy.pipeline import ArmModel

    arm = ArmModel.build()
    try:
        follower, clock, cal, place_cube = (_sim_follower(args, arm) if args.robot == "sim-lerobot"
                                            else _real_follower(args))
    except ImportError as exc:
        print(f"liftrl bringup: error: {exc}", file=sys.stderr)
        return 2
    cfg = BringupConfig(speed_deg_s=args.speed, rate_hz=args.rate)
    follower.connect()
    try:
        result = Bringup(follower, clock, cal, arm, robot_id(args), cfg=cfg, place_cube=place_cube).run()
    except BringupAborted as exc:
        print(f"bring-up aborted ({exc}); the arm holds its pose, nothing was written")
        return 1
    finally:
        if args.robot == "so101":  # LeRobot's disconnect turns the torque off: the arm would fall
            input("Support the arm, then press Enter to release its torque ")
        follower.disconnect()
    print(f"per-arm file: {save_arm_file(result, arm_file(args))}")
    return 0


def add_bringup_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bringup", help="guided, slow first contact with an arm: writes its per-arm file")
    p.add_argument("--robot", choices=("so101", "sim-lerobot"), default="so101")
    p.add_argument("--port", help="so101: serial port of the follower arm")
    p.add_argument("--speed", type=float, default=15.0, help="joint speed of every bring-up move (deg/s)")
    p.add_argument("--rate", type=float, default=15.0, help="command rate of the moves (Hz)")
    add_arm_arguments(p)
    p.set_defaults(func=_bringup, uncalibrated=False)
    return p
