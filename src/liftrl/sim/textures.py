"""Table textures made in numpy, written into the model's texture data: plain, patterned, busy.

A wrist camera sees mostly table. The scene's table is a faint two-tone checker; a real one may be
white, wood, or a busy cloth (a probe of the shipped student: 11 of 50 on a busy cloth). Each kind
here is a pure function of its colours and a generator, so a draw is reproducible from the
episode's seed. ``checker`` reproduces MuJoCo's builtin checker byte for byte (2x2 blocks, colours
truncated to bytes), so the default table and a regenerated default table look the same.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TABLE_RGB = (0.62, 0.58, 0.52)  # the scene's beige (rgb1 of its checker)
CHECKER_CONTRAST = 0.06  # rgb2 = rgb1 - 0.06, as the scene's own checker


def _to_bytes(rgb: np.ndarray) -> np.ndarray:
    """Colours in 0..1 to uint8 the way MuJoCo's builtin textures do (truncation)."""
    return (255.0 * np.clip(rgb, 0.0, 1.0)).astype(np.uint8)


def checker(size: int, rgb1, rgb2) -> np.ndarray:
    half = size // 2
    out = np.empty((size, size, 3), np.uint8)
    a, b = _to_bytes(np.asarray(rgb1, float)), _to_bytes(np.asarray(rgb2, float))
    out[:half, :half] = a
    out[half:, half:] = a
    out[:half, half:] = b
    out[half:, :half] = b
    return out


def flat(size: int, rgb) -> np.ndarray:
    return np.broadcast_to(_to_bytes(np.asarray(rgb, float)), (size, size, 3)).copy()


def gradient(size: int, rgb1, rgb2) -> np.ndarray:
    """A radial fade from rgb1 at the centre to rgb2 at the rim (MuJoCo's ``gradient`` look)."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    t = np.clip(np.sqrt(x * x + y * y) / 0.5, 0.0, 1.0)[..., None]
    return _to_bytes((1 - t) * np.asarray(rgb1, float) + t * np.asarray(rgb2, float))


def noise(size: int, rgb, rng: np.random.Generator, amplitude: float = 0.25) -> np.ndarray:
    """A speckled cloth: per-texel noise plus a smoothed layer, around the base colour."""
    fine = rng.uniform(-1.0, 1.0, size=(size, size, 1))
    coarse = rng.uniform(-1.0, 1.0, size=(size // 16, size // 16, 1))
    coarse = np.kron(coarse, np.ones((16, 16, 1)))
    return _to_bytes(np.asarray(rgb, float) + amplitude * (0.5 * fine + 0.5 * coarse))


def busy(size: int, rgb, rng: np.random.Generator, blocks: int = 40) -> np.ndarray:
    """A patterned cloth: random rectangles and stripes of saturated colours over the base colour."""
    out = np.empty((size, size, 3))
    out[:] = np.asarray(rgb, float)
    for _ in range(blocks):
        w, h = rng.integers(size // 32, size // 4, size=2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        colour = rng.uniform(0.0, 1.0, size=3)
        if rng.uniform() < 0.3:  # a stripe pattern inside the block
            stripes = (np.arange(h)[:, None] // max(1, h // 6)) % 2 == 0
            out[y:y + h, x:x + w][stripes[:, 0]] = colour
        else:
            out[y:y + h, x:x + w] = colour
    return _to_bytes(out)


def table_texture(kind: str, size: int, rgb, rng: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) uint8 table texture of ``kind`` around base colour ``rgb``."""
    rgb = np.asarray(rgb, float)
    dark = rgb - CHECKER_CONTRAST
    if kind == "checker":
        return checker(size, rgb, dark)
    if kind == "flat":
        return flat(size, rgb)
    if kind == "gradient":
        return gradient(size, rgb, rgb * 0.6)
    if kind == "noise":
        return noise(size, rgb, rng)
    if kind == "busy":
        return busy(size, rgb, rng)
    raise ValueError(f"unknown table texture {kind!r}")
