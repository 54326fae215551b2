"""Limits every joint command passes on its way to the arm, and the checks that stop the loop.

``limit_command`` is pure: joint limits (with a margin from the hard stops), the gripper's range,
a maximum joint change per step (a larger jump is scaled down as a whole so the arm keeps its
direction), and the workspace box checked by forward kinematics of the command itself (a command
whose tool point leaves the box is replaced by the previous command). The tool *target* is already
clamped to the box before IK (``task.clamp_target``); the FK check catches what IK cannot reach.

The watchdog checks each reading and action; any failure stops the loop, which then calls
``robot.stop()`` so the arm holds where it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liftrl.deploy.robot import RobotReading


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
    max_joint_step: tuple[float, ...]  # (6,) rad per control step
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    workspace_tolerance: float = 0.02  # m outside the box a commanded tool point may reach (IK lag, tilt)

    @classmethod
    def for_arm(cls, joint_range: np.ndarray, gripper_range: tuple[float, float], workspace_low, workspace_high,
                margin: float = 0.0, max_arm_step: float = 0.25, max_gripper_step: float = 1.0) -> "SafetyLimits":
        """Joint limits ``margin`` rad inside the model's ranges; ``max_arm_step`` rad per step on the body joints.

        The margin defaults to 0 because the IK already keeps to the model's ranges and top-down
        grasps routinely saturate wrist_flex at its stop: a tighter limit here would make the arm
        tilt where the simulated one does not. The ranges are LeRobot's calibrated ones by construction
        (see ``liftrl.deploy.mapping``), and LeRobot clamps goals to them as well.
        """
        r = np.asarray(joint_range, dtype=float)
        return cls(joint_low=tuple(r[:, 0] + margin), joint_high=tuple(r[:, 1] - margin),
                   gripper_range=(float(gripper_range[0]), float(gripper_range[1])),
                   max_joint_step=(max_arm_step,) * 5 + (max_gripper_step,),
                   workspace_low=tuple(workspace_low), workspace_high=tuple(workspace_high))


def limit_command(q: np.ndarray, q_prev: np.ndarray, limits: SafetyLimits, tool_point) -> tuple[np.ndarray, list[str]]:
    """The command the arm may receive instead of ``q`` (6, rad), given the previous sent command.

    ``tool_point(q) -> (3,)`` is forward kinematics of the same model. Returns the safe command and
    the events that changed it (``joint_limit``, ``gripper_range``, ``max_step``, ``workspace``).
    """
    q = np.asarray(q, dtype=float).copy()
    q_prev = np.asarray(q_prev, dtype=float)
    if not (np.all(np.isfinite(q)) and q.shape == (6,)):
        raise SafetyStop("nan_command", f"joint command is not 6 finite values: {q.tolist()}")
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

    step = q - q_prev
    max_step = np.asarray(limits.max_joint_step, dtype=float)
    ratio = np.max(np.abs(step) / max_step)
    if ratio > 1.0:
        q = q_prev + step / ratio  # the whole jump shrinks, so the arm keeps its direction
        q = np.clip(q, lo, hi)
        events.append("max_step")

    tool = np.asarray(tool_point(q), dtype=float)
    tol = limits.workspace_tolerance
    if np.any(tool < np.array(limits.workspace_low) - tol) or np.any(tool > np.array(limits.workspace_high) + tol):
        q = np.clip(q_prev, lo, hi)
        events.append("workspace")
    return q, events


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
