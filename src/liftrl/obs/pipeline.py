"""The one observation pipeline the simulator and the real arm both call (interim version)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraSpec:
    size: int = 84
    crop: str = "center_square"
    interpolation: str = "area"
    channel_order: str = "rgb"


def preprocess_frame(frame: np.ndarray, spec: CameraSpec) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise ValueError(f"camera frame must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    sq = frame[top:top + side, left:left + side]
    if side != spec.size:
        sq = cv2.resize(sq, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
    if spec.channel_order == "bgr":
        sq = sq[..., ::-1]
    return np.ascontiguousarray(sq.transpose(2, 0, 1))


class FrameStack:
    def __init__(self, k: int):
        self.k = k
        self._frames: list[np.ndarray] | None = None

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self._frames = [frame] * self.k
        return np.concatenate(self._frames)

    def push(self, frame: np.ndarray) -> np.ndarray:
        if self._frames is None:
            raise RuntimeError("FrameStack.push before reset")
        self._frames = self._frames[1:] + [frame]
        return np.concatenate(self._frames)

    def state(self) -> np.ndarray:
        return np.stack(self._frames)

    def set_state(self, frames: np.ndarray) -> None:
        self._frames = [np.array(f, dtype=np.uint8) for f in frames]
