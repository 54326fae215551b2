"""Snapshots on disk: tensors plus JSON, written atomically, read without executing any code.

A snapshot file is one ``torch.save`` of a flat record::

    {"format": "liftrl.snapshot", "version": 1,
     "metadata": "<JSON text>", "structure": "<JSON text>", "tensors": {"0": tensor, "1": tensor, ...}}

``structure`` is the saved state as JSON in which every tensor and numpy array is replaced by a
reference into ``tensors``. Everything else in a training state (counters, numpy RNG states with
128-bit integers, env physics arrays, optimiser hyper-parameters with tuples and integer keys) is
plain JSON plus a few tagged forms, so loading needs ``torch.load(weights_only=True)`` only:
a snapshot can never run code on the machine that opens it, whoever made it.

Writing goes to a temporary file in the same folder, is flushed and fsynced, then renamed over the
target with ``os.replace``: a crash mid-write leaves the previous snapshot untouched.

A training run's snapshot carries metadata marked ``"format": RUN_SNAPSHOT_FORMAT`` that says what
it is (agent, reward and its fingerprint, observation roles and shapes, action size, the resolved
config) and its format version (``liftrl.run.migrate``, which brings older ones to today's);
``run_metadata`` writes it and ``load_run_snapshot`` refuses a file without it.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

FORMAT = "liftrl.snapshot"
VERSION = 1
RUN_SNAPSHOT_FORMAT = "liftrl.run-snapshot"  # the metadata "format" of a training run's snapshot

# Tags of the JSON forms that plain JSON cannot express. A dict with exactly one of these keys is a
# tagged value; any other dict is a plain str-keyed mapping.
_TENSOR = "__tensor__"
_NDARRAY = "__ndarray__"
_TUPLE = "__tuple__"
_ITEMS = "__items__"  # a dict with non-string keys (optimiser states are keyed by int)
_SCALAR = "__float__"  # non-finite floats, which strict JSON cannot hold
_TAGS = (_TENSOR, _NDARRAY, _TUPLE, _ITEMS, _SCALAR)
_ZIP_MAGIC = b"PK\x03\x04"


class SnapshotError(ValueError):
    """A file that is not a readable liftrl snapshot; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------- encode
def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = value.detach()
        return {_TENSOR: key}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"cannot snapshot {where}: numpy object arrays hold arbitrary Python objects")
        key = str(len(tensors))
        # Raw bytes as uint8 keep every numpy dtype (uint16/uint64 included) exactly.
        data = np.ascontiguousarray(value)
        tensors[key] = torch.from_numpy(data.reshape(-1).view(np.uint8).copy())
        return {_NDARRAY: key, "dtype": data.dtype.str, "shape": list(data.shape)}
    if isinstance(value, np.generic):
        return _encode(value.item(), tensors, where)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else {_SCALAR: repr(value)}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and not (len(value) >= 1 and set(value) & set(_TAGS)):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}
        for k in value:
            if not isinstance(k, (str, int, bool, float)) and k is not None:
                raise TypeError(f"cannot snapshot {where}: dict key {k!r} of type {type(k).__name__}")
        return {_ITEMS: [[k, _encode(v, tensors, f"{where}.{k}")] for k, v in value.items()]}
    raise TypeError(f"cannot snapshot {where}: values of type {type(value).__name__} are not tensors, "
                    f"arrays or plain JSON values")


def _decode(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors[value[_TENSOR]]
    if _NDARRAY in value:
        raw = tensors[value[_NDARRAY]].cpu().numpy()
        return raw.view(np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if _TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[_TUPLE])
    if _ITEMS in value:
        return {k: _decode(v, tensors) for k, v in value[_ITEMS]}
    if _SCALAR in value:
        return float(value[_SCALAR])
    return {k: _decode(v, tensors) for k, v in value.items()}


# ---------------------------------------------------------------------------------------------- write
def save_snapshot(path: str | os.PathLike, state: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """Write ``state`` (tensors, numpy arrays, plain values) and JSON ``metadata`` to ``path`` atomically."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(dict(state), tensors, "state")
    try:
        meta_text = json.dumps({**metadata, "snapshot_format": FORMAT, "snapshot_version": VERSION},
                               allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"snapshot metadata for {path} must be plain JSON: {exc}") from None
    record = {"format": FORMAT, "version": VERSION, "metadata": meta_text,
              "structure": json.dumps(structure, allow_nan=False), "tensors": tensors}
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name beside the target (same filesystem, so the rename is atomic), created
    # with os.open so the final file gets the usual umask permissions rather than mkstemp's 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- read
def read_metadata(path: str | os.PathLike) -> dict:
    """Only the JSON metadata of a snapshot (still a full, safe load of the file)."""
    return _read_record(Path(path), "cpu")[1]


def load_snapshot(path: str | os.PathLike, map_location: str | torch.device | None = None) -> tuple[dict, dict]:
    """``(state, metadata)`` of a snapshot written by ``save_snapshot``; ``SnapshotError`` otherwise."""
    path = Path(path)
    record, meta = _read_record(path, map_location)
    try:
        structure = json.loads(record["structure"])
        state = _decode(structure, record["tensors"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: snapshot contents are inconsistent ({exc}); the file is damaged") from None
    return state, meta


def _read_record(path: Path, map_location) -> tuple[dict, dict]:
    if not path.is_file():
        raise FileNotFoundError(f"no snapshot at {path}")
    if path.stat().st_size == 0:
        raise SnapshotError(f"{path}: empty file, not a liftrl snapshot (a write that never finished?)")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        # torch.save writes a zip archive; anything else (a bare pickle, text, ...) is never unpickled.
        raise SnapshotError(f"{path}: not a liftrl snapshot, the file is not a torch.save archive "
                            f"(starts with {magic!r})")
    try:
        record = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any pickle that would import or call something: it is never run.
        detail = [line for line in str(exc).splitlines() if "GLOBAL" in line or "Unsupported" in line]
        raise SnapshotError(f"{path}: refused to load, the file holds Python objects other than tensors and "
                            f"plain values, and loading it could run code"
                            f"{': ' + detail[0].strip() if detail else ''}") from None
    except Exception as exc:  # noqa: BLE001 - torch reports a damaged archive with many exception types
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise SnapshotError(f"{path}: not a readable snapshot, the file is truncated or damaged "
                            f"({type(exc).__name__}: {first})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise SnapshotError(f"{path}: not a liftrl snapshot (format marker {FORMAT!r} missing; found {found!r})")
    if record.get("version") != VERSION:
        raise SnapshotError(f"{path}: snapshot format version {record.get('version')!r}; this liftrl reads "
                            f"version {VERSION}")
    for key, kind in (("metadata", str), ("structure", str), ("tensors", dict)):
        if not isinstance(record.get(key), kind):
            raise SnapshotError(f"{path}: snapshot field {key!r} is missing or not a {kind.__name__}")
    try:
        meta = json.loads(record["metadata"])
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: snapshot metadata is not valid JSON ({exc})") from None
    return record, meta


# ---------------------------------------------------------------------------------------------- run snapshots
def run_metadata(cfg, kind: str, env_steps: int, obs_shapes: Mapping[str, tuple[int, ...]],
                 action_dim: int) -> dict:
    """What a training snapshot says about itself: enough to rebuild its agent and check its env."""
    from datetime import datetime

    from liftrl.config import config_to_dict
    from liftrl.rewards import fingerprint
    from liftrl.run.migrate import RUN_SNAPSHOT_VERSION, RUN_VERSION_KEY

    return {
        "format": RUN_SNAPSHOT_FORMAT, RUN_VERSION_KEY: RUN_SNAPSHOT_VERSION, "kind": kind, "env_steps": env_steps, "agent": cfg.agent.name,
        "reward": {"name": cfg.env.reward, "fingerprint": fingerprint(cfg.env.reward)},
        "observations": {"actor": list(cfg.obs.actor), "critic": list(cfg.obs.critic),
                         "shapes": {k: list(v) for k, v in obs_shapes.items()}},
        "action_dim": action_dim, "config": config_to_dict(cfg),
        "saved_at": datetime.now().isoformat(timespec="seconds"),
    }


def is_run_snapshot(meta: Mapping[str, Any]) -> bool:
    return meta.get("format") == RUN_SNAPSHOT_FORMAT
