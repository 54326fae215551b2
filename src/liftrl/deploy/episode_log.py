"""One episode on a robot, recorded step by step into a single ``.npz`` that can be replayed.

Per step: the raw wrist frame (optional), every observation the actor saw, its action, the joint
targets it asked for and those actually sent after the safety limits, the measured joints, the
clock times, the loop timings and the safety events. ``replay`` runs a policy on the recorded
observations again: a bundle that reproduces the logged actions is the one that drove the arm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

TIMING_FIELDS = ("lateness_ms", "read_ms", "policy_ms", "command_ms", "loop_ms")


class EpisodeLog:
    def __init__(self, log_frames: bool = True):
        self.log_frames = log_frames
        self.rows: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}

    def append(self, *, frame: np.ndarray, obs: Mapping[str, np.ndarray], action: np.ndarray,
               requested: np.ndarray, sent: np.ndarray, joints: np.ndarray, target: np.ndarray, timestamp: float,
               frame_timestamp: float, timings: Mapping[str, float], events: list[str]) -> None:
        row = {"action": np.asarray(action, dtype=np.float32), "requested": np.asarray(requested, dtype=float),
               "sent": np.asarray(sent, dtype=float), "joints": np.asarray(joints, dtype=float),
               "target": np.asarray(target, dtype=float), "timestamp": float(timestamp),
               "frame_timestamp": float(frame_timestamp), "events": ",".join(events),
               **{f"obs.{k}": np.asarray(v).copy() for k, v in obs.items()},
               **{f"timing.{k}": float(timings.get(k, np.nan)) for k in TIMING_FIELDS}}
        if self.log_frames:
            row["frame"] = np.asarray(frame, dtype=np.uint8).copy()
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        if self.rows:
            for key in self.rows[0]:
                values = [r[key] for r in self.rows]
                arrays[key] = np.array(values, dtype=str) if key == "events" else np.stack(
                    [np.asarray(v) for v in values])
        arrays["meta"] = np.array(json.dumps({**self.meta, "steps": len(self.rows)}))
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path


def load_log(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of a saved episode (no pickles: plain arrays and a JSON string)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("meta")))
    return arrays, meta


def replay(path: str | os.PathLike, policy: Callable[[Mapping[str, np.ndarray]], np.ndarray]) -> float:
    """Max |policy(logged observations) - logged actions| over the episode."""
    arrays, _ = load_log(path)
    obs = {k[len("obs."):]: v for k, v in arrays.items() if k.startswith("obs.")}
    if "action" not in arrays or not obs:
        return 0.0
    return float(np.max(np.abs(policy(obs) - arrays["action"])))
