"""The conditions of ``liftrl stress``: each a named override of env options, in groups.

A condition changes what the sim shows or does (a white table, a cool light, the camera 4.5 cm off
its mount, 200 ms latency, a 40 mm cube) through the same env options training uses
(``liftrl.sim.scene_options`` and ``EnvOptions``), so a weakness the report finds can be trained
away by putting the same key into a config. Two image checks are not scene changes but tests that
the policy needs its image at all: a grey frame, and the frames of another episode (another cube
position) while the arm moves as commanded; a policy that does well under them ignores its camera.

A suite is this module's ``DEFAULT_SUITE`` or a YAML list of ``{group, name, overrides, image}``
(``--suite FILE``); every condition is checked when the suite is loaded, naming the condition and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from liftrl.config import ConfigError, EnvConfig, env_with

GROUPS = ("baseline", "image", "start", "lighting", "table", "cube", "camera", "rendering", "latency",
          "cube_size", "physics")
IMAGE_CHECKS = ("", "grey", "other_episode")
TABLE_BEIGE = [0.62, 0.58, 0.52]  # the scene's own table colour (liftrl.sim.textures.DEFAULT_TABLE_RGB)


class SuiteError(ValueError):
    """A stress suite that cannot run as written; the message names the condition and the key."""


@dataclass(frozen=True)
class Condition:
    group: str
    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)  # env option -> value, over the baseline
    image: str = ""  # "", "grey" or "other_episode": what replaces the camera frame (image checks)

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}"


def _c(group: str, name: str, image: str = "", **overrides) -> Condition:
    return Condition(group, name, overrides, image)


DEFAULT_SUITE: tuple[Condition, ...] = (
    _c("baseline", "baseline"),
    _c("image", "grey frames", image="grey"),
    _c("image", "another episode's frames", image="other_episode"),
    _c("start", "cube 3 cm further", cube_xy_offset=[0.03, 0.0]),
    _c("start", "cube 3 cm nearer", cube_xy_offset=[-0.03, 0.0]),
    _c("start", "cube 3 cm left", cube_xy_offset=[0.0, 0.03]),
    _c("start", "cube +-8 cm", cube_xy_spread=0.08),
    _c("lighting", "dim", light_scale=[0.3, 0.5], ambient_scale=[0.4, 0.6]),
    _c("lighting", "bright", light_scale=[1.5, 2.0], ambient_scale=[1.3, 1.6]),
    _c("lighting", "cool light", light_rgb=[0.8, 0.9, 1.15]),
    _c("lighting", "warm light", light_rgb=[1.15, 1.0, 0.8]),
    _c("lighting", "lights moved 30 cm", light_shift_m=0.3),
    _c("lighting", "no headlight", headlight=0.0),
    _c("table", "white", table_texture=["flat"], table_rgb=[0.92, 0.92, 0.9]),
    _c("table", "dark", table_texture=["flat"], table_rgb=[0.15, 0.15, 0.17]),
    _c("table", "wood", table_texture=["noise"], table_rgb=[0.55, 0.38, 0.22]),
    _c("table", "speckled cloth", table_texture=["noise"]),
    _c("table", "busy cloth", table_texture=["busy"]),
    _c("table", "gradient", table_texture=["gradient"]),
    _c("cube", "table-coloured cube", cube_rgb=TABLE_BEIGE),
    _c("cube", "grey cube", cube_rgb=[0.5, 0.5, 0.5]),
    _c("cube", "black cube", cube_rgb=[0.08, 0.08, 0.08]),
    _c("camera", "mount +4.5 cm x", camera_offset_m=[0.045, 0.0, 0.0]),
    _c("camera", "mount +4.5 cm z", camera_offset_m=[0.0, 0.0, 0.045]),
    _c("camera", "tilted 5 deg", camera_tilt_deg=5.0),
    _c("camera", "tilted 10 deg", camera_rotation_deg=[10.0, 0.0, 0.0]),
    _c("rendering", "full meshes", mesh_quality="full"),
    _c("rendering", "shadows + MSAA", shadows=True, msaa=4),
    _c("rendering", "640x480 camera", camera_resolution=[640, 480]),
    _c("rendering", "all realism", mesh_quality="full", shadows=True, msaa=4, headlight=0.0,
       camera_resolution=[640, 480]),
    _c("latency", "200 ms latency", latency_ms=200.0),
    _c("latency", "10 Hz", control_hz=10.0),
    _c("latency", "camera 133 ms late", camera_delay_ms=133.0),
    _c("latency", "camera noise 6 + gain 0.2", camera_noise=6.0, camera_gain=0.2),
    _c("cube_size", "20 mm", cube_sizes_mm=[20.0]),
    _c("cube_size", "40 mm", cube_sizes_mm=[40.0]),
    # The same cube judged by the size-aware grasp rule: tells "cannot lift it" from "not counted as grasped".
    _c("cube_size", "40 mm, cube_width rule", cube_sizes_mm=[40.0], grasp_rule="cube_width"),
    _c("physics", "slippery cube (0.3, its own)", cube_friction=[0.3, 0.3], cube_friction_governs=True),
    _c("physics", "heavy cube 100 g", cube_mass_kg=[0.1, 0.1]),
    _c("physics", "servos kp -30%", servo_kp_scale=[0.7, 0.7]),
    _c("physics", "servos kp +30%", servo_kp_scale=[1.3, 1.3]),
    _c("physics", "pads friction 0.5", pad_friction=[0.5, 0.5]),
)


def condition_env(base: EnvConfig, cond: Condition) -> EnvConfig:
    """The baseline's env with the condition's overrides, checked (SuiteError names condition and key)."""
    try:
        return env_with(base, cond.overrides)
    except ConfigError as exc:
        raise SuiteError(f"stress condition {cond.label!r}: {exc}") from None


def check_suite(suite: tuple[Condition, ...], base: EnvConfig) -> None:
    """Every condition builds a valid env; names are unique; groups and image checks are known."""
    seen = set()
    for cond in suite:
        if cond.group not in GROUPS:
            raise SuiteError(f"stress condition {cond.label!r}: unknown group {cond.group!r}; groups are {GROUPS}")
        if cond.image not in IMAGE_CHECKS:
            raise SuiteError(f"stress condition {cond.label!r}: image must be one of {IMAGE_CHECKS}, got {cond.image!r}")
        if cond.label in seen:
            raise SuiteError(f"stress condition {cond.label!r} appears twice")
        seen.add(cond.label)
        condition_env(base, cond)


def load_suite(path: str | Path) -> tuple[Condition, ...]:
    """A suite from YAML: a list of mappings with group, name and optional overrides / image."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stress suite {path} does not exist")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise SuiteError(f"{path}: a stress suite is a list of conditions, got {type(raw).__name__}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not {"group", "name"} <= set(item) or set(item) - {
                "group", "name", "overrides", "image"}:
            raise SuiteError(f"{path}: condition {i} must be a mapping of group, name, overrides, image; got {item!r}")
        overrides = item.get("overrides") or {}
        if not isinstance(overrides, Mapping):
            raise SuiteError(f"{path}: condition {item['group']}/{item['name']}: overrides must be a mapping")
        out.append(Condition(str(item["group"]), str(item["name"]), dict(overrides), str(item.get("image") or "")))
    return tuple(out)


def select(suite: tuple[Condition, ...], only: list[str] | None) -> tuple[Condition, ...]:
    """The baseline plus the conditions of the groups in ``only`` (all when None)."""
    if not only:
        return suite
    unknown = sorted(set(only) - set(GROUPS))
    if unknown:
        raise SuiteError(f"--only: unknown group(s) {unknown}; groups are {list(GROUPS)}")
    return tuple(c for c in suite if c.group == "baseline" or c.group in only)
