"""The arm's start pose and the pick area: where the user's task begins, in the sim and on the arm.

A user puts a cube somewhere in front of the arm and presses go. The arm then starts from one
pose, the same in the simulator (the pick stage's resets, ``liftrl deploy --robot sim``) and on
the real arm (``liftrl deploy --robot so101`` moves there slowly before each episode), and the
policy must find the cube with its wrist camera. So the pose is defined here once, as joint
angles (what the arm's servos are commanded), in the lowest layer both sides import.

The pose was chosen by measurement (``tools/pick_pose_search.py``; ``bench/pick_view.py`` reports
the margins it leaves): the wrist camera is fixed to the gripper, looking along the jaws 35 degrees off the approach axis with a 70-degree field of view,
and the wrist_flex limit stops the gripper from pointing down when the arm is raised. The pose
that sees the widest stretch of table has the upper arm pulled back and the wrist at its limit,
the camera low (14 cm) and behind the area, looking forward and down over it. The pick area is
the part of the table that camera sees with every randomised cube (24-36 mm, any yaw) and camera
offset (+-2.5 cm), checked over 1,000 resets by projecting the cube's corners in tests/test_pick.py.

From the pose the top-down IK takes over at the first action (seeded with the pose's joints and
the pose's own tool point as target, so the first command moves the arm by a step, not a jump).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liftrl.sim.ik import WRIST_ROLL
from liftrl.sim.task import OPEN_GRIPPER, PICK_STAGE, StageStart, TaskConfig

# shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper (rad, this model's calibration).
# The search's best pose for x 0.26-0.50 (the worst-case corner 0.049 of the image from its edge); for the
# area below it leaves 0.000 in that worst case (every corner of every cube size and yaw at once) and
# 0.025 over 1,000 randomised resets, and the search's own best for this area is no better (0.005).
START_POSE: tuple[float, ...] = (0.035, -1.35, 0.738, 1.658, WRIST_ROLL, OPEN_GRIPPER)


@dataclass(frozen=True)
class PickArea:
    """A rectangle of table (metres, the arm's base frame) the cube's centre is drawn from."""

    x: tuple[float, float]
    y: tuple[float, float]

    def __post_init__(self):
        for lo, hi in (self.x, self.y):
            if not lo < hi:
                raise ValueError(f"pick area ranges must be (lo, hi) with lo < hi, got x={self.x} y={self.y}")

    @property
    def size(self) -> tuple[float, float]:
        return self.x[1] - self.x[0], self.y[1] - self.y[0]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(*self.x), rng.uniform(*self.y)])


PICK_AREA = PickArea(x=(0.24, 0.48), y=(-0.10, 0.10))


def sample_pick_start(rng: np.random.Generator, cfg: TaskConfig, area: PickArea | None = None) -> StageStart:
    """The pick stage's start: the start pose, the cube anywhere in ``area`` at any yaw (three RNG draws).

    A cube looks the same every 90 degrees, so a yaw in [0, pi/2) is any yaw. ``tool`` is left to the
    env, which reads it from the pose's forward kinematics.
    """
    cube = (PICK_AREA if area is None else area).sample(rng)
    yaw = float(rng.uniform(0.0, np.pi / 2))
    joints = np.array(START_POSE, dtype=float)
    joints[5] = cfg.open_gripper
    return StageStart(cube, None, cfg.open_gripper, held=False, joints=joints, cube_yaw=yaw)


def episode_start_joints(cfg: TaskConfig, ik) -> np.ndarray:
    """The six joints a real-arm episode of task ``cfg`` starts from (the deploy loop's slow move goes here).

    The pick stage starts from ``START_POSE``, exactly as the simulator's resets do. The other stages
    start with the cube under or in the gripper, which the real arm cannot set up; for them the arm goes
    to stage 0's home (the tool at ``cfg.home_tool``), as it always has. ``ik`` is a ``TopDownIK``.
    """
    if cfg.curriculum_stage == PICK_STAGE:
        q = np.array(START_POSE, dtype=float)
        q[5] = cfg.open_gripper
        return q
    return home_joints(cfg, ik)


HOME_IK_SEED = np.array([0.0, 0.0, 0.0, np.pi / 2])  # the env's own IK seed for stage starts


def home_joints(cfg: TaskConfig, ik) -> np.ndarray:
    """Stage 0's start: the tool at ``cfg.home_tool``, wrist roll as in training, jaws open."""
    q4 = ik.solve(HOME_IK_SEED, np.asarray(cfg.home_tool, dtype=float), iterations=200)
    return np.concatenate([q4, [WRIST_ROLL, cfg.open_gripper]])
