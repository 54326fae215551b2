"""What ``liftrl train`` tells the person at the terminal: where the run is, how it went, what next.

Pure text from plain values, so every line can be tested without training: a start banner (run
folder, device, threads, config, what it resumed from), the progress-bar postfix, the end summary
(final and best evaluation, where the best snapshot is, wall time, how to evaluate and export) and
the one line a stopped run leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Banner:
    run_dir: Path
    device: str
    torch_threads: int
    num_envs: int
    envs: str  # where the training envs run (the vector env's placement)
    config: str
    overrides: Sequence[str] = ()
    resumed_from: str | None = None
    command: str = "train"  # the liftrl command running (train, distill)
    update_threads: int | None = None  # distill: the threads of each round's updates, when not torch_threads


def banner_lines(b: Banner) -> list[str]:
    source = f"{b.config}" + (f" with {' '.join(b.overrides)}" if b.overrides else "")
    threads = f"{b.torch_threads}"
    if b.update_threads not in (None, b.torch_threads):
        threads += f" ({b.update_threads} for each round's updates)"
    lines = [f"liftrl {b.command}: run folder {b.run_dir}",
             f"  config: {source}",
             f"  device: {b.device}, torch threads: {threads}, {b.num_envs} training envs: {b.envs}"]
    if b.resumed_from:
        lines.append(f"  resumed from: {b.resumed_from}")
    return lines


def eval_text(summary: Mapping) -> str:
    """``3/10 success, reward 41.2`` from an evaluation summary's dict."""
    return f"{summary['successes']}/{summary['episodes']} success, reward {summary['reward_mean']:.1f}"


def postfix(steps_per_s: float | None, step: int | None, summary: Mapping | None) -> str:
    """The progress bar's postfix: speed, and the latest evaluation with the step it was made at."""
    rate = "-" if steps_per_s is None else f"{steps_per_s:.0f}"
    last = "eval -" if summary is None else (f"eval@{step} {summary['successes']}/{summary['episodes']} "
                                              f"R={summary['reward_mean']:.0f}")
    return f"{rate} steps/s {last}"


def wall_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def summary_lines(run_dir: Path, env_steps: int, seconds: float, final: Mapping | None, final_step: int | None,
                  best: Mapping | None, best_path: Path | None, videos: Sequence[Path] = (),
                  worker_restarts: int = 0, command: str = "train") -> list[str]:
    lines = [f"liftrl {command}: done at step {env_steps} in {wall_time(seconds)} (this session)"]
    if final is not None:
        lines.append(f"  final eval (step {final_step}): {eval_text(final)}")
    if best is not None:
        lines.append(f"  best eval (step {best['env_steps']}): {eval_text(best)}"
                     + (f" -> {best_path}" if best_path else ""))
    if worker_restarts:
        lines.append(f"  env workers restarted: {worker_restarts} (see the warnings above)")
    for video in videos:
        lines.append(f"  video: {video}")
    lines += [f"  evaluate: liftrl eval {run_dir} --checkpoints best",
              f"  export:   liftrl export {run_dir}",
              f"run folder: {run_dir}"]
    return lines


def resume_hint(run_dir: Path, command: str = "train") -> str:
    """The command that continues ``run_dir``: ``liftrl train --resume`` (``distill`` for a student run)."""
    return f"liftrl {command} --resume {run_dir}"


def stopped_line(env_steps: int, run_dir: Path, command: str = "train") -> str:
    return f"stopped at step {env_steps}; resume with: {resume_hint(run_dir, command)}"
