"""Every scene variation as an option: lights, table, cube, camera mount, rendering and physics.

A real table differs from the simulated one in ways a wrist-camera policy notices (a busy cloth,
a white table, a cool light, a camera 2 cm off its nominal mount). Each such difference is a field
here, so training (``env:`` in a config), evaluation, the deploy dry run and ``liftrl stress``
describe a scene the same way and a bad value fails at config load, naming its key.

Ranges are ``[lo, hi]`` lists drawn per episode when ``randomize`` is on; a fixed value is
``[x, x]``. Fixed choices (a table texture, a light colour, shadows, a cube colour) apply with or
without ``randomize``. The defaults are exactly the scene as it was before these options existed:
same model, same random draws in the same order (``liftrl.sim.variation`` draws the new ones
from a separate stream only when an option asks for them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from liftrl.sim.task import GRASP_RULES, OptionError

TABLE_TEXTURES = ("checker", "flat", "gradient", "noise", "busy")
MESH_QUALITIES = ("low", "full")
MAX_CAMERA_RESOLUTION = (640, 480)  # the real USB camera's frame (TASK.md)
MSAA_SAMPLES = (0, 2, 4, 8)


def _number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v)


@dataclass(frozen=True)
class SceneOptions:
    """The scene's variation options (base of the env's task options); defaults keep the old scene."""

    # Lights: each light's diffuse is scaled by a factor drawn from this range per episode.
    light_scale: tuple[float, ...] = (0.5, 1.5)
    # The headlight's ambient is scaled by a factor drawn from this range per episode.
    ambient_scale: tuple[float, ...] = (0.7, 1.3)
    # A colour every light is multiplied by (a cool light: [0.8, 0.9, 1.15]).
    light_rgb: tuple[float, ...] = (1.0, 1.0, 1.0)
    # +- this much added to light_rgb per channel and episode.
    light_rgb_jitter: float = 0.0
    # Each light moves by up to this much (m) per axis and episode.
    light_shift_m: float = 0.0
    # The camera-following headlight's strength (0: none; a real room has no light on the camera).
    headlight: float = 1.0
    # The headlight is further scaled by a factor drawn from this range per episode ([0, 1]: from
    # none to full), so a student meets scenes lit only by the room's lights, as on the real arm.
    headlight_scale: tuple[float, ...] = (1.0, 1.0)
    # Table textures, one drawn per episode: checker, flat, gradient, noise (a speckled cloth), busy
    # (a patterned cloth of random colour blocks and stripes).
    table_texture: tuple[str, ...] = ("checker",)
    # The table's base colour [r, g, b] in 0-1 (empty: the scene's beige).
    table_rgb: tuple[float, ...] = ()
    # +- this much added to the table's colour per channel and episode.
    table_rgb_jitter: float = 0.0
    # Cube edge lengths (mm), one drawn per episode (10-50 mm).
    cube_sizes_mm: tuple[float, ...] = (24.0, 28.0, 32.0, 36.0)
    # The cube colour's saturation range (its hue is drawn from 0-1).
    cube_saturation: tuple[float, ...] = (0.6, 1.0)
    # The cube colour's value (brightness) range.
    cube_value: tuple[float, ...] = (0.5, 1.0)
    # A fixed cube colour [r, g, b] instead of the drawn one (empty: drawn).
    cube_rgb: tuple[float, ...] = ()
    # The probability of a cube the table's colour (+-0.05 per channel) in an episode.
    cube_table_colour: float = 0.0
    # The cube's mass range (kg); its inertia scales with it.
    cube_mass_kg: tuple[float, ...] = (0.03, 0.03)
    # The cube's sliding friction range.
    cube_friction: tuple[float, ...] = (0.5, 1.5)
    # Give the cube geom priority so its friction acts: MuJoCo otherwise takes the larger of the two
    # geoms' frictions, and the pads and floor are 1.0.
    cube_friction_governs: bool = False
    # The cube starts within +- this much (m) of its stage's centre.
    cube_xy_spread: float = 0.05
    # The cube's placement centre moves by this much [x, y] (m).
    cube_xy_offset: tuple[float, ...] = (0.0, 0.0)
    # The wrist camera's mount moves by up to this much (m) per axis and episode.
    camera_shift_m: float = 0.025
    # A fixed offset [x, y, z] of the wrist camera (m, gripper frame) on top of the random shift.
    camera_offset_m: tuple[float, ...] = (0.0, 0.0, 0.0)
    # The wrist camera turns by up to this much (deg) about each of its axes per episode.
    camera_tilt_deg: float = 0.0
    # A fixed rotation of the wrist camera about its x, y, z axes (deg).
    camera_rotation_deg: tuple[float, ...] = (0.0, 0.0, 0.0)
    # Render meshes: low (5.6k triangles, fast) or full (the stock 322k); empty: $LIFTRL_MESH_QUALITY, else low.
    mesh_quality: str = ""
    # Shadow maps on every light (about 5x the render cost in Mesa's software renderer).
    shadows: bool = False
    # Multisampling of the offscreen render: 0, 2, 4 or 8 samples.
    msaa: int = 0
    # The raw wrist frame's [width, height] up to the real camera's 640x480, then centre-cropped and
    # resized by the shared preprocessing as on the arm (empty: an image_size square).
    camera_resolution: tuple[int, ...] = ()
    # The finger pads' sliding friction range.
    pad_friction: tuple[float, ...] = (1.0, 1.0)
    # The floor's (table's) sliding friction range.
    floor_friction: tuple[float, ...] = (1.0, 1.0)
    # The servos' stiffness factor range: kp scaled, damping by its square root (same damping ratio).
    servo_kp_scale: tuple[float, ...] = (1.0, 1.0)
    # How "grasped" is judged (liftrl.sim.task.GRASP_RULES): jaw_0.45 (the original rule) or
    # cube_width (follows the cube's size, so a 40 mm cube held between the pads counts).
    grasp_rule: str = "jaw_0.45"

    def __post_init__(self):
        check_scene(self)

    def scene_options(self) -> "SceneOptions":
        """Just the scene's options (subclasses add the task's and the loop's)."""
        return SceneOptions(**{f.name: getattr(self, f.name) for f in fields(SceneOptions)})

    @property
    def default_scene(self) -> bool:
        """True when nothing differs from the original scene: the env then draws and writes nothing new."""
        return self.scene_options() == SceneOptions()

    def scene_changes(self) -> dict:
        """The scene options that differ from the default scene, as JSON values (tuples as lists).

        A bundle records these so its dry run can rebuild the scene it was trained in. The grasp rule
        is left out: it is a task rule, recorded on its own (``TaskSpec.grasp_rule``)."""
        default = SceneOptions()
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in fields(SceneOptions) if f.name != "grasp_rule"
                and (v := getattr(self, f.name)) != getattr(default, f.name)}


def _range(opts, key: str, lo: float, hi: float) -> None:
    v = getattr(opts, key)
    if not (isinstance(v, (tuple, list)) and len(v) == 2 and all(_number(x) for x in v)):
        raise OptionError(key, f"{key} must be a [lo, hi] range of two numbers, got {v!r}")
    if not (lo <= v[0] <= v[1] <= hi):
        raise OptionError(key, f"{key} must satisfy {lo:g} <= lo <= hi <= {hi:g}, got {list(v)!r}")


def _scalar(opts, key: str, lo: float, hi: float) -> None:
    v = getattr(opts, key)
    if not (_number(v) and lo <= v <= hi):
        raise OptionError(key, f"{key} must be a number in [{lo:g}, {hi:g}], got {v!r}")


def _vector(opts, key: str, n: int, lo: float, hi: float, allow_empty: bool = False) -> None:
    v = getattr(opts, key)
    if allow_empty and isinstance(v, (tuple, list)) and len(v) == 0:
        return
    if not (isinstance(v, (tuple, list)) and len(v) == n and all(_number(x) and lo <= x <= hi for x in v)):
        empty = " (or empty)" if allow_empty else ""
        raise OptionError(key, f"{key} must be {n} numbers in [{lo:g}, {hi:g}]{empty}, got {v!r}")


def _check_lights(o: SceneOptions) -> None:
    _range(o, "light_scale", 0.0, 5.0)
    _range(o, "ambient_scale", 0.0, 5.0)
    _vector(o, "light_rgb", 3, 0.0, 3.0)
    _scalar(o, "light_rgb_jitter", 0.0, 1.0)
    _scalar(o, "light_shift_m", 0.0, 1.0)
    _scalar(o, "headlight", 0.0, 3.0)
    _range(o, "headlight_scale", 0.0, 3.0)


def _check_table_and_cube(o: SceneOptions) -> None:
    bad = [t for t in o.table_texture if t not in TABLE_TEXTURES] if isinstance(o.table_texture, tuple) else [0]
    if bad or not o.table_texture:
        raise OptionError("table_texture", f"table_texture must list one or more of {TABLE_TEXTURES}, "
                                           f"got {o.table_texture!r}")
    _vector(o, "table_rgb", 3, 0.0, 1.0, allow_empty=True)
    _scalar(o, "table_rgb_jitter", 0.0, 0.5)
    sizes = o.cube_sizes_mm
    if not (isinstance(sizes, tuple) and sizes and all(_number(s) and 10.0 <= s <= 50.0 for s in sizes)):
        raise OptionError("cube_sizes_mm", f"cube_sizes_mm must list edge lengths in 10..50 mm (what the "
                                           f"open jaws can take), got {sizes!r}")
    _range(o, "cube_saturation", 0.0, 1.0)
    _range(o, "cube_value", 0.0, 1.0)
    _vector(o, "cube_rgb", 3, 0.0, 1.0, allow_empty=True)
    _scalar(o, "cube_table_colour", 0.0, 1.0)
    _range(o, "cube_mass_kg", 0.001, 1.0)
    _range(o, "cube_friction", 0.01, 5.0)
    _scalar(o, "cube_xy_spread", 0.0, 0.1)
    _vector(o, "cube_xy_offset", 2, -0.1, 0.1)


def _check_camera_render_physics(o: SceneOptions) -> None:
    _scalar(o, "camera_shift_m", 0.0, 0.1)
    _vector(o, "camera_offset_m", 3, -0.1, 0.1)
    _scalar(o, "camera_tilt_deg", 0.0, 45.0)
    _vector(o, "camera_rotation_deg", 3, -45.0, 45.0)
    if o.mesh_quality not in ("",) + MESH_QUALITIES:
        raise OptionError("mesh_quality", f"mesh_quality must be one of {MESH_QUALITIES} (or empty: "
                                          f"$LIFTRL_MESH_QUALITY, else low), got {o.mesh_quality!r}")
    if not isinstance(o.shadows, bool):
        raise OptionError("shadows", f"shadows must be true or false, got {o.shadows!r}")
    if o.msaa not in MSAA_SAMPLES or isinstance(o.msaa, bool):
        raise OptionError("msaa", f"msaa must be one of {MSAA_SAMPLES} samples, got {o.msaa!r}")
    res = o.camera_resolution
    w, h = MAX_CAMERA_RESOLUTION
    if not (isinstance(res, tuple) and (len(res) == 0 or (
            len(res) == 2 and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in res)
            and 16 <= res[0] <= w and 16 <= res[1] <= h))):
        raise OptionError("camera_resolution", f"camera_resolution must be [width, height] in pixels up to "
                                               f"{w}x{h} (or empty), got {res!r}")
    _range(o, "pad_friction", 0.01, 5.0)
    _range(o, "floor_friction", 0.01, 5.0)
    _range(o, "servo_kp_scale", 0.1, 5.0)
    if not isinstance(o.cube_friction_governs, bool):
        raise OptionError("cube_friction_governs", f"cube_friction_governs must be true or false, "
                                                   f"got {o.cube_friction_governs!r}")
    if o.grasp_rule not in GRASP_RULES:
        raise OptionError("grasp_rule", f"unknown grasp_rule {o.grasp_rule!r}; choose from {tuple(GRASP_RULES)}")


def check_scene(o: SceneOptions) -> None:
    """Every scene option's own check; OptionError names the key."""
    _check_lights(o)
    _check_table_and_cube(o)
    _check_camera_render_physics(o)
