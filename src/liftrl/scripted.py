"""A scripted grasp-lift-hold policy that reads the simulator's step info.

It exists to prove the task is physically solvable with this IK, gripper and friction before
any learning is blamed, to make demo videos, and to fill the demonstration buffer that seeds
off-policy training (``liftrl.train.demos``). It uses privileged information (the cube's
position), so it is a simulation tool, never a policy for the real arm.

Latency: at the real arm's rate (15 Hz, ~100 ms) an action reaches the arm one or two control
steps after it is chosen, so the env's reported tool target lags the commands already sent.
Steering on that lagging target made the policy overshoot and oscillate around the lift height
(hold counts broken every ~20 ticks). The policy therefore steers on the target it has itself
commanded (the sum of its own moves, clamped to the workspace like the env clamps it): with no
latency this equals the env's target, with latency it is where the target is about to be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liftrl.sim.privileged import yaw
from liftrl.sim.task import ROLL_SPAN, ROLL_STEP, WRIST_ROLL, TaskConfig


def cube_extent(info: dict, direction: np.ndarray) -> float:
    """Half the cube's width along the horizontal unit ``direction``: its half size for a cube square to
    it, up to sqrt(2) times that for one turned 45 degrees (the pick stage draws any yaw)."""
    half = float(info["cube_half_size"])
    quat = info.get("cube_quat")
    if quat is None:
        return half
    w, x, y, z = (float(v) for v in quat)
    ax = np.array([1 - 2 * (y * y + z * z), 2 * (x * y + w * z)])  # the cube's own x and y axes, in xy
    ay = np.array([2 * (x * y - w * z), 1 - 2 * (x * x + z * z)])
    return half * (abs(float(ax @ direction[:2])) + abs(float(ay @ direction[:2])))


def face_on_error(info: dict, direction: np.ndarray) -> float:
    """The turn (rad, counter-clockwise from above, in (-pi/4, pi/4]) that brings the horizontal unit
    ``direction`` square to the nearest pair of the cube's faces (a cube repeats every 90 degrees)."""
    quat = info.get("cube_quat")
    if quat is None:
        return 0.0
    error = yaw(quat) - np.arctan2(direction[1], direction[0])
    return float(-((-error + np.pi / 4) % (np.pi / 2) - np.pi / 4))


@dataclass
class ScriptedGrasp:
    """Align above the cube, descend, close, lift to ``lift_to`` metres, hold."""

    lift_to: float = 0.10
    hover: float = 0.04  # tool height above the cube centre while aligning
    # Only the moving jaw opens: the fixed pad's inner face sits 15 mm from the tool point, so
    # centred on a 36 mm cube it would land on the cube's top. Aim so the fixed pad passes the
    # cube's face with this clearance, and the moving jaw pushes the cube onto it when closing.
    fixed_jaw_clearance: float = 0.003
    pad_half_gap: float = 0.015
    align_tol: float = 0.004
    # 5-D actions (the wrist_roll_action option): turn the jaws face-on to the cube while aligning,
    # within roll_tol (rad) before descending. Off: 4-D actions, roll held.
    roll: bool = False
    roll_tol: float = 0.035
    roll_gain: float = 0.5
    roll_reach: float = 0.40  # m from the base: beyond it the jaws stay top-down (see _roll_error)
    close_steps: int = 12
    action_scale: float = 0.02
    workspace_low: tuple[float, float, float] = TaskConfig.workspace_low
    workspace_high: tuple[float, float, float] = TaskConfig.workspace_high
    phase: str = "align"
    _closing: int = field(default=0, repr=False)
    _commanded: np.ndarray | None = field(default=None, repr=False)
    _roll: float | None = field(default=None, repr=False)

    @classmethod
    def for_env(cls, env, **kwargs) -> "ScriptedGrasp":
        """The scripted grasp for ``env``'s action space (with the roll value when it has one)."""
        return cls(roll=env.unwrapped.action_dim == 5, **kwargs)

    def reset(self) -> None:
        self.phase = "align"
        self._closing = 0
        self._commanded = None
        self._roll = None

    def _move(self, target: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.clip((goal - target) / self.action_scale, -1.0, 1.0)

    def act(self, info: dict) -> np.ndarray:
        """The next action; the first call of an episode (after ``reset``) reads the env's target."""
        action = self._act(info)
        self._commanded = np.clip(self._commanded + self.action_scale * action[:3].astype(float),
                                  self.workspace_low, self.workspace_high)
        return action

    def _act(self, info: dict) -> np.ndarray:
        cube = np.asarray(info["cube_pos"], dtype=float)
        if self._commanded is None or int(info.get("step", -1)) == 0:
            self._commanded = np.asarray(info["target"], dtype=float).copy()
        target = self._commanded
        tool = np.asarray(info["tool_pos"], dtype=float)
        grip = 1.0
        jaw = np.asarray(info["moving_pad_pos"], dtype=float) - tool
        jaw[2] = 0.0
        jaw /= max(np.linalg.norm(jaw), 1e-9)
        roll_error = self._roll_error(info) if self.roll else 0.0
        shift = max(0.0, cube_extent(info, jaw) + self.fixed_jaw_clearance - self.pad_half_gap)
        aim = cube[:2] - shift * jaw[:2]
        if self.phase == "align":
            goal = np.array([aim[0], aim[1], cube[2] + self.hover])
            if info.get("is_grasping"):  # started with the cube in hand (curriculum stages 1, 2)
                self.phase = "lift"
            elif (np.linalg.norm(tool[:2] - aim) < self.align_tol and abs(tool[2] - goal[2]) < 0.01
                  and (abs(roll_error) < self.roll_tol or self._roll_at_limit())):
                self.phase = "descend"
        if self.phase == "descend":
            goal = np.array([aim[0], aim[1], cube[2]])
            if abs(tool[2] - cube[2]) < 0.004:
                self.phase = "close"
        if self.phase == "close":
            goal = target
            grip = -1.0
            self._closing += 1
            if self._closing >= self.close_steps and info.get("is_grasping"):
                self.phase = "lift"
        if self.phase in ("lift", "hold"):
            grip = -1.0
            goal = np.array([target[0], target[1], self.lift_to])
            if abs(tool[2] - self.lift_to) < 0.005:
                self.phase = "hold"
        move = self._move(target, goal)
        if not self.roll:
            return np.concatenate([move, [grip]]).astype(np.float32)
        # A positive roll action turns the jaws' closing direction counter-clockwise (seen from above).
        # Half the error per step: an action lands one or two steps late (latency), so a full
        # correction each step would overshoot and swing.
        turn = float(np.clip(self.roll_gain * roll_error / ROLL_STEP, -1.0, 1.0)) if self.phase == "align" else 0.0
        return np.concatenate([move, [grip, turn]]).astype(np.float32)

    def _roll_at_limit(self) -> bool:
        """Turned as far as the span allows (a far cube, the approach tilted): grasp as it is."""
        return self._roll is not None and abs(self._roll - WRIST_ROLL) >= ROLL_SPAN - 1e-6

    def _roll_error(self, info: dict) -> float:
        """The turn still wanted (rad): the jaws' face-on error, within ``roll_reach`` of the base.

        Farther out the approach leans (the wrist_flex limit: about 40 degrees at x = 0.42 m), and
        a roll about a leaning axis tilts the jaws' closing direction out of the horizontal, so the
        pads meet the cube's top edge: there the jaws stay top-down (measured over 150 pick-stage
        episodes: with the roll 30/50 beyond 0.40 m, without it 33/50; within 0.40 m 99/100 with it,
        83/100 without). The env's roll is read back each step: the joint speed limit may have
        shrunk earlier turns, so a sum of this policy's own turns would drift.
        """
        self._roll = float(info["wrist_roll"])
        if float(np.linalg.norm(np.asarray(info["cube_pos"], dtype=float)[:2])) > self.roll_reach:
            return WRIST_ROLL - self._roll
        axis = np.asarray(info["jaw_axis"], dtype=float)
        return face_on_error(info, axis[:2] / max(float(np.linalg.norm(axis[:2])), 1e-9))
