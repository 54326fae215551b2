"""The ``privileged`` observation: what only the simulator knows about the cube, in a fixed layout.

A teacher (and any critic) that must grasp and hold a randomised cube at 15 Hz needs more than
its position: the cube's size (24-36 mm, randomised per reset) sets where the jaws must close, its
orientation tells a tipped cube from a flat one, and its velocity tells a slipping or falling
cube from a held one before the position shows it. Layout (11 float32 values, in this order)::

    cube_x, cube_y, cube_z          centre position, m (world frame)
    cube_half_size                  half the edge length, m
    cube_qw, cube_qx, cube_qy, cube_qz   orientation quaternion, sign fixed so that qw >= 0
    cube_vx, cube_vy, cube_vz       linear velocity of the centre, m/s (world frame)

Until issue 12 ``privileged`` was the first three values only. Snapshots and bundles of that
layout cannot be fed this one; :func:`layout_problem` says so by name wherever one is loaded.
"""

from __future__ import annotations

import numpy as np

PRIVILEGED_LAYOUT: tuple[str, ...] = (
    "cube_x", "cube_y", "cube_z", "cube_half_size",
    "cube_qw", "cube_qx", "cube_qy", "cube_qz",
    "cube_vx", "cube_vy", "cube_vz",
)
PRIVILEGED_DIM = len(PRIVILEGED_LAYOUT)
LEGACY_LAYOUTS = {3: "cube position only (x, y, z), the layout before liftrl's teacher (issue 12)"}


def privileged_vector(cube_pos: np.ndarray, half_size: float, quat: np.ndarray, lin_vel: np.ndarray) -> np.ndarray:
    """The (11,) float32 vector in ``PRIVILEGED_LAYOUT`` order."""
    q = np.asarray(quat, dtype=float).reshape(4)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    if q[0] < 0:  # q and -q are the same rotation: one sign, so a network sees one value per pose
        q = -q
    return np.concatenate([np.asarray(cube_pos, dtype=float).reshape(3), [float(half_size)], q,
                           np.asarray(lin_vel, dtype=float).reshape(3)]).astype(np.float32)


def tilt(quat: np.ndarray) -> float:
    """Angle (rad) between the world's up axis and the nearest cube face normal: 0 when flat, pi/4 on an edge."""
    w, x, y, z = np.asarray(quat, dtype=float).reshape(4) / max(float(np.linalg.norm(quat)), 1e-12)
    # Third row of the rotation matrix: the world z axis expressed in the cube's frame.
    up = np.array([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])
    return float(np.arccos(np.clip(np.max(np.abs(up)), -1.0, 1.0)))


def yaw(quat: np.ndarray) -> float:
    """Heading (rad) of the cube's own x axis in the table plane, from its (w, x, y, z) quaternion."""
    w, x, y, z = (float(v) for v in np.asarray(quat, dtype=float).reshape(4))
    return float(np.arctan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z)))


def layout_problem(saved_dim: int, where: str) -> str | None:
    """None when ``saved_dim`` is this layout's size, else a message naming both layouts."""
    if int(saved_dim) == PRIVILEGED_DIM:
        return None
    known = LEGACY_LAYOUTS.get(int(saved_dim), "an unknown layout")
    return (f"{where} was made with a {saved_dim}-value 'privileged' observation ({known}); this liftrl's "
            f"'privileged' has {PRIVILEGED_DIM} values ({', '.join(PRIVILEGED_LAYOUT)}), so its networks cannot "
            f"be fed: retrain it with this version")
