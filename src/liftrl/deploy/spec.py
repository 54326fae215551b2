"""What a policy bundle promises about its inputs and outputs: the contract between sim and arm.

Each spec is a frozen dataclass that round-trips through JSON (``bundle.json``), so a bundle
describes itself completely: a reader needs no training config to know how to feed the actor
or what its 4-D (or, with a wrist roll, 5-D) action means.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from liftrl.common.units import CONTROL_HZ
from liftrl.obs.pipeline import CameraSpec
from liftrl.sim import task
from liftrl.sim.scene_options import SceneOptions
from liftrl.sim.task import ROLL_SPAN, ROLL_STEP, OptionError



class SpecError(ValueError):
    """A bundle field that is missing or malformed; the message names the field."""


def _need(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(raw, Mapping) or key not in raw:
        raise SpecError(f"bundle.json: {where} has no field {key!r}")
    return raw[key]


@dataclass(frozen=True)
class ObservationSpec:
    """The keys the actor reads (in the order it reads them), their shapes, and how pixels are made."""

    keys: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    camera: CameraSpec
    frame_stack: int
    state_layout: tuple[str, ...]

    def to_json(self) -> dict:
        return {"keys": list(self.keys), "shapes": {k: list(v) for k, v in self.shapes.items()},
                "camera": dataclasses.asdict(self.camera), "frame_stack": self.frame_stack,
                "state_layout": list(self.state_layout)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "ObservationSpec":
        w = "observation"
        try:
            camera = CameraSpec(**_need(raw, "camera", w))
        except TypeError as exc:
            raise SpecError(f"bundle.json: observation.camera does not match this liftrl's CameraSpec "
                            f"({exc})") from None
        keys = tuple(_need(raw, "keys", w))
        shapes = {k: tuple(int(n) for n in v) for k, v in _need(raw, "shapes", w).items()}
        missing = [k for k in keys if k not in shapes]
        if missing:
            raise SpecError(f"bundle.json: observation.shapes lacks {missing}")
        frame_stack = int(_need(raw, "frame_stack", w))
        if "pixels" in shapes and shapes["pixels"] != (3 * frame_stack, camera.size, camera.size):
            raise SpecError(f"bundle.json: observation.shapes.pixels {list(shapes['pixels'])} does not match "
                            f"{frame_stack} stacked RGB frames of {camera.size}x{camera.size}")
        return cls(keys=keys, shapes=shapes, camera=camera, frame_stack=frame_stack,
                   state_layout=tuple(_need(raw, "state_layout", w)))


@dataclass(frozen=True)
class ActionSpec:
    """``[dx, dy, dz, gripper]`` in [-1, 1]: xyz moves the tool target by ``scale`` m per control step
    inside the workspace box; gripper -1 (closed) .. +1 (open) spreads linearly over ``gripper_ctrl``
    (the gripper actuator's range, rad); wrist_roll is held at ``wrist_roll`` (rad). With ``dim`` 5 a
    5th value droll turns wrist_roll by up to ``roll_step`` rad per step, within ``roll_span`` of
    ``wrist_roll`` (``liftrl.sim.task.next_roll``)."""

    dim: int
    scale: float
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    gripper_ctrl: tuple[float, float]
    wrist_roll: float
    # 5-D actions only: wrist_roll turns by roll_step rad per unit per step, within roll_span of wrist_roll.
    roll_step: float = ROLL_STEP
    roll_span: float = ROLL_SPAN

    def to_json(self) -> dict:
        roll = ("; droll: wrist_roll turns roll_step rad per unit per control step, within roll_span rad of "
                "wrist_roll" if self.dim == 5 else "")
        return {**dataclasses.asdict(self), "meaning": f"[dx, dy, dz, gripper{', droll' if self.dim == 5 else ''}]; "
                "xyz: tool-target change of scale m per control step, clamped to the workspace box (m); gripper: "
                f"-1 closed .. +1 open, linear over gripper_ctrl (rad){roll}"}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "ActionSpec":
        w = "action"
        return cls(dim=int(_need(raw, "dim", w)), scale=float(_need(raw, "scale", w)),
                   workspace_low=tuple(float(x) for x in _need(raw, "workspace_low", w)),
                   workspace_high=tuple(float(x) for x in _need(raw, "workspace_high", w)),
                   gripper_ctrl=tuple(float(x) for x in _need(raw, "gripper_ctrl", w)),
                   wrist_roll=float(_need(raw, "wrist_roll", w)),
                   roll_step=float(raw.get("roll_step", ROLL_STEP)), roll_span=float(raw.get("roll_span", ROLL_SPAN)))

    def task_config(self, task_spec: "TaskSpec") -> task.TaskConfig:
        """The TaskConfig whose clamp and scale the IK path uses (the env builds the same one)."""
        return task.TaskConfig(
            curriculum_stage=task_spec.curriculum_stage, hold_steps=task_spec.hold_steps,
            lift_height=task_spec.lift_height, max_episode_steps=task_spec.max_episode_steps,
            action_scale=self.scale, workspace_low=self.workspace_low, workspace_high=self.workspace_high,
        )


@dataclass(frozen=True)
class ControlSpec:
    """The control rate (Hz) and the command latency (ms) the policy was trained at.

    A policy trained on a latency range (``env.latency_ms: [lo, hi]``) records it in
    ``latency_ms_range``; ``latency_ms`` is then the range's middle, what a dry run emulates.
    """

    hz: float = CONTROL_HZ
    latency_ms: float = 0.0
    latency_ms_range: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "ControlSpec":
        span = raw.get("latency_ms_range") if isinstance(raw, Mapping) else None
        return cls(hz=float(_need(raw, "hz", "control")), latency_ms=float(_need(raw, "latency_ms", "control")),
                   latency_ms_range=None if span is None else (float(span[0]), float(span[1])))

    def describe_latency(self) -> str:
        if self.latency_ms_range is None:
            return f"{self.latency_ms:g} ms"
        return f"{self.latency_ms_range[0]:g}-{self.latency_ms_range[1]:g} ms (middle {self.latency_ms:g})"


@dataclass(frozen=True)
class TaskSpec:
    """The task the policy was trained on, so a dry run scores it by the same rules."""

    curriculum_stage: int
    hold_steps: int
    lift_height: float
    max_episode_steps: int
    # How "grasped" was judged in training (liftrl.sim.task.GRASP_RULES); bundles from before the
    # option existed were all trained under the original rule.
    grasp_rule: str = "jaw_0.45"
    # The scene options the run trained with that differ from the default scene
    # (``SceneOptions.scene_changes``, e.g. {"cube_sizes_mm": [30.0]}), so the dry run rebuilds that
    # scene; bundles from before the field existed were exported from default-scene runs or read as such.
    scene: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The lead cap the policy was trained under ([body, gripper] rad, ``command_lead_rad``), so the
    # dry run's env row is its training env; () for bundles from before the cap: trained without.
    command_lead_rad: tuple[float, ...] = ()

    def mount_note(self, measured: tuple[float, float, float] | None) -> str:
        """A line for the operator: the camera mount bring-up measured (m, or None) against the one trained."""
        default = SceneOptions()
        shift = float(self.scene.get("camera_shift_m", default.camera_shift_m))
        trained = np.array([float(v) for v in self.scene.get("camera_offset_m", default.camera_offset_m)])
        span = f"+-{1000 * shift:g} mm of {_mm(trained)} mm"
        if measured is None:
            return (f"camera mount not measured (liftrl bringup --camera-mount); this policy trained with the "
                    f"camera within {span} of the model's mount")
        off = np.asarray(measured, dtype=float) - trained
        if np.all(np.abs(off) <= shift + 1e-9):
            return f"measured camera mount {_mm(measured)} mm: within the trained {span}"
        return (f"measured camera mount {_mm(measured)} mm is {1000 * np.abs(off).max():.1f} mm outside the trained "
                f"{span}: expect the policy to misjudge where the cube is; train its student with "
                f"env.camera_offset_m=[{', '.join(f'{v:.4f}' for v in measured)}]")

    def lead_note(self, max_lead) -> str | None:
        """A line for the operator when the loop's lead cap (6 rad values) is not the one trained under."""
        arm = (float(max_lead[0]), float(max_lead[5]))
        if not self.command_lead_rad:
            return (f"this policy was trained without a lead cap; the loop caps commands at {arm[0]:g} rad "
                    f"(body) / {arm[1]:g} rad (gripper) from the measured joints, which slowed such policies "
                    f"in the dry run (docs/pick.md)")
        if not np.allclose(arm, self.command_lead_rad):
            return (f"this policy was trained with commands within {self.command_lead_rad[0]:g} / "
                    f"{self.command_lead_rad[1]:g} rad of the measured joints; the loop now caps at "
                    f"{arm[0]:g} / {arm[1]:g} rad")
        return None

    def real_scene_needs(self) -> list[str]:
        """What the real table must match because training held it narrower than the default scene: the
        cube's size and the wrist camera's mount (docs/pick.md, "One cube size and a measured mount"),
        in words for the operator before the first episode; empty for a default-scene bundle."""
        needs = []
        default = SceneOptions()
        sizes = tuple(float(v) for v in self.scene.get("cube_sizes_mm", default.cube_sizes_mm))
        if sizes != default.cube_sizes_mm:
            what = f"{sizes[0]:g} mm" if len(sizes) == 1 else f"{min(sizes):g}-{max(sizes):g} mm"
            needs.append(f"a cube of {what} (trained on cube_sizes_mm={list(sizes)}; other sizes were not trained)")
        shift = float(self.scene.get("camera_shift_m", default.camera_shift_m))
        offset = tuple(float(v) for v in self.scene.get("camera_offset_m", default.camera_offset_m))
        if shift < default.camera_shift_m or offset != default.camera_offset_m:
            at = "the model's mount" if not any(offset) else f"the model's mount moved by {list(offset)} m"
            needs.append(f"the wrist camera within +-{shift * 1000:g} mm per axis of {at} (trained with "
                         f"camera_shift_m={shift:g}; the default trains +-{default.camera_shift_m * 1000:g} mm)")
        return needs

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "TaskSpec":
        w = "task"
        rule = str(raw.get("grasp_rule", "jaw_0.45")) if isinstance(raw, Mapping) else "jaw_0.45"
        if rule not in task.GRASP_RULES:
            raise SpecError(f"bundle.json task.grasp_rule {rule!r} is not one of {tuple(task.GRASP_RULES)}")
        scene = _scene(raw.get("scene", {}) if isinstance(raw, Mapping) else {})
        return cls(curriculum_stage=int(_need(raw, "curriculum_stage", w)), hold_steps=int(_need(raw, "hold_steps", w)),
                   lift_height=float(_need(raw, "lift_height", w)),
                   max_episode_steps=int(_need(raw, "max_episode_steps", w)), grasp_rule=rule, scene=scene,
                   command_lead_rad=_lead(raw.get("command_lead_rad", []) if isinstance(raw, Mapping) else []))


def _mm(offset) -> str:
    return "(" + ", ".join(f"{1000 * float(v):+.1f}" for v in offset) + ")"


def _lead(raw: Any) -> tuple[float, ...]:
    """``task.command_lead_rad``: [] or [body, gripper], checked by the env option's own rule."""
    try:
        return task.check_lead(raw)
    except OptionError as exc:
        raise SpecError(f"bundle.json task.command_lead_rad: {exc}") from None


def _scene(raw: Any) -> dict[str, Any]:
    """``task.scene`` checked by the scene's own rules: a field it does not know, or a bad value, is named."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"bundle.json task.scene must be a mapping of scene options, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(SceneOptions)} - {"grasp_rule"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SpecError(f"bundle.json task.scene has unknown scene option(s) {unknown}")
    try:
        SceneOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except (OptionError, TypeError) as exc:
        raise SpecError(f"bundle.json task.scene: {exc}") from None
    return dict(raw)
