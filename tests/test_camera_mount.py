"""The wrist camera's mount measured from frames of a cube at a known spot (liftrl.deploy.camera_mount)."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from liftrl.deploy.camera_mount import (CUBE_SPOT, CubeSpot, MountError, MountScene, cube_mask, fit_mount,
                                        mount_poses, silhouette_centre)
from liftrl.obs.pipeline import CameraNoise
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.options import TaskOptions


def camera_views(offset, seed, size=(640, 480), spot=CubeSpot(), noise=CameraNoise(std=4, gain=0.2)):
    """What a real camera mounted ``offset`` (m) from the model's would see at each measurement pose, in a
    randomised scene (light, cube colour), at a real camera's resolution, with its noise."""
    env = LiftCubeEnv(TaskOptions(observations=("state",), randomize=True, camera_resolution=size,
                                  camera_shift_m=0.0, cube_sizes_mm=(1000 * spot.edge_m,), camera_offset_m=offset))
    env.reset(seed=seed)
    m, d, ids = env.model, env.data, env.ids
    rng = np.random.default_rng(seed)
    views = []
    for q in mount_poses():
        d.qpos[ids.arm_qpos] = q
        d.qpos[ids.cube_qpos:ids.cube_qpos + 7] = [*spot.xy, spot.edge_m / 2, 1.0, 0.0, 0.0, 0.0]
        mujoco.mj_forward(m, d)
        views.append((q, noise.apply(env.render_wrist().copy(), noise.draw_gain(rng), rng)))
    return env, views


@pytest.mark.parametrize("offset,seed", [((0.008, -0.006, 0.005), 3), ((-0.012, 0.004, -0.010), 5),
                                         ((0.0, 0.0, 0.0), 6)])
def test_a_mount_off_by_up_to_15_mm_is_measured_within_2_mm(offset, seed):
    env, views = camera_views(offset, seed)
    with MountScene(CubeSpot()) as scene:  # made after the views' renderer, closed before it
        fit = fit_mount(views, scene)
    np.testing.assert_allclose(fit.offset_m, offset, atol=0.002)
    assert fit.rms < 0.003 and len(fit.per_view) == len(views)
    assert fit.as_dict()["offset_m"] == fit.offset_m
    env.close()


def test_without_the_fit_the_model_sees_the_cube_elsewhere():
    """The measurement is not trivially satisfied: at the model's own mount the centres are off by pixels."""
    env, views = camera_views((0.010, -0.008, 0.0), 3)
    with MountScene(CubeSpot()) as scene:
        off = [np.abs(scene.centre(q, np.zeros(3)) - silhouette_centre(cube_mask(f, scene.arm_region(q)))).max()
               for q, f in views]
    assert max(off) > 0.01  # > 1.9 px at 192
    env.close()


def test_the_poses_keep_the_gripper_above_the_table_and_clear_of_the_cube():
    from liftrl.deploy.pipeline import ArmModel

    arm = ArmModel.build()
    lo, hi = arm.joint_range[:, 0], arm.joint_range[:, 1]
    for q in mount_poses():
        assert np.all(q >= lo) and np.all(q <= hi)
        tool = arm.kinematics.tool_point(q)
        assert tool[2] > 0.08  # m above the table
        assert np.hypot(*(tool[:2] - np.array(CUBE_SPOT))) > 0.05 or tool[2] > 0.12


def test_bad_frames_and_too_few_views_are_refused():
    with pytest.raises(MountError, match="HxWx3 uint8"):
        cube_mask(np.zeros((48, 64), np.uint8))
    with pytest.raises(MountError, match="no coloured patch"):
        cube_mask(np.full((480, 640, 3), 128, np.uint8))  # a grey frame: no cube
    with pytest.raises(MountError, match="pixels"):
        silhouette_centre(np.zeros((192, 192), bool))
    env, views = camera_views((0.0, 0.0, 0.0), 1)
    with MountScene(CubeSpot()) as scene, pytest.raises(MountError, match="at least 2 views"):
        fit_mount(views[:1], scene)
    env.close()
    with pytest.raises(MountError, match="10-50 mm"):
        CubeSpot(edge_m=0.2)


def test_the_arm_file_keeps_the_mount_and_refuses_a_bad_one(tmp_path):
    from liftrl.deploy.calibration import ArmFile, GripperPoints, load_arm_file, save_arm_file
    from liftrl.deploy.mapping import BODY, MOTORS

    arm = ArmFile(robot_id="a", calibration_digest="x", zero_offset_deg={j: 0.0 for j in BODY},
                  directions_ok={j: True for j in MOTORS}, gripper=GripperPoints(1.0, 99.0),
                  camera_offset_m=(0.004, -0.002, 0.001), camera_fit_rms=0.001)
    path = save_arm_file(arm, tmp_path / "a.json")
    assert load_arm_file(path) == arm
    data = json.loads(path.read_text())
    data["camera_offset_m"] = [0.2, 0.0, 0.0]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="camera_offset_m must be 3 numbers within"):
        load_arm_file(path)
    del data["camera_offset_m"]
    path.write_text(json.dumps(data))
    assert load_arm_file(path).camera_offset_m is None  # files from before the step: not measured


def test_bringup_measures_the_simulated_arms_mount_and_the_arm_file_keeps_it(tmp_path, monkeypatch, capsys):
    """``liftrl bringup --robot sim-lerobot --camera-mount``: the whole step through LeRobot's units, a wrong
    calibration the user measured, the simulated camera mounted 6, -4, 3 mm from the model's."""
    from liftrl.deploy.calibration import load_arm_file
    from liftrl.deploy.sim_lerobot import SimCalibrationErrors
    from test_deploy_cli import call

    errors = SimCalibrationErrors.random(3.0, 5.0, seed=4)
    answers = iter(["", *["y"] * 5, *[f"{e:g}" for e in errors.zero_error_deg], "", "y", "", "", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    arm_path = tmp_path / "arm.json"
    assert call(["bringup", "--robot", "sim-lerobot", "--calibration", str(tmp_path / "cal.json"), "--arm-file",
                 str(arm_path), "--sim-calibration-error", "3", "--sim-gripper-error", "5", "--sim-error-seed", "4",
                 "--camera-mount", "--sim-camera-offset", "6", "-4", "3"]) == 0
    out = capsys.readouterr().out
    assert "view 6/6 taken" in out and "camera mount: (" in out and "env.camera_offset_m=[" in out
    measured = load_arm_file(arm_path)
    np.testing.assert_allclose(measured.camera_offset_m, (0.006, -0.004, 0.003), atol=0.002)
    assert measured.camera_fit_rms < 0.003


def test_a_fit_that_does_not_line_up_is_not_recorded():
    """The cube 6 cm from the spot the fit assumes: no mount explains it, so the fit refuses to give one."""
    env, views = camera_views((0.0, 0.0, 0.0), 2, spot=CubeSpot(xy=(0.38, 0.04)))
    with MountScene(CubeSpot()) as scene, pytest.raises(MountError, match="not to be trusted"):
        fit_mount(views, scene)
    env.close()


def test_a_failed_mount_step_keeps_the_rest_of_the_bring_up(monkeypatch):
    """A camera the follower does not have: the step says so and the arm file keeps what was measured."""
    from liftrl.deploy.bringup import Bringup, Console
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.sim_lerobot import SimLeRobotFollower, simulated_calibration
    from liftrl.deploy.sim_robot import SimRobot

    arm = ArmModel.build()
    env = LiftCubeEnv(curriculum_stage=0, randomize=False, observations=("state",))
    sim = SimRobot(env, render=False)
    sim.reset(0)
    follower = SimLeRobotFollower(sim, simulated_calibration(arm.joint_range), arm.joint_range, camera_key=None)
    follower.connect()
    answers = iter(["", *["y"] * 5, *["0"] * 5, "", "y", "s", ""])
    said: list[str] = []
    console = Console(ask=lambda prompt: next(answers), say=said.append)
    result = Bringup(follower, sim, follower.calibration, arm, "x", console, camera_key="wrist").run()
    assert any("Camera mount not measured: the follower's observation has no camera 'wrist'" in t for t in said)
    assert result.camera_offset_m is None and result.zero_offset_deg == {j: 0.0 for j in result.zero_offset_deg}
    env.close()


def test_a_bad_fit_residual_in_the_arm_file_is_refused(tmp_path):
    from liftrl.deploy.calibration import ArmFile, GripperPoints, load_arm_file, save_arm_file
    from liftrl.deploy.mapping import BODY, MOTORS

    arm = ArmFile(robot_id="a", calibration_digest="x", zero_offset_deg={j: 0.0 for j in BODY},
                  directions_ok={j: True for j in MOTORS}, gripper=GripperPoints(1.0, 99.0))
    path = save_arm_file(arm, tmp_path / "a.json")
    data = json.loads(path.read_text())
    data["camera_fit_rms"] = "NaN"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"a\.json: camera_fit_rms must be a number >= 0"):
        load_arm_file(path)
