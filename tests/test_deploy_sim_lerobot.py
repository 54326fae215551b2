"""The simulated arm in LeRobot's units, the bring-up against it, and the deploy loop through it."""

import json
import math

import numpy as np
import pytest

from liftrl.deploy.bringup import Bringup, BringupAborted, Console
from liftrl.deploy.calibration import CalibrationMissing, load_arm_file
from liftrl.deploy.lerobot_units import load_calibration
from liftrl.deploy.mapping import MOTORS, JointMapping
from liftrl.deploy.pipeline import ArmModel
from liftrl.deploy.sim_lerobot import SimCalibrationErrors, SimLeRobotFollower, simulated_calibration
from liftrl.deploy.sim_robot import SimRobot
from liftrl.sim.env import LiftCubeEnv
from test_deploy_cli import call, tiny_run

COUNT_DEG = 360 / 4096  # one encoder count


@pytest.fixture(scope="module")
def arm():
    return ArmModel.build()


def sim_arm(arm, errors=SimCalibrationErrors(), **kw):
    env = LiftCubeEnv(curriculum_stage=0, randomize=False, observations=("state",))
    sim = SimRobot(env, render=False)
    sim.reset(0)
    follower = SimLeRobotFollower(sim, simulated_calibration(arm.joint_range, errors), arm.joint_range,
                                  camera_key=None, **kw)
    follower.connect()
    return env, sim, follower


def set_joints(env, q):
    env.data.qpos[env.ids.arm_qpos] = q
    env.data.ctrl[env.ids.actuators] = q


def reading(follower):
    obs = follower.get_observation()
    return np.array([obs[f"{m}.pos"] for m in MOTORS])


def test_readings_are_lerobot_degrees_from_the_calibrated_mid_range(arm):
    env, _, follower = sim_arm(arm)
    q = np.array([0.5, -0.3, 1.0, 0.2, 0.0, 0.33])
    set_joints(env, q)
    v = reading(follower)
    # a perfect calibration reads the model's angle from its mid-range (wrist_roll's mid is 2.79 deg), in LeRobot's
    # degrees (4096 counts per turn divided by 4095): within an encoder count
    expected = np.degrees(q[:5] - arm.joint_range[:5].mean(axis=1)) * 4096 / 4095
    np.testing.assert_allclose(v[:5], expected, atol=COUNT_DEG)
    assert v[4] == pytest.approx(-2.79 * 4096 / 4095, abs=COUNT_DEG)
    # the gripper's 0-100 spans the stops the simulated jaws reach (the model's -10 .. 100 deg)
    assert v[5] == pytest.approx(100 * (0.33 + 0.17453) / (1.74533 + 0.17453), abs=0.1)
    env.close()


def test_a_wrong_calibration_moves_each_zero_by_its_error(arm):
    errors = SimCalibrationErrors(zero_error_deg=(2.0, -3.0, 5.0, -1.0, 4.0), gripper_stop_error=10.0)
    env, _, follower = sim_arm(arm, errors)
    mid = arm.joint_range.mean(axis=1)
    set_joints(env, np.concatenate([mid[:5] + np.radians(errors.zero_error_deg), [0.5]]))
    np.testing.assert_allclose(reading(follower)[:5], 0.0, atol=COUNT_DEG)  # LeRobot's 0 sits at mid + error
    # the gripper's recorded closed stop is 10 units (of the model's range) open: 0 now reads at -10 + 11 = 1 deg
    lo = arm.joint_range[5, 0] + 0.1 * (arm.joint_range[5, 1] - arm.joint_range[5, 0])
    set_joints(env, np.concatenate([mid[:5], [lo]]))
    assert reading(follower)[5] == pytest.approx(0.0, abs=0.1)
    env.close()


def test_goals_go_through_lerobots_conversion_cap_and_the_servos_stops(arm):
    errors = SimCalibrationErrors(zero_error_deg=(3.0, 0.0, 0.0, 0.0, 0.0))
    env, sim, follower = sim_arm(arm, errors)
    mid = arm.joint_range.mean(axis=1)
    set_joints(env, np.concatenate([mid[:5], [0.5]]))
    follower.send_action({f"{m}.pos": 0.0 for m in MOTORS})
    sim.sleep_until(sim.now() + 0.01)
    ctrl = env.data.ctrl[env.ids.actuators]
    assert math.degrees(ctrl[0] - mid[0]) == pytest.approx(3.0, abs=COUNT_DEG)  # LeRobot 0 is mid + 3 deg
    np.testing.assert_allclose(ctrl[1:5], mid[1:5], atol=math.radians(COUNT_DEG))
    # past the recorded stop: the servo's limit registers hold it there (the stop recorded 6 deg short)
    follower.send_action({**{f"{m}.pos": 0.0 for m in MOTORS}, "shoulder_pan.pos": -150.0})
    sim.sleep_until(sim.now() + 0.01)
    stop = arm.joint_range[0, 0] + math.radians(6.0)
    assert env.data.ctrl[env.ids.actuators[0]] == pytest.approx(stop, abs=math.radians(COUNT_DEG))
    # with max_relative_target, LeRobot caps the goal against the present reading
    capped = SimLeRobotFollower(sim, follower.calibration, arm.joint_range, camera_key=None,
                                max_relative_target=5.0)
    capped.connect()
    present = reading(capped)
    sent = capped.send_action({f"{m}.pos": present[i] + 30.0 for i, m in enumerate(MOTORS)})
    np.testing.assert_allclose([sent[f"{m}.pos"] for m in MOTORS], present + 5.0)
    env.close()


def test_bringup_aborts_holding_the_arm_and_writes_nothing(arm):
    env, sim, follower = sim_arm(arm)
    answers = iter(["", "y", "a"])
    with pytest.raises(BringupAborted, match="shoulder_lift moved"):
        console = Console(ask=lambda prompt: next(answers), say=lambda text: None)
        Bringup(follower, sim, follower.calibration, arm, "x", console).run()
    held = follower.sent[-1]
    present = follower.get_observation()
    assert all(held[k] == pytest.approx(present[k], abs=0.1) for k in held)  # the last command is the present pose
    env.close()


def test_bringup_then_deploy_on_sim_lerobot_end_to_end(tmp_path, monkeypatch, arm, capsys):
    cal_path, arm_path = tmp_path / "cal.json", tmp_path / "arm.json"
    errors = SimCalibrationErrors.random(3.0, 5.0, seed=4)
    offsets = [f"{e:g}" for e in errors.zero_error_deg]  # the "user" measures the true offsets
    answers = iter(["", *["y"] * 5, *offsets, "", "y", "", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    sim_args = ["--robot", "sim-lerobot", "--calibration", str(cal_path), "--arm-file", str(arm_path),
                "--sim-calibration-error", "3", "--sim-gripper-error", "5", "--sim-error-seed", "4"]
    assert call(["bringup", *sim_args]) == 0
    out = capsys.readouterr().out
    assert "zero offset entered" in out and "gripper map" in out
    assert json.loads(cal_path.read_text())["gripper"]["range_min"] > 0  # the simulated arm's LeRobot file
    measured = load_arm_file(arm_path)
    assert measured.zero_offset_deg == dict(zip(measured.zero_offset_deg, errors.zero_error_deg))
    assert measured.gripper.closed_cube is not None and 10 < measured.gripper.closed_cube < 35

    # the per-arm mapping reads the simulated arm's true joints; the nominal one is off by the errors
    from liftrl.deploy.calibration import arm_mapping

    env, _, follower = sim_arm(arm, errors)
    q = np.array([0.4, -0.2, 0.8, 0.6, 0.1, 1.0])
    set_joints(env, q)
    obs = follower.get_observation()
    calibrated = arm_mapping(arm.joint_range, load_calibration(cal_path), measured).from_observation(obs)
    np.testing.assert_allclose(np.degrees(calibrated[:5] - q[:5]), 0.0, atol=0.1)
    assert abs(math.degrees(calibrated[5] - q[5])) < 1.0
    nominal = JointMapping.from_joint_ranges(arm.joint_range).from_observation(obs)
    np.testing.assert_allclose(np.abs(np.degrees(nominal[:5] - q[:5])), 3.0, atol=0.1)
    env.close()

    run = tiny_run(tmp_path)
    call(["export", str(run), "--checkpoint", "latest", "--out", str(tmp_path / "b")])
    deploy = ["deploy", str(tmp_path / "b"), "--episodes", "1", *sim_args]
    assert call(deploy) == 0
    out = capsys.readouterr().out
    assert "mapping calibrated: per-arm file" in out and "| deploy loop on sim-lerobot | 15 | 100 |" in out
    arm_path.unlink()
    with pytest.raises(CalibrationMissing, match="no per-arm file for robot id 'sim_arm'"):
        call(deploy)
    assert call([*deploy, "--uncalibrated"]) == 0
    assert "UNCALIBRATED" in capsys.readouterr().out


def test_bringup_stops_when_a_joint_does_not_reach_its_goal(arm):
    from liftrl.deploy.robot import FakeRobot
    from test_deploy_mapping import StandInFollower

    class DeadFollower(StandInFollower):
        def send_action(self, action):
            self.sent.append(dict(action))  # accepted, never executed (unpowered, or blocked)
            return action

    follower = DeadFollower({**{m: 0.0 for m in MOTORS}, "shoulder_lift": 30.0, "gripper": 50.0}, frame=None)
    console = Console(ask=lambda prompt: "", say=lambda text: None)
    bringup = Bringup(follower, FakeRobot(), simulated_calibration(arm.joint_range), arm, "x", console)
    with pytest.raises(BringupAborted, match=r"\['shoulder_lift'\] stopped 30.0 deg short"):
        bringup.run()
    assert follower.sent[-1]["shoulder_lift.pos"] == 30.0  # it holds where it is


def test_link_elevations_follow_the_joints(arm):
    from liftrl.deploy.bringup import link_elevations

    q = JointMapping.from_joint_ranges(arm.joint_range).to_sim(np.zeros(6))
    zero = link_elevations(arm, q)
    lift = link_elevations(arm, q + np.radians([0, 10, 0, 0, 0, 0]))
    elbow = link_elevations(arm, q + np.radians([0, 0, 10, 0, 0, 0]))
    # the pitch joints turn every link after them by the same angle (within 0.1 deg: the tool point sits a
    # little off the arm's plane, so the hand's elevation is not exactly its pitch); a link before them stays
    assert [abs(lift[k] - zero[k]) for k in zero] == pytest.approx([10, 10, 10], abs=0.1)
    assert elbow["upper arm"] == pytest.approx(zero["upper arm"], abs=1e-9)
    assert [abs(elbow[k] - zero[k]) for k in ("forearm", "hand")] == pytest.approx([10, 10], abs=0.1)
