"""A run's metrics history (``metrics.jsonl``), split into train rows and evaluations.

Only reads; nothing here imports torch or the simulator, so ``compare`` and ``report`` stay light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from liftrl.run.folder import Run, RunError
from liftrl.train.scoring import EvalSummary, rank_key, wilson_lower_bound
from liftrl.train.metrics import read_metrics


# The figures an evaluation logs are ``EvalSummary``'s fields (the loop logs ``eval/<field>``): read
# exactly those, so a field added there fails loudly here (EvalPoint(**values)) instead of drifting.
EVAL_FIELDS = tuple(f.name for f in fields(EvalSummary))


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation from ``metrics.jsonl``: ``EvalSummary``'s figures at a step, as floats so that
    fields an older run did not log can be NaN."""

    step: int
    success_rate: float
    successes: float
    episodes: float
    success_lcb: float
    reward_mean: float
    reward_std: float
    max_cube_z_mean: float
    max_cube_z_max: float
    hold_mean: float
    length_mean: float

    def rank_key(self) -> tuple[float, float]:
        """The train loop's ``best`` order: success lower bound first, then mean reward."""
        return rank_key(self.success_lcb, self.reward_mean)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def eval_point(row: dict, prefix: str = "eval") -> EvalPoint:
    """An ``eval`` row's figures (or, with ``prefix="teacher"``, a distillation's ``teacher`` row's)."""
    if f"{prefix}/success_rate" not in row or f"{prefix}/reward_mean" not in row:
        raise RunError(f"{row.get('kind', prefix)} row at step {row.get('step')} lacks {prefix}/success_rate or "
                       f"{prefix}/reward_mean")
    values = {k: _num(row.get(f"{prefix}/{k}")) for k in EVAL_FIELDS}
    if math.isnan(values["success_lcb"]) and not math.isnan(values["episodes"]) and values["episodes"] > 0:
        successes = values["successes"]
        if math.isnan(successes):
            successes = round(values["success_rate"] * values["episodes"])
        values["success_lcb"] = wilson_lower_bound(int(successes), int(values["episodes"]))
    return EvalPoint(step=int(row["step"]), **values)


@dataclass(frozen=True)
class History:
    """A run's metrics split by kind, in step order."""

    train: list[dict]
    evals: list[EvalPoint]
    # Collapse-guard restores (liftrl.train.guard): rows with the step, reason and restored step.
    guards: list[dict] = field(default_factory=list)
    # A distillation's teacher, evaluated once on the same seeds (``kind: teacher``): the line to reach.
    teacher: EvalPoint | None = None

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a train-row ``key`` where it was logged as a finite number."""
        xs, ys = [], []
        for r in self.train:
            v = r.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                xs.append(int(r["step"]))
                ys.append(float(v))
        return xs, ys

    def keys(self) -> set[str]:
        return set().union(*self.train) if self.train else set()

    def best(self) -> EvalPoint | None:
        """The eval the train loop would call best (earliest among equals, as the loop keeps it).

        An evaluation after which the collapse guard rolled the agent back is never best.
        """
        best = None
        restored_at = {int(g["step"]) for g in self.guards}  # the loop never makes those best
        for p in self.evals:
            if p.step in restored_at:
                continue
            if best is None or p.rank_key() > best.rank_key():
                best = p
        return best


def read_history(run: Run) -> History:
    """The run's metrics; a missing file is an error, an empty one (a run just started) is not."""
    if not run.metrics_path.is_file():
        raise FileNotFoundError(f"{run.path} has no metrics.jsonl (has the run started logging?)")
    rows = read_metrics(run.metrics_path)
    for n, r in enumerate(rows):
        if "step" not in r or "kind" not in r:
            raise RunError(f"{run.metrics_path}: row {n + 1} has no 'step' or 'kind'")
    rows.sort(key=lambda r: int(r["step"]))
    teachers = [eval_point(r, "teacher") for r in rows if r["kind"] == "teacher"]
    return History(train=[r for r in rows if r["kind"] == "train"],
                   evals=[eval_point(r) for r in rows if r["kind"] == "eval"],
                   guards=[r for r in rows if r["kind"] == "guard"],
                   teacher=teachers[-1] if teachers else None)
