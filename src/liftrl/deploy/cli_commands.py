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
    from liftrl.common.progress import SuccessBar
    from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.dryrun import dry_run_rows, format_rows, run_rows, scene_line
    from liftrl.deploy.sim_robot import CameraNoise
    from liftrl.sim.parallel import default_workers

    import torch

    # One torch thread per episode process (workers too): a batch-1 forward gains nothing from more,
    # and on a busy machine the extra threads' spinning made the serial dry run ~4x slower (bench/dryrun_speed.py).
    torch.set_num_threads(1)
    bundle = load_bundle(args.bundle)
    rate = REAL_RATE_HZ if args.rate is None else args.rate
    latency = REAL_LATENCY_MS if args.latency_ms is None else args.latency_ms
    noise = CameraNoise(std=args.camera_noise, gain=args.camera_gain)
    # a bad scene option fails here, naming its key, before any episode
    scene = parse_env_options(args.env)
    rows = dry_run_rows(bundle, rate, latency, noise, log_dir=args.log_dir, scene=scene,
                        camera_delay_ms=args.camera_delay_ms, trained_scene=not args.default_scene)
    seeds = dry_run_seeds(args.episodes, DRY_RUN_SEED_BASE if args.seed is None else args.seed)
    workers = args.workers or default_workers(len(rows) * len(seeds))
    print(f"dry run of {bundle.path}: {args.episodes} episodes per row, stage {bundle.task.curriculum_stage}, "
          f"hold {bundle.task.hold_steps} ticks of 20 ms, {workers} worker process{'es' if workers > 1 else ''}",
          flush=True)
    print(scene_line(bundle.task.scene, scene, args.default_scene), flush=True)
    with SuccessBar(len(rows) * len(seeds), desc="dry run", verbose=args.verbose) as bar:
        def progress(row: int, k: int, outcome) -> None:
            spec = rows[row]
            bar.add(outcome.success, group=f"row {row + 1}",
                    line=f"  row {row + 1} ({spec.loop}, {spec.rate_hz:g} Hz, {spec.latency_ms:g} ms) episode "
                         f"{k + 1}/{len(seeds)} seed {outcome.seed}: {'success' if outcome.success else 'failure'}, "
                         f"{outcome.steps} control steps, {outcome.seconds:.2f} s, {outcome.stop_reason}")

        results = run_rows(bundle, rows, seeds, workers, progress)
    print(format_rows(results))
    return 0


def parse_env_options(items: list[str] | None) -> dict:
    """``--env KEY=VALUE`` pairs (VALUE as YAML: ``[busy, flat]``, ``0.5``, ``true``) as a dict of scene options."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--env {item!r} is not KEY=VALUE (e.g. --env table_texture=[busy])")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            raise ValueError(f"--env {item!r}: the value is not valid YAML ({exc.problem})") from None
    return out


def _deploy(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.rate is not None and not args.rate > 0:
        raise ValueError(f"--rate must be a positive number of Hz, got {args.rate}")
    if args.latency_ms is not None and args.latency_ms < 0:
        raise ValueError(f"--latency-ms must be >= 0, got {args.latency_ms}")
    if args.robot == "so101" and args.default_scene:
        raise ValueError("--default-scene is for the dry runs (--robot sim or sim-lerobot)")
    if args.robot != "sim" and (args.env or args.camera_delay_ms):
        raise ValueError("--env and --camera-delay-ms are for the dry run (--robot sim)")
    if args.camera_delay_ms < 0:
        raise ValueError(f"--camera-delay-ms must be >= 0, got {args.camera_delay_ms}")
    if args.robot == "sim" and (args.max_joint_speed is not None or args.max_lead is not None):
        raise ValueError("--max-joint-speed and --max-lead are for --robot so101 or sim-lerobot; the sim dry run "
                         "keeps the default caps (liftrl.deploy.safety.SafetyLimits.for_arm)")
    if any(v is not None and v <= 0 for v in (args.max_joint_speed, args.max_lead)):
        raise ValueError(f"--max-joint-speed and --max-lead must be > 0, got {args.max_joint_speed}, {args.max_lead}")
    from liftrl.deploy import cli_arm

    rate = REAL_RATE_HZ if args.rate is None else args.rate
    if args.robot == "so101":
        from liftrl.deploy.so101_session import ctrl_c_raises

        with ctrl_c_raises():
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
    p.add_argument("--camera-delay-ms", type=float, default=0.0, help="sim only: how old each camera frame is (ms)")
    p.add_argument("--env", action="append", default=None, metavar="KEY=VALUE",
                   help="sim only: a scene option over the default scene (docs/stress.md), e.g. "
                        "--env table_texture=[busy] --env light_rgb=[0.8,0.9,1.15]; repeatable")
    p.add_argument("--default-scene", action="store_true",
                   help="sim and sim-lerobot: run in the default scene instead of the scene options the bundle was "
                        "trained with (bundle.json task.scene, e.g. cube_sizes_mm); --env still applies over it")
    p.add_argument("--seed", type=int, default=None,
                   help="sim only: first episode seed (default: dry-run seeds, apart from training and evaluation)")
    p.add_argument("--workers", type=int, default=None,
                   help="sim only: worker processes for the episodes (default: one per CPU core); the same "
                        "episodes and results as one process")
    p.add_argument("--verbose", "-v", action="store_true", help="sim only: one line per episode as it finishes")
    p.add_argument("--log-dir", default=None, help="episode logs (.npz); so101 default runs/deploy")
    p.add_argument("--port", help="so101: serial port of the follower arm")
    p.add_argument("--uncalibrated", action="store_true",
                   help="so101/sim-lerobot: run on the model's nominal mapping without a per-arm file")
    p.add_argument("--camera", default="0", help="so101: OpenCV camera index or device path")
    p.add_argument("--camera-key", default="wrist", help="so101: name of the wrist camera in LeRobot's observation")
    p.add_argument("--max-steps", type=int, default=None,
                   help="so101: control steps per episode (default: the bundle's episode length, "
                        "task.max_episode_steps ticks of 20 ms, at --rate)")
    p.add_argument("--max-joint-speed", type=float, default=None,
                   help="so101/sim-lerobot: body joint speed limit between commands (rad/s, the same at any rate; "
                        "default 5)")
    p.add_argument("--max-lead", type=float, default=None,
                   help="so101/sim-lerobot: max distance of a body joint command from the measured joint (rad, "
                        "default 0.35); also LeRobot's max_relative_target")
    p.add_argument("--start-speed", type=float, default=0.4,
                   help="so101: speed of the slow move to the start pose before each episode (rad/s)")
    p.add_argument("--no-log-frames", action="store_true", help="so101: leave raw camera frames out of the logs")
    from liftrl.deploy.cli_arm import add_arm_arguments, add_camera_arguments

    add_arm_arguments(p)
    add_camera_arguments(p)
    p.set_defaults(func=_deploy)
    return p


def _stress(args: argparse.Namespace) -> int:
    from pathlib import Path

    from liftrl.common.seeds import DRY_RUN_SEED_BASE
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy import stress, stress_report, stress_suite
    from liftrl.sim.parallel import default_workers

    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    bundle = load_bundle(args.bundle)
    base = stress.Baseline(rate_hz=REAL_RATE_HZ if args.rate is None else args.rate,
                           latency_ms=REAL_LATENCY_MS if args.latency_ms is None else args.latency_ms,
                           camera_noise=args.camera_noise, camera_gain=args.camera_gain)
    suite = stress_suite.load_suite(args.suite) if args.suite else stress_suite.DEFAULT_SUITE
    only = [g.strip() for g in args.only.split(",") if g.strip()] if args.only else None
    suite = stress_suite.select(suite, only)
    stress_suite.check_suite(suite, stress.baseline_env(bundle, base))  # every condition, before any episode
    seed = DRY_RUN_SEED_BASE if args.seed is None else args.seed
    jobs = stress.make_jobs(str(Path(args.bundle).resolve()), bundle, suite, base, args.episodes, seed)
    workers = default_workers(len(jobs)) if args.workers is None else max(1, args.workers)
    print(f"stress of {bundle.path}: {len(suite)} conditions x {args.episodes} episodes on {workers} worker(s), "
          f"{base.rate_hz:g} Hz, {base.latency_ms:g} ms")
    results = stress.collect(suite, stress.run_jobs(jobs, workers, progress=not args.no_progress))
    out = Path(args.out) if args.out else Path(args.bundle) / "stress"
    name = Path(args.bundle).resolve().name
    paths = stress_report.write_report(out, name, base, args.episodes, seed, results)
    print("weakest conditions:")
    for r in stress_report.weakest(results):
        lo, hi = r.interval
        print(f"  {r.label}: {r.successes}/{r.episodes} ({100 * r.rate:.0f}%, 95% {100 * lo:.0f}-{100 * hi:.0f}%)")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _stress_compare(args: argparse.Namespace) -> int:
    from liftrl.deploy.stress_compare import compare, failures, read_report

    labelled = {}
    for item in args.reports:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise ValueError(f"give each report as LABEL=FOLDER (e.g. before=student/stress), got {item!r}")
        if label in labelled:
            raise ValueError(f"report label {label!r} given twice")
        labelled[label] = path
    paths = compare(labelled, args.out)
    for label, path in labelled.items():
        missed = failures(read_report(path))
        print(f"{label}: " + ("meets the bar" if not missed else f"{len(missed)} condition(s) below the bar"))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_stress_compare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("stress-compare", help="stress reports side by side (same conditions and seeds): "
                                              "compare.md, compare.png")
    p.add_argument("reports", nargs="+", help="LABEL=REPORT_FOLDER, two or more (e.g. before=a/stress after=b/stress)")
    p.add_argument("--out", required=True, help="folder for compare.md and compare.png")
    p.set_defaults(func=_stress_compare)
    return p


def add_stress_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("stress", help="a bundle's success under shifted scenes (lights, table, cube, camera, "
                                      "rendering, latency, physics): stress.md, stress.json, stress.png")
    p.add_argument("bundle", help="bundle folder written by `liftrl export`")
    p.add_argument("--episodes", type=int, default=50, help="episodes per condition (the same seeds in each)")
    p.add_argument("--only", default=None, help="comma-separated groups to run (the baseline always runs): "
                                                "image,start,lighting,table,cube,camera,rendering,latency,cube_size,physics")
    p.add_argument("--suite", default=None, help="a YAML list of conditions instead of the default suite")
    p.add_argument("--out", default=None, help="report folder (default BUNDLE/stress)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core; 0 or 1: in this one)")
    p.add_argument("--rate", type=float, default=None, help=f"baseline control rate in Hz (default {REAL_RATE_HZ:g})")
    p.add_argument("--latency-ms", type=float, default=None,
                   help=f"baseline command latency (default {REAL_LATENCY_MS:g})")
    p.add_argument("--camera-noise", type=float, default=0.0, help="baseline per-pixel noise std (0-255 units)")
    p.add_argument("--camera-gain", type=float, default=0.0, help="baseline per-episode brightness jitter")
    p.add_argument("--seed", type=int, default=None, help="first episode seed (default: the dry run's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_stress)
    return p
