"""Where numbers go: ``metrics.jsonl`` (the record a later reader can trust) and TensorBoard.

Every logged row carries the env step; the JSONL file is appended and flushed per row so a run
that dies still has its history up to the last row, which is what the user lacked when a run
collapsed after 500k steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

# Wall-clock figures differ between an uninterrupted and a resumed run; everything else must not.
TIMING_KEYS = ("time/env_steps_per_s", "time/updates_per_s", "time/elapsed_s", "time/cpu_s")


def _clean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class MetricsLogger:
    """One JSONL file and one TensorBoard stream (``tb/``) per run, resumes included.

    TensorBoard opens lazily, so a resume can first say where it rewinds to: the new event file
    then starts with a purge marker at that step (``SummaryWriter(purge_step=...)``), and
    TensorBoard hides the older files' events from that step on, the steps a crash logged after
    the last snapshot, instead of drawing them twice. A ``resumed`` text note marks the step too.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb_dir = Path(run_dir) / "tb" if tensorboard else None
        self._tb = None
        self._purge_step: int | None = None

    def _writer(self):
        if self._tb is None and self._tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self._tb_dir), purge_step=self._purge_step)
            if self._purge_step is not None:
                self._tb.add_text("resumed", f"resumed from the snapshot at step {self._purge_step - 1}; "
                                             f"later steps of the earlier session are dropped", self._purge_step)
        return self._tb

    def log(self, step: int, kind: str, values: Mapping[str, float]) -> None:
        row = {"step": int(step), "kind": kind, **{k: _clean(v) for k, v in values.items()}}
        self._file.write(json.dumps(row, sort_keys=True) + "\n")
        self._file.flush()
        if self._writer() is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)

    def truncate_after(self, step: int) -> None:
        """On resume, drop rows written after the snapshot so history has no duplicate steps (TensorBoard too)."""
        self._purge_step = int(step) + 1
        self._file.close()
        rows = read_metrics(self.path)
        with open(self.path, "w", encoding="utf-8") as f:
            for row in rows:
                if row["step"] <= step:
                    f.write(json.dumps(row, sort_keys=True) + "\n")
        self._file = open(self.path, "a", encoding="utf-8")

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics file; a torn last line (a crash mid-write) is skipped, not fatal."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines) - 1:
                continue
            raise ValueError(f"{path}: line {n + 1} is not valid JSON")
    return rows
