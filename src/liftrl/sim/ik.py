"""Damped-least-squares IK for top-down grasps, computed per environment.

The user's parallel training once applied the first environment's Jacobian to every
environment. Here the solver is a pure function of (model, scratch data, joint seed, target):
each environment owns its scratch ``MjData``, so nothing can leak between environments, and the
simulation's own ``MjData`` is never touched by a solve.

Task: the tool point reaches the target while the approach axis (``gripperframe`` x) points
straight down. wrist_roll is held at pi/2 (jaws along world y at pan 0, as TASK.md's top-down
grasp). wrist_flex joins the solve instead of being held at pi/2: with this model's
calibration, holding it fixed tilts the approach by the sum of shoulder_lift and elbow_flex,
which reaches 30+ degrees across the workspace and makes the jaws meet a cube edge first.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from liftrl.sim.task import WRIST_ROLL

def _public_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.solve(a, b)


def _pick_solve():
    """The LAPACK kernel np.linalg.solve itself calls for a vector right-hand side, without the
    wrapper's type checks and errstate context (two thirds of a 5x5 solve's cost, paid three
    times per control step). Same routine, same bits; the damped matrix is never singular.

    The kernel is NumPy's private module, so it is tried once on a known system at import and the
    public call is used whenever it is missing, called differently or disagrees."""
    try:
        from numpy.linalg._umath_linalg import solve1

        def fast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return solve1(a, b, signature="dd->d")

        a, b = np.eye(5) * 2.0 + 0.1, np.arange(5.0)
        if np.array_equal(fast(a, b), np.linalg.solve(a, b)):
            return fast
    except Exception:  # noqa: BLE001 - any private-API change falls back to the public call
        pass
    return _public_solve


_solve = _pick_solve()

DOWN = np.array([0.0, 0.0, -1.0])


@dataclass(frozen=True)
class IKConfig:
    damping: float = 0.05
    # Per 20 ms of the control period (``sim.kinematics.ik_iterations``: 3 at 50 Hz, 10 at 15 Hz),
    # warm-started from the last command: the tool target moves at most 2 cm a step, and position
    # converges in 2-3 iterations; the approach tilt takes many more, so a slower loop gets more. Measured on the scripted stage-3 episodes,
    # 3, 4, 6 and 12 iterations give the same tracking (median 0.37 mm from the target, the
    # residual of the soft vertical-approach row) and the same successes, at a quarter of the
    # IK time of 12.
    iterations: int = 3
    # Metres of position error traded against one radian of approach tilt: small, so position
    # wins where the wrist_flex limit makes a vertical approach impossible (x > 0.3 m or high up);
    # there the gripper tilts instead of missing the target.
    orientation_weight: float = 0.01
    max_joint_step: float = 0.25  # rad per iteration, keeps DLS from jumping branches
    # Converged when no joint moves more than this in an iteration (0.1 mrad is about 30 um at
    # the tool). A residual test cannot serve: where the wrist limit forbids a vertical approach
    # the tilt residual never vanishes, and every step would pay for all iterations.
    tolerance: float = 1e-4


class TopDownIK:
    """Holds one environment's scratch data; ``solve`` is otherwise a pure function."""

    SOLVED = (0, 1, 2, 3)  # shoulder_pan, shoulder_lift, elbow_flex, wrist_flex

    def __init__(self, model: mujoco.MjModel, arm_qpos: np.ndarray, arm_dof: np.ndarray,
                 jnt_range: np.ndarray, tool_site: int, ee_site: int, cfg: IKConfig = IKConfig()):
        self.model = model
        self.data = mujoco.MjData(model)  # scratch: never the simulation's data
        self.cfg = cfg
        self.qadr = _as_slice(arm_qpos[list(self.SOLVED)])
        self.dofadr = _as_slice(arm_dof[list(self.SOLVED)])
        self.roll_adr = arm_qpos[4]
        self.lo = jnt_range[list(self.SOLVED), 0]
        self.hi = jnt_range[list(self.SOLVED), 1]
        self.tool_site = tool_site
        self.ee_site = ee_site
        self.tool_body = int(model.site_bodyid[tool_site])
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._jac = np.zeros((5, len(self.SOLVED)))
        self._err = np.zeros(5)
        self._damp = cfg.damping**2 * np.eye(5)

    def forward(self, q: np.ndarray, roll: float = WRIST_ROLL) -> tuple[np.ndarray, np.ndarray]:
        """Tool point and approach axis for the 4 solved joints, wrist_roll at ``roll``."""
        d = self.data
        d.qpos[self.qadr] = q
        d.qpos[self.roll_adr] = roll
        mujoco.mj_kinematics(self.model, d)
        return d.site_xpos[self.tool_site].copy(), d.site_xmat[self.ee_site].reshape(3, 3)[:, 0].copy()

    def solve(self, q_seed: np.ndarray, target: np.ndarray, iterations: int | None = None,
              roll: float = WRIST_ROLL) -> np.ndarray:
        """Joint targets (4,) that put the tool point at ``target`` with the approach straight down,
        wrist_roll held at ``roll`` (it turns the jaws about the approach axis; the tool point sits
        off that axis by a few millimetres, so the solve must see the roll it will be sent with).

        Runs every control step of every env, so the loop avoids NumPy's per-call wrappers where
        a cheaper call computes the same numbers (``minimum``/``maximum`` for ``clip``, the array
        methods for ``max``/``abs``, views instead of copies); the arithmetic is unchanged.
        """
        cfg = self.cfg
        m, d = self.model, self.data
        lo, hi = self.lo, self.hi
        q = np.minimum(np.maximum(np.asarray(q_seed, dtype=float), lo), hi)
        target = np.asarray(target, dtype=float)
        w = cfg.orientation_weight
        jac, err, jacp, jacr = self._jac, self._err, self._jacp, self._jacr
        tool_xpos = d.site_xpos[self.tool_site]  # views: refreshed in place by mj_kinematics
        ee_xmat = d.site_xmat[self.ee_site]
        d.qpos[self.roll_adr] = roll
        for _ in range(cfg.iterations if iterations is None else iterations):
            d.qpos[self.qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jac(m, d, jacp, jacr, tool_xpos, self.tool_body)
            jac[:3] = jacp[:, self.dofadr]
            jac[3:] = w * jacr[:2, self.dofadr]  # world x/y rotation: tilt only, yaw is free
            err[:3] = target - tool_xpos
            # (axis x DOWN)[:2] written out, axis = the approach (x) column of the end-effector frame:
            # the tilt of the approach axis away from vertical.
            err[3] = -w * ee_xmat[3]
            err[4] = w * ee_xmat[0]
            dq = jac.T @ _solve(jac @ jac.T + self._damp, err)
            step = np.abs(dq).max()
            if step > cfg.max_joint_step:
                dq *= cfg.max_joint_step / step
            q_next = np.minimum(np.maximum(q + dq, lo), hi)
            moved = np.abs(q_next - q).max()  # after the limits: a target out of reach stops too
            q = q_next
            if moved < cfg.tolerance:
                break
        return q


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """A run of consecutive indices as a slice (a view, cheaper than fancy indexing), else unchanged."""
    index = np.asarray(index)
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


def rotation_to_euler(mat: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (x-y-z extrinsic) of a rotation matrix: the state's orientation triple.

    Written out here (not taken from the simulator) because the real arm computes the same
    triple from forward kinematics, and both must use one convention.
    """
    r = np.asarray(mat, dtype=float).reshape(9).tolist()  # row-major r00..r22; scalars are cheaper here
    pitch = np.arcsin(np.float64(min(max(-r[6], -1.0), 1.0)))
    if abs(r[6]) < 1.0 - 1e-9:
        roll = np.arctan2(r[7], r[8])
        yaw = np.arctan2(r[3], r[0])
    else:  # gimbal lock: yaw absorbs the whole rotation about z
        roll = 0.0
        yaw = np.arctan2(-r[1], r[4])
    return np.array([roll, pitch, yaw])
