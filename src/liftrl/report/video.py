"""MP4 videos people can watch: H.264 through the ffmpeg that ships inside ``imageio-ffmpeg``.

One writer serves the scripted demo, the end-of-training video and ``liftrl eval``, so every
video has the same layout: the wrist view the policy sees (upscaled, nearest neighbour so the
pixels stay honest) beside a third-person view, with the numbers that explain the frame written
on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

# yuv420p (what every player decodes) needs even frame sizes.
_EVEN = 2


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"video frames must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
    return frame


def _pad_even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    ph, pw = (-h) % _EVEN, (-w) % _EVEN
    if ph or pw:
        frame = np.pad(frame, ((0, ph), (0, pw), (0, 0)))
    return frame


class Mp4Writer:
    """Append RGB frames; the file is complete once the writer is closed (use it as a context manager).

    All frames must have the first frame's size: a video whose size changes mid-stream is a bug
    in the caller, so it is refused rather than silently rescaled.
    """

    def __init__(self, path: str | Path, fps: float = 50, quality: int = 7):
        self.path = Path(path)
        self.fps = fps
        self.quality = quality
        self.frames = 0
        self._writer = None
        self._size: tuple[int, int] | None = None

    def append(self, frame: np.ndarray) -> None:
        frame = _pad_even(_check_frame(frame))
        if self._writer is None:
            import imageio.v2 as imageio

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._size = frame.shape[:2]
            self._writer = imageio.get_writer(
                str(self.path), format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                quality=self.quality, pixelformat="yuv420p", macro_block_size=1,
            )
        elif frame.shape[:2] != self._size:
            raise ValueError(f"frame size {frame.shape[:2]} differs from the video's {self._size}")
        self._writer.append_data(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resize_to_height(frame: np.ndarray, height: int) -> np.ndarray:
    frame = _check_frame(frame)
    h, w = frame.shape[:2]
    if h == height:
        return frame
    width = max(1, round(w * height / h))
    # Upscaling the 84x84 policy view: nearest neighbour shows exactly what the policy saw.
    interp = cv2.INTER_NEAREST if height > h else cv2.INTER_AREA
    return cv2.resize(frame, (width, height), interpolation=interp)


def side_by_side(frames: Sequence[np.ndarray], height: int = 360) -> np.ndarray:
    """Frames scaled to one height and placed left to right (e.g. wrist view | scene view)."""
    frames = [f for f in frames if f is not None]
    if not frames:
        raise ValueError("side_by_side needs at least one frame")
    return np.concatenate([resize_to_height(f, height) for f in frames], axis=1)


def annotate(frame: np.ndarray, lines: Sequence[str], scale: float = 0.5) -> np.ndarray:
    """Text lines in the top-left corner on a dark band, readable on any background."""
    out = _check_frame(frame).copy()
    if not lines:
        return out
    font = cv2.FONT_HERSHEY_SIMPLEX
    line_h = int(22 * scale / 0.5)
    band_h = min(out.shape[0], line_h * len(lines) + 6)
    out[:band_h] = (out[:band_h].astype(np.uint16) * 2 // 5).astype(np.uint8)
    for i, text in enumerate(lines):
        y = line_h * (i + 1) - 4
        cv2.putText(out, str(text), (6, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def newest_frame(pixels: np.ndarray) -> np.ndarray:
    """The last RGB frame of a channel-first frame stack (3k, S, S), as HxWx3 for display."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 3 or pixels.shape[0] % 3:
        raise ValueError(f"expected a (3k, S, S) frame stack, got shape {pixels.shape}")
    return np.ascontiguousarray(pixels[-3:].transpose(1, 2, 0))
