"""The ``eval``, ``compare`` and ``report`` subcommands of ``liftrl``.

Each ``add_*_parser(sub)`` adds its subparser to an argparse subparsers object and sets ``func``;
``liftrl.cli`` wires them in. Heavy imports (torch, MuJoCo, matplotlib) happen inside the
commands so ``liftrl --help`` stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# ---------------------------------------------------------------------------------- eval
def _eval(args: argparse.Namespace) -> int:
    from liftrl.report.evaluation import evaluate_checkpoint
    from liftrl.run.checkpoints import resolve_checkpoints
    from liftrl.run.folder import open_run
    from liftrl.common.progress import SuccessBar
    from liftrl.report.tables import format_episode_table, format_summary_table

    import torch

    torch.set_num_threads(1)  # as in the workers: a batch-1 forward gains nothing from more (docs/dry-run.md)
    run = open_run(args.run)
    overrides = list(args.overrides)
    if args.hold_steps is not None:
        overrides.append(f"env.hold_steps={args.hold_steps}")
    checkpoints = resolve_checkpoints(run, args.checkpoints)
    records = []
    for ckpt in checkpoints:
        print(f"\n## {run.name} @ {ckpt.label} (step {ckpt.step}): {args.episodes} episodes"
              f"{', with videos' if args.video else ''}", flush=True)
        with SuccessBar(args.episodes, desc=f"eval {ckpt.label}", verbose=args.verbose) as bar:
            def progress(i, result, n=args.episodes):
                bar.add(result.success, line=f"  episode {i + 1}/{n} seed {result.seed}: reward {result.reward:.2f} "
                                             f"max z {result.max_cube_z:.3f} m success {result.success} "
                                             f"length {result.length} control steps")

            record, out = evaluate_checkpoint(run, ckpt, episodes=args.episodes, video=args.video,
                                              overrides=overrides, workers=args.workers, on_episode=progress)
        records.append(record)
        print(format_episode_table(record))
        print(f"written: {out}/")
    print("\n" + format_summary_table(records))
    return 0


def add_eval_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval", help="evaluate a run's checkpoints: table (CSV/JSON) and one MP4 per episode",
        description="Deterministic episodes on evaluation seeds (disjoint from training) for each named "
                    "checkpoint; writes RUN/eval_<step>/{summary.csv,episodes.csv,eval.json} and MP4s. "
                    "A step names the snapshot the run saved when it crossed that step "
                    "(exactly, or within one vector step); other names: best, latest, all.")
    p.add_argument("run", help="run folder, e.g. runs/drqv2/20260112_215549")
    p.add_argument("overrides", nargs="*", help="env.* overrides for the test, e.g. env.max_episode_steps=100")
    p.add_argument("--checkpoints", default="best", help="comma-separated: best, latest, all, or steps like "
                                                         "100k,500k (default: best)")
    p.add_argument("--episodes", type=_positive_int, default=10, help="episodes per checkpoint (default 10)")
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True,
                   help="write one MP4 per episode (default: on)")
    p.add_argument("--hold-steps", type=_positive_int, default=None,
                   help="success needs this many held steps (default: the run's env.hold_steps)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: one per CPU core, at most one per episode)")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per episode as it finishes")
    p.set_defaults(func=_eval)
    return p


# ---------------------------------------------------------------------------------- compare
def _labels(runs, given: str | None) -> list[str]:
    if given:
        labels = [s.strip() for s in given.split(",")]
        if len(labels) != len(runs):
            raise ValueError(f"--labels names {len(labels)} runs but {len(runs)} were given")
        return labels
    return [r.name for r in runs]


def _compare(args: argparse.Namespace) -> int:
    from liftrl.report.plots import compare_panels, render
    from liftrl.report.history import read_history
    from liftrl.run.checkpoints import parse_step
    from liftrl.run.folder import open_run
    from liftrl.report.tables import format_compare_best, format_compare_steps, match_steps
    from liftrl.sweep.spec import is_sweep_dir

    if any(is_sweep_dir(p) for p in args.runs):
        return _compare_sweep(args)
    if len(args.runs) < 2:
        raise ValueError("compare needs at least two runs (or one sweep folder)")
    runs = [open_run(p) for p in args.runs]
    histories = [read_history(r) for r in runs]
    names = _labels(runs, args.labels)
    lines = [f"# {' vs '.join(names)}", ""]
    for name, run in zip(names, runs):
        # run.name (agent/stamp), not the folder's path: the table is written to be kept, e.g. in
        # bench/results, where a path of the machine it ran on means nothing and leaks its layout.
        lines.append(f"- {name}: {run.name} (agent {run.setting('agent.name')}, reward {run.setting('env.reward')}, "
                     f"hold {run.setting('env.hold_steps')})")
    tolerance = max(r.num_envs for r in runs)
    evaluated = [i for i, h in enumerate(histories) if h.evals]
    matched = match_steps([histories[i].evals for i in evaluated], tolerance) if len(evaluated) >= 2 else []
    if args.steps:
        wanted = [parse_step(t) for t in args.steps.split(",") if t.strip()]
        matched = [row for row in matched if any(w <= row[0].step < w + tolerance for w in wanted)]
    lines += ["", "## At matching steps", ""]
    if matched:
        lines.append(format_compare_steps([names[i] for i in evaluated], matched))
    else:
        lines.append("No eval step common to the evaluated runs; their eval steps:")
        for i in evaluated:
            lines.append(f"- {names[i]}: " + ", ".join(str(p.step) for p in histories[i].evals))
    unevaluated = [f"- {n}: no evals yet" for n, h in zip(names, histories) if not h.evals]
    lines += ([""] if matched and unevaluated else []) + unevaluated
    lines += ["", "## At each run's best", "", format_compare_best(names, [h.best() for h in histories])]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out) if args.out else runs[0].path / "compare.png"
    lift = runs[0].setting("env.lift_height")
    render(compare_panels(names, histories, lift_height=lift), out)
    out.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    print(f"\nwritten: {out} and {out.with_suffix('.md')}")
    return 0


def _compare_sweep(args: argparse.Namespace) -> int:
    """One sweep folder: groups of seeds, mean +- 95% interval, ranking (``liftrl.report.sweep``)."""
    from liftrl.run.checkpoints import parse_step
    from liftrl.report.sweep_compare import compare_sweep

    if len(args.runs) != 1:
        raise ValueError("a sweep folder is compared on its own: liftrl compare SWEEP_DIR")
    if args.labels:
        raise ValueError("--labels is for run folders; a sweep's groups are named by their parameters")
    steps = [parse_step(t) for t in args.steps.split(",") if t.strip()] if args.steps else None
    text, png = compare_sweep(args.runs[0], args.out, steps)
    print(text)
    print(f"\nwritten: {png}, {png.with_suffix('.md')} and {png.with_suffix('.json')}")
    return 0


def add_compare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="side-by-side table and learning curves of several runs, or of a sweep",
                       description="Tables at matching eval steps and at each run's best (from metrics.jsonl), "
                                   "and a PNG of success rate, mean reward and max cube height against env steps. "
                                   "Given one sweep folder (liftrl sweep), trials are grouped by their non-seed "
                                   "parameters: mean curves with a 95%% interval over seeds, tables at matching "
                                   "steps and at each group's best with steps to 90%% success, and a ranking.")
    p.add_argument("runs", nargs="+", help="two or more run folders, or one sweep folder")
    p.add_argument("--labels", default=None, help="comma-separated names for the runs, e.g. v11,v19")
    p.add_argument("--steps", default=None, help="only these eval steps in the matching-steps table, "
                                                  "e.g. 100k,500k (default: every common step)")
    p.add_argument("--out", default=None, help="PNG path; the tables go beside it as .md (and, for a sweep, "
                                                "the figures as .json) (default: compare.png in the first run's "
                                                "folder, or SWEEP_DIR/compare.png)")
    p.set_defaults(func=_compare)
    return p


# ---------------------------------------------------------------------------------- report
def _report(args: argparse.Namespace) -> int:
    from liftrl.report.plots import render, report_panels
    from liftrl.report.history import read_history
    from liftrl.run.folder import open_run
    from liftrl.report.tables import format_compare_best

    run = open_run(args.run)
    history = read_history(run)
    kind = "distill" if history.teacher is not None or run.setting("agent.name") == "student" else "rl"
    subtitle = (f"{run.setting('agent.name')}, reward {run.setting('env.reward')}, "
                f"hold {run.setting('env.hold_steps')} ticks, stage {run.setting('env.curriculum_stage')}")
    page = report_panels(run.name, history, lift_height=run.setting("env.lift_height"), subtitle=subtitle, kind=kind)
    out = Path(args.out) if args.out else run.path / "report.png"
    render(page, out)
    last_step = max([int(r["step"]) for r in history.train] + [p.step for p in history.evals], default=0)
    print(f"{run.name}: {subtitle}; {len(history.train)} train rows, {len(history.evals)} evals, "
          f"last step {last_step} ({page.xlabel})")
    if history.evals:
        names, points = ["best", "last"], [history.best(), history.evals[-1]]
        if history.teacher is not None:
            names, points = names + ["teacher"], points + [history.teacher]
        print(format_compare_best(names, points))
    else:
        print("no evaluations yet")
    for g in history.guards:
        print(f"collapse guard at {g['step']} env steps: restored the agent of {g.get('guard/restored_from')} "
              f"env steps ({g.get('guard/reason', 'no reason logged')})")
    print(f"written: {out}")
    return 0


def add_report_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="one PNG page of a run's curves and training diagnostics",
                       description="Success, return and cube height above what explains them, by run kind: "
                                   "for RL, Q values, losses, exploration, gradient norms and reward terms; for a "
                                   "distillation, the action error to the teacher's labels, beta and the share the "
                                   "teacher drove, against the teacher's line, on labelled frames. The best eval is "
                                   "marked on every panel; panels with nothing logged are left out.")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", default=None, help="PNG path (default: RUN/report.png)")
    p.set_defaults(func=_report)
    return p


__all__ = ["add_eval_parser", "add_compare_parser", "add_report_parser"]
