"""Domain randomisation: sampled per environment and per reset from that environment's generator.

The user's randomisation was sampled once and shared by every parallel environment, so the
policy saw one world. Here sampling is a pure function of the env's own ``np.random.Generator``
and applying writes into the env's own ``MjModel`` copy, starting from nominal values each time
(nothing accumulates across resets).
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

CUBE_SIZES_MM = (24, 28, 32, 36)


@dataclass(frozen=True)
class Nominal:
    """The model's values before any randomisation, captured once per env."""

    cube_size: np.ndarray
    cube_friction: np.ndarray
    cube_rgba: np.ndarray
    light_diffuse: np.ndarray
    headlight_ambient: np.ndarray
    wrist_cam_pos: np.ndarray

    @classmethod
    def from_model(cls, model: mujoco.MjModel, cube_geom: int, wrist_cam: int) -> "Nominal":
        return cls(
            cube_size=model.geom_size[cube_geom].copy(),
            cube_friction=model.geom_friction[cube_geom].copy(),
            cube_rgba=model.geom_rgba[cube_geom].copy(),
            light_diffuse=model.light_diffuse.copy(),
            headlight_ambient=np.array(model.vis.headlight.ambient, dtype=float),
            wrist_cam_pos=model.cam_pos[wrist_cam].copy(),
        )


@dataclass(frozen=True)
class Randomization:
    """One draw of the randomised parameters: what the env applies and reports in its info."""

    cube_half_size: float
    cube_friction: float
    cube_rgb: tuple[float, float, float]
    light_scale: tuple[float, ...]
    ambient_scale: float
    camera_offset: tuple[float, float, float]
    cube_xy_spread: float | None  # widened placement range for the cube, or None for the stage's own

    def as_dict(self) -> dict:
        return asdict(self)


def nominal_draw(nominal: Nominal) -> Randomization:
    """The unrandomised world, so both paths go through the same ``apply``."""
    return Randomization(
        cube_half_size=float(nominal.cube_size[0]),
        cube_friction=float(nominal.cube_friction[0]),
        cube_rgb=tuple(float(c) for c in nominal.cube_rgba[:3]),
        light_scale=tuple(1.0 for _ in range(len(nominal.light_diffuse))),
        ambient_scale=1.0,
        camera_offset=(0.0, 0.0, 0.0),
        cube_xy_spread=None,
    )


def sample(rng: np.random.Generator, nominal: Nominal) -> Randomization:
    """TASK.md's ranges: sizes 24-36 mm, friction 0.5-1.5, any saturated colour, light, camera +-2.5 cm."""
    size_mm = CUBE_SIZES_MM[int(rng.integers(len(CUBE_SIZES_MM)))]
    hue = rng.uniform(0.0, 1.0)
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0))
    return Randomization(
        cube_half_size=size_mm / 2000.0,
        cube_friction=float(rng.uniform(0.5, 1.5)),
        cube_rgb=tuple(float(c) for c in rgb),
        light_scale=tuple(float(s) for s in rng.uniform(0.5, 1.5, size=len(nominal.light_diffuse))),
        ambient_scale=float(rng.uniform(0.7, 1.3)),
        camera_offset=tuple(float(o) for o in rng.uniform(-0.025, 0.025, size=3)),
        cube_xy_spread=0.05,
    )


def apply(model: mujoco.MjModel, draw: Randomization, nominal: Nominal, cube_geom: int, wrist_cam: int) -> None:
    """Write a draw into the env's model, always relative to the nominal values."""
    h = draw.cube_half_size
    model.geom_size[cube_geom] = (h, h, h)
    # The broadphase uses the bounding sphere and box: stale ones miss contacts of a larger cube.
    model.geom_rbound[cube_geom] = np.sqrt(3.0) * h
    model.geom_aabb[cube_geom] = (0.0, 0.0, 0.0, h, h, h)
    model.geom_friction[cube_geom, 0] = draw.cube_friction
    model.geom_rgba[cube_geom, :3] = draw.cube_rgb
    model.light_diffuse[:] = nominal.light_diffuse * np.asarray(draw.light_scale)[:, None]
    model.vis.headlight.ambient[:] = nominal.headlight_ambient * draw.ambient_scale
    model.cam_pos[wrist_cam] = nominal.wrist_cam_pos + np.asarray(draw.camera_offset)
