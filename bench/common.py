"""Timing helpers shared by the benchmark scripts.

The benches run on shared, noisy machines, so every figure is a median over repeats, and the
machine line printed beside the figures says where they came from. Imports nothing heavy: the
env bench uses it without torch.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Iterable


def rate(fn: Callable[[], object], seconds: float, warmup: int = 5,
         sync: Callable[[], None] | None = None, clock: Callable[[], float] = time.perf_counter) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of ``clock``, after ``warmup`` untimed calls.

    ``fn`` runs at least once. ``sync`` (e.g. ``torch.cuda.synchronize``) is called after the
    warm-up and at the end of the window, so work still queued on an accelerator is paid for.
    ``clock=time.process_time`` counts calls per CPU second of this process (all its threads):
    on a machine shared with other work that figure does not move with their load, while
    wall-clock rates fall with every process competing for the core.
    """
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    n, start = 0, clock()
    while clock() - start < seconds:
        fn()
        n += 1
    if sync is not None:
        sync()
    return n / (clock() - start)


def median(values: Iterable[float]) -> float:
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def cpu_name() -> str:
    """The processor's model name where Linux tells it, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine: {cpu_name()}, {cores} cores usable, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def _timed_block(fn: Callable[[], object], calls: int, sync: Callable[[], None] | None) -> float:
    if sync is not None:
        sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    if sync is not None:
        sync()
    return time.perf_counter() - start


def paired_rates(fn_a: Callable[[], object], fn_b: Callable[[], object], seconds: float, warmup: int = 3,
                 block_seconds: float = 0.5, sync: Callable[[], None] | None = None) -> tuple[float, float]:
    """Calls per second of ``fn_a`` and of ``fn_b``, timed in alternating blocks of about ``block_seconds``.

    Why blocks: on a shared machine the load changes within seconds, and two long windows one
    after the other can see different machines (a 2x swing was seen here). Alternating short
    blocks, whose order also alternates, gives both the same conditions; blocks of several calls
    keep an accelerator's queue full (``sync`` only runs at block edges). Each function gets at
    least ``seconds`` of timed calls, and at least one call.
    """
    per_call = []
    for fn in (fn_a, fn_b):
        n = max(warmup, 1)  # the untimed warm-up also sizes the blocks
        per_call.append(_timed_block(fn, n, sync) / n)
    blocks = [max(1, int(block_seconds / max(t, 1e-9))) for t in per_call]
    spent, calls = [0.0, 0.0], [0, 0]
    order = [0, 1]
    while min(spent) < seconds:
        for i in order:
            spent[i] += _timed_block((fn_a, fn_b)[i], blocks[i], sync)
            calls[i] += blocks[i]
        order.reverse()
    return calls[0] / spent[0], calls[1] / spent[1]


def wall_seconds(rows: list[dict]) -> float:
    """Wall time of a run from its metrics rows: ``time/elapsed_s`` restarts in each resumed process, so add
    the pieces (learn.py and student.py summaries)."""
    wall, last = 0.0, 0.0
    for r in rows:
        t = r.get("time/elapsed_s")
        if t is None:
            continue
        if t < last:
            wall += last
        last = t
    return wall + last


def mark_if_running(summary: dict, run) -> None:
    """Mark ``summary`` of a run that is still being written (``--summarize`` of a run that goes on):
    its figures lack the rows to come, which the JSON then says and the console warns about."""
    import sys

    from liftrl.run.lock import current_writer

    holder = current_writer(run)
    if holder is not None:
        summary["still_running"] = holder.describe()
        print(f"{run} is still being written by {holder.describe()}: this summary lacks the rows to come; "
              f"summarise it again when it stops", file=sys.stderr)


def pyplot():
    """matplotlib's pyplot, headless (Agg): the benches write PNGs and never open a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_panels(fig, axes, xlabel: str, title: str, out) -> None:
    """The learning-proof figures' common finish: x label and grid on each panel, title, PNG, closed."""
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    pyplot().close(fig)
