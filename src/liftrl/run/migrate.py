"""Old run snapshots and policy bundles, brought to today's format in one place, step by step.

Every reader of a run snapshot (resume, ``liftrl eval``, ``export``, the policy loader) and of a
bundle (``liftrl deploy``, the dry run) sees only the current format: the code that uses a field
never asks whether an old file lacks it. Each format carries a version: a run snapshot in its
metadata's ``run_version`` (snapshots written before versions existed are version 1), a bundle in
``spec.json``'s ``version``. A file of version N goes through the steps N -> N+1 -> ... -> today,
each a pure function from one version's dict to the next one's (the input is never changed). A
file newer than this liftrl is refused by name: reading it as an older format would guess.

| format        | step   | what changed                                                          |
| ------------- | ------ | --------------------------------------------------------------------- |
| run snapshot  | 1 -> 2 | the collapse guard counts its restores: ``counters.guard_restores``   |
| run snapshot  | 2 -> 3 | env worker restarts counted over the run: ``counters.worker_restarts`` |
| run snapshot  | 3 -> 4 | the env's lead cap: ``config.env.command_lead_rad`` ([] = none)        |
| policy bundle | 1 -> 2 | a SAC actor says whether it has LayerNorm: ``actor.layer_norm``        |
| policy bundle | 2 -> 3 | the lead cap it was trained under: ``task.command_lead_rad``           |
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

RUN_VERSION_KEY = "run_version"  # in a run snapshot's metadata
RUN_SNAPSHOT_VERSION = 4
BUNDLE_VERSION = 3

Step = Callable[[Mapping[str, Any]], dict]


class FormatTooNew(ValueError):
    """A file written by a newer liftrl than this one; the message names the file and both versions."""


# ---------------------------------------------------------------------------------------------- run snapshots
# A run snapshot here is ``{"metadata": meta, "state": state}``, as ``load_snapshot`` returns them.
def _with_counter(snapshot: Mapping[str, Any], name: str, value: Any, version: int) -> dict:
    """A copy of ``snapshot`` (only the changed paths copied: tensors are shared, never changed) whose
    counters hold ``name`` (kept if present) and whose metadata says ``version``. A state without
    counters (the weights alone, as a bundle export reads them) has none to fill."""
    state = snapshot["state"]
    if "counters" in state:
        state = {**state, "counters": {name: value, **state["counters"]}}
    return {**snapshot, "state": state, "metadata": {**snapshot["metadata"], RUN_VERSION_KEY: version}}


def snapshot_1_to_2(snapshot: Mapping[str, Any]) -> dict:
    """Snapshots from before the collapse guard: no restore has happened."""
    return _with_counter(snapshot, "guard_restores", 0, 2)


def snapshot_2_to_3(snapshot: Mapping[str, Any]) -> dict:
    """Snapshots from before worker restarts were counted across resumes: none counted before."""
    return _with_counter(snapshot, "worker_restarts", 0, 3)


def snapshot_3_to_4(snapshot: Mapping[str, Any]) -> dict:
    """Runs from before the env's lead cap were trained without one: their env says so ([]), so an
    export records it and the dry run's env row is the env they trained in."""
    meta = snapshot["metadata"]
    config = meta.get("config")
    out_meta = {**meta, RUN_VERSION_KEY: 4}
    if isinstance(config, Mapping) and isinstance(config.get("env"), Mapping):
        out_meta["config"] = {**config, "env": {"command_lead_rad": [], **config["env"]}}
    return {**snapshot, "metadata": out_meta}


SNAPSHOT_STEPS: dict[int, Step] = {1: snapshot_1_to_2, 2: snapshot_2_to_3, 3: snapshot_3_to_4}


def snapshot_version(meta: Mapping[str, Any]) -> int:
    return int(meta.get(RUN_VERSION_KEY, 1))  # the one place an absent version is read: version 1


def migrate_snapshot(state: Mapping[str, Any], meta: Mapping[str, Any], where: str) -> tuple[dict, dict]:
    """``(state, metadata)`` of a run snapshot in today's format; ``where`` names the file in errors."""
    version = snapshot_version(meta)
    out = _walk({"state": state, "metadata": meta}, version, RUN_SNAPSHOT_VERSION, SNAPSHOT_STEPS,
                f"{where}: run snapshot")
    return out["state"], out["metadata"]


# ---------------------------------------------------------------------------------------------- policy bundles
def bundle_1_to_2(spec: Mapping[str, Any]) -> dict:
    """Bundles from before SAC's LayerNorm option recorded none: their actors have no LayerNorm."""
    out = {**spec, "version": 2}
    actor = spec.get("actor")
    if isinstance(actor, Mapping) and actor.get("kind") == "sac":
        out["actor"] = {"layer_norm": False, **actor}
    return out


def bundle_2_to_3(spec: Mapping[str, Any]) -> dict:
    """Bundles from before the env's lead cap were trained without one."""
    out = {**spec, "version": 3}
    task = spec.get("task")
    if isinstance(task, Mapping):
        out["task"] = {"command_lead_rad": [], **task}
    return out


BUNDLE_STEPS: dict[int, Step] = {1: bundle_1_to_2, 2: bundle_2_to_3}


def migrate_bundle(spec: Mapping[str, Any], where: str) -> dict:
    """A bundle's ``spec.json`` contents in today's format; ``where`` names the file in errors."""
    version = spec.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{where}: bundle version {version!r} is not a format version (1, 2, ...)")
    return _walk(spec, version, BUNDLE_VERSION, BUNDLE_STEPS, f"{where}: bundle")


# ---------------------------------------------------------------------------------------------- the walk
def _walk(record: Mapping[str, Any], version: int, current: int, steps: Mapping[int, Step], what: str) -> dict:
    if version > current:
        raise FormatTooNew(f"{what} format version {version} was written by a newer liftrl; this one reads "
                           f"versions 1 to {current}: update liftrl to read it")
    out = dict(record)
    for v in range(version, current):
        out = steps[v](out)
    return out
