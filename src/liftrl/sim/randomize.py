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

from liftrl.sim.scene_options import SceneOptions

_DEFAULT = SceneOptions()


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


def nominal_draw(nominal: Nominal, options: SceneOptions = _DEFAULT) -> Randomization:
    """The unrandomised world, so both paths go through the same ``apply`` (a fixed camera offset still applies)."""
    return Randomization(
        cube_half_size=float(nominal.cube_size[0]),
        cube_friction=float(nominal.cube_friction[0]),
        cube_rgb=tuple(float(c) for c in nominal.cube_rgba[:3]),
        light_scale=tuple(1.0 for _ in range(len(nominal.light_diffuse))),
        ambient_scale=1.0,
        camera_offset=tuple(float(o) for o in options.camera_offset_m),
        cube_xy_spread=None,
    )


def sample(rng: np.random.Generator, nominal: Nominal, options: SceneOptions = _DEFAULT) -> Randomization:
    """TASK.md's ranges by default: sizes 24-36 mm, friction 0.5-1.5, any saturated colour, light,
    camera +-2.5 cm. ``options`` set the ranges; the draws and their order never change with them."""
    o = options
    # integers(1) would draw nothing: one size is drawn as from two, so every later draw stays put.
    size_mm = o.cube_sizes_mm[int(rng.integers(max(len(o.cube_sizes_mm), 2))) % len(o.cube_sizes_mm)]
    hue = rng.uniform(0.0, 1.0)
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(*o.cube_saturation), rng.uniform(*o.cube_value))
    friction = float(rng.uniform(*o.cube_friction))  # the draws in this order: seeds keep their episodes
    light = rng.uniform(*o.light_scale, size=len(nominal.light_diffuse))
    ambient = float(rng.uniform(*o.ambient_scale))
    shift = rng.uniform(-o.camera_shift_m, o.camera_shift_m, size=3) + np.asarray(o.camera_offset_m, float)
    return Randomization(
        cube_half_size=size_mm / 2000.0,
        cube_friction=friction,
        cube_rgb=tuple(float(c) for c in rgb),
        light_scale=tuple(float(s) for s in light),
        ambient_scale=ambient,
        camera_offset=tuple(float(c) for c in shift),
        cube_xy_spread=float(o.cube_xy_spread),
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
