"""The robot as the control loop sees it: read joints and the wrist frame, command joint targets, stop.

Three things implement it: ``So101Robot`` (the real arm through LeRobot), ``SimRobot`` (the MuJoCo
scene, for dry runs) and ``FakeRobot`` (scripted, for tests). Units are the simulation's on every
side (radians; gripper joint angle in radians), so a unit conversion lives in exactly one adapter.

Time is the loop's business: it asks a ``Clock`` for ``now`` and to ``sleep_until`` the next tick.
The real arm runs on the wall clock; the simulated robot is its own clock, so sleeping advances
physics and a dry run at 15 Hz takes as long as the CPU needs, not 15 Hz of wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class RobotReading:
    """One measurement: six joint angles (rad), the raw wrist frame, and when each was captured.

    ``velocities`` and ``privileged`` exist only in simulation (the SO-101 reports positions only,
    and nothing on the real arm knows where the cube is); the real arm leaves them None.
    """

    joints: np.ndarray  # (6,) rad, ARM_JOINTS order
    frame: np.ndarray  # (H, W, 3) uint8 RGB, before the shared preprocessing
    timestamp: float  # s, when the joints were read (loop clock)
    frame_timestamp: float  # s, when the frame was captured (a stale camera repeats an old one)
    velocities: np.ndarray | None = None
    privileged: np.ndarray | None = None


@runtime_checkable
class Robot(Protocol):
    def read(self) -> RobotReading:
        """The latest joints and frame; raises on a failed read."""

    def command(self, joint_targets: np.ndarray) -> None:
        """Send six joint position targets (rad); raises on a failed write."""

    def stop(self) -> None:
        """Leave the arm safe: hold where it is now, drop anything still queued."""


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep_until(self, t: float) -> None: ...


class WallClock:
    """Monotonic wall time for the real arm."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@dataclass
class FakeRobot:
    """A scripted arm for tests: joints follow each command exactly, faults are injected on request.

    It is its own clock (``now``/``sleep_until`` move a counter), so a test controls time exactly.
    ``fail_read_at`` / ``fail_command_at`` raise on that call number (0-based); ``nan_joints_at``
    returns NaN joints on that read; ``freeze_frame_after`` keeps returning the frame (and its
    timestamp) captured at that read, as a hung USB camera does.
    """

    joints: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0, np.pi / 2, 0.5]))
    frame_shape: tuple[int, int] = (48, 64)
    fail_read_at: int | None = None
    fail_command_at: int | None = None
    nan_joints_at: int | None = None
    freeze_frame_after: int | None = None
    commands: list = field(default_factory=list)
    stopped: bool = False
    t: float = 0.0
    reads: int = 0

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=float).copy()
        self._frozen: tuple[np.ndarray, float] | None = None

    # Clock
    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)

    # Robot
    def _frame(self) -> np.ndarray:
        h, w = self.frame_shape
        value = (self.reads * 37) % 256  # changes every read, so a frozen frame is recognisable
        return np.full((h, w, 3), value, dtype=np.uint8)

    def read(self) -> RobotReading:
        n = self.reads
        self.reads += 1
        if self.fail_read_at is not None and n >= self.fail_read_at:
            raise OSError(f"fake bus read failed at read {n}")
        joints = self.joints.copy()
        if self.nan_joints_at is not None and n >= self.nan_joints_at:
            joints[1] = np.nan
        if self.freeze_frame_after is not None and n >= self.freeze_frame_after:
            if self._frozen is None:
                self._frozen = (self._frame(), self.t)
            frame, frame_t = self._frozen
        else:
            frame, frame_t = self._frame(), self.t
        return RobotReading(joints=joints, frame=frame, timestamp=self.t, frame_timestamp=frame_t)

    def command(self, joint_targets: np.ndarray) -> None:
        n = len(self.commands)
        if self.fail_command_at is not None and n >= self.fail_command_at:
            raise OSError(f"fake bus write failed at command {n}")
        q = np.asarray(joint_targets, dtype=float).copy()
        self.commands.append(q)
        self.joints = q

    def stop(self) -> None:
        self.stopped = True
