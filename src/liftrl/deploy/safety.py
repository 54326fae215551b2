"""Limits every joint command passes on its way to the arm, and the checks that stop the loop.

``limit_command`` is pure. In order:

1. joint limits (the model's ranges, with an optional margin) and the gripper's commandable range.
   LeRobot does not do this for us: in degree mode its bus converts goals without clamping, and
   the servo's own position-limit registers hold the stops *recorded at calibration*, not this
   model's limits;
2. a joint speed limit in rad/s: a command moves at most ``max_joint_speed * period`` from the
   previous command (the body joints' larger jump shrinks as a whole, so the arm keeps its
   direction; the gripper is clipped on its own; ``sim.kinematics.limit_joint_speed``, which the
   env's commands keep to as well). Being a speed, it means the same at 15 Hz and at 50 Hz;
3. a lead cap against the **measured** position: no joint is commanded more than ``max_lead`` rad
   from where the arm was just read (steps 2 and 3 are ``sim.kinematics.limit_motion``, which the
   env's command path calls with the same default caps, so a policy is trained under them). A lagging or blocked arm therefore cannot be run ahead of;
   the same cap, in the arm's units, goes to LeRobot's ``max_relative_target`` as a second line.
   It may pull a command back toward the measured joint by more than the speed limit allows:
   that asks the arm to move less, never more;
4. the workspace box, checked by forward kinematics of the command (a command whose tool point
   leaves the box is replaced by the previous one). The tool *target* is already clamped to the box
   before IK (``task.clamp_target``); this catches what IK cannot reach.

The watchdog checks each reading and action, and ``TrackingMonitor`` compares the measured body
joints with the last command: beyond ``max_error`` for ``max_duration_s`` -> stop. Any failure ends
the loop, which then calls ``robot.stop()`` so the arm holds where it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liftrl.deploy.mapping import BODY
from liftrl.deploy.robot import RobotReading
from liftrl.sim.kinematics import MAX_JOINT_SPEED, limit_motion
from liftrl.sim.task import MAX_LEAD


class SafetyStop(RuntimeError):
    """Raised by the watchdog; ``reason`` is a short tag, the message says what was seen."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SafetyLimits:
    joint_low: tuple[float, ...]  # (6,) rad
    joint_high: tuple[float, ...]
    gripper_range: tuple[float, float]  # rad (closed, open) that may be commanded
    max_joint_speed: tuple[float, ...]  # (6,) rad/s between consecutive commands
    max_lead: tuple[float, ...]  # (6,) rad a command may be from the measured position
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    workspace_tolerance: float = 0.02  # m outside the box a commanded tool point may reach (IK lag, tilt)

    def __post_init__(self):
        for name in ("max_joint_speed", "max_lead"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != (6,) or not np.all(v > 0):
                raise ValueError(f"{name} needs 6 positive values, got {getattr(self, name)!r}")

    @classmethod
    def for_arm(cls, joint_range: np.ndarray, gripper_range: tuple[float, float], workspace_low, workspace_high,
                margin: float = 0.0, max_arm_speed: float = MAX_JOINT_SPEED[0],
                max_gripper_speed: float = MAX_JOINT_SPEED[5],
                max_arm_lead: float = MAX_LEAD[0], max_gripper_lead: float = MAX_LEAD[5]) -> "SafetyLimits":
        """Joint limits ``margin`` rad inside the model's ranges; speeds in rad/s; leads in rad.

        The margin defaults to 0 because the IK already keeps to the model's ranges and top-down
        grasps routinely saturate wrist_flex at its stop: a tighter limit here would make the arm
        tilt where the simulated one does not. The speeds default to ``sim.kinematics.MAX_JOINT_SPEED``
        and the leads to ``sim.task.MAX_LEAD``; the env's own command path keeps to both
        (``command_lead_rad``), so a policy trained there meets no cap here that it did not train
        under. 5 rad/s is about the STS3215's no-load speed (0.22 s per 60 deg): commands never
        ask for more than the servo can do, and the scripted grasp at 50 Hz (1 m/s of tool motion at full action) still succeeds at the same step;
        with 3 rad/s it failed. The gripper's lead is larger than the body's because a grasp *is*
        a blocked jaw commanded past the cube: closing onto a 36 mm cube (0.42 rad) from the
        closed command (-0.17 rad) leaves the command about 0.6 rad past the measured angle.
        """
        r = np.asarray(joint_range, dtype=float)
        return cls(joint_low=tuple(r[:, 0] + margin), joint_high=tuple(r[:, 1] - margin),
                   gripper_range=(float(gripper_range[0]), float(gripper_range[1])),
                   max_joint_speed=(max_arm_speed,) * 5 + (max_gripper_speed,),
                   max_lead=(max_arm_lead,) * 5 + (max_gripper_lead,),
                   workspace_low=tuple(workspace_low), workspace_high=tuple(workspace_high))

    def max_step(self, period_s: float) -> np.ndarray:
        """The largest change per joint between two commands ``period_s`` apart (rad)."""
        return np.asarray(self.max_joint_speed, dtype=float) * period_s


def _within_lead(q: np.ndarray, measured: np.ndarray, limits: SafetyLimits) -> np.ndarray:
    lead = np.asarray(limits.max_lead, dtype=float)
    return np.clip(q, measured - lead, measured + lead)


def limit_command(q: np.ndarray, q_prev: np.ndarray, measured: np.ndarray, limits: SafetyLimits, period_s: float,
                  tool_point=None) -> tuple[np.ndarray, list[str]]:
    """The command the arm may receive instead of ``q`` (6, rad).

    ``q_prev`` is the previous command, ``measured`` the joints just read, ``period_s`` the time
    between commands. ``tool_point(q) -> (3,)`` is forward kinematics of the same model (None skips
    the workspace check, for joint-space moves such as the slow move to the start pose). Returns the
    safe command and the events that changed it (``joint_limit``, ``gripper_range``, ``max_speed``,
    ``max_lead``, ``workspace``).
    """
    q = np.asarray(q, dtype=float).copy()
    q_prev = np.asarray(q_prev, dtype=float)
    measured = np.asarray(measured, dtype=float)
    if not (q.shape == (6,) and np.all(np.isfinite(q))):
        raise SafetyStop("nan_command", f"joint command is not 6 finite values: {q.tolist()}")
    if not (measured.shape == (6,) and np.all(np.isfinite(measured))):
        # The lead cap clips around ``measured``: a NaN there would pass straight into the command.
        raise SafetyStop("nan_reading", f"joint reading is not 6 finite values: {measured.tolist()}")
    events: list[str] = []
    lo, hi = np.array(limits.joint_low), np.array(limits.joint_high)
    glo, ghi = limits.gripper_range
    lo[5], hi[5] = max(lo[5], glo), min(hi[5], ghi)
    clipped = np.clip(q, lo, hi)
    if np.any(clipped[:5] != q[:5]):
        events.append("joint_limit")
    if clipped[5] != q[5]:
        events.append("gripper_range")
    q = clipped

    q, shrunk, led = limit_motion(q, q_prev, measured, limits.max_step(period_s),
                                  np.asarray(limits.max_lead, dtype=float), lo, hi)
    events += ["max_speed"] * shrunk + ["max_lead"] * led

    if tool_point is not None:
        tool = np.asarray(tool_point(q), dtype=float)
        tol = limits.workspace_tolerance
        if np.any(tool < np.array(limits.workspace_low) - tol) or np.any(tool > np.array(limits.workspace_high) + tol):
            q = np.clip(_within_lead(q_prev, measured, limits), lo, hi)
            events.append("workspace")
    return q, events


@dataclass(frozen=True)
class TrackingLimit:
    """How far (rad) and for how long (s) the measured body joints may trail the last command.

    Below the body's lead cap, so an arm that does not move at all (commands pinned at the cap)
    trips it; in seconds, so it means the same at any loop rate. The gripper is left out: closed
    on a cube it is *meant* to stay short of its command.
    """

    max_error: float = 0.25
    max_duration_s: float = 0.5

    def __post_init__(self):
        if not (self.max_error > 0 and self.max_duration_s > 0):
            raise ValueError(f"tracking limit needs max_error > 0 and max_duration_s > 0, got {self}")


class TrackingMonitor:
    """Counts consecutive periods with a body joint beyond ``max_error`` of the last command."""

    def __init__(self, limit: TrackingLimit, rate_hz: float):
        self.limit = limit
        self.periods = max(1, math.ceil(limit.max_duration_s * rate_hz - 1e-9))
        self.count = 0
        self.worst = 0.0

    def check(self, measured: np.ndarray, last_command: np.ndarray | None) -> float:
        """The largest body-joint error now (rad); raises ``SafetyStop('tracking')`` when it lasted too long."""
        if last_command is None:
            return 0.0
        err = np.abs(np.asarray(measured, dtype=float)[:5] - np.asarray(last_command, dtype=float)[:5])
        worst = float(err.max())
        self.worst = max(self.worst, worst)
        self.count = self.count + 1 if worst > self.limit.max_error else 0
        if self.count >= self.periods:
            j = int(err.argmax())
            raise SafetyStop("tracking", f"{BODY[j]} is {math.degrees(worst):.1f} deg from its command for "
                                         f"{self.count} periods (limit {math.degrees(self.limit.max_error):.1f} deg "
                                         f"for {self.limit.max_duration_s:g} s): the arm is blocked, too slow or "
                                         f"not following")
        return worst


@dataclass(frozen=True)
class Watchdog:
    """Stops the loop on a stale camera frame or a non-finite reading or action."""

    max_frame_age_s: float = 0.25

    def check_reading(self, reading: RobotReading, now: float) -> None:
        joints = np.asarray(reading.joints, dtype=float)
        if joints.shape != (6,) or not np.all(np.isfinite(joints)):
            raise SafetyStop("nan_reading", f"joint reading is not 6 finite values: {joints.tolist()}")
        frame = np.asarray(reading.frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise SafetyStop("bad_frame", f"camera frame must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
        age = now - reading.frame_timestamp
        if age > self.max_frame_age_s:
            raise SafetyStop("stale_frame", f"camera frame is {1000 * age:.0f} ms old (limit "
                                            f"{1000 * self.max_frame_age_s:.0f} ms): the camera stopped delivering")

    def check_action(self, action: np.ndarray) -> None:
        a = np.asarray(action, dtype=float)
        if not np.all(np.isfinite(a)):
            raise SafetyStop("nan_action", f"policy returned a non-finite action: {a.tolist()}")
