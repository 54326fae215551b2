"""LeRobot's SO-101 units, reimplemented from its motors bus so the dry run can speak them too.

The SO-101's Feetech STS3215 servos report a 12-bit position (0..4095 per turn). The servo itself
subtracts the calibration's ``homing_offset`` (Present_Position = actual - homing_offset), and
LeRobot's bus turns that raw count into the user's units with the calibration's recorded range
``range_min .. range_max`` (the stops each joint was moved to by hand):

    DEGREES      (body joints, ``use_degrees=True``)
        value = (raw - mid) * 360 / 4095            mid = (range_min + range_max) / 2
        raw   = int(value * 4095 / 360 + mid)       (truncated toward zero, no clamp)
    RANGE_0_100  (gripper)
        value = (clip(raw, range_min, range_max) - range_min) / (range_max - range_min) * 100
        raw   = int(clip(value, 0, 100) / 100 * (range_max - range_min) + range_min)
        ``drive_mode`` 1 mirrors the scale: value -> 100 - value.

Two consequences the rest of the deploy code relies on:

- In degree mode LeRobot clamps nothing. The servo's own position-limit registers (written from
  ``range_min``/``range_max`` at calibration) stop it at the *recorded* stops, which are not this
  model's joint limits: ``deploy.safety`` has to keep commands inside the model's limits itself.
- 0 deg is the middle of the recorded range. A stop reached short on one side moves that joint's
  zero by half the shortfall; ``deploy.calibration`` measures and corrects it per arm.

The calibration file is LeRobot's JSON: ``{"<motor>": {"id", "drive_mode", "homing_offset",
"range_min", "range_max"}, ...}`` for the six motors. Nothing here imports LeRobot.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from liftrl.common.files import read_json
from liftrl.deploy.mapping import BODY, MOTORS

COUNTS_PER_TURN = 4096  # STS3215: 12-bit encoder
MAX_COUNT = COUNTS_PER_TURN - 1  # LeRobot divides by resolution - 1 (4095), not 4096
RAD_PER_COUNT = 2.0 * math.pi / COUNTS_PER_TURN
FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's entry of LeRobot's calibration file (all integers, raw encoder counts)."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    def __post_init__(self):
        for name in FIELDS:
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"calibration field {name!r} must be an integer, got {getattr(self, name)!r}")
        if self.range_max <= self.range_min:
            raise ValueError(f"calibration range_max ({self.range_max}) must exceed range_min ({self.range_min})")
        if self.drive_mode not in (0, 1):
            raise ValueError(f"calibration drive_mode must be 0 or 1, got {self.drive_mode}")

    @property
    def mid(self) -> float:
        return (self.range_min + self.range_max) / 2.0

    @property
    def span_rad(self) -> float:
        """The recorded range in radians of joint travel."""
        return (self.range_max - self.range_min) * RAD_PER_COUNT


Calibration = dict[str, MotorCalibration]


# ---------------------------------------------------------------------------------------------- the formulas
def raw_to_degrees(raw: float, cal: MotorCalibration) -> float:
    return (raw - cal.mid) * 360.0 / MAX_COUNT


def degrees_to_raw(value: float, cal: MotorCalibration) -> int:
    return int(value * MAX_COUNT / 360.0 + cal.mid)


def raw_to_range_0_100(raw: float, cal: MotorCalibration) -> float:
    bounded = min(cal.range_max, max(cal.range_min, raw))
    norm = (bounded - cal.range_min) / (cal.range_max - cal.range_min) * 100.0
    return 100.0 - norm if cal.drive_mode else norm


def range_0_100_to_raw(value: float, cal: MotorCalibration) -> int:
    value = 100.0 - value if cal.drive_mode else value
    bounded = min(100.0, max(0.0, value))
    return int(bounded / 100.0 * (cal.range_max - cal.range_min) + cal.range_min)


def raw_to_value(motor: str, raw: float, cal: MotorCalibration) -> float:
    """A motor's raw count in LeRobot's units for the SO-101 in degree mode (gripper 0-100)."""
    return raw_to_degrees(raw, cal) if motor in BODY else raw_to_range_0_100(raw, cal)


def value_to_raw(motor: str, value: float, cal: MotorCalibration) -> int:
    return degrees_to_raw(value, cal) if motor in BODY else range_0_100_to_raw(value, cal)


# ---------------------------------------------------------------------------------------------- the file
def parse_calibration(data: object, source: str = "calibration") -> Calibration:
    """LeRobot's calibration dictionary -> ``{motor: MotorCalibration}``, naming whatever is missing or wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object of motors, got {type(data).__name__}")
    missing = [m for m in MOTORS if m not in data]
    if missing:
        raise ValueError(f"{source}: no calibration for motor(s) {missing} (has {sorted(data)})")
    out: Calibration = {}
    for motor in MOTORS:
        entry = data[motor]
        lacking = [f for f in FIELDS if not isinstance(entry, dict) or f not in entry]
        if lacking:
            raise ValueError(f"{source}: motor {motor!r} lacks {lacking}")
        try:
            out[motor] = MotorCalibration(**{f: entry[f] for f in FIELDS})
        except ValueError as exc:
            raise ValueError(f"{source}: motor {motor!r}: {exc}") from None
    return out


def load_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    data = read_json(path)
    return parse_calibration(data, str(path))


def calibration_dict(cal: Calibration) -> dict:
    return {m: asdict(cal[m]) for m in MOTORS}


def calibration_digest(cal: Calibration) -> str:
    """A short fingerprint of the numbers, so a per-arm file can tell that the arm was recalibrated since."""
    text = json.dumps(calibration_dict(cal), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def relative_target_cap(goal: dict[str, float], present: dict[str, float], cap: dict[str, float]) -> dict[str, float]:
    """LeRobot's ``max_relative_target``: each goal at most ``cap[motor]`` (its units) from the present value."""
    out = {}
    for motor, g in goal.items():
        p, c = present[motor], cap[motor]
        out[motor] = p + min(c, max(-c, g - p))
    return out
