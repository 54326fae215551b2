"""Evaluation tables: per-episode rows in, Markdown text and CSV/JSON files out.

The printed tables are Markdown so they paste straight into a devlog, in the shape the user
already writes them (checkpoint, mean reward +- std, max cube height, success rate). Every figure
in a summary comes from ``liftrl.train.scoring.summarize`` over the per-episode rows written
beside it, so the two files can always be checked against each other.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from liftrl.common.files import write_text_atomic
from liftrl.report.history import EvalPoint
from liftrl.run.checkpoints import format_step
from liftrl.train.episodes import EpisodeResult
from liftrl.train.scoring import EvalSummary

SUMMARY_FILE_CSV = "summary.csv"
EPISODES_FILE_CSV = "episodes.csv"
EVAL_FILE_JSON = "eval.json"


@dataclass(frozen=True)
class EvalRecord:
    """One checkpoint's evaluation: where it came from, how it was run, what it gave."""

    run: str
    checkpoint: str
    step: int
    settings: dict
    summary: EvalSummary
    episodes: tuple[EpisodeResult, ...]
    videos: tuple[str | None, ...] = ()

    def episode_rows(self) -> list[dict]:
        videos = self.videos or (None,) * len(self.episodes)
        return [{**asdict(e), "video": v} for e, v in zip(self.episodes, videos)]

    def summary_row(self) -> dict:
        return {"run": self.run, "checkpoint": self.checkpoint, "step": self.step, **self.summary.as_dict()}


# ---------------------------------------------------------------------------------- formatting
def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _number(value: float, spec: str, unit: str = "") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{spec}}{unit}"


def _success(rate: float, successes: float, episodes: float) -> str:
    if rate is None or math.isnan(rate):
        return "-"
    if episodes is None or math.isnan(episodes) or math.isnan(successes):
        return f"{rate:.0%}"
    return f"{rate:.0%} ({int(successes)}/{int(episodes)})"


# Units named in the headers: a hold counts env ticks (20 ms, whatever the control rate), an
# episode's length counts control steps (actions), which at 15 Hz last 3-4 ticks each.
HOLD_UNIT = "ticks of 20 ms"
LENGTH_UNIT = "control steps"
SUMMARY_HEADER = ("checkpoint", "env steps", "mean reward", "max cube z (mean)", "max cube z (max)", "success",
                  f"longest hold (mean, {HOLD_UNIT})", f"length (mean, {LENGTH_UNIT})")


def summary_cells(label: str, step: int, s: EvalSummary | EvalPoint) -> list[str]:
    return [label, format_step(step), f"{_number(s.reward_mean, '.2f')} ± {_number(s.reward_std, '.2f')}",
            _number(s.max_cube_z_mean, ".3f", " m"), _number(s.max_cube_z_max, ".3f", " m"),
            _success(s.success_rate, s.successes, s.episodes), _number(s.hold_mean, ".1f"), _number(s.length_mean, ".1f")]


def format_summary_table(records: Sequence[EvalRecord]) -> str:
    """One row per evaluated checkpoint."""
    return _markdown(SUMMARY_HEADER, [summary_cells(r.checkpoint, r.step, r.summary) for r in records])


def format_episode_table(record: EvalRecord) -> str:
    rows = [[str(i), str(e["seed"]), f"{e['reward']:.2f}", f"{e['max_cube_z']:.3f} m", "yes" if e["success"] else "no",
             str(e["max_hold"]), str(e["length"]), Path(e["video"]).name if e["video"] else "-"]
            for i, e in enumerate(record.episode_rows(), start=1)]  # from 1, as the progress lines and videos
    return _markdown(("episode", "seed", "reward", "max cube z", "success", f"longest hold ({HOLD_UNIT})",
                      f"length ({LENGTH_UNIT})", "video"), rows)


# ---------------------------------------------------------------------------------- files
def _csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_eval_files(out_dir: Path, record: EvalRecord) -> dict[str, Path]:
    """``summary.csv`` (one row), ``episodes.csv`` (one row per episode) and ``eval.json`` (both + settings)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"summary_csv": out_dir / SUMMARY_FILE_CSV, "episodes_csv": out_dir / EPISODES_FILE_CSV,
             "json": out_dir / EVAL_FILE_JSON}
    write_text_atomic(paths["summary_csv"], _csv_text([record.summary_row()]))
    write_text_atomic(paths["episodes_csv"], _csv_text(record.episode_rows()))
    doc = {"run": record.run, "checkpoint": record.checkpoint, "step": record.step, "settings": record.settings,
           "summary": record.summary.as_dict(), "episodes": record.episode_rows()}
    write_text_atomic(paths["json"], json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return paths


# ---------------------------------------------------------------------------------- comparisons
def match_steps(evals: Sequence[Sequence[EvalPoint]], tolerance: int) -> list[list[EvalPoint]]:
    """Evaluations that every run made at the same step, give or take ``tolerance`` env steps.

    The train loop evaluates on the first vector step at or past each multiple of ``eval_every``,
    so runs with different ``num_envs`` evaluate a few steps apart for the same multiple; the
    tolerance (the largest ``num_envs``) lines those up. The first run's steps are the reference.
    """
    if not evals or any(not e for e in evals):
        return []
    out = []
    for ref in evals[0]:
        row = [ref]
        for other in evals[1:]:
            near = [p for p in other if abs(p.step - ref.step) < max(tolerance, 1)]
            if not near:
                break
            row.append(min(near, key=lambda p: abs(p.step - ref.step)))
        else:
            out.append(row)
    return out


def format_compare_steps(names: Sequence[str], matched: list[list[EvalPoint]]) -> str:
    """Rows = matching steps; per run: reward +- std, mean max cube z, success."""
    header = ["env steps"]
    for n in names:
        header += [f"{n} reward", f"{n} max z", f"{n} success"]
    rows = []
    for points in matched:
        cells = [format_step(points[0].step)]
        for p in points:
            cells += [f"{_number(p.reward_mean, '.2f')} ± {_number(p.reward_std, '.2f')}", _number(p.max_cube_z_mean, ".3f", " m"),
                      _success(p.success_rate, p.successes, p.episodes)]
        rows.append(cells)
    return _markdown(header, rows)


def format_compare_best(names: Sequence[str], bests: Sequence[EvalPoint | None]) -> str:
    """Rows = metrics, columns = runs at their own best eval (the user's "v11 @ 500k | v19 @ 500k")."""
    header = ["metric"] + [f"{n} @ {format_step(b.step)}" if b else f"{n} (no evals yet)" for n, b in zip(names, bests)]
    metrics = [
        ("mean reward", lambda p: f"{_number(p.reward_mean, '.2f')} ± {_number(p.reward_std, '.2f')}"),
        ("max cube z (mean)", lambda p: _number(p.max_cube_z_mean, ".3f", " m")),
        ("max cube z (max)", lambda p: _number(p.max_cube_z_max, ".3f", " m")),
        ("success", lambda p: _success(p.success_rate, p.successes, p.episodes)),
        ("success lower bound", lambda p: _number(p.success_lcb, ".2f")),
        (f"longest hold (mean, {HOLD_UNIT})", lambda p: _number(p.hold_mean, ".1f")),
        (f"length (mean, {LENGTH_UNIT})", lambda p: _number(p.length_mean, ".1f")),
    ]
    rows = [[label] + [fn(b) if b else "-" for b in bests] for label, fn in metrics]
    return _markdown(header, rows)
