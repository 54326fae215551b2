"""``liftrl bringup``: a guided, slow first contact with an arm that writes its per-arm file.

Steps (each one asks first; ``a`` or Ctrl-C at any prompt aborts, the arm holds where it is and
nothing is written):

1. the LeRobot calibration is shown beside the model: a recorded range shorter than the model's
   bounds how far that joint's zero can be off (half the shortfall);
2. the arm moves slowly to LeRobot's zero pose (every body joint at 0 deg);
3. one joint at a time moves +5 deg and back: the user confirms it moved the way the model's
   jaw moves for that joint (the direction is described from the model's own kinematics);
4. at the zero pose the user enters, per joint, how far the arm is from the model's zero pose
   (in the + direction just seen; Enter for 0): the offsets the mapping applies;
5. the gripper is closed on nothing, opened, and closed on a 30 mm cube (skippable): its readings;
6. with a camera (``--camera-mount``; skippable): the user stands the 30 mm cube at a marked spot, the
   arm takes a few poses around the start pose and the wrist camera's mount is measured from the
   frames (``deploy.camera_mount``), through the mapping the steps above just measured;
7. a summary table, then the per-arm file (``deploy.calibration.ArmFile``) is written.

The follower is anything with LeRobot's interface (the real ``SO101Follower`` or
``sim_lerobot.SimLeRobotFollower``) and moves are commanded in LeRobot's units at a low speed;
the clock is the wall clock on the arm and the simulation itself in a dry run. The console is two
callables, so tests drive the whole procedure with scripted answers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from liftrl.deploy.calibration import ArmFile, GripperPoints, range_shortfall_deg
from liftrl.deploy.camera_mount import POSE_STEPS, CubeSpot, MountError, MountFit, MountScene, fit_mount, mount_poses
from liftrl.deploy.lerobot_units import Calibration, calibration_digest
from liftrl.deploy.mapping import BODY, MOTORS, JointMapping
from liftrl.deploy.pipeline import ArmModel
from liftrl.deploy.robot import Clock
from liftrl.deploy.so101 import LeRobotArm


class BringupAborted(RuntimeError):
    """The user stopped the bring-up; the arm holds its pose and no file was written."""


@dataclass
class Console:
    """Where questions go and answers come from (``input``/``print`` on a terminal)."""

    ask: Callable[[str], str] = lambda prompt: input(prompt)  # looked up at call time
    say: Callable[[str], None] = print


@dataclass(frozen=True)
class BringupConfig:
    speed_deg_s: float = 15.0  # body joints, LeRobot degrees per second
    gripper_speed: float = 40.0  # gripper, 0-100 units per second
    probe_deg: float = 5.0
    rate_hz: float = 15.0
    settle_s: float = 1.0  # held at each goal before reading
    # A body joint further than this from its goal after settling is blocked; a servo holding a link
    # against gravity at LeRobot's soft P gain (16) can sag a degree or two, so not tighter.
    tolerance_deg: float = 5.0


class Bringup:
    """The procedure in the module docstring; ``run()`` returns the per-arm file's contents (not yet written)."""

    def __init__(self, follower: LeRobotArm, clock: Clock, calibration: Calibration, arm: ArmModel, robot_id: str,
                 console: Console = Console(), cfg: BringupConfig = BringupConfig(),
                 place_cube: Callable[[bool], None] | None = None, camera_key: str | None = None,
                 stand_cube: Callable[[CubeSpot], None] | None = None):
        """``place_cube(True/False)``: a hook run when the user is asked to put a cube between the jaws / take
        it away (the simulation uses it to hold a cube there; on the arm the user's hand does).
        ``camera_key``: the wrist camera in the follower's observation, to measure its mount (None: not
        measured); ``stand_cube(spot)`` is that step's hook for standing the cube at the spot."""
        self.follower, self.clock, self.cal, self.arm = follower, clock, calibration, arm
        self.robot_id, self.console, self.cfg, self.place_cube = robot_id, console, cfg, place_cube
        self.camera_key, self.stand_cube = camera_key, stand_cube
        self.nominal = JointMapping.from_joint_ranges(arm.joint_range)

    # ------------------------------------------------------------------ console
    def _ask(self, prompt: str, choices: str = "") -> str:
        answer = self.console.ask(prompt).strip().lower()
        if answer == "a":
            raise BringupAborted(f"aborted at: {prompt.splitlines()[-1]}")
        if choices and answer not in choices.split("/"):
            self.console.say(f"  please answer one of {choices.split('/')} (a aborts)")
            return self._ask(prompt, choices)
        return answer

    def _ask_float(self, prompt: str) -> float:
        answer = self._ask(prompt)
        try:
            value = float(answer) if answer else 0.0
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and abs(value) <= 45.0):
            self.console.say(f"  {answer!r} is not an angle in degrees between -45 and 45 (a aborts)")
            return self._ask_float(prompt)
        return value

    # ------------------------------------------------------------------ motion
    def present(self) -> dict[str, float]:
        obs = self.follower.get_observation()
        return {m: float(obs[f"{m}.pos"]) for m in MOTORS}

    def move(self, goal: dict[str, float]) -> dict[str, float]:
        """Ramp from the present values to ``goal`` (LeRobot units) at the bring-up speeds, settle, read.

        A body joint that ends further than ``tolerance_deg`` from its goal stops the bring-up (the
        gripper is left out: closing on nothing or on a cube it is meant to stop short)."""
        start = self.present()
        target = {**start, **goal}
        speed = {m: self.cfg.speed_deg_s if m in BODY else self.cfg.gripper_speed for m in MOTORS}
        duration = max(abs(target[m] - start[m]) / speed[m] for m in MOTORS)
        period = 1.0 / self.cfg.rate_hz
        t0 = self.clock.now()
        steps = int(math.ceil((duration + self.cfg.settle_s) / period))
        for k in range(1, steps + 1):
            self.clock.sleep_until(t0 + k * period)
            f = 1.0 if duration == 0 else min(1.0, k * period / duration)
            self.follower.send_action({f"{m}.pos": start[m] + f * (target[m] - start[m]) for m in MOTORS})
        reached = self.present()
        short = {j: abs(reached[j] - target[j]) for j in BODY if abs(reached[j] - target[j]) > self.cfg.tolerance_deg}
        if short:
            raise BringupAborted(f"{sorted(short)} stopped {max(short.values()):.1f} deg short of the goal: blocked, "
                                 f"held back by the torque limit (--torque-limit), or not powered; check the arm "
                                 f"before trying again")
        return reached

    def hold(self) -> None:
        """Command the pose the arm is in now (torque stays on)."""
        self.follower.send_action({f"{m}.pos": v for m, v in self.present().items()})

    # ------------------------------------------------------------------ steps
    def show_calibration(self) -> None:
        short = range_shortfall_deg(self.cal, self.arm.joint_range)
        lines = ["| joint | recorded range (deg) | model range (deg) | zero may be off by up to (deg) |",
                 "| --- | --- | --- | --- |"]
        r = np.degrees(self.arm.joint_range)
        for i, j in enumerate(BODY):
            lines.append(f"| {j} | {math.degrees(self.cal[j].span_rad):.1f} | {r[i, 1] - r[i, 0]:.1f} | "
                         f"{abs(short[j]) / 2:.1f} |")
        self.console.say("\n".join(lines))

    def direction_text(self, q: np.ndarray, joint: int, delta_rad: float) -> str:
        """How the model's moving jaw moves for +delta on ``joint`` from ``q`` (cm along the base axes)."""
        kin = self.arm.kinematics
        kin.tool_point(q)
        before = kin.data.xpos[self.arm.ids.moving_jaw_body].copy()
        q2 = np.array(q, dtype=float)
        q2[joint] += delta_rad
        kin.tool_point(q2)
        move = 100.0 * (kin.data.xpos[self.arm.ids.moving_jaw_body] - before)
        names = ("forward, away from the base (+x)", "to the arm's left (+y)", "up (+z)")
        parts = [f"{abs(v):.1f} cm {'' if v > 0 else 'against '}{n}" for v, n in zip(move, names) if abs(v) >= 0.1]
        return "the moving jaw goes " + ", ".join(parts)

    def check_directions(self) -> dict[str, bool]:
        ok: dict[str, bool] = {}
        zero = self.present()
        for i, joint in enumerate(BODY):
            q = self.nominal.to_sim(np.array([zero[m] for m in MOTORS]))
            self.move({joint: zero[joint] + self.cfg.probe_deg})
            text = self.direction_text(q, i, math.radians(self.cfg.probe_deg))
            ok[joint] = self._ask(f"{joint} moved +{self.cfg.probe_deg:g} deg. In the model {text}. "
                                  f"Did the arm do that? [y/n, a aborts] ", "y/n") == "y"
            self.move({joint: zero[joint]})
        return ok

    def zero_offsets(self) -> dict[str, float]:
        q = self.nominal.to_sim(np.zeros(6))
        tool = self.arm.kinematics.tool_point(q)
        zero = link_elevations(self.arm, q)
        links = ", ".join(f"{name} {deg:+.1f} deg" for name, deg in zero.items())
        signs = []
        for (name, joint, _), step in zip(LINKS, np.eye(6)[1:4]):
            up = link_elevations(self.arm, q + np.radians(step))[name] > zero[name]
            signs.append(f"{joint} + {'raises' if up else 'lowers'} the {name}")
        self.console.say(f"The arm is at LeRobot's zero pose. In the model's zero pose the tool point is at "
                         f"({100 * tool[0]:.1f}, {100 * tool[1]:.1f}, {100 * tool[2]:.1f}) cm from the base and the "
                         f"links rise above the horizontal by: {links}. An inclinometer on each link measures the "
                         f"arm's; a pitch joint's offset is its link's difference minus the previous link's, positive "
                         f"the way its + moves the link ({'; '.join(signs)}).")
        return {j: self._ask_float(f"{j}: degrees the arm is past the model's pose in the + direction "
                                   f"[Enter = 0, a aborts] ") for j in BODY}

    def gripper_points(self) -> tuple[GripperPoints, bool]:
        """The three readings, and whether the jaws opened when commanded to 100 (the gripper's direction)."""
        self._ask("Gripper: closing on nothing, then opening fully. Enter to go [a aborts] ")
        closed = self.move({"gripper": 0.0})["gripper"]
        opened = self.move({"gripper": 100.0})["gripper"]
        direction = self._ask("Are the jaws wide open now? [y/n, a aborts] ", "y/n") == "y"
        answer = self._ask("Hold a 30 mm cube between the open jaws and press Enter (s skips) [a aborts] ", "/s")
        cube = None
        if answer != "s":
            if self.place_cube:
                self.place_cube(True)
            cube = self.move({"gripper": 0.0})["gripper"]
            self.move({"gripper": 100.0})
            if self.place_cube:
                self.place_cube(False)
            self._ask("Take the cube away and press Enter [a aborts] ")
        return GripperPoints(closed_empty=closed, open=opened, closed_cube=cube), direction

    def camera_mount(self, arm_file: ArmFile) -> MountFit | None:
        """Stand the cube at ``CUBE_SPOT``, take the measurement poses (through this arm's mapping), fit the mount.

        None when skipped, or when the arm cannot be mapped yet (a joint moved against the model)."""
        from liftrl.deploy.calibration import CalibrationMissing, arm_mapping

        try:
            mapping = arm_mapping(self.arm.joint_range, self.cal, arm_file)
        except CalibrationMissing as exc:
            self.console.say(f"Camera mount skipped: {exc}")
            return None
        spot = CubeSpot()
        answer = self._ask(f"Camera mount: stand a coloured {1000 * spot.edge_m:g} mm cube on a plain (grey, white or "
                           f"wooden) table, its centre {100 * spot.xy[0]:g} cm in front of the shoulder_pan axis, on "
                           f"the arm's centre line, faces square to the arm; Enter to go (s skips) [a aborts] ", "/s")
        if answer == "s":
            return None
        if self.stand_cube:
            self.stand_cube(spot)
        try:  # a failure here loses only this step: what was measured before is kept
            views = self._mount_views(mapping)
            with MountScene(spot) as scene:
                fit = fit_mount(views, scene)
        except (MountError, BringupAborted, TimeoutError, RuntimeError, OSError) as exc:
            self.hold()
            self.console.say(f"Camera mount not measured: {exc}")
            return None
        mm = ", ".join(f"{1000 * v:+.1f}" for v in fit.offset_m)
        self.console.say(f"Camera mount: ({mm}) mm from the model's (gripper frame), residual "
                         f"{100 * fit.rms:.2f}% of the image side")
        return fit

    def _mount_views(self, mapping) -> list[tuple[np.ndarray, np.ndarray]]:
        """(measured joints, camera frame) at each measurement pose, moved to through ``mapping``."""
        views = []
        for i, q in enumerate(mount_poses()):
            goal = mapping.to_action(q)
            self.move({m: goal[f"{m}.pos"] for m in MOTORS})
            obs = self.follower.get_observation()
            if self.camera_key not in obs:
                raise MountError(f"the follower's observation has no camera {self.camera_key!r} "
                                 f"(has {sorted(obs)}): check --camera and --camera-key")
            views.append((mapping.from_observation(obs), np.asarray(obs[self.camera_key])))
            self.console.say(f"  view {i + 1}/{len(POSE_STEPS)} taken")
        return views

    # ------------------------------------------------------------------ the whole procedure
    def run(self) -> ArmFile:
        try:
            self.console.say(f"Bring-up of {self.robot_id!r}: the LeRobot calibration beside the model")
            self.show_calibration()
            self._ask("Step 1: move slowly to LeRobot's zero pose (all body joints 0 deg). Enter to go [a aborts] ")
            self.move({j: 0.0 for j in BODY})
            directions = self.check_directions()
            offsets = self.zero_offsets()
            gripper, directions["gripper"] = self.gripper_points()
            arm_file = ArmFile(robot_id=self.robot_id, calibration_digest=calibration_digest(self.cal),
                               zero_offset_deg=offsets, directions_ok=directions, gripper=gripper)
            fit = self.camera_mount(arm_file) if self.camera_key else None
        except (BringupAborted, KeyboardInterrupt) as exc:
            self.hold()
            raise BringupAborted(str(exc) or "Ctrl-C") from None
        if fit is not None:
            arm_file = dataclasses.replace(arm_file, camera_offset_m=fit.offset_m, camera_fit_rms=fit.rms)
        self.console.say(summary(arm_file, self.cal, self.arm))
        return arm_file


LINKS = (("upper arm", "shoulder_lift", "elbow_flex"), ("forearm", "elbow_flex", "wrist_flex"),
         ("hand", "wrist_flex", None))  # None: the tool point


def link_elevations(arm: ArmModel, q: np.ndarray) -> dict[str, float]:
    """Each link's angle above the horizontal (deg) at joints ``q``: what a user can measure on the arm."""
    kin = arm.kinematics
    tool = kin.tool_point(q)  # also puts the scratch data at q
    out = {}
    for name, start, end in LINKS:
        a = kin.data.xanchor[arm.model.joint(start).id]
        b = tool if end is None else kin.data.xanchor[arm.model.joint(end).id]
        d = b - a
        out[name] = math.degrees(math.atan2(d[2], math.hypot(d[0], d[1])))
    return out


def summary(arm_file: ArmFile, cal: Calibration, arm: ArmModel) -> str:
    """The table printed at the end of a bring-up: what was measured and what the mapping will do with it."""
    from liftrl.deploy.calibration import arm_mapping, gripper_angle_on_cube

    short = range_shortfall_deg(cal, arm.joint_range)
    lines = ["| joint | zero offset entered (deg) | bound from the calibration (deg) | direction |",
             "| --- | --- | --- | --- |"]
    for j in BODY:
        lines.append(f"| {j} | {arm_file.zero_offset_deg[j]:+.1f} | {abs(short[j]) / 2:.1f} | "
                     f"{'ok' if arm_file.directions_ok[j] else 'WRONG'} |")
    g = arm_file.gripper
    lines.append(f"gripper readings: closed on nothing {g.closed_empty:.1f}, open {g.open:.1f}, on a 30 mm cube "
                 f"{'skipped' if g.closed_cube is None else f'{g.closed_cube:.1f}'}")
    if arm_file.camera_offset_m is not None:
        mm = ", ".join(f"{1000 * v:+.1f}" for v in arm_file.camera_offset_m)
        lines.append(f"camera mount: ({mm}) mm from the model's; train with env.camera_offset_m="
                     f"[{', '.join(f'{v:.4f}' for v in arm_file.camera_offset_m)}]")
    if all(arm_file.directions_ok.values()):
        q_cube = gripper_angle_on_cube() if g.closed_cube is not None else None
        lo, hi = arm_mapping(arm.joint_range, cal, arm_file, q_cube).gripper_range
        lines.append(f"gripper map: 0 -> {math.degrees(lo):.1f} deg, 100 -> {math.degrees(hi):.1f} deg "
                     f"(the model's nominal map: {math.degrees(arm.joint_range[5, 0]):.1f} .. "
                     f"{math.degrees(arm.joint_range[5, 1]):.1f} deg)")
    else:
        wrong = [j for j, ok in arm_file.directions_ok.items() if not ok]
        lines.append(f"NOT READY: {wrong} moved against the model; deploy will refuse this arm file")
    return "\n".join(lines)
