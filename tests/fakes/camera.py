"""A stand-in for ``cv2.VideoCapture``: a USB camera with a fixed list of modes that can stop delivering.

Test-only. LeRobot's ``OpenCVCamera`` opens ``cv2.VideoCapture(index, backend)``, sets FOURCC,
width, height and fps and reads them back, then reads frames in a background thread; its
``is_connected`` checks ``isinstance(videocapture, cv2.VideoCapture)``, so ``install()`` replaces
that attribute of the real ``cv2`` module and everything above it is LeRobot's code.

Like a V4L2 device, a ``set`` of a value no mode has is refused (returns False, the old value
stays); frames come at the mode's fps, BGR, and differ from one another (a real sensor never repeats
a frame bit for bit). ``freeze_after`` frames in, ``read`` blocks, as a
USB camera that stopped streaming does: forever (the thread reading it is a daemon).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class CameraSpec:
    """What the fake device can do; ``FakeVideoCapture.spec`` is the one plugged in."""

    devices: tuple = (0, "/dev/video0")
    modes: tuple = ((640, 480, 30.0),)  # (width, height, fps)
    fourccs: tuple = ("MJPG", "YUYV")
    freeze_after: int | None = None  # frames delivered before the stream stops


HUNG = threading.Event()  # never set


def _fourcc_code(text: str) -> float:
    return float(sum(ord(c) << (8 * i) for i, c in enumerate(text)))


class FakeVideoCapture:
    spec = CameraSpec()
    opened_captures: list = []  # every capture made, newest last

    def __init__(self, index_or_path=0, backend: int = cv2.CAP_ANY):
        self.index = index_or_path
        self.opened = index_or_path in self.spec.devices or str(index_or_path) in map(str, self.spec.devices)
        w, h, fps = self.spec.modes[0]
        self.props = {cv2.CAP_PROP_FRAME_WIDTH: float(w), cv2.CAP_PROP_FRAME_HEIGHT: float(h),
                      cv2.CAP_PROP_FPS: float(fps), cv2.CAP_PROP_FOURCC: _fourcc_code(self.spec.fourccs[0])}
        self.frames = 0
        self.last_t = 0.0
        FakeVideoCapture.opened_captures.append(self)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's names
        return self.opened

    def release(self) -> None:
        self.opened = False

    def getBackendName(self) -> str:  # noqa: N802
        return "FAKE"

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        allowed = {cv2.CAP_PROP_FRAME_WIDTH: {m[0] for m in self.spec.modes},
                   cv2.CAP_PROP_FRAME_HEIGHT: {m[1] for m in self.spec.modes},
                   cv2.CAP_PROP_FPS: {m[2] for m in self.spec.modes},
                   cv2.CAP_PROP_FOURCC: {_fourcc_code(f) for f in self.spec.fourccs}}.get(prop)
        if not self.opened or allowed is None or float(value) not in {float(a) for a in allowed}:
            return False
        self.props[prop] = float(value)
        return True

    def read(self):
        if not self.opened:
            return False, None
        if self.spec.freeze_after is not None and self.frames >= self.spec.freeze_after:
            HUNG.wait()  # a hung stream: the read never returns (LeRobot's daemon read thread stays stuck in it)
        period = 1.0 / self.props[cv2.CAP_PROP_FPS]
        delay = self.last_t + period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.last_t = time.monotonic()
        self.frames += 1
        w, h = int(self.props[cv2.CAP_PROP_FRAME_WIDTH]), int(self.props[cv2.CAP_PROP_FRAME_HEIGHT])
        frame = np.empty((h, w, 3), np.uint8)
        frame[..., 0] = (np.arange(w)[None, :] + 7 * self.frames) % 256  # blue: moves every frame
        frame[..., 1] = (np.arange(h)[:, None] * 255 // max(1, h - 1))  # green: a vertical ramp
        frame[..., 2] = 200  # red: constant, so an RGB/BGR swap is visible
        return True, frame


def install(spec: CameraSpec | None = None) -> type:
    """Plug a camera with ``spec`` in: ``cv2.VideoCapture`` becomes ``FakeVideoCapture``."""
    FakeVideoCapture.spec = spec or CameraSpec()
    FakeVideoCapture.opened_captures = []
    cv2.VideoCapture = FakeVideoCapture
    return FakeVideoCapture
