"""The simulated arm in LeRobot's units: the whole real path (calibration, mapping, safety, loop) in a dry run.

``SimLeRobotFollower`` has the interface of LeRobot's SO-101 follower (``connect``,
``get_observation``, ``send_action`` with ``"<motor>.pos"`` keys) over a ``SimRobot``. It turns
joint angles into the servo's raw counts and those into LeRobot's units with LeRobot's own
formulas (``deploy.lerobot_units``), under a LeRobot calibration that can be deliberately wrong.

The simulated servos: the half-turn homing is taken at the model's mid-range pose, so a joint at
angle ``q`` reads ``2047 + (q - model_mid) / rad_per_count`` counts (rounded, as an encoder is).
Where the homing pose was held does not matter to LeRobot's degrees (0 deg is the middle of the
*recorded* range either way); what moves a joint's zero is an asymmetric recorded range, so
``simulated_calibration`` makes its errors exactly that way:

- a body joint with zero error ``e`` deg had one stop recorded ``2|e|`` short, so LeRobot's 0 deg
  sits at ``model_mid + e``;
- the gripper's closed stop was recorded ``gripper_stop_error`` units (of the model's range) open
  of where the simulated jaws close (the model's lower limit: they close there on nothing).

Goals are converted to counts as LeRobot converts them (truncated), capped by LeRobot's
``max_relative_target`` against the present position when one is set, and held inside the recorded
range as the servo's position-limit registers hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import mujoco
import numpy as np

from liftrl.deploy.lerobot_units import (MAX_COUNT, RAD_PER_COUNT, Calibration, MotorCalibration, raw_to_value,
                                         relative_target_cap, value_to_raw)
from liftrl.deploy.mapping import BODY, MOTORS, JointMapping
from liftrl.deploy.safety import SafetyLimits
from liftrl.deploy.sim_robot import SimRobot
from liftrl.deploy.so101 import So101Robot

HOMING_COUNT = MAX_COUNT // 2  # LeRobot's half-turn homing puts the held pose at 2047
HAND_DAMPING = 1.0  # N s/m (N m s/rad) on the cube while "a hand" holds it between the jaws


@dataclass(frozen=True)
class SimCalibrationErrors:
    """How the simulated arm's LeRobot calibration is wrong (0 everywhere: a perfect calibration)."""

    zero_error_deg: tuple[float, float, float, float, float] = (0.0,) * 5
    gripper_stop_error: float = 0.0  # 0-100 units, + = recorded closed stop partly open

    def __post_init__(self):
        if len(self.zero_error_deg) != 5 or not np.all(np.isfinite(self.zero_error_deg)):
            raise ValueError(f"zero_error_deg needs 5 finite values (deg) for {BODY}, got {self.zero_error_deg!r}")
        if not (np.isfinite(self.gripper_stop_error) and abs(self.gripper_stop_error) < 50):
            raise ValueError(f"gripper_stop_error must be within +-50 units, got {self.gripper_stop_error!r}")

    @classmethod
    def random(cls, joint_deg: float, gripper_units: float, seed: int) -> "SimCalibrationErrors":
        """Every joint off by ``joint_deg`` and the gripper stop by ``gripper_units``, with random signs."""
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=6)
        return cls(zero_error_deg=tuple(float(s * joint_deg) for s in signs[:5]),
                   gripper_stop_error=float(signs[5] * gripper_units))


def _count(q: float, mid: float) -> float:
    return HOMING_COUNT + (q - mid) / RAD_PER_COUNT


def simulated_calibration(jnt_range: np.ndarray, errors: SimCalibrationErrors = SimCalibrationErrors()) -> Calibration:
    """The LeRobot calibration file the simulated arm would have recorded, with ``errors`` built in."""
    r = np.asarray(jnt_range, dtype=float)
    cal: Calibration = {}
    for i, motor in enumerate(MOTORS):
        lo, hi = r[i]
        mid = (lo + hi) / 2.0
        if motor in BODY:
            e = math.radians(errors.zero_error_deg[i])
            lo, hi = (lo + 2 * e, hi) if e > 0 else (lo, hi + 2 * e)
        else:
            lo = lo + errors.gripper_stop_error / 100.0 * (hi - lo)
        cal[motor] = MotorCalibration(id=i + 1, drive_mode=0, homing_offset=0,
                                      range_min=int(round(_count(lo, mid))), range_max=int(round(_count(hi, mid))))
    return cal


class SimLeRobotFollower:
    """LeRobot's SO-101 follower interface over the simulation (``deploy.so101.LeRobotArm``)."""

    def __init__(self, sim: SimRobot, calibration: Calibration, jnt_range: np.ndarray, camera_key: str | None = "wrist",
                 max_relative_target: float | dict[str, float] | None = None):
        self.sim = sim
        self.calibration = dict(calibration)
        r = np.asarray(jnt_range, dtype=float)
        self._mid = r.mean(axis=1)
        self.camera_key = camera_key
        if isinstance(max_relative_target, (int, float)):
            max_relative_target = {m: float(max_relative_target) for m in MOTORS}
        self.max_relative_target = max_relative_target
        self.connected = False
        self.sent: list[dict[str, float]] = []
        ids = sim.env.ids
        self._cube_damping = sim.env.model.dof_damping[ids.cube_dof:ids.cube_dof + 6].copy()

    def connect(self) -> None:
        self.connected = True

    def disconnect(self) -> None:
        self.connected = False

    def _check(self) -> None:
        if not self.connected:
            raise ConnectionError("the simulated follower is not connected (call connect())")

    def present_counts(self) -> dict[str, int]:
        q = self.sim.joints()
        return {m: int(round(_count(q[i], self._mid[i]))) for i, m in enumerate(MOTORS)}

    def _present_values(self) -> dict[str, float]:
        return {m: raw_to_value(m, c, self.calibration[m]) for m, c in self.present_counts().items()}

    def get_observation(self) -> dict:
        self._check()
        obs = {f"{m}.pos": v for m, v in self._present_values().items()}
        if self.camera_key is not None:
            obs[self.camera_key] = self.sim.read().frame
        return obs

    def hold_cube_between_jaws(self, held: bool) -> None:
        """The bring-up's "hold a 30 mm cube between the jaws": the cube is put at the tool point, aligned with
        the gripper, weightless and damped (a hand holds it loosely, so the closing jaw can push it onto the
        fixed one) until ``held=False`` puts it back on the table."""
        env = self.sim.env
        m, d, ids = env.model, env.data, env.ids
        adr = ids.cube_qpos
        if held:
            d.qpos[adr:adr + 3] = env.tool_pos()
            d.qpos[adr + 3:adr + 7] = d.xquat[ids.gripper_body]
        else:
            d.qpos[adr:adr + 7] = [0.25, 0.2, float(m.geom_size[ids.cube_geom][2]), 1.0, 0.0, 0.0, 0.0]
        d.qvel[ids.cube_dof:ids.cube_dof + 6] = 0.0
        m.body_gravcomp[ids.cube_body] = 1.0 if held else 0.0
        m.dof_damping[ids.cube_dof:ids.cube_dof + 6] = HAND_DAMPING if held else self._cube_damping
        mujoco.mj_forward(m, d)

    def stand_cube(self, spot) -> None:
        """The camera-mount step's "stand the cube at the spot": the cube at ``spot.xy`` on the table, at rest
        (``deploy.camera_mount.CubeSpot``; the scene's cube keeps its own size)."""
        env = self.sim.env
        m, d, ids = env.model, env.data, env.ids
        adr, half = ids.cube_qpos, float(m.geom_size[ids.cube_geom][2])
        d.qpos[adr:adr + 7] = [spot.xy[0], spot.xy[1], half, np.cos(spot.yaw / 2), 0.0, 0.0, np.sin(spot.yaw / 2)]
        d.qvel[ids.cube_dof:ids.cube_dof + 6] = 0.0
        mujoco.mj_forward(m, d)

    def send_action(self, action: dict) -> dict:
        self._check()
        missing = [f"{m}.pos" for m in MOTORS if f"{m}.pos" not in action]
        if missing:
            raise KeyError(f"action lacks {missing}")
        goal = {m: float(action[f"{m}.pos"]) for m in MOTORS}
        if self.max_relative_target is not None:
            goal = relative_target_cap(goal, self._present_values(), self.max_relative_target)
        q = np.empty(6)
        for i, m in enumerate(MOTORS):
            cal = self.calibration[m]
            raw = min(cal.range_max, max(cal.range_min, value_to_raw(m, goal[m], cal)))  # the servo's limit registers
            q[i] = self._mid[i] + (raw - HOMING_COUNT) * RAD_PER_COUNT
        self.sim.command(q)
        sent = {f"{m}.pos": v for m, v in goal.items()}
        self.sent.append(sent)
        return sent


def lerobot_adapter(calibration: Calibration, mapping: JointMapping, jnt_range: np.ndarray,
                    limits: SafetyLimits | None = None) -> Callable[[SimRobot], So101Robot]:
    """For ``dryrun.run_deploy``: the simulation seen through this calibration and the arm's mapping.

    The robot the loop drives is the real arm's adapter (``So101Robot``) over the simulated follower,
    so every unit conversion of the real path runs; ``limits.max_lead`` goes to the follower as
    LeRobot's ``max_relative_target``, as ``liftrl deploy --robot so101`` passes it.
    """
    caps = None if limits is None else mapping.lerobot_caps(np.asarray(limits.max_lead))

    def adapt(sim: SimRobot) -> So101Robot:
        camera_key = "wrist" if sim.render else None
        follower = SimLeRobotFollower(sim, calibration, jnt_range, camera_key=camera_key, max_relative_target=caps)
        follower.connect()
        return So101Robot(follower, mapping, camera_key=camera_key, clock=sim.now)

    return adapt
