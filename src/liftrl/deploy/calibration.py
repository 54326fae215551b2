"""The individual arm: LeRobot's calibration file plus the points ``liftrl bringup`` measured, -> a JointMapping.

The nominal mapping (``JointMapping.from_model``) assumes every joint's LeRobot 0 sits at the
model's mid-range and the gripper's 0-100 spans the model's -10..100 deg. A real arm differs:

- body joints: LeRobot's 0 is the middle of the range swept by hand at calibration, so a stop
  reached short on one side moves it. Bring-up poses the arm at LeRobot's 0 and the user enters how
  far each joint is from the model's zero pose: ``zero_offset_deg`` (arm angle at LeRobot 0 minus
  the model's mid-range angle, in the joint's + direction). The calibration file alone bounds it:
  half the difference between the recorded and the model's range (``range_shortfall_deg``);
- gripper: 0 and 100 are the recorded closed and open stops. The slope (radians per unit) is exact
  from the recorded range in encoder counts; the offset is anchored on the reading with the jaws
  closed on a 30 mm cube, whose angle in the model is measured by closing the model's jaws on one
  (``gripper_angle_on_cube``), since that is the grip the policy must recognise. Without a cube
  reading the open stop anchors it (the model's upper limit).

The per-arm file records the calibration's fingerprint: a recalibrated arm needs a new bring-up.
``mapping_for_arm`` refuses to build a mapping without both files, naming what is missing.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from liftrl.common.files import read_json, write_json_atomic
from liftrl.deploy.lerobot_units import (COUNTS_PER_TURN, MAX_COUNT, Calibration, calibration_digest,
                                         load_calibration)
from liftrl.deploy.mapping import BODY, MOTORS, JointMapping

ARM_FILE_FORMAT = "liftrl-arm/1"
LEROBOT_ROBOT_NAMES = ("so101_follower", "so_follower")  # the calibration folder up to / from LeRobot 0.4.3
CUBE_SIZE_M = 0.03
LEROBOT_DEG_SCALE = MAX_COUNT / COUNTS_PER_TURN  # real degrees per LeRobot degree


class CalibrationMissing(ValueError):
    """The arm cannot be mapped: the message names the file or the measured point that is missing.

    A ValueError, so the CLI prints the message and exits with code 2 (bad input, nothing sent to the arm)."""


# ---------------------------------------------------------------------------------------------- the per-arm file
@dataclass(frozen=True)
class GripperPoints:
    """LeRobot 0-100 readings of the gripper, commanded closed / open by bring-up."""

    closed_empty: float
    open: float
    closed_cube: float | None = None  # closed on a 30 mm cube; None if that step was skipped


@dataclass(frozen=True)
class ArmFile:
    robot_id: str
    calibration_digest: str
    zero_offset_deg: dict[str, float]  # body joint -> arm angle at LeRobot 0 minus the model's mid-range (deg)
    directions_ok: dict[str, bool]  # joint -> moved the way the model does for a + command
    gripper: GripperPoints
    format: str = ARM_FILE_FORMAT
    notes: dict = field(default_factory=dict)
    # The wrist camera's mount measured by bring-up (``deploy.camera_mount``): offset from the model's
    # (m, gripper frame; the env option ``camera_offset_m``) and the fit's residual; None: not measured.
    camera_offset_m: tuple[float, float, float] | None = None
    camera_fit_rms: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, source: str = "per-arm file") -> "ArmFile":
        if not isinstance(data, dict) or data.get("format") != ARM_FILE_FORMAT:
            raise ValueError(f"{source}: not a liftrl per-arm file (format {ARM_FILE_FORMAT!r} expected)")
        missing = [k for k in ("robot_id", "calibration_digest", "zero_offset_deg", "directions_ok", "gripper")
                   if k not in data]
        missing += [f"zero_offset_deg.{j}" for j in BODY if j not in data.get("zero_offset_deg", {})]
        missing += [f"directions_ok.{j}" for j in MOTORS if j not in data.get("directions_ok", {})]
        missing += [f"gripper.{k}" for k in ("closed_empty", "open") if k not in data.get("gripper", {})]
        if missing:
            raise CalibrationMissing(f"{source} lacks {missing}: run `liftrl bringup` again")
        g = data["gripper"]
        return cls(robot_id=str(data["robot_id"]), calibration_digest=str(data["calibration_digest"]),
                   zero_offset_deg={j: float(data["zero_offset_deg"][j]) for j in BODY},
                   directions_ok={j: bool(data["directions_ok"][j]) for j in MOTORS},
                   gripper=GripperPoints(float(g["closed_empty"]), float(g["open"]),
                                         None if g.get("closed_cube") is None else float(g["closed_cube"])),
                   notes=dict(data.get("notes", {})), camera_offset_m=_mount(data.get("camera_offset_m"), source),
                   camera_fit_rms=_rms(data.get("camera_fit_rms"), source))


def _mount(raw, source: str) -> tuple[float, float, float] | None:
    """``camera_offset_m``: absent/None, or three finite numbers within 5 cm (what bring-up can measure)."""
    if raw is None:
        return None
    try:
        v = tuple(float(x) for x in raw)
    except (TypeError, ValueError):
        v = ()
    if len(v) != 3 or not all(math.isfinite(x) and abs(x) <= 0.05 for x in v):
        raise ValueError(f"{source}: camera_offset_m must be 3 numbers within +-0.05 m, got {raw!r}")
    return v


def _rms(raw, source: str) -> float | None:
    """``camera_fit_rms``: absent/None, or a finite number >= 0 (a fraction of the image side)."""
    if raw is None:
        return None
    try:
        v = float(raw)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{source}: camera_fit_rms must be a number >= 0, got {raw!r}")
    return v


def save_arm_file(arm: ArmFile, path: str | Path) -> Path:
    return write_json_atomic(Path(path), arm.to_json())


def load_arm_file(path: str | Path) -> ArmFile:
    path = Path(path)
    data = read_json(path)
    return ArmFile.from_json(data, str(path))


# ---------------------------------------------------------------------------------------------- where files live
def lerobot_calibration_root() -> Path:
    """LeRobot's calibration root as LeRobot computes it, for when LeRobot itself is not installed.

    ``HF_LEROBOT_CALIBRATION``, else ``$HF_LEROBOT_HOME/calibration``, else
    ``$HF_HOME/lerobot/calibration`` with ``HF_HOME`` defaulting to ``$XDG_CACHE_HOME/huggingface``
    (``~/.cache/huggingface``): ``lerobot.utils.constants`` over ``huggingface_hub.constants``.
    """
    if os.environ.get("HF_LEROBOT_CALIBRATION"):
        return Path(os.environ["HF_LEROBOT_CALIBRATION"]).expanduser()
    if os.environ.get("HF_LEROBOT_HOME"):
        return Path(os.environ["HF_LEROBOT_HOME"]).expanduser() / "calibration"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    hf_home = os.environ.get("HF_HOME") or os.path.join(cache, "huggingface")
    return Path(os.path.expandvars(hf_home)).expanduser() / "lerobot" / "calibration"


def lerobot_calibration_dir() -> Path:
    """The folder the installed LeRobot reads SO-101 calibrations from (asked of LeRobot when installed).

    LeRobot 0.4.3+ files them under ``robots/so_follower``, 0.4.2 and older under
    ``robots/so101_follower``; the follower class's ``name`` says which. Without LeRobot (a dry run)
    the current layout is assumed.
    """
    import importlib.util

    if importlib.util.find_spec("lerobot") is None:
        return lerobot_calibration_root() / "robots" / LEROBOT_ROBOT_NAMES[-1]
    from lerobot.utils.constants import HF_LEROBOT_CALIBRATION, ROBOTS

    from liftrl.deploy.so101 import import_so101_follower  # deploy.so101 imports LeRobot only inside functions

    follower_cls, _ = import_so101_follower()
    return Path(HF_LEROBOT_CALIBRATION) / ROBOTS / follower_cls.name


def calibrate_command(robot_id: str, port: str | None = None, calibration_dir: Path | None = None) -> str:
    """The LeRobot command that writes the calibration liftrl looks for."""
    cmd = f"lerobot-calibrate --robot.type=so101_follower --robot.port={port or 'PORT'} --robot.id={robot_id}"
    return cmd + (f" --robot.calibration_dir={calibration_dir}" if calibration_dir else "")


def find_lerobot_calibration(robot_id: str, calibration: str | None = None,
                             calibration_dir: str | None = None, port: str | None = None) -> Path:
    """The LeRobot calibration file of ``robot_id``: ``calibration`` if given, else in the folder LeRobot reads.

    A file found only in the other LeRobot version's folder is refused by name: the installed
    LeRobot would not read it, so liftrl and LeRobot would convert units with different numbers.
    """
    if calibration:
        path = Path(calibration).expanduser()
        folder = path.parent
    else:
        folder = Path(calibration_dir).expanduser() if calibration_dir else lerobot_calibration_dir()
        path = folder / f"{robot_id}.json"
    if path.is_file():
        return path
    hint = f"calibrate the arm with LeRobot ({calibrate_command(robot_id, port, folder if calibration_dir else None)})"
    if not calibration and not calibration_dir:
        others = [folder.parent / name / path.name for name in LEROBOT_ROBOT_NAMES if name != folder.name]
        found = [p for p in others if p.is_file()]
        if found:
            hint = (f"{found[0]} was written by another LeRobot version, which files SO-101 calibrations under "
                    f"{found[0].parent.name}/; the installed LeRobot reads {folder}/: copy the file there or pass "
                    f"--calibration-dir {found[0].parent}")
    raise CalibrationMissing(f"no LeRobot calibration for robot id {robot_id!r} (looked for {path}): {hint}, "
                             f"or pass --calibration FILE")


def default_arm_file(robot_id: str) -> Path:
    root = Path(os.environ.get("LIFTRL_ARMS", Path.home() / ".cache" / "liftrl" / "arms")).expanduser()
    return root / f"{robot_id}.json"


# ---------------------------------------------------------------------------------------------- model references
@lru_cache(maxsize=4)
def gripper_angle_on_cube(cube_size_m: float = CUBE_SIZE_M) -> float:
    """The model's gripper angle (rad) with the jaws closed on a cube of that size, measured in simulation.

    Stage 2 starts with the nominal cube in the closed gripper on the table; the jaws settle for
    0.5 s of simulated time with the target held. Only the nominal (30 mm) cube is supported.
    """
    from liftrl.sim import scene
    from liftrl.sim.env import LiftCubeEnv

    if not math.isclose(cube_size_m, 2 * scene.CUBE_HALF_SIZE):
        raise ValueError(f"only the model's nominal {2000 * scene.CUBE_HALF_SIZE:.0f} mm cube is measured, "
                         f"got {1000 * cube_size_m:.0f} mm")
    env = LiftCubeEnv(curriculum_stage=2, randomize=False, observations=("state",))
    try:
        env.reset(seed=0)
        for _ in range(25):
            env.step(np.array([0.0, 0.0, 0.0, -1.0], dtype=np.float32))
        return float(env.data.qpos[env.ids.arm_qpos[5]])
    finally:
        env.close()


def range_shortfall_deg(cal: Calibration, jnt_range: np.ndarray) -> dict[str, float]:
    """Per body joint, the model's range minus the recorded range (deg); half of it bounds the zero offset."""
    r = np.asarray(jnt_range, dtype=float)
    return {j: math.degrees((r[i, 1] - r[i, 0]) - cal[j].span_rad) for i, j in enumerate(BODY)}


# ---------------------------------------------------------------------------------------------- the mapping
def gripper_range_from_points(cal: Calibration, points: GripperPoints, q_cube: float, q_open: float) -> tuple:
    """(angle at 0, angle at 100) in rad: slope from the recorded range, offset from the cube (else open) reading."""
    if cal["gripper"].drive_mode != 0:
        raise ValueError("the gripper's calibration has drive_mode 1 (mirrored); LeRobot's SO-101 writes 0")
    per_unit = cal["gripper"].span_rad / 100.0
    if points.closed_cube is not None:
        at_zero = q_cube - per_unit * points.closed_cube
    else:
        at_zero = q_open - per_unit * points.open
    return at_zero, at_zero + 100.0 * per_unit


def arm_mapping(jnt_range: np.ndarray, cal: Calibration, arm: ArmFile, q_cube: float | None = None) -> JointMapping:
    """The per-arm JointMapping; refuses a file measured under another calibration or with a failed direction."""
    if arm.calibration_digest != calibration_digest(cal):
        raise CalibrationMissing(f"the per-arm file of {arm.robot_id!r} was measured under another LeRobot "
                                 f"calibration (fingerprint {arm.calibration_digest}, now {calibration_digest(cal)}): "
                                 f"the arm was recalibrated, run `liftrl bringup` again")
    wrong = [j for j, ok in arm.directions_ok.items() if not ok]
    if wrong:
        raise CalibrationMissing(f"bring-up found {wrong} moving against the model's direction: fix the wiring or "
                                 f"the calibration (LeRobot drive_mode), then run `liftrl bringup` again")
    r = np.asarray(jnt_range, dtype=float)
    mid = tuple(float(r[i].mean() + math.radians(arm.zero_offset_deg[j])) for i, j in enumerate(BODY))
    q_cube = gripper_angle_on_cube() if (q_cube is None and arm.gripper.closed_cube is not None) else q_cube
    grip = gripper_range_from_points(cal, arm.gripper, q_cube if q_cube is not None else float(r[5, 1]),
                                     float(r[5, 1]))
    return JointMapping(mid=mid, gripper_range=grip, deg_scale=LEROBOT_DEG_SCALE)


def load_lerobot_calibration(robot_id: str, calibration: str | None = None, calibration_dir: str | None = None,
                             port: str | None = None) -> tuple[Calibration, Path]:
    path = find_lerobot_calibration(robot_id, calibration, calibration_dir, port)
    return load_calibration(path), path


def mapping_for_arm(jnt_range: np.ndarray, cal: Calibration | None, robot_id: str, arm_file: str | Path | None,
                    uncalibrated: bool = False) -> tuple[JointMapping, str]:
    """The mapping ``liftrl deploy`` uses and a line saying where it came from; refuses what is missing by name."""
    if uncalibrated:
        return (JointMapping.from_joint_ranges(jnt_range),
                "UNCALIBRATED: the model's nominal mapping, no per-arm offsets (--uncalibrated)")
    if cal is None:
        raise CalibrationMissing("no LeRobot calibration to build the per-arm mapping from")
    arm_path = Path(arm_file).expanduser() if arm_file else default_arm_file(robot_id)
    if not arm_path.is_file():
        raise CalibrationMissing(f"no per-arm file for robot id {robot_id!r} at {arm_path}: run `liftrl bringup` "
                                 f"with the same --robot and --robot-id (or pass --arm-file FILE; --uncalibrated "
                                 f"runs on the model's nominal mapping)")
    arm = load_arm_file(arm_path)
    return arm_mapping(jnt_range, cal, arm), f"calibrated: per-arm file {arm_path}"
