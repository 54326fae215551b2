"""Where the wrist camera sits on the real gripper, measured from frames of a cube at a known spot.

A pixel student trained with the camera mount held within +-5 mm of the model's is the best we have
(docs/pick.md), so the real mount must be known to that precision, and a printed mount, a bracket
screwed on by hand or another camera move it by more. This measures it: the cube (its edge known)
stands square to the arm at a marked spot in the pick area (``CUBE_SPOT``), the arm takes a few
poses around the start pose (``mount_poses``), and at each the camera's frame is compared with the
model's view of the same joints and cube.

The comparison is of the cube's silhouette, not of the whole image, because a real table, light and
gripper never look like the model's: in the real frame the cube is the largest patch of saturated
colour (``cube_mask``; a grey, white or wooden table leaves it alone) outside where the model sees
the arm (the jaws are in view, and printed in any colour), in the model's view the cube's own
pixels (segmentation rendering, which includes the gripper hiding part of it). Each view
gives the silhouette's centre (x, y) as a fraction of the image side after the observation
pipeline's centre crop, so any camera resolution compares. (Its area was tried as well: how many
edge pixels pass the colour threshold biases it, and with it the depth, by 2-4 mm.)

The mount offset (x, y, z in the gripper's frame, metres: the env option ``camera_offset_m``) is
the one that puts the model's centres where the camera's are, found by Levenberg-Marquardt on
those residuals. Because the camera turns with the gripper, an offset is a
fixed shift in the camera's own frame; it moves a near cube's image more than a far one's, and a
cube off the view's axis differently from one on it, so views at several distances and angles
tell the three axes apart. In simulation (random scenes, camera noise 4 and gain 0.2, offsets
within +-15 mm) it recovers the mount to 1.4 mm or better (tests/test_camera_mount.py).

Only the translation is measured: the model's camera angles and field of view are taken as they
are (a tilted mount shows up as a larger residual, which the fit reports).
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from typing import Sequence

import cv2
import mujoco
import numpy as np

from liftrl.obs.pipeline import center_square
from liftrl.sim.start_pose import START_POSE

FIT_SIZE = 192  # px: the side both silhouettes are compared at
CUBE_SPOT = (0.32, 0.0)  # m, the arm's base frame: where the cube stands during the measurement
MIN_PIXELS = 30  # a silhouette smaller than this (at FIT_SIZE) is no cube
MIN_SATURATION = 90  # 0-255 (OpenCV's HSV): a coloured cube; grey, white and wooden tables stay below
MIN_VALUE = 40  # darker pixels have no reliable hue
MAX_OFFSET_M = 0.05  # the fit stays within this of the model's mount, per axis
# A fit is recorded only within these. In simulation true fits end at 0.0006 or less, while a cube
# stood 6-9 cm from the spot gives 0.008-0.010 and offsets of 4-5 cm; 25 mm is the default scene's
# whole randomised mount range, beyond which a "mount" is more likely a misplaced cube.
MAX_FIT_RMS = 0.005  # fraction of the image side (about 1 px at FIT_SIZE)
MAX_FIT_OFFSET_M = 0.025
ARM_MARGIN_PX = 12  # the model's arm silhouette grown by this (at FIT_SIZE) before it is left out of a frame
# Joint-space steps from the start pose (rad: shoulder_pan, shoulder_lift, elbow_flex, wrist_flex), chosen
# by rendering the model's view under mount offsets of +-15 mm: in each the cube at ``CUBE_SPOT`` stays
# 44 px or more (at FIT_SIZE) from the jaws and clear of the image's edges, and the views see it left,
# right and centre, from 18 to 27 px across (the nearer views tell a shift along the view from a sideways one).
POSE_STEPS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, -0.2, 0.0), (0.08, 0.0, 0.0, -0.3), (-0.08, 0.0, 0.0, -0.3),
    (0.0, 0.45, -0.2, -0.45), (0.0, 0.6, -0.6, -0.15), (0.0, 0.75, -0.4, -0.45),
)


class MountError(ValueError):
    """A frame or measurement the mount cannot be read from; the message says which and why."""


@dataclass(frozen=True)
class CubeSpot:
    """The cube during the measurement: centre (m, base frame), edge (m), yaw (rad, 0: square to the arm)."""

    xy: tuple[float, float] = CUBE_SPOT
    edge_m: float = 0.030
    yaw: float = 0.0

    def __post_init__(self):
        if not 0.01 <= self.edge_m <= 0.05:
            raise MountError(f"cube edge must be 10-50 mm, got {self.edge_m * 1000:g} mm")


@dataclass(frozen=True)
class MountFit:
    offset_m: tuple[float, float, float]  # the measured mount, relative to the model's (gripper frame)
    rms: float  # residual, fraction of the image side (0.01 = 1.9 px at 192)
    per_view: tuple[float, ...]  # each view's largest residual, same units
    iterations: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def mount_poses() -> list[np.ndarray]:
    """The joints (6, rad) of each measurement view: the start pose and ``POSE_STEPS`` from it."""
    base = np.array(START_POSE, dtype=float)
    poses = []
    for step in POSE_STEPS:
        q = base.copy()
        q[:4] += step
        poses.append(q)
    return poses


def cube_mask(frame: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """The cube's silhouette in a camera frame (HxWx3 uint8 RGB): (FIT_SIZE, FIT_SIZE) bool.

    The frame is cropped as the observation pipeline crops it; the cube is the largest connected
    patch of saturated, not dark, colour outside ``exclude`` (FIT_SIZE square, bool: where the arm
    is) and clear of the image's edges. Raises ``MountError`` when there is none.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
        raise MountError(f"camera frame must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
    square = cv2.resize(np.ascontiguousarray(center_square(frame)), (FIT_SIZE, FIT_SIZE),
                        interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(square, cv2.COLOR_RGB2HSV)
    coloured = (hsv[..., 1] >= MIN_SATURATION) & (hsv[..., 2] >= MIN_VALUE)
    if exclude is not None:
        coloured &= ~np.asarray(exclude, dtype=bool)
    coloured = coloured.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(coloured, connectivity=8)
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    # The cube stands clear of the image's edges in every measurement view; the jaws reach them.
    inside = (x > 0) & (y > 0) & (x + w < FIT_SIZE) & (y + h < FIT_SIZE)
    if not inside.any():
        raise MountError("no coloured patch clear of the image's edges: is the cube in view, at the spot, "
                         "and coloured (not grey, white or the table's colour)?")
    largest = 1 + int(np.argmax(np.where(inside, area, -1)))
    return labels == largest


def silhouette_centre(mask: np.ndarray) -> np.ndarray:
    """The centre (x, y) of a silhouette, as fractions of the image side."""
    ys, xs = np.nonzero(mask)
    if xs.size < MIN_PIXELS:
        raise MountError(f"the cube covers {xs.size} pixels of {mask.shape[0]}x{mask.shape[1]} (at least "
                         f"{MIN_PIXELS} needed): too far, hidden, or out of view")
    side = float(mask.shape[0])
    return np.array([(xs.mean() + 0.5) / side, (ys.mean() + 0.5) / side])


class MountScene:
    """The model's view of the measurement: the arm at given joints, the cube at its spot, the mount moved.

    Its segmentation renderer has its own GL context; make one where it is used and close it there
    (``with MountScene() as scene``): with Mesa's EGL, another renderer's context destroyed while
    this one lives leaves this one reading colours instead of geom ids.
    """

    def __init__(self, cube: CubeSpot = CubeSpot()):
        from liftrl.sim.env import LiftCubeEnv
        from liftrl.sim.options import TaskOptions

        self.cube = cube
        self.env = LiftCubeEnv(TaskOptions(observations=("state",), randomize=False))
        self.env.reset(seed=0)
        m, ids = self.env.model, self.env.ids
        h = cube.edge_m / 2
        m.geom_size[ids.cube_geom] = (h, h, h)
        self._cam_pos = m.cam_pos[ids.wrist_camera].copy()
        gc.collect()  # renderers already unreachable free their contexts now, not in the middle of a fit
        self._renderer = mujoco.Renderer(m, FIT_SIZE, FIT_SIZE)
        self._renderer.enable_segmentation_rendering()
        # The arm's geoms: every geom not on the world body (the floor) and not the cube.
        self._arm_geoms = np.array([g for g in range(m.ngeom)
                                    if m.geom_bodyid[g] not in (0, ids.cube_body)], dtype=int)

    def _segment(self, joints: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Geom ids per pixel of the wrist view (-1: no geom) for ``joints`` and mount ``offset``."""
        env, cube = self.env, self.cube
        m, d, ids = env.model, env.data, env.ids
        m.cam_pos[ids.wrist_camera] = self._cam_pos + np.asarray(offset, dtype=float)
        d.qpos[ids.arm_qpos] = np.asarray(joints, dtype=float)
        half = cube.yaw / 2
        d.qpos[ids.cube_qpos:ids.cube_qpos + 7] = [*cube.xy, cube.edge_m / 2, np.cos(half), 0, 0, np.sin(half)]
        mujoco.mj_forward(m, d)
        self._renderer.update_scene(d, camera=env.camera)
        seg = self._renderer.render()
        return np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)

    def centre(self, joints: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """``silhouette_centre`` of the cube in the model's wrist view for ``joints`` and mount ``offset``."""
        return silhouette_centre(self._segment(joints, offset) == self.env.ids.cube_geom)

    def arm_region(self, joints: np.ndarray) -> np.ndarray:
        """Where the model sees the arm at the model's mount, grown by ``ARM_MARGIN_PX`` (bool, FIT_SIZE square)."""
        arm = np.isin(self._segment(joints, np.zeros(3)), self._arm_geoms).astype(np.uint8)
        k = 2 * ARM_MARGIN_PX + 1
        return cv2.dilate(arm, np.ones((k, k), np.uint8)).astype(bool)

    def close(self) -> None:
        self._renderer.close()
        self.env.close()

    def __enter__(self) -> "MountScene":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fit_mount(views: Sequence[tuple[np.ndarray, np.ndarray]], scene: MountScene, iterations: int = 20,
              step_m: float = 0.002) -> MountFit:
    """The mount offset (m, 3) that makes the model's silhouettes match ``views``' frames.

    ``views`` are (joints (6, rad, the model's units), camera frame) pairs. Levenberg-Marquardt on the
    centres' residuals, the Jacobian by central differences of ``step_m``, the offset kept within
    ``MAX_OFFSET_M`` per axis. Needs at least two views (two figures each, three unknowns). A fit beyond
    ``MAX_FIT_OFFSET_M`` or with a residual above ``MAX_FIT_RMS`` raises ``MountError``: it is not recorded.
    """
    if len(views) < 2:
        raise MountError(f"the mount needs at least 2 views, got {len(views)}")
    joints = [np.asarray(q, dtype=float) for q, _ in views]
    measured = [silhouette_centre(cube_mask(frame, scene.arm_region(q))) for q, (_, frame) in zip(joints, views)]

    def residuals(offset: np.ndarray) -> np.ndarray:
        return np.concatenate([scene.centre(q, offset) - c for q, c in zip(joints, measured)])

    offset, damping, done = np.zeros(3), 1e-3, 0
    r = residuals(offset)
    for done in range(1, iterations + 1):
        jac = np.stack([(residuals(offset + e) - residuals(offset - e)) / (2 * step_m)
                        for e in np.eye(3) * step_m], axis=1)
        improved = False
        for _ in range(8):  # raise the damping until a step lowers the residual
            a = jac.T @ jac
            step = np.linalg.solve(a + damping * np.diag(np.diag(a) + 1e-12), -jac.T @ r)
            trial = np.clip(offset + step, -MAX_OFFSET_M, MAX_OFFSET_M)
            r_trial = residuals(trial)
            if r_trial @ r_trial < r @ r:
                offset, r, damping, improved = trial, r_trial, max(damping / 3, 1e-6), True
                break
            damping *= 4
        if not improved or np.abs(step).max() < 1e-5:
            break
    per_view = np.abs(r.reshape(len(views), 2)).max(axis=1)
    rms = float(np.sqrt(np.mean(r ** 2)))
    if np.any(np.abs(offset) > MAX_FIT_OFFSET_M) or rms > MAX_FIT_RMS:
        raise MountError(f"the fit is not to be trusted: offset {np.round(1000 * offset, 1).tolist()} mm (limit "
                         f"+-{1000 * MAX_FIT_OFFSET_M:g}), residual {100 * rms:.2f}% of the image (limit "
                         f"{100 * MAX_FIT_RMS:g}%): is the cube at the spot, square to the arm, and the only "
                         f"coloured thing in view?")
    return MountFit(offset_m=tuple(float(v) for v in offset), rms=rms,
                    per_view=tuple(float(v) for v in per_view), iterations=done)
