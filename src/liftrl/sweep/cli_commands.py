"""The ``sweep`` subcommand of ``liftrl``: parse, check, then hand the sweep to Ray Tune.

Every option is checked against the config before Ray starts (which takes seconds), and Ray is
imported only when a sweep actually runs, so ``liftrl --help`` works without the ``[sweep]`` extra.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _import_runner():
    try:
        from liftrl.sweep import runner
    except ImportError as exc:
        if "ray" not in str(exc):
            raise
        raise ValueError("liftrl sweep needs Ray Tune: pip install 'liftrl[sweep]'") from None
    return runner


def _print_outcomes(sweep_dir: Path, outcomes, metric: str) -> int:
    print(f"\n## Sweep {sweep_dir.name}: {len(outcomes)} trials")
    for o in outcomes:
        value = "-" if o.metric is None else f"{o.metric:.3f}"
        steps = "-" if o.env_steps is None else str(o.env_steps)
        print(f"- {o.name}: {o.status}, {steps} env steps, last {metric} {value}"
              + (f" ({o.error})" if o.error else ""))
    print(f"\nrun folders: {sweep_dir}/<trial>; aggregate: liftrl compare {sweep_dir}")
    failed = [o for o in outcomes if o.status in ("ERROR", "UNFINISHED")]
    if failed:
        print(f"{len(failed)} trial(s) failed after their retries or were interrupted; continue with: "
              f"liftrl sweep --resume {sweep_dir}")
    return 1 if failed else 0


def _sweep(args: argparse.Namespace) -> int:
    from liftrl.config import load_config
    from liftrl.sweep.spec import build_spec

    if args.resume:
        if args.config or args.overrides:
            raise ValueError("--resume DIR continues a sweep as it was started: give no config or overrides")
        from liftrl.sweep.spec import load_spec

        spec = load_spec(args.resume)
        runner = _import_runner()
        return _print_outcomes(Path(args.resume), runner.resume_sweep(args.resume, address=args.address), spec.metric)
    if args.config and "=" in args.config and not Path(args.config).exists():
        args.overrides.insert(0, args.config)
        args.config = None
    if args.config and not Path(args.config).is_file():
        raise FileNotFoundError(f"config file {args.config} does not exist")
    base = load_config(args.config, args.overrides)
    stem = Path(args.config).stem if args.config else base.agent.name
    name = args.name or f"{stem}_{time.strftime('%Y%m%d_%H%M%S')}"
    spec = build_spec(name, base, seeds=args.seeds, grid=args.grid, search=args.search, samples=args.samples,
                      scheduler=args.scheduler, metric=args.metric, perturb=args.perturb,
                      cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                      max_failures=args.max_failures)
    sweep_dir = Path(args.runs or base.train.run_dir) / "sweeps" / name
    print(f"sweep {name}: {spec.num_trials} trials ({len(spec.seeds)} seeds"
          + "".join(f" x {len(v)} {k}" for k, v in spec.grid)
          + (f" x {spec.samples} samples of {', '.join(s.text() for s in spec.search)}" if spec.search else "")
          + f"), scheduler {spec.scheduler}, {spec.cpus_per_trial:g} CPU / {spec.gpus_per_trial:g} GPU per trial"
          + f" -> {sweep_dir}", flush=True)
    runner = _import_runner()
    outcomes = runner.run_sweep(spec, sweep_dir, address=args.address)
    return _print_outcomes(sweep_dir, outcomes, spec.metric)


def add_sweep_parser(sub) -> argparse.ArgumentParser:
    from liftrl.sweep.spec import METRICS, SCHEDULERS

    p = sub.add_parser(
        "sweep", help="seeds x grid (x search samples) as Ray Tune trials, each an ordinary run folder",
        description="One Ray Tune trial per seed x grid point (x search sample), each a run folder under "
                    "RUNS/sweeps/NAME/ reporting every evaluation to Tune. Local by default; --address joins "
                    "a Ray cluster (the sweep folder must be on storage every node mounts at the same path). "
                    "A trial whose worker dies restarts from its own latest snapshot.",
        epilog="examples: liftrl sweep configs/quickstart.yaml --seeds 3 | liftrl sweep configs/sac_v11.yaml "
               "--seeds 2 --grid agent.lr=1e-4,3e-4 --grid env.reward=v11,v19 | liftrl sweep configs/sac_v11.yaml "
               "--samples 4 --search 'agent.lr=loguniform(1e-4,1e-3)' --scheduler pbt | "
               "liftrl sweep --resume runs/sweeps/quickstart_20260101_120000")
    p.add_argument("config", nargs="?", help="YAML config every trial starts from")
    p.add_argument("overrides", nargs="*", help="dotted overrides for every trial, e.g. train.total_env_steps=20000")
    p.add_argument("--seeds", type=int, default=1, help="seeds per grid point: train.seed, +1, ... (default 1)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a grid key with its values (repeatable); trials = seeds x every combination")
    p.add_argument("--search", action="append", default=[], metavar="KEY=KIND(A,B)",
                   help="a sampled key: uniform(a,b), loguniform(a,b), randint(a,b), choice(x,y,...) (repeatable)")
    p.add_argument("--samples", type=int, default=1, help="draws of the --search keys per seed x grid point")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="none",
                   help="none: run every trial to the end; asha: stop weak trials early; pbt: weak trials "
                        "copy a strong trial's snapshot and perturb the --perturb keys")
    p.add_argument("--perturb", action="append", default=None, metavar="KEY",
                   help="PBT: keys to perturb (default: every --grid/--search key)")
    p.add_argument("--metric", choices=METRICS, default="success_rate",
                   help="evaluation figure ASHA and PBT maximise (default success_rate)")
    p.add_argument("--address", default=None, help="Ray cluster to join: auto or HOST:PORT (default: start Ray here)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPU cores Tune reserves per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, fractions allowed (default 0)")
    p.add_argument("--max-failures", type=int, default=3, help="restarts of a trial whose worker dies (default 3)")
    p.add_argument("--name", default=None, help="sweep folder name (default: CONFIG-STEM_YYYYMMDD_HHMMSS)")
    p.add_argument("--runs", default=None, help="root folder (default: train.run_dir); the sweep goes to RUNS/sweeps/NAME")
    p.add_argument("--resume", metavar="DIR", default=None, help="continue the interrupted sweep in DIR")
    p.set_defaults(func=_sweep)
    return p


__all__ = ["add_sweep_parser"]
