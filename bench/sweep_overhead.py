"""What Ray Tune costs: the same trials through ``liftrl sweep`` and as plain ``liftrl train`` processes.

1. ``liftrl sweep CONFIG --seeds N --cpus-per-trial C`` runs N trials on a local Ray (started and
   stopped by the command, so Ray's start-up is part of the bill, as it is for a user).
2. Each trial's own ``config.yaml`` is trained again with ``liftrl train`` as plain processes, as
   many at a time as Tune ran at once (cores // C), so both sides do the same work
   with the same parallelism.
3. Every plain run's metrics must equal its trial's row for row (timing columns aside): a trial is
   an ordinary run, and this checks it on a real config.
4. ``liftrl compare`` aggregates the sweep (mean +- 95% interval over seeds) into
   ``bench/results/<out>.{png,md,json}``; the timing goes to ``<out>_overhead.json``.

    MUJOCO_GL=egl nice -n 10 python bench/sweep_overhead.py               # quickstart, 3 seeds, 3000 steps
    MUJOCO_GL=egl python bench/sweep_overhead.py --steps 300 --config configs/tiny_sac.yaml --out tiny

Wall times on a shared machine move with its load: the load average before and after each side
is recorded next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "bench"))
from common import machine_line  # noqa: E402

from liftrl.train.metrics import TIMING_KEYS  # noqa: E402  (the columns that measure time, not learning)



def _liftrl(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "w", encoding="utf-8") as f:
        return subprocess.Popen([sys.executable, "-m", "liftrl.cli", *args], cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, env={**os.environ, "MUJOCO_GL": "egl"})


def _wait(proc: subprocess.Popen, what: str, log: Path) -> None:
    if proc.wait() != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}); see {log}")


def _rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def first_difference(a: list[dict], b: list[dict]) -> str | None:
    """None when two runs' metrics rows agree (floats to 1e-5 relative), else where they first differ."""
    if len(a) != len(b):
        return f"{len(a)} rows against {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x.keys() != y.keys():
            return f"row {i} (step {x.get('step')}): keys {sorted(set(x) ^ set(y))} in only one"
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                same = abs(x[k] - y[k]) <= 1e-6 + 1e-5 * abs(y[k])
            else:
                same = x[k] == y[k]
            if not same:
                return f"row {i} (step {x.get('step')}): {k} {x[k]!r} against {y[k]!r}"
    return None


def run_sweep(args, work: Path) -> tuple[float, Path]:
    overrides = [f"train.total_env_steps={args.steps}", "train.video_episodes=0", *args.overrides]
    start = time.perf_counter()
    log = work / "sweep.log"
    _wait(_liftrl("sweep", args.config, *overrides, "--seeds", str(args.seeds), "--cpus-per-trial", str(args.cpus_per_trial),
                  "--runs", str(work / "tune"), "--name", args.out, log=log), "liftrl sweep", log)
    return time.perf_counter() - start, work / "tune" / "sweeps" / args.out


def run_plain(trials: list[Path], work: Path, parallel: int) -> tuple[float, dict[str, Path]]:
    """Train each trial's config.yaml as a plain process, ``parallel`` at a time; their run folders."""
    start = time.perf_counter()
    queue, running, runs = list(trials), [], {}
    while queue or running:
        while queue and len(running) < parallel:
            trial = queue.pop(0)
            root = work / "plain" / trial.name
            log = work / f"plain_{trial.name}.log"
            running.append((trial, root, log, _liftrl("train", str(trial / "config.yaml"), "--runs", str(root), log=log)))
        trial, root, log, proc = running.pop(0)
        _wait(proc, f"liftrl train {trial.name}", log)
        runs[trial.name] = next(p for p in root.glob("*/*") if (p / "metrics.jsonl").is_file())
    return time.perf_counter() - start, runs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/quickstart.yaml")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000, help="train.total_env_steps of every trial")
    p.add_argument("--cpus-per-trial", type=int, default=2,
                   help="cores per trial; trials at once = cores // this (default 2: one heavy run at a time)")
    p.add_argument("--out", default="sweep_quickstart", help="name of the sweep and of the result files")
    p.add_argument("overrides", nargs="*", help="more dotted overrides for every trial")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    parallel = max(1, cores // args.cpus_per_trial)
    with tempfile.TemporaryDirectory(prefix="liftrl-sweep-bench-") as tmp:
        work = Path(tmp)
        load0 = os.getloadavg()[0]
        tune_s, sweep_dir = run_sweep(args, work)
        load1 = os.getloadavg()[0]
        trials = sorted(d for d in sweep_dir.iterdir() if (d / "sweep_trial.json").is_file())
        plain_s, plain_runs = run_plain(trials, work, parallel=parallel)
        load2 = os.getloadavg()[0]
        diff = {t.name: first_difference(_rows(t / "metrics.jsonl"), _rows(plain_runs[t.name] / "metrics.jsonl"))
                for t in trials}
        same = {name: d is None for name, d in diff.items()}
        RESULTS.mkdir(parents=True, exist_ok=True)
        log = work / "compare.log"
        _wait(_liftrl("compare", str(sweep_dir), "--out", str(RESULTS / f"{args.out}.png"), log=log), "compare", log)
        print(log.read_text(encoding="utf-8"))
    result = {
        "what": "the same trials through `liftrl sweep` (local Ray, started and stopped by the command) and as "
                "plain `liftrl train` processes of each trial's config.yaml, equally parallel",
        "config": args.config, "overrides": [f"train.total_env_steps={args.steps}", "train.video_episodes=0",
                                             *args.overrides],
        "seeds": args.seeds, "cpus_per_trial": args.cpus_per_trial, "parallel_trials": parallel, "tune_wall_s": round(tune_s, 1),
        "plain_wall_s": round(plain_s, 1), "tune_over_plain": round(tune_s / plain_s, 3),
        "metrics_identical_to_plain_run": same, "first_difference": {k: v for k, v in diff.items() if v},
        "load_average_1min": {"before_sweep": load0, "after_sweep": load1, "after_plain": load2},
        "machine": machine_line(), "command": "MUJOCO_GL=egl nice -n 10 python bench/sweep_overhead.py "
                                              + " ".join(sys.argv[1:]),
    }
    out = RESULTS / f"{args.out}_overhead.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    print(f"written: {out} and {RESULTS / args.out}.{{png,md,json}}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
