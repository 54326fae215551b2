"""Scene variation beyond the original randomisation: lights, table, cube, camera, rendering, physics.

``liftrl.sim.randomize`` draws the original parameters (cube size, colour, friction, light and
camera jitter) from the env's generator in a fixed order. The variations here draw from a second,
independent stream (the env generator's ``jumped()`` copy, so the main stream is not advanced) and
only when an option asks for them: with default options nothing is drawn or written, and every
episode, golden and resumed state is what it was. With options set, the same seed still gives the
same cube, start and original draws, so conditions of ``liftrl stress`` compare paired episodes.

Writes are absolute from the nominal model captured once per env (nothing accumulates).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from liftrl.sim import textures
from liftrl.sim.scene_options import SceneOptions

SHADOW_SIZE = 2048  # shadow map texels: enough for an 84x84 to 640x480 wrist view
TABLE_MATERIAL = "table"
TABLE_TEXTURE = "table"


@dataclass(frozen=True)
class SceneNominal:
    """The values the variations write over, captured once per env from its fresh model."""

    light_pos: np.ndarray
    headlight_diffuse: np.ndarray
    cam_quat: np.ndarray
    cube_mass: float
    cube_inertia: np.ndarray
    pad_friction: np.ndarray
    floor_friction: float
    gainprm: np.ndarray
    biasprm: np.ndarray
    texture_adr: int
    texture_size: int

    @classmethod
    def from_model(cls, model: mujoco.MjModel, ids) -> "SceneNominal":
        tex = model.texture(TABLE_TEXTURE).id
        return cls(light_pos=model.light_pos.copy(), headlight_diffuse=np.array(model.vis.headlight.diffuse, float),
                   cam_quat=model.cam_quat[ids.wrist_camera].copy(), cube_mass=float(model.body_mass[ids.cube_body]),
                   cube_inertia=model.body_inertia[ids.cube_body].copy(),
                   pad_friction=model.geom_friction[list(ids.pads), 0].copy(),
                   floor_friction=float(model.geom_friction[ids.floor_geom, 0]),
                   gainprm=model.actuator_gainprm[ids.actuators].copy(),
                   biasprm=model.actuator_biasprm[ids.actuators].copy(),
                   texture_adr=int(model.tex_adr[tex]), texture_size=int(model.tex_width[tex]))


@dataclass(frozen=True)
class SceneDraw:
    """One episode's scene variation; JSON-able (saved in env states for exact resume)."""

    light_rgb: tuple[float, ...]
    light_shift: tuple[float, ...]  # nlight x 3, flattened
    table_texture: str
    table_rgb: tuple[float, ...]
    texture_seed: int
    cube_rgb: tuple[float, ...] | None  # overrides the original draw's colour
    cube_mass: float
    camera_rotation_deg: tuple[float, ...]
    pad_friction: float
    floor_friction: float
    servo_kp_scale: float
    headlight_scale: float = 1.0  # states saved before the option exist without it: the full headlight

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "SceneDraw":
        values = dict(raw)
        for key in ("light_rgb", "light_shift", "table_rgb", "camera_rotation_deg"):
            values[key] = tuple(values[key])
        if values["cube_rgb"] is not None:
            values["cube_rgb"] = tuple(values["cube_rgb"])
        return cls(**values)


def scene_stream(rng: np.random.Generator) -> np.random.Generator:
    """An independent stream derived from the env's generator without advancing it."""
    return np.random.Generator(rng.bit_generator.jumped())


def _mid(span) -> float:
    return 0.5 * (float(span[0]) + float(span[1]))


def _ranged(rng, span, randomize: bool, nominal: float | None = None) -> float:
    """A draw from ``span`` when randomising; else its middle (or ``nominal`` for a default range)."""
    lo, hi = float(span[0]), float(span[1])
    if lo == hi:
        return lo
    if randomize:
        return float(rng.uniform(lo, hi))
    return _mid(span) if nominal is None else nominal


def sample_scene(rng: np.random.Generator, o: SceneOptions, nlight: int, randomize: bool) -> SceneDraw:
    """The episode's variation from the scene stream; each component draws only when it varies."""
    jitter = o.light_rgb_jitter if randomize else 0.0
    light_rgb = np.asarray(o.light_rgb, float)
    if jitter > 0:
        light_rgb = np.clip(light_rgb + rng.uniform(-jitter, jitter, size=3), 0.0, None)
    shift = rng.uniform(-o.light_shift_m, o.light_shift_m, size=3 * nlight) if (
        randomize and o.light_shift_m > 0) else np.zeros(3 * nlight)
    kinds = o.table_texture
    kind = kinds[int(rng.integers(len(kinds)))] if randomize and len(kinds) > 1 else kinds[0]
    table_rgb = np.asarray(o.table_rgb or textures.DEFAULT_TABLE_RGB, float)
    if randomize and o.table_rgb_jitter > 0:
        table_rgb = np.clip(table_rgb + rng.uniform(-o.table_rgb_jitter, o.table_rgb_jitter, size=3), 0.0, 1.0)
    seed = int(rng.integers(2**31)) if kind in ("noise", "busy") else 0
    cube_rgb = tuple(float(c) for c in o.cube_rgb) if o.cube_rgb else None
    if randomize and o.cube_table_colour > 0 and rng.uniform() < o.cube_table_colour:
        cube_rgb = tuple(float(c) for c in np.clip(table_rgb + rng.uniform(-0.05, 0.05, size=3), 0.0, 1.0))
    tilt = rng.uniform(-o.camera_tilt_deg, o.camera_tilt_deg, size=3) if (
        randomize and o.camera_tilt_deg > 0) else np.zeros(3)
    return SceneDraw(
        light_rgb=tuple(float(c) for c in light_rgb), light_shift=tuple(float(s) for s in shift),
        table_texture=kind, table_rgb=tuple(float(c) for c in table_rgb), texture_seed=seed, cube_rgb=cube_rgb,
        cube_mass=_ranged(rng, o.cube_mass_kg, randomize),
        camera_rotation_deg=tuple(float(a) for a in np.asarray(o.camera_rotation_deg, float) + tilt),
        pad_friction=_ranged(rng, o.pad_friction, randomize), floor_friction=_ranged(rng, o.floor_friction, randomize),
        servo_kp_scale=_ranged(rng, o.servo_kp_scale, randomize),
        headlight_scale=_ranged(rng, o.headlight_scale, randomize))  # last: earlier draws keep their order


def configure_model(model: mujoco.MjModel, o: SceneOptions, ids) -> None:
    """What is fixed for the env's life: rendering quality, offscreen size, friction priority.

    Called before any renderer exists (a GL context reads shadow size and samples when made).
    """
    if o.shadows:
        model.vis.quality.shadowsize = SHADOW_SIZE
        model.light_castshadow[:] = True
    model.vis.quality.offsamples = int(o.msaa)
    if o.camera_resolution:
        w, h = o.camera_resolution
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), int(w))
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), int(h))
    if o.cube_friction_governs:
        # MuJoCo mixes two geoms' friction by taking the larger, so a cube of 0.5 on pads and floor of
        # 1.0 slid like 1.0; the higher-priority geom's parameters are used instead of the mix.
        model.geom_priority[ids.cube_geom] = 1


def _rotation_quat(deg) -> np.ndarray:
    """A quaternion for rotations about x, then y, then z of the camera frame (degrees)."""
    q = np.array([1.0, 0.0, 0.0, 0.0])
    for axis, angle in enumerate(deg):
        if angle == 0:
            continue
        half = math.radians(angle) / 2
        r = np.zeros(4)
        r[0] = math.cos(half)
        r[1 + axis] = math.sin(half)
        out = np.empty(4)
        mujoco.mju_mulQuat(out, q, r)
        q = out
    return q


def apply_scene(model: mujoco.MjModel, draw: SceneDraw, nominal: SceneNominal, o: SceneOptions, ids) -> bool:
    """Write a draw into the model after ``randomize.apply``; True when the table texture changed."""
    model.light_diffuse[:] = model.light_diffuse * np.asarray(draw.light_rgb)[None, :]
    model.light_pos[:] = nominal.light_pos + np.asarray(draw.light_shift).reshape(-1, 3)
    headlight = o.headlight * draw.headlight_scale
    model.vis.headlight.ambient[:] = np.asarray(model.vis.headlight.ambient) * headlight * np.asarray(draw.light_rgb)
    model.vis.headlight.diffuse[:] = nominal.headlight_diffuse * headlight * np.asarray(draw.light_rgb)
    if draw.cube_rgb is not None:
        model.geom_rgba[ids.cube_geom, :3] = draw.cube_rgb
    ratio = draw.cube_mass / nominal.cube_mass
    model.body_mass[ids.cube_body] = draw.cube_mass
    model.body_inertia[ids.cube_body] = nominal.cube_inertia * ratio
    model.geom_friction[list(ids.pads), 0] = draw.pad_friction
    model.geom_friction[ids.floor_geom, 0] = draw.floor_friction
    s = draw.servo_kp_scale
    model.actuator_gainprm[ids.actuators, 0] = nominal.gainprm[:, 0] * s
    model.actuator_biasprm[ids.actuators, 1] = nominal.biasprm[:, 1] * s
    model.actuator_biasprm[ids.actuators, 2] = nominal.biasprm[:, 2] * math.sqrt(s)  # same damping ratio
    q = np.empty(4)
    mujoco.mju_mulQuat(q, nominal.cam_quat, _rotation_quat(draw.camera_rotation_deg))
    model.cam_quat[ids.wrist_camera] = q
    return _write_table(model, draw, nominal)


def _write_table(model: mujoco.MjModel, draw: SceneDraw, nominal: SceneNominal) -> bool:
    n = nominal.texture_size
    data = textures.table_texture(draw.table_texture, n, draw.table_rgb, np.random.default_rng(draw.texture_seed))
    view = model.tex_data[nominal.texture_adr:nominal.texture_adr + n * n * 3]
    flat = data.reshape(-1)
    if np.array_equal(view, flat):
        return False
    view[:] = flat
    return True


def upload_table(model: mujoco.MjModel, renderer: mujoco.Renderer) -> None:
    """Send the table texture to a renderer's GL context (textures are copied there when it is made).

    ``mujoco.Renderer`` keeps its contexts private; ``mjr_uploadTexture`` is the documented way to
    refresh one texture in a live context.
    """
    gl = getattr(renderer, "_gl_context", None)
    if gl is not None:
        gl.make_current()
    mujoco.mjr_uploadTexture(model, renderer._mjr_context, model.texture(TABLE_TEXTURE).id)
