"""Which run a snapshot belongs to and which network it holds, checked before it is used.

A snapshot of another run (a SAC with other hidden sizes) copied into a run's ``snapshots/`` was
evaluated and exported silently under this run's name, and a resume with a differently sized net
died in a raw torch ``size mismatch``. Now each run has an identity in ``RUN/run.json``: a random id
and the *architecture* of its agent, the agent's name, observation roles and shapes, action size
and the shape of every network tensor (optimiser, RNG and diagnostics left out). Every snapshot records
the run id and the architecture's hash. ``eval``, ``export`` and ``resume`` read a snapshot only
through ``load_checked_snapshot``, which refuses one of another run or another network, naming
both runs or each tensor that differs.

The architecture is computed from the weights themselves, so even a snapshot saved before ids
existed is checked for size; it is loaded with a warning that its run cannot be verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from liftrl.run.folder import RunError

RUN_FILE = "run.json"
# Not network: optimiser state, training diagnostics, RNG state (keys ending so are skipped).
_NOT_NETWORK = ("_opt", "_diagnostics", "generator")
_MAX_LISTED = 8


class ForeignSnapshot(RunError):
    """A snapshot of another run, or with another network than the run's; the message names both."""


def architecture(agent: str, agent_state: Mapping[str, Any], observations: Mapping[str, Any],
                 action_dim: int) -> dict:
    """The network a snapshot's agent state holds: tensor shapes by dotted name, plus its inputs and outputs."""
    params: dict[str, list[int]] = {}

    def walk(prefix: str, node: Any) -> None:
        if hasattr(node, "shape") and hasattr(node, "dtype"):
            params[prefix] = [int(n) for n in node.shape]
        elif isinstance(node, Mapping):
            for key, value in node.items():
                if str(key).endswith(_NOT_NETWORK) or _is_optimiser_state(value):
                    continue
                walk(f"{prefix}.{key}" if prefix else str(key), value)

    walk("", agent_state)
    roles = set(observations["actor"]) | set(observations["critic"])  # inputs kept for others (a teacher's) aside
    return {"agent": agent, "actor": list(observations["actor"]), "critic": list(observations["critic"]),
            "shapes": {k: list(v) for k, v in observations["shapes"].items() if k in roles},
            "action_dim": int(action_dim), "params": dict(sorted(params.items()))}


def _is_optimiser_state(node: Any) -> bool:
    """A torch optimiser's ``state_dict`` (``state`` + ``param_groups``), whatever key it is saved under."""
    return isinstance(node, Mapping) and {"state", "param_groups"} <= set(node)


def snapshot_architecture(state: Mapping[str, Any], meta: Mapping[str, Any]) -> dict:
    try:
        return architecture(meta["agent"], state["agent"], meta["observations"], meta["action_dim"])
    except KeyError as exc:
        raise RunError(f"snapshot lacks {exc}: not a liftrl training snapshot") from None


def architecture_hash(arch: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]


def differences(snapshot: Mapping[str, Any], run: Mapping[str, Any]) -> list[str]:
    """Each difference between two architectures, as ``what: snapshot value, run value`` text."""
    out = [f"{key}: {snapshot.get(key)} in the snapshot, {run.get(key)} in the run"
           for key in ("agent", "actor", "critic", "shapes", "action_dim") if snapshot.get(key) != run.get(key)]
    a, b = snapshot.get("params", {}), run.get("params", {})
    for name in sorted(set(a) | set(b)):
        if name not in b:
            out.append(f"{name}: only in the snapshot")
        elif name not in a:
            out.append(f"{name}: only in the run")
        elif a[name] != b[name]:
            out.append(f"{name}: {a[name]} in the snapshot, {b[name]} in the run")
    if len(out) > _MAX_LISTED:
        out = out[:_MAX_LISTED] + [f"and {len(out) - _MAX_LISTED} more"]
    return out


# ---------------------------------------------------------------------------------- the run's identity
def create_run_identity(run_dir: str | os.PathLike, arch: Mapping[str, Any]) -> dict:
    """Write ``RUN/run.json`` (atomically): a new run id and the run's architecture."""
    ident = {"run_id": uuid.uuid4().hex, "created": datetime.now().isoformat(timespec="seconds"),
             "architecture_hash": architecture_hash(arch), "architecture": dict(arch)}
    path = Path(run_dir) / RUN_FILE
    tmp = path.with_name(f".{RUN_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(ident, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return ident


def read_run_identity(run_dir: str | os.PathLike) -> dict | None:
    """The run's identity, or None for a run made before liftrl recorded one."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        ident = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunError(f"{path} is not valid JSON ({exc}); it says which run this folder is") from None
    if not (isinstance(ident, dict) and "run_id" in ident and "architecture" in ident):
        raise RunError(f"{path} lacks run_id or architecture; it says which run this folder is")
    return ident


def check_snapshot(run_dir: str | os.PathLike, path: str | os.PathLike, meta: Mapping[str, Any],
                   arch: Mapping[str, Any]) -> None:
    """Refuse a snapshot of another run or network than ``run_dir``'s; warn where either predates ids."""
    ident = read_run_identity(run_dir)
    if ident is None:
        warnings.warn(f"{run_dir} has no {RUN_FILE} (made before liftrl recorded run ids): "
                      f"{Path(path).name} is used without checking that it belongs to this run", stacklevel=3)
        return
    problems = []
    run_id = meta.get("run_id")
    if run_id is None:
        warnings.warn(f"{path} was saved before liftrl recorded run ids: loaded without checking that it belongs "
                      f"to {run_dir} (its network is checked)", stacklevel=3)
    elif run_id != ident["run_id"]:
        problems.append(f"it was saved by run {run_id}, and this run is {ident['run_id']}")
    changed = differences(arch, ident["architecture"])
    if changed:
        problems.append(f"its network differs from this run's ({'; '.join(changed)})")
    if problems:
        raise ForeignSnapshot(f"{path} refused: {' and '.join(problems)}. A snapshot is used only by the run "
                              f"that saved it ({Path(run_dir) / RUN_FILE})")


def load_checked_snapshot(run_dir: str | os.PathLike, path: str | os.PathLike,
                          map_location=None) -> tuple[dict, dict]:
    """``(state, metadata)`` of one of ``run_dir``'s snapshots in today's format (``liftrl.run.migrate``),
    once ``check_snapshot`` accepted it."""
    from liftrl.run.migrate import migrate_snapshot
    from liftrl.run.snapshot import is_run_snapshot, load_snapshot

    state, meta = load_snapshot(path, map_location=map_location)
    if not is_run_snapshot(meta):
        raise RunError(f"{path} is a snapshot but not of a training run (format {meta.get('format')!r})")
    state, meta = migrate_snapshot(state, meta, str(path))
    check_snapshot(run_dir, path, meta, snapshot_architecture(state, meta))
    return state, meta
