"""What the arm's state vector is and how an action becomes joint targets, written once.

The simulator and the real arm must compute these identically or a policy trained in one sees a
different world in the other (the user's sim and real pipelines drifted). Both paths therefore
call these functions: the env with its simulated joints, the deploy loop with the joints it
measured. Forward kinematics runs on scratch ``MjData`` of the same model, so it needs only the
six joint angles the real arm reports, never the simulator's own state.
"""

from __future__ import annotations

import mujoco
import numpy as np

from liftrl.common.units import CONTROL_HZ

from liftrl.sim import task
from liftrl.sim.task import next_roll
from liftrl.sim.ik import WRIST_ROLL, TopDownIK, rotation_to_euler
from liftrl.sim.scene import SceneIds

STATE_DIM = 18
# The 18 values of ``state``, in order: what each slot means on the real arm too.
STATE_LAYOUT = (
    *(f"q.{j}" for j in ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")),
    *(f"qd.{j}" for j in ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")),
    "tool.x", "tool.y", "tool.z", "ee.roll", "ee.pitch", "ee.yaw",
)


def state_vector(q: np.ndarray, qd: np.ndarray, tool_pos: np.ndarray, ee_xmat: np.ndarray) -> np.ndarray:
    """Joint positions (6, rad), velocities (6, rad/s), tool point (3, m), end-effector euler (3, rad)."""
    return np.concatenate([
        np.asarray(q, dtype=float).reshape(6), np.asarray(qd, dtype=float).reshape(6),
        np.asarray(tool_pos, dtype=float).reshape(3), rotation_to_euler(ee_xmat),
    ]).astype(np.float32)


def finite_difference_velocity(q: np.ndarray, q_prev: np.ndarray | None, dt: float) -> np.ndarray:
    """Joint velocity from two position readings ``dt`` seconds apart; zero for the first reading.

    The SO-101's servos report positions only, so this is the only velocity the real arm has.
    """
    q = np.asarray(q, dtype=float)
    if q_prev is None:
        return np.zeros_like(q)
    if not dt > 0.0:
        raise ValueError(f"readings must be strictly later than the previous one, got dt={dt!r} s")
    return (q - np.asarray(q_prev, dtype=float)) / dt


class ArmKinematics:
    """Forward kinematics of the six arm joints on scratch data of the env's own model."""

    def __init__(self, model: mujoco.MjModel, ids: SceneIds):
        self.model = model
        self.ids = ids
        self.data = mujoco.MjData(model)  # scratch: never the simulation's data
        self._state = np.zeros(STATE_DIM)

    def end_effector(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tool point (3,), end-effector rotation matrix (9,)) for joint angles ``q`` (6, rad)."""
        q = np.asarray(q, dtype=float).reshape(6)
        self.data.qpos[self.ids.arm_qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        return (self.data.site_xpos[self.ids.tool_site].copy(),
                self.data.site_xmat[self.ids.ee_site].copy())

    def tool_point(self, q: np.ndarray) -> np.ndarray:
        return self.end_effector(q)[0]

    def state(self, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """The 18-value ``state`` observation from measured joint positions and velocities.

        ``state_vector``'s values, assembled in a reused buffer: the env calls this every step.
        """
        q = np.asarray(q, dtype=float).reshape(6)
        d, ids, out = self.data, self.ids, self._state
        d.qpos[ids.arm_qpos] = q
        mujoco.mj_kinematics(self.model, d)
        out[:6] = q
        out[6:12] = np.asarray(qd, dtype=float).reshape(6)
        out[12:15] = d.site_xpos[ids.tool_site]
        out[15:] = rotation_to_euler(d.site_xmat[ids.ee_site])
        return out.astype(np.float32)


# The speed (rad/s: five body joints, then the gripper) no joint command exceeds, in the env as on
# the arm. About the STS3215's no-load speed (0.22 s per 60 deg); the deploy loop's safety limits
# default to the same values (``deploy.safety.SafetyLimits.for_arm``), so a policy trained here never
# asks the real arm for a jump that its safety layer would then shrink.
MAX_JOINT_SPEED = (5.0, 5.0, 5.0, 5.0, 5.0, 6.0)


def limit_joint_speed(q: np.ndarray, q_prev: np.ndarray, max_step: np.ndarray) -> tuple[np.ndarray, bool]:
    """``q`` moved at most ``max_step`` (rad, per joint) away from ``q_prev``, and whether it had to be.

    The four joints the IK solves (they carry the tool point) shrink their jump as a whole, so the
    tool keeps its direction (clipping each on its own would bend its path); wrist_roll and the
    gripper, which turn or open the jaws about that point, are clipped each on its own (else closing
    the jaws, a 1.9 rad swing, would stall the arm). A step within a rounding error of the cap
    passes, so a command capped here is not capped again by the deploy loop's safety layer. Pure:
    the env's command path and that safety layer both call it.
    """
    q = np.asarray(q, dtype=float)
    step = q - q_prev
    ratio = float((np.abs(step[:4]) / max_step[:4]).max())
    over = np.abs(step[4:]) > max_step[4:] * _ROUNDING
    if ratio <= _ROUNDING and not over.any():
        return q, False
    out = q.copy()
    if ratio > _ROUNDING:
        out[:4] = q_prev[:4] + step[:4] / ratio
    out[4:] = np.where(over, q_prev[4:] + np.copysign(max_step[4:], step[4:]), q[4:])
    return out, True


_ROUNDING = 1.0 + 1e-9



def limit_motion(q: np.ndarray, q_prev: np.ndarray, measured: np.ndarray, max_step: np.ndarray,
                 max_lead: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """``q`` kept to the joint speed and the lead cap: ``(command, speed capped, lead capped)``.

    First at most ``max_step`` from the previous command ``q_prev`` (``limit_joint_speed``), then
    within ``max_lead`` of ``measured``, the joints read when the action's observation was taken,
    each followed by the joint range ``[low, high]``. The lead cap may pull a command back by more
    than the speed allows: it only ever asks the arm to move less. Pure, and the one copy of this
    step: the env's command path and the deploy loop's safety layer both call it, so a policy is
    trained under exactly the caps the arm enforces.
    """
    q, shrunk = limit_joint_speed(q, q_prev, max_step)
    if shrunk:
        q = np.minimum(np.maximum(q, low), high)
    led = np.minimum(np.maximum(np.minimum(np.maximum(q, measured - max_lead), measured + max_lead), low), high)
    return led, shrunk, bool(np.any(led != q))


def ik_iterations(per_tick: int, period_s: float) -> int:
    """IK iterations for one action ``period_s`` after the last: ``per_tick`` per 20 ms tick of it.

    The approach-tilt term of the IK converges over many iterations (position in 2-3), so an action
    every 67 ms gets the iterations that three to four 50 Hz actions would: the arm's posture then
    settles at the same pace in time whatever the control rate.
    """
    return max(1, int(round(per_tick * period_s * CONTROL_HZ)))


def action_to_joint_targets(action: np.ndarray, target: np.ndarray, q_prev: np.ndarray, ik: TopDownIK,
                            cfg: task.TaskConfig, grip_low: float, grip_high: float, period_s: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """One control period's ``(new tool target (3,), joint command (6,))`` for a 4-D or 5-D action.

    xyz moves the remembered tool target by ``cfg.action_scale`` metres per unit, clamped to the
    workspace box; the IK (seeded with the last command's four solved joints, a fixed number of
    iterations) turns it into joint targets; wrist_roll is held for top-down grasps, or turned by
    a 5-D action's last value from the last command's roll (``next_roll``); the gripper
    action spreads over the actuator's range; the command then keeps to ``MAX_JOINT_SPEED`` over
    ``period_s`` from ``q_prev``, the last command.

    Called once per action, by the env's ``advance`` and by the deploy loop, and by nothing in
    between: the IK's approach-tilt term converges over many solves, so an env that re-solved on
    the 3-4 ticks of a 15 Hz period would walk the arm along another path than the deploy loop
    (from the pick stage's start pose, 14/20 against 1/20 for one bundle; bench/results/pick_dryrun.md).
    """
    a = np.asarray(action, dtype=float).ravel()
    if a.shape not in ((4,), (5,)):
        raise ValueError(f"action must be [dx, dy, dz, gripper] or [dx, dy, dz, gripper, droll], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"action contains NaN or inf: {a.tolist()}")
    if not period_s > 0.0:
        raise ValueError(f"period_s must be positive, got {period_s!r}")
    a = np.minimum(np.maximum(a, -1.0), 1.0)  # np.clip's values, without its wrapper's cost (every step)
    q_prev = np.asarray(q_prev, dtype=float).reshape(6)
    new_target = task.clamp_target(np.asarray(target, dtype=float) + cfg.action_scale * a[:3], cfg)
    max_step = _MAX_SPEED * period_s
    roll = next_roll(q_prev[4], a[4]) if a.size == 5 else WRIST_ROLL
    q = np.empty(6)
    q[4] = q_prev[4] + min(max(roll - q_prev[4], -max_step[4]), max_step[4])  # the roll the IK will be sent with
    q[:4] = ik.solve(q_prev[:4], new_target, iterations=ik_iterations(ik.cfg.iterations, period_s), roll=q[4])
    q[5] = task.gripper_command(a[3], grip_low, grip_high)
    q, _ = limit_joint_speed(q, q_prev, max_step)
    return new_target, q


_MAX_SPEED = np.asarray(MAX_JOINT_SPEED, dtype=float)
