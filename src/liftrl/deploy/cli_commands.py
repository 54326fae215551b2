"""``liftrl export`` and ``liftrl deploy``: a run folder -> a policy bundle -> a (simulated or real) arm.

Each ``add_*_parser`` adds its subcommand to the ``liftrl`` parser; heavy imports happen inside
the commands so ``liftrl --help`` stays instant and LeRobot is only needed for ``--robot so101``.
The arm's side (calibration, ``sim-lerobot``, ``so101``, ``bringup``) lives in ``cli_arm``.
"""

from __future__ import annotations

import argparse

REAL_RATE_HZ = 15.0  # the user's real loop: 10-20 Hz ...
REAL_LATENCY_MS = 100.0  # ... with about 100 ms from frame to motion (TASK.md)


def _export(args: argparse.Namespace) -> int:
    from liftrl.deploy.bundle import export_run, load_bundle

    out = export_run(args.run, checkpoint=args.checkpoint, out_dir=args.out)
    bundle = load_bundle(out)  # proves the bundle loads and reproduces its golden actions
    print(f"bundle: {out}")
    print(f"  agent {bundle.agent}, actor reads {list(bundle.policy.keys)}, trained at {bundle.control.hz:g} Hz "
          f"with {bundle.control.describe_latency()} latency, reward {bundle.reward}")
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


def _deploy(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.rate is not None and not args.rate > 0:
        raise ValueError(f"--rate must be a positive number of Hz, got {args.rate}")
    if args.latency_ms is not None and args.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {args.latency_ms}")
    if args.max_joint_speed <= 0 or args.max_lead <= 0:
        raise ValueError(f"--max-joint-speed and --max-lead must be > 0, got {args.max_joint_speed}, {args.max_lead}")
    from liftrl.deploy import cli_arm

    rate = REAL_RATE_HZ if args.rate is None else args.rate
    if args.robot == "so101":
        return cli_arm.deploy_so101(args, rate)
    if args.uncalibrated and args.robot == "sim":
        raise ValueError("--uncalibrated is for --robot so101 or sim-lerobot (--robot sim has no calibration)")
    if args.robot == "sim-lerobot":
        return cli_arm.deploy_sim_lerobot(args, rate, REAL_LATENCY_MS if args.latency_ms is None else args.latency_ms)
    return _deploy_sim(args)


def add_deploy_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("deploy", help="run a policy bundle on the simulated robot (dry run) or the real SO-101")
    p.add_argument("bundle", help="bundle folder written by `liftrl export`")
    p.add_argument("--robot", choices=("sim", "sim-lerobot", "so101"), default="sim",
                   help="sim: the dry run; sim-lerobot: the dry run through LeRobot's units and a calibration; "
                        "so101: the real arm")
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
    p.add_argument("--uncalibrated", action="store_true",
                   help="so101/sim-lerobot: run on the model's nominal mapping without a per-arm file")
    p.add_argument("--camera", default="0", help="so101: OpenCV camera index or device path")
    p.add_argument("--camera-key", default="wrist", help="so101: name of the wrist camera in LeRobot's observation")
    p.add_argument("--max-steps", type=int, default=None, help="so101: steps per episode (default: the task's 4 s)")
    p.add_argument("--max-joint-speed", type=float, default=5.0,
                   help="so101/sim-lerobot: body joint speed limit between commands (rad/s, the same at any rate)")
    p.add_argument("--max-lead", type=float, default=0.35,
                   help="so101/sim-lerobot: max distance of a body joint command from the measured joint (rad); "
                        "also LeRobot's max_relative_target")
    p.add_argument("--start-speed", type=float, default=0.4,
                   help="so101: speed of the slow move to the start pose before each episode (rad/s)")
    p.add_argument("--no-log-frames", action="store_true", help="so101: leave raw camera frames out of the logs")
    from liftrl.deploy.cli_arm import add_arm_arguments, add_camera_arguments

    add_arm_arguments(p)
    add_camera_arguments(p)
    p.set_defaults(func=_deploy)
    return p
