"""The one observation pipeline: the simulator and the real arm both call this module.

The user's sim and real pipelines drifted (crop, resize, channel order, scaling, frame stack)
and a 100% simulated policy did nothing on the arm. Here there is one definition of each step,
and both paths call it:

1. centre crop to a square (the real USB camera's 640x480 becomes 480x480; a square sim render
   passes unchanged);
2. area-interpolated resize to ``size`` x ``size`` (OpenCV ``INTER_AREA``, the same library the
   real camera is read with; no resize when the crop already has that size);
3. channel order to RGB (OpenCV delivers BGR: say ``channel_order="bgr"`` for such a source);
4. channel-first uint8 (3, size, size): no scaling here, the agents divide by 255 on the device,
   so replay stores one byte per value;
5. a stack of the last ``k`` frames along the channel axis, oldest first, filled with copies of
   the first frame at reset.

``CameraNoise`` is the one model of a real camera's imperfections (sensor noise, a brightness gain
per episode): the deploy dry run applies it to emulate the arm, and training (``env.camera_noise``,
``env.camera_gain``) applies the same function so a policy meets on the arm what it learnt on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CROPS = ("center_square",)
INTERPOLATIONS = {"area": cv2.INTER_AREA}
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class CameraSpec:
    """How a raw camera frame becomes the policy's image; stored in exported policy bundles."""

    size: int = 84
    crop: str = "center_square"
    interpolation: str = "area"
    channel_order: str = "rgb"  # the order of the *source* frame; the output is always RGB

    def __post_init__(self):
        if not (isinstance(self.size, (int, np.integer)) and self.size > 0):
            raise ValueError(f"CameraSpec.size must be a positive integer, got {self.size!r}")
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r}; supported: {CROPS}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; supported: {tuple(INTERPOLATIONS)}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"unknown channel_order {self.channel_order!r}; supported: {CHANNEL_ORDERS}")

    def as_dict(self) -> dict:
        return {"size": int(self.size), "crop": self.crop, "interpolation": self.interpolation,
                "channel_order": self.channel_order}


def center_square(frame: np.ndarray) -> np.ndarray:
    """The largest centred square; odd leftovers go to the bottom/right (integer division)."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frame[top:top + side, left:left + side]


def preprocess_frame(frame: np.ndarray, spec: CameraSpec) -> np.ndarray:
    """A raw HxWx3 uint8 camera frame -> the policy's (3, size, size) uint8 RGB image."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise ValueError(f"camera frame must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
    sq = center_square(frame)
    if sq.shape[0] != spec.size:
        sq = cv2.resize(sq, (spec.size, spec.size), interpolation=INTERPOLATIONS[spec.interpolation])
    if spec.channel_order == "bgr":
        sq = sq[..., ::-1]
    return np.ascontiguousarray(sq.transpose(2, 0, 1))


@dataclass(frozen=True)
class CameraNoise:
    """Per-pixel Gaussian noise (std in 0-255 units) and a per-episode brightness gain of 1 +- ``gain``."""

    std: float = 0.0
    gain: float = 0.0

    def __post_init__(self):
        if not (self.std >= 0 and 0 <= self.gain < 1):
            raise ValueError(f"camera noise needs std >= 0 and 0 <= gain < 1, got std={self.std} gain={self.gain}")

    @property
    def active(self) -> bool:
        return self.std > 0 or self.gain > 0

    def draw_gain(self, rng: np.random.Generator) -> float:
        """An episode's brightness factor, uniform in [1 - gain, 1 + gain]."""
        return 1.0 + rng.uniform(-self.gain, self.gain)

    def apply(self, frame: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
        """A raw uint8 frame times ``gain`` plus fresh noise, rounded and clipped to 0..255."""
        if not self.active:
            return frame
        x = frame.astype(np.float32) * gain
        if self.std > 0:
            x += rng.normal(0.0, self.std, size=frame.shape).astype(np.float32)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class FrameStack:
    """The last ``k`` preprocessed frames, concatenated on the channel axis, oldest first."""

    def __init__(self, k: int):
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError(f"frame stack size must be an integer >= 1, got {k!r}")
        self.k = int(k)
        self._frames: list[np.ndarray] | None = None

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self._frames = [frame] * self.k
        return np.concatenate(self._frames)

    def push(self, frame: np.ndarray) -> np.ndarray:
        if self._frames is None:
            raise RuntimeError("FrameStack.push before reset: the first frame of an episode must reset the stack")
        if frame.shape != self._frames[-1].shape:
            raise ValueError(f"frame shape {frame.shape} differs from the stack's {self._frames[-1].shape}")
        self._frames = self._frames[1:] + [frame]
        return np.concatenate(self._frames)

    def state(self) -> np.ndarray:
        if self._frames is None:
            raise RuntimeError("FrameStack.state before reset")
        return np.stack(self._frames)

    def set_state(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 4 or frames.shape[0] != self.k:
            raise ValueError(f"frame stack state must be ({self.k}, C, H, W), got {frames.shape}")
        self._frames = [f.copy() for f in frames]


class FrameDelay:
    """The frame a camera delivers ``ticks`` control ticks late: a ring of the last ``ticks + 1`` raw frames.

    A real USB camera's newest frame is 30-150 ms old when the loop reads it (exposure, transfer,
    driver buffers). The env pushes a render every tick while a delay is set and the policy sees the
    oldest; at reset the ring is filled with the first frame (nothing older exists).
    """

    def __init__(self, ticks: int):
        if ticks < 0:
            raise ValueError(f"a frame delay is >= 0 ticks, got {ticks}")
        self.ticks = int(ticks)
        self._frames: list[np.ndarray] = []

    @property
    def active(self) -> bool:
        return self.ticks > 0

    def reset(self, frame: np.ndarray) -> None:
        self._frames = [frame] * (self.ticks + 1)

    def push(self, frame: np.ndarray) -> None:
        self._frames = self._frames[1:] + [frame]

    def frame(self) -> np.ndarray:
        """The frame ``ticks`` pushes old."""
        return self._frames[0]

    def state(self) -> np.ndarray:
        return np.stack(self._frames)

    def set_state(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.shape[0] != self.ticks + 1:
            raise ValueError(f"a frame delay of {self.ticks} ticks holds {self.ticks + 1} frames, got {frames.shape[0]}")
        self._frames = [f.copy() for f in frames]
