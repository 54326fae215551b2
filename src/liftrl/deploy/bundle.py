"""A policy bundle: everything the arm needs from a training run, and nothing that can run code.

Layout of a bundle folder::

    bundle.json   format, observation / action / control / task specs, actor architecture, source run
    actor.pt      flat {name: tensor} actor weights (read with torch.load(weights_only=True))
    golden.npz    a few inputs and the actions the run's own agent produced for them, and a
                  copy of bundle.json as exported

Export runs the training-side agent once to record the golden actions; loading rebuilds the actor
from the architecture record alone and refuses the bundle unless it reproduces those actions, so
a changed weight, a changed network definition or a damaged file is caught before the arm moves.
The spec is checked the same way: an action scale edited from 0.02 to 0.2 leaves the weights
intact but turned 3/3 successes into 0/3, so ``bundle.json`` must equal the copy recorded at
export, and a difference is refused naming each changed field.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from liftrl.deploy.policy import BundlePolicy, PolicyError, actor_arch, actor_weights, input_keys
from liftrl.deploy.spec import (
    ActionSpec, ControlSpec, ObservationSpec, SpecError, TaskSpec,
)
from liftrl.obs.keys import REAL_ARM_KEYS, SIM_ONLY_KEYS
from liftrl.obs.pipeline import CameraSpec
from liftrl.run.migrate import BUNDLE_VERSION, migrate_bundle

FORMAT = "liftrl.policy-bundle"
VERSION = BUNDLE_VERSION  # older bundles are read through liftrl.run.migrate
SPEC_FILE = "bundle.json"
WEIGHTS_FILE = "actor.pt"
GOLDEN_FILE = "golden.npz"
GOLDEN_COUNT = 4
GOLDEN_ATOL = 1e-4  # float32 on another CPU/BLAS differs by ~1e-6; a changed weight by far more
GOLDEN_SPEC = "spec"  # golden.npz entry: bundle.json's canonical JSON as exported


class BundleError(ValueError):
    """A bundle that cannot be used as asked; the message says why."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    observation: ObservationSpec
    action: ActionSpec
    control: ControlSpec
    task: TaskSpec
    reward: str
    agent: str
    source: dict
    policy: BundlePolicy

    @property
    def sim_only_inputs(self) -> tuple[str, ...]:
        return tuple(k for k in self.policy.keys if k in SIM_ONLY_KEYS)

    def check_real_arm(self) -> None:
        """Refuse a policy whose actor reads what only the simulator knows."""
        if self.sim_only_inputs:
            raise BundleError(
                f"{self.path}: the actor reads {list(self.sim_only_inputs)} (the cube position), which only the "
                f"simulated robot can supply; a policy for the real arm may read only {', '.join(REAL_ARM_KEYS)} "
                f"(its own recent actions). Retrain with obs.actor=[pixels, state] or [pixels, state, last_actions] "
                f"(the critic may keep privileged)")


# ---------------------------------------------------------------------------------------------- export
def _golden_inputs(keys: tuple[str, ...], shapes: Mapping[str, tuple[int, ...]], n: int) -> dict[str, np.ndarray]:
    """Seeded inputs covering each key's range: any fixed inputs do, the actions are what is checked."""
    rng = np.random.default_rng(20260101)
    out: dict[str, np.ndarray] = {}
    for k in keys:
        shape = (n, *shapes[k])
        if k == "pixels":
            out[k] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        elif k == "privileged" and shape[-1] == 3:  # the pre-issue-12 layout: cube position only
            out[k] = rng.uniform([0.1, -0.3, 0.0], [0.5, 0.3, 0.2], size=shape).astype(np.float32)
        elif k == "last_actions":
            out[k] = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        else:
            out[k] = rng.normal(0.0, 0.5, size=shape).astype(np.float32)
    return out


@dataclass(frozen=True)
class _ExportedActor:
    """The actor of a snapshot as a bundle holds it, checked against the run's own agent."""

    arch: dict
    weights: dict[str, torch.Tensor]
    reads: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    golden_inputs: dict[str, np.ndarray]
    golden_actions: np.ndarray


def _export_actor(state: Mapping[str, Any], meta: Mapping[str, Any]) -> _ExportedActor:
    """Flat actor weights and their architecture record, plus golden actions of the run's own agent."""
    from liftrl.run.folder import RunError
    from liftrl.run.policy import policy_from_snapshot  # export runs the training code; loading never does

    for key in ("agent", "observations", "action_dim", "config"):
        if key not in meta:
            raise BundleError(f"snapshot metadata has no {key!r}: not a liftrl run snapshot")
    if "agent" not in state:
        raise BundleError("snapshot state has no 'agent' weights")
    name = meta["agent"]
    shapes = {k: tuple(int(n) for n in v) for k, v in meta["observations"]["shapes"].items()}
    try:
        arch = actor_arch(name, meta["config"].get("agent", {}), tuple(meta["observations"]["actor"]), shapes,
                          int(meta["action_dim"]))
        weights = actor_weights(name, state["agent"])
        reads = input_keys(arch)
        policy = BundlePolicy(arch, weights)
    except (PolicyError, KeyError) as exc:
        raise BundleError(f"cannot export the {name} actor: {exc}") from None
    try:
        agent = policy_from_snapshot(state, meta, "cpu").agent  # the run's own agent: the training code
    except RunError as exc:
        raise BundleError(f"cannot export: {exc}") from None
    inputs = _golden_inputs(reads, shapes, GOLDEN_COUNT)
    # The agent itself, not LoadedPolicy's key filter: the golden inputs hold exactly what the actor reads.
    expected = np.asarray(agent.act(inputs, step=0, eval_mode=True), dtype=np.float32)
    rebuilt = policy(inputs)
    if not np.allclose(rebuilt, expected, atol=GOLDEN_ATOL):  # the rebuild must be the agent's own actor
        gap = float(np.max(np.abs(rebuilt - expected)))
        raise BundleError(f"the rebuilt actor differs from the {name} agent by {gap:.3g}; "
                          "liftrl.deploy.policy no longer matches liftrl.agents")
    return _ExportedActor(arch, weights, reads, shapes, inputs, expected)


def _control_json(control_hz: float, latency_ms) -> dict:
    """Rate and latency trained at; a latency range is recorded, and ``latency_ms`` is its middle."""
    lo, hi = (float(latency_ms[0]), float(latency_ms[1])) if isinstance(latency_ms, (list, tuple)) \
        else (float(latency_ms),) * 2
    out = {"hz": float(control_hz), "latency_ms": (lo + hi) / 2}
    if hi > lo:
        out["latency_ms_range"] = [lo, hi]
    return out


def _bundle_spec(actor: _ExportedActor, meta: Mapping[str, Any], source: Mapping[str, Any] | None) -> dict:
    """``bundle.json``: the actor's inputs and outputs, control rate, task and source, from the run's config."""
    from liftrl.config import ConfigError, env_config_from_dict
    from liftrl.sim.ik import WRIST_ROLL  # export reads the model; loading never does
    from liftrl.sim.kinematics import STATE_LAYOUT

    try:
        env = env_config_from_dict(meta["config"].get("env", {}))
    except ConfigError as exc:
        raise BundleError(f"cannot export: the env config stored in the snapshot is not valid today ({exc})") from None
    rules = env.task_config()
    observation = ObservationSpec(
        keys=actor.reads, shapes={k: actor.shapes[k] for k in actor.reads}, camera=CameraSpec(size=env.image_size),
        frame_stack=env.frame_stack, state_layout=STATE_LAYOUT,
    )
    action = ActionSpec(dim=int(meta["action_dim"]), scale=rules.action_scale, workspace_low=rules.workspace_low,
                        workspace_high=rules.workspace_high, gripper_ctrl=_gripper_ctrl(), wrist_roll=float(WRIST_ROLL))
    reward = meta.get("reward")
    return {
        "format": FORMAT, "version": VERSION, "agent": meta["agent"],
        "observation": observation.to_json(),
        "action": action.to_json(),
        "control": _control_json(env.control_hz, env.latency_ms),
        "task": {"curriculum_stage": env.curriculum_stage, "hold_steps": env.hold_steps,
                 "lift_height": float(env.lift_height), "max_episode_steps": env.max_episode_steps,
                 "grasp_rule": env.grasp_rule, "scene": env.scene_changes(),
                 "command_lead_rad": [float(v) for v in env.command_lead_rad]},
        "reward": reward.get("name") if isinstance(reward, dict) else env.reward,
        "actor": actor.arch,
        "source": {"env_steps": meta.get("env_steps"), "saved_at": meta.get("saved_at"), **dict(source or {})},
    }


def _write_bundle(out: Path, actor: _ExportedActor, spec: Mapping[str, Any]) -> Path:
    """Write the three files beside ``out`` and swap them in; only an earlier bundle is ever replaced."""
    if out.exists() and not (out.is_dir() and (out / SPEC_FILE).is_file()):
        # `--out ~/Desktop` must not wipe a folder.
        raise FileExistsError(f"{out} exists and is not a policy bundle (no {SPEC_FILE}); choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old = None
    try:
        torch.save(actor.weights, tmp / WEIGHTS_FILE)
        np.savez(tmp / GOLDEN_FILE, action=actor.golden_actions, **{GOLDEN_SPEC: np.array(canonical_spec(spec))},
                 **{f"input.{k}": v for k, v in actor.golden_inputs.items()})
        (tmp / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
        if out.exists():  # keep the previous bundle until the new one is in place
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def export_snapshot(state: Mapping[str, Any], meta: Mapping[str, Any], out_dir: str | os.PathLike,
                    source: Mapping[str, Any] | None = None) -> Path:
    """Write the bundle of a snapshot's ``(state, metadata)`` (as ``load_snapshot`` returns them) to ``out_dir``."""
    actor = _export_actor(state, meta)
    return _write_bundle(Path(out_dir), actor, _bundle_spec(actor, meta, source))


def _gripper_ctrl() -> tuple[float, float]:
    """The gripper actuator's control range (rad) from the pinned model itself."""
    from liftrl.sim import scene

    model = scene.build_model(scene.default_mesh_quality())
    ids = scene.lookup_ids(model)
    lo, hi = model.actuator_ctrlrange[ids.actuators[5]]
    return float(lo), float(hi)


def export_run(run_dir: str | os.PathLike, checkpoint: str = "best", out_dir: str | os.PathLike | None = None) -> Path:
    """Bundle a run's snapshot; the default folder is ``RUN/bundle_<checkpoint>``."""
    from liftrl.run.checkpoints import resolve_checkpoint
    from liftrl.run.identity import load_checked_snapshot

    path = resolve_checkpoint(run_dir, checkpoint).path
    state, meta = load_checked_snapshot(run_dir, path, map_location="cpu")  # this run's own snapshot only
    out = Path(out_dir) if out_dir else Path(run_dir) / f"bundle_{checkpoint}"
    return export_snapshot(state, meta, out, source={"run": str(Path(run_dir)), "checkpoint": str(checkpoint),
                                                     "snapshot": path.name})


# ---------------------------------------------------------------------------------------------- load
def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise BundleError(f"{path}: refused, the file holds Python objects other than tensors (loading it could "
                          f"run code): {str(exc).splitlines()[0]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise BundleError(f"{path}: expected a flat {{name: tensor}} dict of actor weights")
    return weights


def canonical_spec(spec: Mapping[str, Any]) -> str:
    """The spec as JSON with sorted keys and no spacing: layout does not count, every value does."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _differences(was: Any, now: Any, where: str = "") -> list[str]:
    if isinstance(was, dict) and isinstance(now, dict):
        out = []
        for key in sorted(set(was) | set(now), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in now:
                out.append(f"{path} removed")
            elif key not in was:
                out.append(f"{path} added")
            else:
                out += _differences(was[key], now[key], path)
        return out
    return [] if was == now else [f"{where or 'the spec'}: {json.dumps(was)} at export, {json.dumps(now)} now"]


def check_spec(spec: Mapping[str, Any], golden: Mapping[str, np.ndarray], spec_file: Path) -> None:
    """Refuse a ``bundle.json`` that differs from the copy export recorded, naming each changed field."""
    if GOLDEN_SPEC not in golden:
        warnings.warn(f"{spec_file}: this bundle predates the recorded copy of its spec, so its settings (action "
                      f"scale, control rate, task) cannot be verified; re-export it with `liftrl export RUN`",
                      stacklevel=3)
        return
    exported = json.loads(str(golden[GOLDEN_SPEC]))
    changed = _differences(exported, json.loads(canonical_spec(spec)))
    if changed:
        raise BundleError(f"{spec_file} was edited after export ({'; '.join(changed)}): the policy only works with "
                          f"the settings it was trained and exported with; re-export from the run instead")


def check_golden(policy: BundlePolicy, golden: Mapping[str, np.ndarray], atol: float = GOLDEN_ATOL,
                 where: str = "bundle") -> float:
    """Max |action - recorded| over the golden pairs; refuses, naming the worst pair, beyond ``atol``."""
    inputs = {k[len("input."):]: golden[k] for k in golden if k.startswith("input.")}
    expected = np.asarray(golden["action"], dtype=np.float32)
    got = policy(inputs)
    if got.shape != expected.shape:
        raise BundleError(f"{where}: actor returns actions of shape {got.shape}, golden actions have {expected.shape}")
    diff = np.abs(got - expected)
    worst = float(diff.max()) if diff.size else 0.0
    if not worst <= atol:
        i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise BundleError(
            f"{where}: golden check failed, largest difference {worst:.4g} at pair {i} action[{j}] "
            f"(actor gives {got[i, j]:.6f}, the exported run gave {expected[i, j]:.6f}; tolerance {atol:g}). "
            f"The weights or the network code changed since export: re-export from the run")
    return worst


def load_bundle(path: str | os.PathLike, real_arm: bool = False, atol: float = GOLDEN_ATOL) -> Bundle:
    """Read a bundle, rebuild its actor and verify the golden pairs; ``real_arm`` also refuses sim-only inputs."""
    root = Path(path)
    spec_file = root / SPEC_FILE
    if not spec_file.is_file():
        raise FileNotFoundError(f"{root} has no {SPEC_FILE}: not a policy bundle (make one with `liftrl export RUN`)")
    try:
        spec = json.loads(spec_file.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{spec_file}: not valid JSON ({exc})") from None
    if spec.get("format") != FORMAT:
        raise BundleError(f"{spec_file}: format {spec.get('format')!r} is not {FORMAT!r}")
    try:
        current = migrate_bundle(spec, str(spec_file))  # the golden check below reads the file as written
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    try:
        observation = ObservationSpec.from_json(current["observation"])
        action = ActionSpec.from_json(current["action"])
        control = ControlSpec.from_json(current["control"])
        task_spec = TaskSpec.from_json(current["task"])
        arch = current["actor"]
    except KeyError as exc:
        raise BundleError(f"{spec_file}: missing section {exc}") from None
    except SpecError as exc:
        raise BundleError(str(exc)) from None
    try:
        policy = BundlePolicy(arch, _read_weights(root / WEIGHTS_FILE))
    except PolicyError as exc:
        raise BundleError(f"{root}: {exc}") from None
    if set(policy.keys) != set(observation.keys):
        raise BundleError(f"{spec_file}: observation keys {list(observation.keys)} do not match what the actor reads "
                          f"{list(policy.keys)}")
    golden_file = root / GOLDEN_FILE
    if not golden_file.is_file():
        raise BundleError(f"{root} has no {GOLDEN_FILE}: cannot verify the actor, refusing it")
    with np.load(golden_file, allow_pickle=False) as golden:
        golden = dict(golden)
    check_golden(policy, golden, atol, where=str(root))
    check_spec(spec, golden, spec_file)
    bundle = Bundle(path=root, observation=observation, action=action, control=control, task=task_spec,
                    reward=str(spec.get("reward")), agent=str(spec.get("agent")), source=dict(spec.get("source", {})),
                    policy=policy)
    if real_arm:
        bundle.check_real_arm()
    return bundle
