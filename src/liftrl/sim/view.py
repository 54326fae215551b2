"""What a camera sees: points projected through MuJoCo's pinhole camera, and the cube's corners.

The pick stage promises that the wrist camera sees the cube at the first frame wherever the cube
is in the pick area; this is how that promise is measured (tests/test_pick.py, bench/pick_view.py)
without rendering: MuJoCo's camera looks along its frame's -z with ``fovy`` spanning the image
height, and the wrist image is square, so the same focal length holds in x.
"""

from __future__ import annotations

import mujoco
import numpy as np


def project(model: mujoco.MjModel, data: mujoco.MjData, camera: int, points: np.ndarray,
            aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(uv, depth)`` of world ``points`` (N, 3): uv in image fractions (0..1 inside the image; u to the
    right, v down, as rows of the rendered frame), depth along the view axis (> 0 in front).

    Reads ``data.cam_xpos``/``cam_xmat``, which ``mj_forward`` (or ``mj_kinematics`` + ``mj_camlight``)
    computes.
    """
    pos = data.cam_xpos[camera]
    rot = data.cam_xmat[camera].reshape(3, 3)  # columns: camera x (right), y (up), z (backwards)
    local = (np.asarray(points, dtype=float).reshape(-1, 3) - pos) @ rot
    depth = -local[:, 2]
    focal = 0.5 / np.tan(np.radians(model.cam_fovy[camera]) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = 0.5 + focal / aspect * local[:, 0] / depth
        v = 0.5 - focal * local[:, 1] / depth
    return np.stack([u, v], axis=1), depth


def box_corners(centre: np.ndarray, quat: np.ndarray, half: float) -> np.ndarray:
    """The 8 corners (8, 3) of a cube of half size ``half`` at ``centre`` turned by ``quat`` (w, x, y, z)."""
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, np.asarray(quat, dtype=float))
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    return np.asarray(centre, dtype=float) + (half * signs) @ rot.reshape(3, 3).T


def view_margin(uv: np.ndarray, depth: np.ndarray) -> float:
    """The smallest distance (image fractions) from any point to the image's edge; < 0: a point is outside."""
    if np.any(depth <= 0):
        return -np.inf
    return float(np.min(np.concatenate([uv.ravel(), 1.0 - uv.ravel()])))
