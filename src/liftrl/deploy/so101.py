"""The real SO-101 through LeRobot's SO-101 follower (liftrl installed into a LeRobot 0.4.x environment).

LeRobot owns the bus (Feetech, 1 Mbps, motor ids 1-6), the per-arm calibration file and the USB
camera; this adapter only converts units (``JointMapping``) and keys. LeRobot is imported when a
real arm is built, never at module import, so liftrl installs and tests without it.

The arm is created with ``use_degrees=True``: LeRobot's default reports body joints on a -100..100
scale, which this mapping does not speak. The wrist camera is read through LeRobot's OpenCV camera
(RGB, 640x480 by default); cropping and resizing happen in ``obs.pipeline`` as in simulation.
Positions only: velocities come from finite differences in the loop.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from liftrl.deploy.mapping import MOTORS, JointMapping
from liftrl.deploy.robot import RobotReading


class LeRobotArm(Protocol):
    """The part of LeRobot's ``Robot`` interface this adapter uses."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def get_observation(self) -> dict[str, Any]: ...

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CameraOptions:
    """The wrist camera's device and mode, as LeRobot's ``OpenCVCameraConfig`` takes them.

    A USB camera offers a fixed list of modes (``v4l2-ctl --list-formats-ext``); LeRobot refuses to
    connect when the one asked for is not among them, so each part is an option. ``fourcc`` None
    leaves the camera's default pixel format (MJPG often allows 30 fps at 640x480 where YUYV does not).
    """

    index_or_path: int | str = 0
    width: int = 640
    height: int = 480
    fps: int = 30
    fourcc: str | None = None

    def __post_init__(self):
        if not (self.width > 0 and self.height > 0 and self.fps > 0):
            raise ValueError(f"camera width, height and fps must be positive, got {self.width}x{self.height} "
                             f"@ {self.fps}")
        if self.fourcc is not None and len(self.fourcc) != 4:
            raise ValueError(f"--camera-fourcc must be 4 characters (MJPG, YUYV), got {self.fourcc!r}")

    def describe(self) -> str:
        return (f"camera {self.index_or_path} at {self.width}x{self.height} @ {self.fps} fps"
                + (f" {self.fourcc}" if self.fourcc else ""))


LEROBOT_INSTALL_HINT = ("install liftrl into your LeRobot environment (there: pip install -e /path/to/liftrl; "
                        "see docs/real-arm.md)")


def import_so101_follower():
    """LeRobot's SO-101 follower class and its config (0.4.3+ ``so_follower``, earlier ``so101_follower``)."""
    try:
        from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "lerobot" and exc.name != "lerobot.robots.so_follower":
            raise ImportError(f"the real SO-101 needs LeRobot 0.4.x: {LEROBOT_INSTALL_HINT} ({exc})") from None
        try:
            from lerobot.robots.so101_follower import SO101Follower, SO101FollowerConfig
        except ModuleNotFoundError as old:
            raise ImportError(f"the real SO-101 needs LeRobot 0.4.x: {LEROBOT_INSTALL_HINT} ({old})") from None
    return SO101Follower, SO101FollowerConfig


def make_lerobot_follower(port: str, robot_id: str, calibration_dir: str | Path, camera_key: str | None = "wrist",
                          camera: CameraOptions = CameraOptions(),
                          max_relative_target: dict[str, float] | None = None) -> LeRobotArm:
    """LeRobot's SO-101 follower with its wrist camera (none if ``camera_key`` is None), in degrees.

    ``calibration_dir`` is always passed: it is the folder of the calibration file liftrl read, so
    LeRobot's bus converts units with the very numbers liftrl's mapping was built from.
    ``disable_torque_on_disconnect`` is off: LeRobot's default drops the arm whenever the port is
    closed (even from its destructor); ``so101_session.close_follower`` releases torque only when
    asked. ``max_relative_target`` (per motor, LeRobot's units: ``JointMapping.lerobot_caps``) makes
    LeRobot cap each goal against a fresh read of the present position inside ``send_action``: a
    second line behind ``deploy.safety``'s cap, on the arm's own clock. LeRobot is imported here only.
    """
    follower_cls, config_cls = import_so101_follower()
    from lerobot.cameras.opencv.configuration_opencv import OpenCVCameraConfig

    cameras = {} if camera_key is None else {camera_key: OpenCVCameraConfig(
        index_or_path=camera.index_or_path, fps=camera.fps, width=camera.width, height=camera.height,
        fourcc=camera.fourcc)}
    kwargs: dict[str, Any] = {"port": port, "id": robot_id, "use_degrees": True, "cameras": cameras,
                              "calibration_dir": Path(calibration_dir), "disable_torque_on_disconnect": False}
    if max_relative_target is not None:  # keys are motor names; values floats (LeRobot checks the type)
        kwargs["max_relative_target"] = {m: float(max_relative_target[m]) for m in MOTORS}
    return follower_cls(config_cls(**kwargs))


class So101Robot:
    """``Robot`` for the real arm, over any object with LeRobot's follower interface."""

    def __init__(self, arm: LeRobotArm, mapping: JointMapping, camera_key: str | None = "wrist",
                 clock=time.monotonic):
        """``camera_key=None``: the policy reads no pixels, so no camera is needed (a 1x1 frame stands in)."""
        self.arm = arm
        self.mapping = mapping
        self.camera_key = camera_key
        self.clock = clock
        self._last_digest: bytes | None = None
        self._frame_time = 0.0
        self._last_joints: np.ndarray | None = None

    def connect(self) -> None:
        self.arm.connect()

    def disconnect(self) -> None:
        self.arm.disconnect()

    def read(self) -> RobotReading:
        obs = self.arm.get_observation()
        now = self.clock()
        joints = self.mapping.from_observation(obs)
        self._last_joints = joints
        if self.camera_key is None:
            return RobotReading(joints=joints, frame=np.zeros((1, 1, 3), np.uint8), timestamp=now, frame_timestamp=now)
        if self.camera_key not in obs:
            raise KeyError(f"LeRobot observation has no camera {self.camera_key!r} (has {sorted(obs)}); "
                           f"pass --camera-key with the name the robot config gives the wrist camera")
        frame = np.asarray(obs[self.camera_key])
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"camera {self.camera_key!r} returned {frame.shape} {frame.dtype}, expected HxWx3 uint8")
        # A hung USB camera hands back its last frame forever: a real sensor never repeats a frame
        # bit for bit, so an identical frame keeps its first capture time and the watchdog sees it age.
        digest = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        if digest != self._last_digest:
            self._last_digest = digest
            self._frame_time = now
        return RobotReading(joints=joints, frame=frame, timestamp=now, frame_timestamp=self._frame_time)

    def command(self, joint_targets: np.ndarray) -> None:
        q = np.asarray(joint_targets, dtype=float)
        if q.shape != (6,) or not np.all(np.isfinite(q)):
            raise ValueError(f"joint targets must be 6 finite values, got {q.tolist()}")
        self.arm.send_action(self.mapping.to_action(q))

    def stop(self) -> None:
        """Hold the pose the arm is in now (torque stays on: a limp arm would drop onto the table)."""
        try:
            q = self.mapping.from_observation(self.arm.get_observation())
        except Exception:
            q = self._last_joints
        if q is None:
            return
        action = self.mapping.to_action(q)
        try:
            self.arm.send_action(action)
        except Exception:
            # LeRobot's send_action first reads every present position (max_relative_target), which fails
            # when one servo has gone silent; a sync write expects no answer, so the servos that still
            # listen get the hold goal (the silent one keeps its last goal while powered).
            bus = getattr(self.arm, "bus", None)
            if bus is None:
                raise
            bus.sync_write("Goal_Position", {k.removesuffix(".pos"): v for k, v in action.items()})


__all__ = ["MOTORS", "CameraOptions", "LeRobotArm", "So101Robot", "make_lerobot_follower"]
