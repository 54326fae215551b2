"""``liftrl`` command line: one entry point, one subcommand per job.

Heavy imports (MuJoCo, torch) happen inside each subcommand so ``liftrl --help`` is instant and
a missing optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    """Scripted grasp-lift-hold episodes written as MP4: checks the install end to end."""
    from liftrl.config import EnvConfig
    from liftrl.report.rollout import play_episode
    from liftrl.run.envs import make_env
    from liftrl.scripted import ScriptedGrasp

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(EnvConfig(curriculum_stage=args.stage, hold_steps=args.hold_steps, observations=("pixels", "state"),
                             randomize=not args.no_randomize, reward=args.reward), render_mode="rgb_array")
    successes = 0
    try:
        for episode in range(args.episodes):
            seed = args.seed + episode
            path = out / f"demo_stage{args.stage}_seed{seed}.mp4"
            result = play_episode(env, ScriptedGrasp().act, seed, video_path=path, reads_info=True)
            successes += result.success
            print(f"episode {episode} seed {seed}: success={result.success} steps={result.length} "
                  f"return={result.reward:.1f} video={path}")
    finally:
        env.close()
    print(f"scripted success: {successes}/{args.episodes}")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings meant for the person at the terminal (e.g. resuming without the replay buffer), as one line."""
    print(f"liftrl: warning: {message}", file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    """Train from a config (or resume a run) and leave a complete run folder."""
    from liftrl.report.rollout import end_of_training_video
    from liftrl.sim.workers import WorkerError
    from liftrl.train.loop import TrainingStopped, resume, train

    if args.config and "=" in args.config and not Path(args.config).exists():
        args.overrides.insert(0, args.config)  # `liftrl train key=value ...` with no YAML
        args.config = None
    if args.config and not Path(args.config).is_file():
        raise FileNotFoundError(f"config file {args.config} does not exist")
    if args.resume and args.config:
        raise ValueError("give either a config or --resume RUN, not both")
    try:
        if args.resume:
            resume(args.resume, args.overrides, after=end_of_training_video)
        else:
            train(args.config, args.overrides, run_root=args.runs, after=end_of_training_video)
    except (TrainingStopped, WorkerError) as exc:  # said in full by the message; no traceback helps
        print(f"liftrl train: error: {exc}", file=sys.stderr)
        return 1
    return 0  # the session printed its end summary, or the line that says how to resume


DEFAULT_STUDENT_CONFIG = "configs/student.yaml"


def _student_config() -> str:
    """``configs/student.yaml`` of the working directory, else of the source checkout liftrl runs from."""
    here = Path(DEFAULT_STUDENT_CONFIG)
    if here.is_file():
        return str(here)
    shipped = Path(__file__).resolve().parents[2] / DEFAULT_STUDENT_CONFIG
    if shipped.is_file():
        return str(shipped)
    raise FileNotFoundError(f"no {DEFAULT_STUDENT_CONFIG} here or beside the liftrl sources: give a student CONFIG")


def _distill(args: argparse.Namespace) -> int:
    """Distil a teacher run into a pixel student (DAgger), or continue such a run with --resume."""
    import warnings

    from liftrl.distill.loop import distill, resume_distill
    from liftrl.report.rollout import end_of_training_video
    from liftrl.sim.workers import WorkerError
    from liftrl.train.loop import TrainingStopped

    warnings.showwarning = _show_warning
    positional = [a for a in (args.teacher, args.config) if a is not None]
    overrides = [a for a in positional if "=" in a and not Path(a).exists()] + list(args.overrides)
    positional = [a for a in positional if a not in overrides]
    if args.resume and positional:
        raise ValueError(f"give either TEACHER_RUN [CONFIG] or --resume RUN, not both (got {positional})")
    if not args.resume and not positional:
        raise ValueError("give the teacher's run folder: liftrl distill TEACHER_RUN [CONFIG] [key=value ...]")
    try:
        if args.resume:
            resume_distill(args.resume, overrides, after=end_of_training_video)
        else:
            teacher, config = positional[0], (positional[1] if len(positional) > 1 else _student_config())
            distill(teacher, config, overrides, run_root=args.runs, after=end_of_training_video)
    except (TrainingStopped, WorkerError) as exc:  # said in full by the message; no traceback helps
        print(f"liftrl distill: error: {exc}", file=sys.stderr)
        return 1
    return 0  # the session printed its end summary (with the run folder), or how to resume


def _add_train_parser(sub) -> None:
    train_parser = sub.add_parser(
        "train", help="train a policy from a YAML config with dotted overrides",
        description="Train from a YAML config (sections env, obs, agent, replay, train) with dotted "
                    "overrides, writing runs/<agent>/<YYYYMMDD_HHMMSS>/; or continue a run with --resume.",
        epilog="examples: liftrl train configs/quickstart.yaml | liftrl train configs/drqv2_v19.yaml "
               "agent.batch_size=128 env.hold_steps=50 train.device=cuda | liftrl train --resume "
               "runs/drqv2/20250101_120000 train.total_env_steps=3000000",
    )
    train_parser.add_argument("config", nargs="?", help="YAML config, e.g. configs/drqv2_v19.yaml (default: built-in defaults)")
    train_parser.add_argument("overrides", nargs="*", help="dotted overrides such as agent.batch_size=128 env.hold_steps=50")
    train_parser.add_argument("--resume", metavar="RUN", help="continue RUN from its latest snapshot")
    train_parser.add_argument("--runs", default=None, help="root folder for new runs (default: train.run_dir)")
    train_parser.set_defaults(func=_train)


def _add_distill_parser(sub) -> None:
    distill_parser = sub.add_parser(
        "distill", help="distil a privileged teacher run into a pixel student (DAgger)",
        description="Roll out a mixture of the teacher and the student, label every step with the teacher's "
                    "action, aggregate and regress: writes runs/distill/<YYYYMMDD_HHMMSS>/, a run folder like "
                    "train's (report, compare, eval, export work on it).",
        epilog="examples: liftrl distill runs/sac/20250101_120000 | liftrl distill runs/sac/20250101_120000 "
               "configs/student.yaml env.image_size=84 distill.rounds=20 | liftrl distill --resume "
               "runs/distill/20250102_090000 distill.rounds=30",
    )
    distill_parser.add_argument("teacher", nargs="?", help="the teacher's run folder (a state policy, e.g. SAC)")
    distill_parser.add_argument("config", nargs="?", help=f"student YAML config (default: {DEFAULT_STUDENT_CONFIG})")
    distill_parser.add_argument("overrides", nargs="*", help="dotted overrides such as distill.rounds=20 env.image_size=84")
    distill_parser.add_argument("--resume", metavar="RUN", help="continue a distillation RUN from its latest snapshot")
    distill_parser.add_argument("--runs", default=None, help="root folder for new runs (default: train.run_dir)")
    distill_parser.set_defaults(func=_distill)


def _add_demo_parser(sub) -> None:
    demo = sub.add_parser("demo", help="run the scripted policy and write MP4 videos")
    demo.add_argument("--stage", type=int, default=3, help="curriculum stage 0-5 (default 3; 5: the pick stage, from the start pose)")
    demo.add_argument("--episodes", type=int, default=1)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--hold-steps", type=int, default=150)
    demo.add_argument("--reward", default="v19")
    demo.add_argument("--no-randomize", action="store_true")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liftrl", description="Train, evaluate and deploy an SO-101 policy that grasps, lifts and holds a cube.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_distill_parser(sub)
    _add_demo_parser(sub)

    from liftrl.report.cli_commands import add_compare_parser, add_eval_parser, add_report_parser

    add_eval_parser(sub)
    add_compare_parser(sub)
    add_report_parser(sub)

    from liftrl.sweep.cli_commands import add_sweep_parser

    add_sweep_parser(sub)

    from liftrl.deploy.cli_arm import add_bringup_parser
    from liftrl.deploy.cli_commands import (
        add_deploy_parser, add_export_parser, add_stress_compare_parser, add_stress_parser,
    )

    add_export_parser(sub)
    add_deploy_parser(sub)
    add_stress_parser(sub)
    add_stress_compare_parser(sub)
    add_bringup_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    os.environ.setdefault("MUJOCO_GL", "egl")
    warnings.showwarning = _show_warning
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
        print(f"liftrl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # train handles Ctrl-C itself (it saves first); other commands just stop
        print(f"liftrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
