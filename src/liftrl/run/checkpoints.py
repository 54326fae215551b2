"""Which snapshot a checkpoint name means: ``best``, ``latest``, ``all`` or a step.

Names (``liftrl eval --checkpoints``, ``liftrl export --checkpoint``): ``best``, ``latest``, ``all``
(every periodic snapshot), or a step such as ``300``, ``100k``, ``1.5M``, ``step_000100000``. A step
names the snapshot the train loop saved when the run crossed it: the loop saves on the first vector
step at or past each multiple of ``snapshot_every``, so with ``num_envs`` environments that snapshot
lies in ``[step, step + num_envs)``. Anything else is an error that lists the steps the run has;
there is no "nearest" guess, because evaluating a different checkpoint than the one asked for would
put wrong numbers in a table silently.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from liftrl.run.folder import Run, RunError, open_run

SNAPSHOT_RE = re.compile(r"^step_(\d+)\.pt$")
STEP_RE = re.compile(r"^(?:step_)?(\d+(?:\.\d+)?)([kKmM]?)$")
SPECIAL = ("best", "latest", "all")


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


def resolve_checkpoint(run_dir: str | os.PathLike, name: str = "best") -> Checkpoint:
    """The one snapshot ``best``, ``latest`` or a step (``100k``, ``1234``) names, as ``liftrl eval`` reads it."""
    if "," in str(name) or str(name).strip().lower() == "all":
        raise ValueError(f"give one checkpoint (best, latest or a step), got {name!r}")
    (found,) = resolve_checkpoints(open_run(run_dir), str(name))
    return found
