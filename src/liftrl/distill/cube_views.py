"""Moved-cube views: arm states the student visited, rendered again with the cube moved, labelled by the teacher.

Why: in a DAgger episode the arm's joints and the student's last actions follow the cube, so the
joint state partly says where the cube is, and a round of episodes holds only as many cube
positions as it has episodes, each seen from one approach. A view keeps one visited arm state
(joints, velocities, last actions), moves the cube on the table by up to ``shift_m`` (a fresh yaw,
size, colour, light and camera mount: a freshly randomised scene) and renders the wrist camera's
frame stack there. The teacher, which reads the cube's true pose, says what to do in that state.
The same joint state then comes with different cubes and different labels, and only the image
tells them apart: the student must take the cube from the pixels.

The frames of a view's stack show the arm where its joint velocities say it was one and two
control steps before (``q - qd * k * dt``), with the cube at rest, through the env's own camera,
noise and gain and the shared preprocessing. Only rows with the cube resting on the table are
used: a held cube cannot be moved without moving the grasp.

Views are made again after every round from the aggregated dataset, with a generator seeded by
the run's seed and the round, so a resumed distillation makes the same views and needs no file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import mujoco
import numpy as np

from liftrl.config import EnvConfig
from liftrl.obs.pipeline import preprocess_frame
from liftrl.run.envs import make_env
from liftrl.sim.privileged import privileged_vector

RESTING_HEIGHT_M = 0.004  # a cube whose centre is within this of its half size above the table rests on it
RESTING_SPEED = 0.02  # m/s: faster is a cube being pushed or dropped, not one at rest
SCENE_EVERY = 8  # views drawn in one randomised scene before the next reset
MAX_TRIES = 20  # placements tried per view before the row is skipped (the cube keeps touching the arm)


@dataclass(frozen=True)
class ViewSettings:
    """``distill.moved_cube_*``: views per round, how far the cube moves, the share of each batch."""

    views: int
    shift_m: float
    batch_fraction: float
    frame_stack: int
    control_dt: float


def resting(privileged: np.ndarray) -> np.ndarray:
    """(N,) bool: the rows whose cube rests on the table (``privileged`` layout: z, half size, velocity)."""
    p = np.asarray(privileged, dtype=float)
    return (p[:, 2] <= p[:, 3] + RESTING_HEIGHT_M) & (np.linalg.norm(p[:, 8:11], axis=1) < RESTING_SPEED)


def moved_cube(xy: np.ndarray, shift_m: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A new centre within ``shift_m`` of ``xy`` (uniform over the disc) and a yaw in [-pi, pi)."""
    radius = shift_m * np.sqrt(rng.uniform())
    angle = rng.uniform(-np.pi, np.pi)
    return np.asarray(xy, dtype=float) + radius * np.array([np.cos(angle), np.sin(angle)]), float(rng.uniform(-np.pi, np.pi))


class ViewRenderer:
    """A scratch env of the run's own options, in this process, that renders views (never steps)."""

    def __init__(self, env_cfg: EnvConfig, settings: ViewSettings):
        if "pixels" not in env_cfg.observations:
            raise ValueError("moved-cube views render the wrist camera: the env must compute 'pixels'")
        self.settings = settings
        self.env = make_env(env_cfg).unwrapped  # the evaluation env's options: the camera's noise and gain too
        self.ids = self.env.ids
        self._gain = 1.0

    def new_scene(self, seed: int) -> None:
        """A fresh randomised scene (lights, table, cube size and colour, camera mount, camera gain)."""
        self.env.reset(seed=seed)
        self._gain = self.env.camera_noise.draw_gain(self.env.np_random)

    def _touches_arm(self) -> bool:
        m, d, cube = self.env.model, self.env.data, self.ids.cube_geom
        for a, b in d.contact.geom[:d.ncon].tolist():
            other = b if a == cube else a if b == cube else -1
            if other >= 0 and m.geom_bodyid[other] != 0:  # body 0 is the world: table and floor
                return True
        return False

    def _pose(self, q: np.ndarray) -> None:
        d = self.env.data
        d.qpos[self.ids.arm_qpos] = q
        d.qvel[:] = 0.0
        mujoco.mj_forward(self.env.model, d)

    def render(self, state: np.ndarray, cube_xy: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """(pixels stack, privileged) for the arm in ``state`` (its 6 joints and their velocities) and
        a cube moved from ``cube_xy``; None when every placement tried touches the arm."""
        m, d, ids, s = self.env.model, self.env.data, self.ids, self.settings
        q, qd = np.asarray(state[:6], dtype=float), np.asarray(state[6:12], dtype=float)
        half = float(m.geom_size[ids.cube_geom][0])
        self._pose(q)
        for _ in range(MAX_TRIES):
            xy, yaw = moved_cube(cube_xy, s.shift_m, rng)
            quat = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
            d.qpos[ids.cube_qpos:ids.cube_qpos + 7] = [xy[0], xy[1], half, *quat]
            mujoco.mj_forward(m, d)
            if not self._touches_arm():
                break
        else:
            return None
        frames = []
        for back in range(s.frame_stack - 1, -1, -1):  # oldest first, as the frame stack orders them
            self._pose(q - qd * back * s.control_dt)
            raw = self.env.camera_noise.apply(self.env.render_wrist(), self._gain, rng)
            frames.append(preprocess_frame(raw, self.env.camera_spec))
        return np.concatenate(frames, 0), privileged_vector(np.array([xy[0], xy[1], half]), half, quat, np.zeros(3))

    def close(self) -> None:
        self.env.close()


class CubeViews:
    """One round's views: observations and the teacher's labels, sampled into the student's batches."""

    def __init__(self, obs: dict[str, np.ndarray], labels: np.ndarray):
        self.obs = obs
        self.labels = np.asarray(labels, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        pick = rng.integers(0, len(self), size=n)
        return {k: v[pick] for k, v in self.obs.items()}, self.labels[pick]


def make_views(renderer: ViewRenderer, rows: Mapping[str, np.ndarray], label: Callable[[dict], np.ndarray],
               rng: np.random.Generator) -> CubeViews | None:
    """Views of the resting rows among ``rows`` (``state``, ``privileged``, ``last_actions`` if read),
    up to ``renderer.settings.views``; None when no row has a resting cube."""
    keep = np.flatnonzero(resting(rows["privileged"]))[:renderer.settings.views]
    if keep.size == 0:
        return None
    pixels, privileged, used = [], [], []
    for i, row in enumerate(keep):
        if i % SCENE_EVERY == 0:
            renderer.new_scene(int(rng.integers(1 << 31)))
        view = renderer.render(rows["state"][row], rows["privileged"][row, :2], rng)
        if view is not None:
            pixels.append(view[0])
            privileged.append(view[1])
            used.append(row)
    if not used:
        return None
    used = np.asarray(used)
    obs: dict[str, Any] = {k: np.asarray(v)[used] for k, v in rows.items() if k != "privileged"}
    obs["pixels"] = np.stack(pixels)
    obs["privileged"] = np.stack(privileged).astype(np.float32)
    return CubeViews(obs, label(obs))


class ViewMaker:
    """Makes each round's views for ``DaggerLearner`` and mixes them into its batches."""

    # Rows drawn per view wanted: about half the dataset's rows have the cube resting on the table.
    OVERSAMPLE = 3

    def __init__(self, renderer: ViewRenderer, label: Callable[[dict], np.ndarray], keys: tuple[str, ...], seed: int):
        self.renderer = renderer
        self.label = label
        self.keys = tuple(k for k in keys if k != "pixels")
        self.seed = int(seed)
        self.views: CubeViews | None = None
        self._rng = np.random.default_rng(0)

    @property
    def settings(self) -> ViewSettings:
        return self.renderer.settings

    def new_round(self, round_index: int, replay) -> int:
        """This round's views from ``replay`` (a generator of the run's seed and the round: a resume
        makes the same ones); returns how many were made."""
        rng = np.random.default_rng([self.seed, int(round_index), 0x0C0BE])
        rows = replay.sample_vectors(self.settings.views * self.OVERSAMPLE, rng)
        self.views = make_views(self.renderer, {k: rows[k] for k in self.keys}, self.label, rng)
        self._rng = np.random.default_rng([self.seed, int(round_index), 0x5A4D])
        return 0 if self.views is None else len(self.views)

    def batch(self, replay, batch_size: int) -> dict[str, Any]:
        """A regression batch: ``batch_fraction`` of it views (when the round has any), the rest rollouts."""
        if self.views is None:
            return replay.sample(batch_size)
        n = min(max(1, round(batch_size * self.settings.batch_fraction)), batch_size - 1)
        rollouts = replay.sample(batch_size - n)
        obs, labels = self.views.sample(n, self._rng)
        return {"obs": {k: np.concatenate([rollouts["obs"][k], obs[k]]) for k in obs},
                "action": np.concatenate([rollouts["action"], labels])}

    def close(self) -> None:
        self.renderer.close()
