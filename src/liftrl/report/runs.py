"""Reading a run folder: its config, its metrics history and its snapshots, with clear refusals.

A run folder is what ``liftrl train`` leaves: ``config.yaml``, ``metrics.jsonl`` and
``snapshots/step_<env steps>.pt`` plus ``latest.pt`` and ``best.pt``. Everything here only reads;
nothing imports torch or the simulator, so ``compare`` and ``report`` stay light.

Checkpoint names (``--checkpoints``): ``best``, ``latest``, ``all`` (every periodic snapshot),
or a step such as ``300``, ``100k``, ``1.5M``, ``step_000100000``. A step names the snapshot the
train loop saved when the run crossed it: the loop saves on the first vector step at or past each
multiple of ``snapshot_every``, so with ``num_envs`` environments that snapshot lies in
``[step, step + num_envs)``. Anything else is an error that lists the steps the run has; there is
no "nearest" guess, because evaluating a different checkpoint than the one asked for would put
wrong numbers in a table silently.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from liftrl.train.evaluate import EvalSummary, rank_key, wilson_lower_bound
from liftrl.train.metrics import read_metrics

SNAPSHOT_RE = re.compile(r"^step_(\d+)\.pt$")
STEP_RE = re.compile(r"^(?:step_)?(\d+(?:\.\d+)?)([kKmM]?)$")
SPECIAL = ("best", "latest", "all")


class RunError(ValueError):
    """A run folder, checkpoint name or metrics file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict = field(repr=False)

    @property
    def name(self) -> str:
        """``agent/stamp``: enough to tell runs apart in a table or a legend."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def num_envs(self) -> int:
        return int(self.config.get("env", {}).get("num_envs", 1) or 1)

    def setting(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def open_run(path: str | os.PathLike) -> Run:
    """The run at ``path``; a missing folder or one without ``config.yaml`` is refused by name."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no run folder at {path}")
    if not path.is_dir():
        raise RunError(f"{path} is a file, not a run folder")
    config_file = path / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path} has no config.yaml: not a liftrl run folder")
    with open(config_file, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise RunError(f"{config_file} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise RunError(f"{config_file} does not hold a mapping of settings")
    return Run(path=path, config=config)


# ---------------------------------------------------------------------------------- checkpoints
def parse_step(text: str) -> int:
    """``"300"`` -> 300, ``"100k"`` -> 100000, ``"1.5M"`` -> 1500000, ``"step_000000300"`` -> 300."""
    m = STEP_RE.match(text.strip())
    if not m:
        raise RunError(f"{text!r} is not a checkpoint name: use best, latest, all, or a step like 300, 100k, 1.5M")
    number, unit = m.groups()
    value = float(number) * {"": 1, "k": 1_000, "m": 1_000_000}[unit.lower()]
    if value != int(value):
        raise RunError(f"{text!r} is not a whole number of env steps")
    return int(value)


def format_step(step: int) -> str:
    """Short label for a step: 100000 -> 100k, 1500000 -> 1.5M, 300 -> 300."""
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if step >= div and step % (div // 100) == 0:
            return f"{step / div:g}{unit}"
    return str(step)


def periodic_snapshots(run: Run) -> dict[int, Path]:
    """Env step -> snapshot file, for every ``step_*.pt`` in the run."""
    if not run.snapshots.is_dir():
        return {}
    out = {}
    for p in run.snapshots.iterdir():
        m = SNAPSHOT_RE.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Checkpoint:
    labels: tuple[str, ...]
    step: int
    path: Path

    @property
    def label(self) -> str:
        return ",".join(self.labels)


def _alias_step(run: Run, alias: str, steps: dict[int, Path]) -> tuple[int, Path]:
    """Which periodic snapshot ``best.pt`` / ``latest.pt`` is (they are hard links or copies of one)."""
    path = run.snapshots / f"{alias}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{run.path} has no snapshots/{alias}.pt"
                                + ("" if steps else " (the run has saved no snapshot yet)"))
    for step, p in steps.items():
        try:
            if os.path.samefile(p, path):
                return step, p
        except OSError:
            continue
    size = path.stat().st_size  # a copy where links failed: same bytes as exactly one periodic file
    data = None
    for step, p in steps.items():
        if p.stat().st_size == size:
            data = data if data is not None else path.read_bytes()
            if p.read_bytes() == data:
                return step, p
    raise RunError(f"{path} matches no periodic snapshot in {run.snapshots}; cannot tell its step")


def resolve_checkpoints(run: Run, spec: str) -> list[Checkpoint]:
    """The snapshots a comma-separated ``spec`` names, in step order, each step once."""
    steps = periodic_snapshots(run)
    tokens = [t.strip() for t in spec.split(",") if t.strip()]
    if not tokens:
        raise RunError("no checkpoint named: give e.g. --checkpoints best or 100k,500k")
    found: dict[int, list[str]] = {}
    for token in tokens:
        key = token.lower()
        if key == "all":
            if not steps:
                raise FileNotFoundError(f"{run.path} has no snapshots yet")
            for step in steps:
                found.setdefault(step, []).append(format_step(step))
            continue
        if key in ("best", "latest"):
            step, _ = _alias_step(run, key, steps)
            found.setdefault(step, []).append(key)
            continue
        wanted = parse_step(token)
        tol = max(run.num_envs, 1)
        match = [s for s in steps if wanted <= s < wanted + tol]
        if not match:
            have = ", ".join(format_step(s) for s in steps) or "none"
            raise FileNotFoundError(f"{run.path} has no snapshot at step {wanted} ({token}); available: {have}")
        found.setdefault(match[0], []).append(token)
    return [Checkpoint(labels=tuple(dict.fromkeys(found[s])), step=s, path=steps[s]) for s in sorted(found)]


# ---------------------------------------------------------------------------------- metrics
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


def eval_point(row: dict) -> EvalPoint:
    if "eval/success_rate" not in row or "eval/reward_mean" not in row:
        raise RunError(f"eval row at step {row.get('step')} lacks eval/success_rate or eval/reward_mean")
    values = {k: _num(row.get(f"eval/{k}")) for k in EVAL_FIELDS}
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
        """The eval the train loop would call best (earliest among equals, as the loop keeps it)."""
        best = None
        for p in self.evals:
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
    return History(train=[r for r in rows if r["kind"] == "train"],
                   evals=[eval_point(r) for r in rows if r["kind"] == "eval"])
