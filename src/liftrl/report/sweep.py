"""Aggregating a sweep folder: trials grouped by their non-seed parameters, seeds averaged.

One seed is an anecdote: a group (one grid point) is summarised by the mean over its seeds with a
95% confidence interval from Student's t (mean +- t * s / sqrt(n)), at the evaluation steps every
seed of the group shares. Per group we report the curve, its best point (the step where the
group's mean success, then mean reward, is highest: one step for all seeds, not each seed's own
best, which would flatter), the steps each seed took to reach 90% success, and a ranking of the
groups by mean success at their best, ties broken by the lower end of the interval and then by
mean reward. With one seed the interval is undefined and shown as "-". PBT trials are grouped by
the parameters they started with (``sweep_trial.json``), since their values change along the way.

Reads only files (``liftrl.sweep.spec`` and run folders): no Ray, no torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from liftrl.report.history import EvalPoint, History, read_history
from liftrl.report.tables import match_steps
from liftrl.run.folder import CONFIG_FILE, Run, open_run
from liftrl.sweep.spec import SEED_KEY, SweepSpec, load_spec, read_trial_record

SUCCESS_TARGET = 0.9
# Two-sided 95% critical values of Student's t by degrees of freedom (standard tables). A df
# between entries uses the smaller listed df: a slightly wider, never narrower, interval.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
Z95 = 1.960


def t95(df: int) -> float:
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom, got {df}")
    if df > max(T95):
        return Z95
    return T95[max(d for d in T95 if d <= df)]


@dataclass(frozen=True)
class MeanCI:
    """Mean over seeds and the half-width of its 95% interval (NaN with fewer than two values)."""

    mean: float
    half: float
    n: int

    def text(self, spec: str = ".2f") -> str:
        if self.n == 0:
            return "-"
        return f"{self.mean:{spec}}" + ("" if math.isnan(self.half) else f" ± {self.half:{spec}}")


def mean_ci(values: Sequence[float]) -> MeanCI:
    vals = [float(v) for v in values if not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0)
    mean = sum(vals) / n
    if n == 1:
        return MeanCI(mean, math.nan, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    return MeanCI(mean, t95(n - 1) * sd / math.sqrt(n), n)


@dataclass(frozen=True)
class SweepTrial:
    name: str
    run: Run
    params: dict
    history: History | None  # None: the trial has not logged yet


@dataclass(frozen=True)
class Group:
    label: str
    params: tuple[tuple[str, Any], ...]
    trials: tuple[SweepTrial, ...]


@dataclass(frozen=True)
class CurvePoint:
    step: int
    success: MeanCI
    reward: MeanCI
    max_z: MeanCI


@dataclass(frozen=True)
class GroupSummary:
    group: Group
    curve: tuple[CurvePoint, ...]
    best: CurvePoint | None
    steps_to_target: MeanCI  # over the seeds that got there
    reached: int

    def rank_key(self) -> tuple[float, float, float]:
        if self.best is None:
            return (-math.inf, -math.inf, -math.inf)
        s = self.best.success
        low = s.mean - (0.0 if math.isnan(s.half) else s.half)
        return (s.mean, low, self.best.reward.mean)


def open_sweep(path: str | os.PathLike) -> tuple[SweepSpec, list[SweepTrial]]:
    """The sweep's spec and every trial folder in it (those with ``sweep_trial.json``), by name."""
    path = Path(path)
    spec = load_spec(path)
    trials = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        record = read_trial_record(child)
        if record is None or not (child / CONFIG_FILE).is_file():
            continue
        run = open_run(child)
        history = read_history(run) if run.metrics_path.is_file() else None
        trials.append(SweepTrial(child.name, run, dict(record["params"]), history))
    if not trials:
        raise FileNotFoundError(f"{path} has no trial run folders yet (has the sweep started?)")
    return spec, trials


def _value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def group_trials(trials: Sequence[SweepTrial]) -> list[Group]:
    """Trials with equal non-seed parameters form a group, in order of first appearance."""
    groups: dict[tuple, list[SweepTrial]] = {}
    for t in trials:
        key = tuple(sorted((k, v) for k, v in t.params.items() if k != SEED_KEY))
        groups.setdefault(key, []).append(t)
    return [Group(", ".join(f"{k}={_value_text(v)}" for k, v in key) or "all seeds", key, tuple(ts))
            for key, ts in groups.items()]


def _tolerance(trials: Sequence[SweepTrial]) -> int:
    return max(t.run.num_envs for t in trials)


def group_curve(group: Group) -> tuple[CurvePoint, ...]:
    """Mean +- CI over seeds at the steps every logged seed of the group evaluated."""
    evals = [t.history.evals for t in group.trials if t.history is not None and t.history.evals]
    if not evals:
        return ()
    out = []
    for row in match_steps(evals, _tolerance(group.trials)):
        out.append(CurvePoint(step=row[0].step, success=mean_ci([p.success_rate for p in row]),
                              reward=mean_ci([p.reward_mean for p in row]),
                              max_z=mean_ci([p.max_cube_z_mean for p in row])))
    return tuple(out)


def _first_step_at(evals: Sequence[EvalPoint], target: float) -> int | None:
    return next((p.step for p in evals if p.success_rate >= target), None)


def summarize_group(group: Group, target: float = SUCCESS_TARGET) -> GroupSummary:
    curve = group_curve(group)
    best = max(curve, key=lambda c: (c.success.mean, c.reward.mean)) if curve else None
    firsts = [_first_step_at(t.history.evals, target) for t in group.trials if t.history is not None]
    reached = [s for s in firsts if s is not None]
    return GroupSummary(group, curve, best, mean_ci(reached), len(reached))


def ranked(summaries: Sequence[GroupSummary]) -> list[GroupSummary]:
    return sorted(summaries, key=lambda s: s.rank_key(), reverse=True)


def common_steps(summaries: Sequence[GroupSummary]) -> list[list[CurvePoint]]:
    """Rows of curve points at steps every group's curve has (within the largest num_envs)."""
    curves = [s.curve for s in summaries]
    if not curves or any(not c for c in curves):
        return []
    return match_steps(curves, max(_tolerance(s.group.trials) for s in summaries))
