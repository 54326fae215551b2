"""Wall time of a 50-episode dry run (``liftrl deploy BUNDLE --robot sim``): before and after worker processes.

Before is the dry run of the sources at ``--before`` (default: the commit before the parallel
runner, ``liftrl.sim.parallel``, was added), extracted with ``git archive`` into a temporary folder,
which ran every episode in one process; after is this checkout's, with ``--workers`` processes,
and this checkout's with ``--workers 1`` (one process, one torch thread: what the workers gain
apart from the thread setting).
Both run the same bundle, episodes and rows as separate ``liftrl`` processes, once each (a dry run
is minutes: one run of each, not a median). The two tables must be equal episode for episode
in their counts: the bench says so, or fails.

The machine is shared while it runs, so the load average before and after each run is written
beside its time, and the CPU seconds the run's processes used (which other work does not change).

    python bench/dryrun_speed.py BUNDLE --label "student (tiny distill run)" --out bench/results/dryrun_speed.txt
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def before_ref() -> str:
    """The commit before ``src/liftrl/sim/parallel.py`` first appeared (the serial dry run)."""
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "src/liftrl/sim/parallel.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not added:
        raise SystemExit("src/liftrl/sim/parallel.py is not in this checkout's history: give --before REF")
    return added[-1] + "^"


def extract(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def timed_dry_run(src: Path, argv: list[str]) -> dict:
    """One ``liftrl deploy`` process: wall seconds, its CPU seconds (children included), load, table."""
    env = {**os.environ, "PYTHONPATH": str(src), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    load_before = os.getloadavg()[0]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "liftrl.cli", "deploy", *argv], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"liftrl deploy failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    return {"wall_s": wall, "cpu_s": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
            "load_before": load_before, "load_after": os.getloadavg()[0], "table": table}


def report(args, ref: str, before: dict, after: dict, serial: dict, command: list[str]) -> str:
    def line(name, r):
        return (f"{name}: {r['wall_s']:.1f} s wall ({r['wall_s'] / 60:.2f} min), {r['cpu_s']:.0f} CPU s, "
                f"1-min load average {r['load_before']:.1f} before, {r['load_after']:.1f} after")

    def counts(r):
        return [row.split("|")[5] for row in r["table"][2:]]

    same = counts(before) == counts(after) == counts(serial)
    return "\n".join([
        f"# 50-episode dry run: before and after worker processes ({args.episodes} episodes per row)",
        "",
        f"bundle: {args.label}",
        f"command: liftrl deploy BUNDLE {' '.join(command)}",
        machine_line(),
        f"before: sources at {ref}, one process (the serial dry run)",
        f"after: this checkout, --workers {args.workers}; and with --workers 1 (one process, one torch thread)",
        "one run each; the machine was shared with other work while they ran (see the load averages):",
        "wall times are inflated by it, CPU seconds much less so.",
        "--workers 1 separates the two changes: one torch thread per episode process (the old path ran",
        "torch's default threads, whose spinning costs CPU on a busy machine) and the worker processes.",
        "",
        line("before", before),
        line("after", after),
        line("after, --workers 1", serial),
        f"speed-up (wall): {before['wall_s'] / after['wall_s']:.2f}x; workers alone (vs --workers 1): "
        f"{serial['wall_s'] / after['wall_s']:.2f}x",
        f"success counts equal in every row: {'yes' if same else 'NO'}",
        "",
        "before:", *before["table"], "", "after:", *after["table"], "", "after, --workers 1:", *serial["table"], "",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", help="bundle folder (liftrl export)")
    p.add_argument("--label", required=True, help="what the bundle is, for the results file (not its path)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--camera-noise", type=float, default=4.0)
    p.add_argument("--camera-gain", type=float, default=0.2)
    p.add_argument("--before", default=None, help="git ref of the serial dry run (default: before sim/parallel.py)")
    p.add_argument("--out", default=None, help="results file (default: print only)")
    args = p.parse_args()
    ref = args.before or before_ref()
    common = ["--robot", "sim", "--episodes", str(args.episodes), "--camera-noise", str(args.camera_noise),
              "--camera-gain", str(args.camera_gain)]
    with tempfile.TemporaryDirectory() as tmp:
        old_src = extract(ref, Path(tmp))
        ref = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        before = timed_dry_run(old_src, [args.bundle, *common])
        print(f"before: {before['wall_s']:.1f} s", flush=True)
        after = timed_dry_run(ROOT / "src", [args.bundle, *common, "--workers", str(args.workers)])
        print(f"after: {after['wall_s']:.1f} s", flush=True)
        serial = timed_dry_run(ROOT / "src", [args.bundle, *common, "--workers", "1"])
        print(f"after, one process: {serial['wall_s']:.1f} s", flush=True)
    text = report(args, ref, before, after, serial, [*common, "--workers", str(args.workers)])
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
