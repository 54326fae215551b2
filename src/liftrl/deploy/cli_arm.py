"""The arm's side of the CLI: ``liftrl bringup`` and ``liftrl deploy --robot so101 | sim-lerobot``.

Both robots take the same calibration arguments (``--robot-id``, ``--calibration``, ``--arm-file``,
``--uncalibrated``) and the same safety limits, so a dry run on ``sim-lerobot`` exercises exactly
the options the real arm will be run with. For ``sim-lerobot`` the LeRobot calibration is the
simulated arm's own: read from ``--calibration`` if that file exists, else made from the
``--sim-*`` errors (and written to ``--calibration`` if a path was given, so it can be edited).

On the real arm (``so101``) the LeRobot calibration file is found where the installed LeRobot reads
it and the follower is built on that same folder; ``so101_session`` connects without calibrating and
turns every failure into a message and exit code 2 with the arm holding; a run that ends normally
moves slowly to its rest pose, and the torque is released only if the user types ``release``
(``--unattended``: never asked, kept on). docs/real-arm.md lists each failure and the arm's state.
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
    p.add_argument("--unattended", action="store_true",
                   help="so101: never wait at the terminal: episodes start one after another and at the end the "
                        "arm keeps its torque on (without it, torque is released only if you type 'release')")


def add_camera_arguments(p: argparse.ArgumentParser) -> None:
    """The wrist camera's mode for ``deploy --robot so101`` (LeRobot refuses a mode the camera lacks)."""
    p.add_argument("--camera-width", type=int, default=640, help="so101: capture width (px)")
    p.add_argument("--camera-height", type=int, default=480, help="so101: capture height (px)")
    p.add_argument("--camera-fps", type=int, default=30, help="so101: capture frame rate")
    p.add_argument("--camera-fourcc", default=None, help="so101: pixel format, e.g. MJPG or YUYV (default: the "
                                                         "camera's own)")


def camera_options(args: argparse.Namespace):
    from liftrl.deploy.so101 import CameraOptions

    device = int(args.camera) if str(args.camera).isdigit() else args.camera
    return CameraOptions(device, args.camera_width, args.camera_height, args.camera_fps, args.camera_fourcc)


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
    from liftrl.deploy.calibration import mapping_for_arm

    if args.robot == "sim-lerobot":
        cal = sim_calibration(args, arm.joint_range)
    elif args.uncalibrated:
        cal = None
    else:
        cal, _ = so101_calibration(args)
    joint_mapping, source = mapping_for_arm(arm.joint_range, cal, robot_id(args), arm_file(args), args.uncalibrated)
    return cal, joint_mapping, source


def limits_from_args(args: argparse.Namespace, arm, bundle):
    from liftrl.deploy.safety import SafetyLimits

    given = {"max_arm_speed": args.max_joint_speed, "max_arm_lead": args.max_lead}
    limits = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                  bundle.action.workspace_high, **{k: v for k, v in given.items() if v is not None})
    note = bundle.task.lead_note(limits.max_lead)  # the operator hears when the caps differ from training's
    if note:
        print(note)
    return limits


# ---------------------------------------------------------------------------------------------- deploy
def deploy_sim_lerobot(args: argparse.Namespace, rate: float, latency: float) -> int:
    from liftrl.deploy.bundle import load_bundle
    from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
    from liftrl.deploy.dryrun import env_config, format_rows, run_deploy, scene_line
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.sim_lerobot import lerobot_adapter

    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    cal, joint_mapping, source = mapping(args, arm)
    limits = limits_from_args(args, arm, bundle)
    print(f"sim-lerobot dry run of {bundle.path}: {args.episodes} episodes per row; mapping {source}")
    print(scene_line(bundle.task.scene, {}, args.default_scene))
    env = env_config(bundle, trained_scene=not args.default_scene)
    s = dry_run_seeds(args.episodes, DRY_RUN_SEED_BASE if args.seed is None else args.seed)
    rows = [run_deploy(bundle, s, rate, latency, arm=arm, limits=limits, env_options=env),
            run_deploy(bundle, s, rate, latency, log_dir=args.log_dir, arm=arm, limits=limits,
                       adapter=lerobot_adapter(cal, joint_mapping, arm.joint_range, limits),
                       label="deploy loop on sim-lerobot", env_options=env)]
    print(format_rows(rows))
    return 0


def _slow_move(robot, pose, limits, rate: float, speed: float, what: str) -> str | None:
    """The slow joint-space move (start or rest pose); on a safety stop or Ctrl-C the arm holds. None = arrived."""
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.safety import SafetyStop
    from liftrl.deploy.start_pose import move_to_pose

    try:
        move_to_pose(robot, WallClock(), pose, limits, rate_hz=rate, speed=speed)
        return None
    except (SafetyStop, KeyboardInterrupt, OSError, RuntimeError) as exc:
        try:
            robot.stop()
        except Exception:
            pass
        return f"{what} not reached, the arm holds where it is: {exc or 'Ctrl-C'}"


def so101_calibration(args: argparse.Namespace):
    """(LeRobot calibration, its file): the file the follower is then built on, so both read the same numbers."""
    from liftrl.deploy.calibration import load_lerobot_calibration

    lerobot_dir(args)  # refuses a --calibration file LeRobot would not read for this --robot-id
    return load_lerobot_calibration(robot_id(args), args.calibration, args.calibration_dir, args.port)


def _episodes(args, robot, bundle, arm, limits, rate: float, source: str) -> list[str]:
    """Run the episodes, then the slow move to the rest pose (the start pose); returns the failures, in words.

    Any failure leaves the arm holding where it stopped (no further motion); only a run that ended
    normally moves on to the rest pose."""
    from liftrl.common.units import CONTROL_PERIOD_S
    from liftrl.deploy.episode_log import EpisodeLog
    from liftrl.deploy.pipeline import CommandMapper, ObservationBuilder
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.runner import LoopConfig, run_arm_episode
    from liftrl.deploy.safety import Watchdog
    from liftrl.deploy.start_pose import episode_start_pose

    start = episode_start_pose(arm, CommandMapper(bundle.action, bundle.task, arm).cfg)
    max_steps = args.max_steps or int(math.ceil(bundle.task.max_episode_steps * CONTROL_PERIOD_S * rate))
    out = Path(args.log_dir or "runs/deploy")
    try:
        for episode in range(args.episodes):
            if not args.unattended:
                input(f"episode {episode + 1}/{args.episodes}: place the cube, then press Enter (Ctrl-C stops the "
                      f"arm) ")
            failed = _slow_move(robot, start, limits, rate, args.start_speed, "start pose")
            if failed:
                return [failed]
            episode_log = EpisodeLog(log_frames=not args.no_log_frames)
            result = run_arm_episode(robot, WallClock(), bundle.policy,
                                     ObservationBuilder(bundle.observation, arm.kinematics, bundle.action.dim),
                                     CommandMapper(bundle.action, bundle.task, arm), limits, Watchdog(),
                                     LoopConfig(rate_hz=rate, max_steps=max_steps), episode_log)
            episode_log.meta.update({"robot": "so101", "bundle": str(bundle.path), "episode": episode,
                                     "mapping": source})
            path = episode_log.save(out / f"so101_episode{episode:03d}.npz")
            print(f"  {result.steps} steps, stop: {result.stop_reason} ({result.message}); log {path}")
            if result.stop_reason == "interrupted":
                return [f"interrupted (Ctrl-C) in episode {episode + 1} after {result.steps} steps"]
            if result.safety_stop:
                return [f"episode {episode + 1} stopped after {result.steps} steps: {result.message}"]
    except (KeyboardInterrupt, EOFError) as exc:
        robot.stop()
        return [f"interrupted ({'Ctrl-C' if isinstance(exc, KeyboardInterrupt) else 'end of input'}) between "
                f"episodes"]
    failed = _slow_move(robot, start, limits, rate, args.start_speed, "rest pose")
    return [failed] if failed else []


def deploy_so101(args: argparse.Namespace, rate: float) -> int:
    """The real arm: refuse what is missing, connect without calibrating, run, rest, keep torque unless told."""
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.calibration import load_arm_file, mapping_for_arm
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.so101 import So101Robot, import_so101_follower, make_lerobot_follower
    from liftrl.deploy.so101_session import ArmFault, connect_follower, silent_motors

    if args.latency_ms is not None or args.camera_noise or args.camera_gain:
        raise ValueError("--latency-ms and --camera-noise emulate the real arm in simulation; with --robot so101 "
                         "latency and noise are real")
    if not args.port:
        raise ValueError("--robot so101 needs --port (the arm's serial port, e.g. /dev/ttyACM0)")
    bundle = load_bundle(args.bundle, real_arm=True)
    for need in bundle.task.real_scene_needs():
        print(f"this policy needs {need}")
    try:
        import_so101_follower()
    except ImportError as exc:
        print(f"liftrl deploy: error: {exc}", file=sys.stderr)
        return 2
    arm = ArmModel.build()
    cal, cal_path = so101_calibration(args)
    joint_mapping, source = mapping_for_arm(arm.joint_range, None if args.uncalibrated else cal, robot_id(args),
                                            arm_file(args), args.uncalibrated)
    print(f"LeRobot calibration: {cal_path}\nmapping: {source}")
    limits = limits_from_args(args, arm, bundle)
    camera_key = args.camera_key if "pixels" in bundle.observation.keys else None
    if camera_key and not args.uncalibrated:
        print(bundle.task.mount_note(load_arm_file(arm_file(args)).camera_offset_m))
    camera = camera_options(args)
    follower = make_lerobot_follower(args.port, robot_id(args), cal_path.parent, camera_key=camera_key,
                                     camera=camera, max_relative_target=joint_mapping.lerobot_caps(limits.max_lead))
    try:
        connect_follower(follower, robot_id(args), args.port, camera.describe())
    except ArmFault as exc:
        print(f"liftrl deploy: error: {exc}", file=sys.stderr)
        return 2
    failures = _episodes(args, So101Robot(follower, joint_mapping, camera_key=camera_key), bundle, arm, limits,
                            rate, source)
    silent = silent_motors(follower)
    if silent:
        failures.append(f"servo(s) {silent} stopped answering (check their 3-pin cables and the 12 V supply); "
                        f"every servo keeps its last goal with torque on while powered")
    return _close_session(follower, args, "deploy", failures, silent, f"done: {args.episodes} episodes")


def _close_session(follower, args: argparse.Namespace, command: str, failures: list[str], silent: list,
                   done: str) -> int:
    """Close the follower (torque kept unless the user types release, never offered with a silent servo),
    then one line: the failures and exit code 2, or ``done`` and 0; either says the state the arm is left in."""
    from liftrl.deploy.so101_session import ask_release, finish

    state = finish(follower, release=not silent and ask_release(input, args.unattended))
    if failures:
        print(f"liftrl {command}: error: {'; '.join(failures)}; {state}", file=sys.stderr)
        return 2
    print(f"{done}; {state}")
    return 0


# ---------------------------------------------------------------------------------------------- bringup
def _sim_follower(args: argparse.Namespace, arm):
    """The simulated arm for ``bringup --robot sim-lerobot``; with ``--camera-mount`` its wrist camera renders at
    the real camera's size, its mount moved by ``--sim-camera-offset`` (mm), and a 30 mm cube can be stood."""
    from liftrl.deploy.sim_lerobot import SimLeRobotFollower
    from liftrl.deploy.sim_robot import SimRobot
    from liftrl.sim.env import LiftCubeEnv

    offset = tuple(v / 1000.0 for v in args.sim_camera_offset)
    env = LiftCubeEnv(curriculum_stage=0, randomize=False, observations=("state",), cube_sizes_mm=(30.0,),
                      camera_resolution=(args.camera_width, args.camera_height), camera_offset_m=offset)
    sim = SimRobot(env, render=args.camera_mount)
    sim.reset(args.sim_error_seed)
    cal = sim_calibration(args, arm.joint_range)
    follower = SimLeRobotFollower(sim, cal, arm.joint_range, camera_key=args.camera_key if args.camera_mount else None)
    return follower, sim, cal, follower.hold_cube_between_jaws


def _real_follower(args: argparse.Namespace):
    from liftrl.deploy.robot import WallClock
    from liftrl.deploy.so101 import import_so101_follower, make_lerobot_follower

    if not args.port:
        raise ValueError("bringup --robot so101 needs --port (the arm's serial port, e.g. /dev/ttyACM0)")
    import_so101_follower()
    cal, path = so101_calibration(args)
    print(f"LeRobot calibration: {path}")
    camera_key = args.camera_key if args.camera_mount else None
    follower = make_lerobot_follower(args.port, robot_id(args), path.parent, camera_key=camera_key,
                                     camera=camera_options(args))
    return follower, WallClock(), cal


def _bringup_so101(args: argparse.Namespace, arm, cfg) -> int:
    """Bring-up of the real arm: connect without calibrating, run, rest at LeRobot's zero, keep torque unless told."""
    from liftrl.deploy.bringup import Bringup
    from liftrl.deploy.mapping import MOTORS
    from liftrl.deploy.so101_session import ArmFault, connect_follower, silent_motors
    from liftrl.deploy.torque_limit import TorqueLimitError, lowered_torque

    try:
        follower, clock, cal = _real_follower(args)
        connect_follower(follower, robot_id(args), args.port,
                         camera_options(args).describe() if args.camera_mount else None)
    except (ImportError, ArmFault) as exc:
        print(f"liftrl bringup: error: {exc}", file=sys.stderr)
        return 2
    bringup = Bringup(follower, clock, cal, arm, robot_id(args), cfg=cfg,
                      camera_key=args.camera_key if args.camera_mount else None)
    try:
        with lowered_torque(follower, MOTORS, args.torque_limit) as limit:
            failure, silent = _bringup_steps(bringup, follower, args)
            # hold where the arm is before any servo gets its full torque back: a joint blocked short of
            # its goal must not push at full strength once the limit is lifted
            held = None if silent else _hold(bringup)
        failures = [f for f in (failure, held) if f]
        if limit.unrestored:
            failures.append(f"could not restore the torque limit of {'; '.join(limit.unrestored)}: those servos stay weaker "
                            f"until the arm is power-cycled")
    except (TorqueLimitError, KeyboardInterrupt) as exc:
        failures = [f"{exc or 'interrupted (Ctrl-C) while the torque limit was being set; it was put back'}; "
                    f"no per-arm file was written"]
        silent = silent_motors(follower)
    return _close_session(follower, args, "bringup", failures, silent, "bring-up done")


def _hold(bringup) -> str | None:
    """Command the pose the arm is in now; a failure described (None when it holds)."""
    try:
        bringup.hold()
    except Exception as exc:  # the bus: LeRobot raises ConnectionError/RuntimeError naming the motor ids
        return f"could not command a hold before lifting the torque limit ({type(exc).__name__}: {str(exc).strip()})"
    return None


def _bringup_steps(bringup, follower, args: argparse.Namespace) -> tuple[str | None, list]:
    """Run the bring-up, then (if every servo answers) rest at LeRobot's zero: (failure or None, silent servos)."""
    from liftrl.deploy.bringup import BringupAborted
    from liftrl.deploy.calibration import save_arm_file
    from liftrl.deploy.mapping import BODY
    from liftrl.deploy.so101_session import silent_motors

    failure = None
    try:
        print(f"per-arm file: {save_arm_file(bringup.run(), arm_file(args))}")
    except BringupAborted as exc:
        failure = f"bring-up aborted ({exc}); no per-arm file was written"
    except Exception as exc:  # the bus: LeRobot raises ConnectionError/RuntimeError naming the motor ids
        failure = f"bring-up stopped: {type(exc).__name__}: {str(exc).strip()}; no per-arm file was written"
    silent = silent_motors(follower)
    if silent:
        failure = (f"{failure}; " if failure else "") + (f"servo(s) {silent} stopped answering (check their 3-pin "
                                                         f"cables and the 12 V supply)")
    elif failure is None:
        try:  # the rest pose: LeRobot's zero, where the bring-up measured the arm
            bringup.move({j: 0.0 for j in BODY})
        except (BringupAborted, KeyboardInterrupt) as exc:
            failure = f"rest pose not reached ({exc or 'Ctrl-C'}); the arm holds where it is"
    return failure, silent


def _bringup(args: argparse.Namespace) -> int:
    from liftrl.deploy.bringup import Bringup, BringupAborted, BringupConfig
    from liftrl.deploy.calibration import save_arm_file
    from liftrl.deploy.pipeline import ArmModel

    from liftrl.deploy.torque_limit import check_fraction

    check_fraction(args.torque_limit)  # a bad value fails before anything connects
    arm = ArmModel.build()
    cfg = BringupConfig(speed_deg_s=args.speed, rate_hz=args.rate)
    if args.robot == "so101":
        from liftrl.deploy.so101_session import ctrl_c_raises

        with ctrl_c_raises():
            return _bringup_so101(args, arm, cfg)
    follower, clock, cal, place_cube = _sim_follower(args, arm)
    follower.connect()
    try:
        result = Bringup(follower, clock, cal, arm, robot_id(args), cfg=cfg, place_cube=place_cube,
                         camera_key=args.camera_key if args.camera_mount else None,
                         stand_cube=follower.stand_cube).run()
    except BringupAborted as exc:
        print(f"bring-up aborted ({exc}); the arm holds its pose, nothing was written")
        return 1
    finally:
        follower.disconnect()
    print(f"per-arm file: {save_arm_file(result, arm_file(args))}")
    return 0


def add_bringup_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bringup", help="guided, slow first contact with an arm: writes its per-arm file")
    p.add_argument("--robot", choices=("so101", "sim-lerobot"), default="so101")
    p.add_argument("--port", help="so101: serial port of the follower arm")
    p.add_argument("--speed", type=float, default=15.0, help="joint speed of every bring-up move (deg/s)")
    p.add_argument("--rate", type=float, default=15.0, help="command rate of the moves (Hz)")
    p.add_argument("--torque-limit", type=float, default=0.5,
                   help="so101: every servo pushes with at most this fraction of its full torque during the bring-up "
                        "(the servos' Torque_Limit register, in RAM, restored at the end; 0.1-1)")
    p.add_argument("--camera-mount", action="store_true",
                   help="also measure the wrist camera's mount (needs the camera and a coloured 30 mm cube; "
                        "deploy.camera_mount): recorded in the per-arm file, to train students with")
    p.add_argument("--camera", default="0", help="so101: OpenCV camera index or device path")
    p.add_argument("--camera-key", default="wrist", help="name of the wrist camera in LeRobot's observation")
    p.add_argument("--sim-camera-offset", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=("X", "Y", "Z"),
                   help="sim-lerobot: the simulated wrist camera sits this far (mm, gripper frame) from the model's")
    add_arm_arguments(p)
    add_camera_arguments(p)
    p.set_defaults(func=_bringup, uncalibrated=False)
    return p
