"""Robot readings -> the actor's observation, and the actor's action -> joint targets.

Both directions call the code the env calls: pixels through ``obs.pipeline`` (crop, resize, channel
order, frame stack), state through ``sim.kinematics`` (forward kinematics of the same model), and
actions through ``sim.kinematics.action_to_joint_targets`` (workspace clamp, the same IK, the
gripper mapping). Nothing here re-implements any of it, so sim and real cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from liftrl.deploy.robot import RobotReading
from liftrl.deploy.spec import ActionSpec, ObservationSpec, TaskSpec
from liftrl.obs.action_history import ActionHistory, history_length
from liftrl.obs.pipeline import FrameStack, preprocess_frame
from liftrl.sim import scene, task
from liftrl.sim.ik import WRIST_ROLL, TopDownIK
from liftrl.sim.privileged import layout_problem
from liftrl.sim.kinematics import STATE_LAYOUT, ArmKinematics, action_to_joint_targets, finite_difference_velocity
from liftrl.sim.task import ROLL_SPAN, ROLL_STEP


@dataclass(frozen=True)
class ArmModel:
    """The model's kinematics and IK, built once per loop (scratch data only)."""

    model: mujoco.MjModel
    ids: scene.SceneIds
    kinematics: ArmKinematics
    ik: TopDownIK

    @classmethod
    def build(cls, model: mujoco.MjModel | None = None) -> "ArmModel":
        model = scene.build_model(scene.default_mesh_quality()) if model is None else model
        ids = scene.lookup_ids(model)
        ik = TopDownIK(model, ids.arm_qpos, ids.arm_dof, model.jnt_range[ids.arm_joint], ids.tool_site, ids.ee_site)
        return cls(model=model, ids=ids, kinematics=ArmKinematics(model, ids), ik=ik)

    @property
    def joint_range(self) -> np.ndarray:
        return self.model.jnt_range[self.ids.arm_joint].copy()


class ObservationBuilder:
    """Builds the observation dict the bundle's actor reads from successive robot readings."""

    def __init__(self, spec: ObservationSpec, kinematics: ArmKinematics, action_dim: int = 4):
        if "state" in spec.keys and tuple(spec.state_layout) != STATE_LAYOUT:
            # A bundle exported before the state vector changed would be fed the wrong slots.
            diff = [(i, a, b) for i, (a, b) in enumerate(zip(spec.state_layout, STATE_LAYOUT)) if a != b]
            raise ValueError(f"the bundle's state layout differs from this code's "
                             f"({len(spec.state_layout)} vs {len(STATE_LAYOUT)} slots; first differences "
                             f"{diff[:3]}): re-export the policy with this version")
        self.spec = spec
        self.kinematics = kinematics
        self._stack = FrameStack(spec.frame_stack)
        self._prev: RobotReading | None = None
        self._history = (ActionHistory(history_length(tuple(spec.shapes["last_actions"]), action_dim), action_dim)
                         if "last_actions" in spec.keys else None)

    def _state(self, reading: RobotReading) -> np.ndarray:
        if reading.velocities is not None:  # only the simulator measures velocity
            qd = np.asarray(reading.velocities, dtype=float)
        else:
            prev = self._prev
            qd = finite_difference_velocity(reading.joints, None if prev is None else prev.joints,
                                            0.0 if prev is None else reading.timestamp - prev.timestamp)
        return self.kinematics.state(reading.joints, qd)

    def _build(self, reading: RobotReading, first: bool) -> dict[str, np.ndarray]:
        obs: dict[str, np.ndarray] = {}
        for key in self.spec.keys:
            if key == "pixels":
                frame = preprocess_frame(reading.frame, self.spec.camera)
                obs[key] = self._stack.reset(frame) if first else self._stack.push(frame)
            elif key == "state":
                obs[key] = self._state(reading)
            elif key == "privileged":
                if reading.privileged is None:
                    raise ValueError("the actor reads 'privileged' but this robot cannot supply it (simulation only)")
                obs[key] = np.asarray(reading.privileged, dtype=np.float32)
                if obs[key].shape != tuple(self.spec.shapes[key]):
                    problem = layout_problem(self.spec.shapes[key][0], "this bundle")
                    raise ValueError(problem or f"privileged has shape {obs[key].shape}")
            elif key == "last_actions":
                obs[key] = self._history.values()
            else:
                raise ValueError(f"unknown observation key {key!r} in the bundle")
            if obs[key].shape != tuple(self.spec.shapes[key]):
                raise ValueError(f"observation {key!r} has shape {obs[key].shape}, the bundle's actor needs "
                                 f"{tuple(self.spec.shapes[key])}")
        self._prev = reading
        return obs

    def reset(self, reading: RobotReading) -> dict[str, np.ndarray]:
        """First observation of an episode: the frame stack is filled with the first frame (as the env),
        the action history with zeros (nothing sent yet)."""
        self._prev = None
        if self._history is not None:
            self._history.reset()
        return self._build(reading, first=True)

    def record_action(self, action: np.ndarray) -> None:
        """The action the policy just chose; the next observation's ``last_actions`` ends with it."""
        if self._history is not None:
            self._history.push(action)

    def push(self, reading: RobotReading) -> dict[str, np.ndarray]:
        return self._build(reading, first=False)


class CommandMapper:
    """Keeps the tool target and last command between steps, as the env does, and maps actions."""

    def __init__(self, action: ActionSpec, task_spec: TaskSpec, arm: ArmModel):
        if action.dim not in (4, 5):
            raise ValueError(f"the deploy loop drives 4-D [dx, dy, dz, gripper] or 5-D [.., droll] actions, "
                             f"the bundle has {action.dim}")
        if action.dim == 5 and (action.roll_step, action.roll_span) != (ROLL_STEP, ROLL_SPAN):
            raise ValueError(f"the bundle turns wrist_roll by {action.roll_step} rad per step within "
                             f"{action.roll_span} rad, this code by {ROLL_STEP} within {ROLL_SPAN}: "
                             f"re-export the policy with this version")
        if not np.isclose(action.wrist_roll, WRIST_ROLL):
            raise ValueError(f"the bundle holds wrist_roll at {action.wrist_roll} rad, this code's IK at "
                             f"{WRIST_ROLL} rad: re-export the policy with this version")
        self.cfg = action.task_config(task_spec)
        self.grip_low, self.grip_high = action.gripper_ctrl
        self.arm = arm
        self.target = np.zeros(3)
        self.q_cmd = np.zeros(6)

    def reset(self, target: np.ndarray, q_cmd: np.ndarray) -> None:
        self.target = task.clamp_target(np.asarray(target, dtype=float), self.cfg)
        self.q_cmd = np.asarray(q_cmd, dtype=float).copy()

    def reset_from_joints(self, q: np.ndarray) -> None:
        """Start from where the arm is: target = its tool point (clamped), last command = its joints,
        but with wrist_roll top-down, where every episode's command starts in the env (else a 5-D
        policy's turns would keep the start move's tracking error as a roll offset)."""
        q_cmd = np.asarray(q, dtype=float).copy()
        q_cmd[4] = WRIST_ROLL
        self.reset(self.arm.kinematics.tool_point(q), q_cmd)

    def step(self, action: np.ndarray, period_s: float) -> np.ndarray:
        """The joint command for one action, ``period_s`` after the last one (the env's own mapping)."""
        self.target, self.q_cmd = action_to_joint_targets(action, self.target, self.q_cmd, self.arm.ik, self.cfg,
                                                          self.grip_low, self.grip_high, period_s)
        return self.q_cmd.copy()
