"""The per-arm mapping: offsets applied, the gripper map from measured points, and refusal by name."""

import json
import math

import numpy as np
import pytest

from liftrl.deploy.calibration import (ArmFile, CalibrationMissing, GripperPoints, arm_mapping,
                                       find_lerobot_calibration, gripper_range_from_points, load_arm_file,
                                       mapping_for_arm, save_arm_file)
from liftrl.deploy.lerobot_units import calibration_digest, parse_calibration
from liftrl.deploy.mapping import BODY, MOTORS, JointMapping
from liftrl.sim import scene
from test_deploy_lerobot_units import SAMPLE

@pytest.fixture(scope="module")
def jnt_range():
    model = scene.build_model(scene.default_mesh_quality())
    return model.jnt_range[scene.lookup_ids(model).arm_joint].copy()


@pytest.fixture
def cal():
    return parse_calibration(SAMPLE)


def arm_file(cal, **kw):
    base = dict(robot_id="my_arm", calibration_digest=calibration_digest(cal),
                zero_offset_deg={"shoulder_pan": 3.0, "shoulder_lift": -2.0, "elbow_flex": 0.0, "wrist_flex": 1.5,
                                 "wrist_roll": 10.0},
                directions_ok={m: True for m in MOTORS}, gripper=GripperPoints(closed_empty=0.0, open=98.0,
                                                                                closed_cube=20.0))
    return ArmFile(**{**base, **kw})


def test_per_arm_offsets_are_applied(jnt_range, cal):
    m = arm_mapping(jnt_range, cal, arm_file(cal), q_cube=0.33)
    # LeRobot's 0 on each body joint is the model's mid-range plus the measured offset
    np.testing.assert_allclose(m.to_sim(np.zeros(6))[:5], jnt_range[:5].mean(axis=1) + np.radians(
        [3.0, -2.0, 0.0, 1.5, 10.0]), atol=1e-12)
    # 45 LeRobot degrees on shoulder_pan are 45 * 4095/4096 = 44.98901 real degrees, plus the 3 deg offset
    q = m.to_sim(np.array([45.0, 0, 0, 0, 0, 50.0]))
    assert math.degrees(q[0]) == pytest.approx(47.98901, abs=1e-5)
    assert m.to_lerobot(q)[0] == pytest.approx(45.0, abs=1e-9)
    nominal = JointMapping.from_joint_ranges(jnt_range)
    assert math.degrees(nominal.to_sim(np.array([45.0, 0, 0, 0, 0, 50.0]))[0]) == pytest.approx(45.0)


def test_gripper_map_from_measured_points(cal):
    # recorded span 3400 - 2030 = 1370 counts = 2.101554 rad, i.e. 0.02101554 rad per unit; the cube reading
    # (20 units) sits at the model's angle on a 30 mm cube (0.33 rad): 0 -> 0.33 - 0.42031 = -0.09031 rad
    lo, hi = gripper_range_from_points(cal, GripperPoints(0.0, 98.0, closed_cube=20.0), q_cube=0.33, q_open=1.74533)
    assert lo == pytest.approx(-0.09031, abs=1e-5)
    assert hi - lo == pytest.approx(2.101554, abs=1e-6)
    # without a cube reading the open stop anchors the map: 0 -> 1.74533 - 98 * 0.02101554 = -0.31419 rad
    lo, _ = gripper_range_from_points(cal, GripperPoints(0.0, 98.0), q_cube=0.33, q_open=1.74533)
    assert lo == pytest.approx(-0.31419, abs=1e-5)


def test_lerobot_caps_in_the_arms_units(jnt_range, cal):
    nominal = JointMapping.from_joint_ranges(jnt_range)
    caps = nominal.lerobot_caps(np.array([0.35] * 5 + [0.8]))
    assert caps["elbow_flex"] == pytest.approx(20.05352, abs=1e-4)  # degrees(0.35)
    assert caps["gripper"] == pytest.approx(100 * 0.8 / (1.74533 + 0.17453), abs=1e-3)  # 41.67 units
    calibrated = arm_mapping(jnt_range, cal, arm_file(cal), q_cube=0.33)
    caps = calibrated.lerobot_caps(np.array([0.35] * 6))
    assert caps["elbow_flex"] == pytest.approx(20.05352 * 4096 / 4095, abs=1e-4)


def test_lerobot_calibration_root_follows_lerobots_environment_variables(tmp_path, monkeypatch):
    from liftrl.deploy.calibration import lerobot_calibration_root

    for name in ("HF_LEROBOT_CALIBRATION", "HF_LEROBOT_HOME", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert lerobot_calibration_root() == tmp_path / "home" / ".cache" / "huggingface" / "lerobot" / "calibration"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lerobot_calibration_root() == tmp_path / "xdg" / "huggingface" / "lerobot" / "calibration"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert lerobot_calibration_root() == tmp_path / "hf" / "lerobot" / "calibration"
    monkeypatch.setenv("HF_LEROBOT_HOME", str(tmp_path / "lr"))
    assert lerobot_calibration_root() == tmp_path / "lr" / "calibration"
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path / "cal"))
    assert lerobot_calibration_root() == tmp_path / "cal"


def test_missing_lerobot_calibration_is_refused_by_name(tmp_path, monkeypatch):
    import liftrl.deploy.calibration as calibration

    folder = tmp_path / "cal" / "robots" / "so_follower"  # where the installed LeRobot (0.4.3+) reads
    monkeypatch.setattr(calibration, "lerobot_calibration_dir", lambda: folder)
    with pytest.raises(CalibrationMissing, match=r"no LeRobot calibration for robot id 'my_arm'.*"
                                                 r"robots/so_follower/my_arm\.json.*lerobot-calibrate "
                                                 r"--robot.type=so101_follower --robot.port=/dev/ttyACM0"):
        find_lerobot_calibration("my_arm", port="/dev/ttyACM0")
    old = tmp_path / "cal" / "robots" / "so101_follower" / "my_arm.json"  # LeRobot <= 0.4.2's folder
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(SAMPLE))
    with pytest.raises(CalibrationMissing, match=r"written by another LeRobot version.*--calibration-dir"):
        find_lerobot_calibration("my_arm")
    path = folder / "my_arm.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(SAMPLE))
    assert find_lerobot_calibration("my_arm") == path
    with pytest.raises(CalibrationMissing, match="other.json"):
        find_lerobot_calibration("my_arm", calibration=str(tmp_path / "other.json"))


def test_missing_or_incomplete_per_arm_file_is_refused_by_name(tmp_path, jnt_range, cal):
    with pytest.raises(CalibrationMissing, match=r"no per-arm file for robot id 'my_arm'.*liftrl bringup"):
        mapping_for_arm(jnt_range, cal, "my_arm", tmp_path / "my_arm.json")
    data = arm_file(cal).to_json()
    del data["zero_offset_deg"]["wrist_roll"]
    del data["gripper"]["open"]
    (tmp_path / "my_arm.json").write_text(json.dumps(data))
    with pytest.raises(CalibrationMissing, match=r"lacks \['zero_offset_deg.wrist_roll', 'gripper.open'\]"):
        mapping_for_arm(jnt_range, cal, "my_arm", tmp_path / "my_arm.json")
    mapping, source = mapping_for_arm(jnt_range, None, "my_arm", None, uncalibrated=True)
    assert "UNCALIBRATED" in source and mapping == JointMapping.from_joint_ranges(jnt_range)


def test_a_recalibrated_arm_or_a_wrong_direction_is_refused(tmp_path, jnt_range, cal):
    path = save_arm_file(arm_file(cal), tmp_path / "arm.json")
    assert load_arm_file(path) == arm_file(cal)
    mapping, source = mapping_for_arm(jnt_range, cal, "my_arm", path)
    assert "per-arm file" in source and mapping.deg_scale == pytest.approx(4095 / 4096)
    recalibrated = parse_calibration({**SAMPLE, "shoulder_lift": {**SAMPLE["shoulder_lift"], "range_min": 700}})
    with pytest.raises(CalibrationMissing, match="measured under another LeRobot calibration"):
        mapping_for_arm(jnt_range, recalibrated, "my_arm", path)
    wrong = arm_file(cal, directions_ok={**{m: True for m in MOTORS}, "elbow_flex": False})
    with pytest.raises(CalibrationMissing, match=r"\['elbow_flex'\] moving against the model"):
        arm_mapping(jnt_range, cal, wrong, q_cube=0.33)
    assert set(BODY) <= set(arm_file(cal).zero_offset_deg)


def test_lerobot_reads_the_calibration_file_the_mapping_read(tmp_path):
    import argparse

    from liftrl.deploy.cli_arm import lerobot_dir

    args = argparse.Namespace(robot="so101", robot_id="my_arm", calibration=str(tmp_path / "my_arm.json"),
                              calibration_dir=None)
    assert lerobot_dir(args) == str(tmp_path)
    with pytest.raises(ValueError, match="is not other.json"):
        lerobot_dir(argparse.Namespace(**{**vars(args), "robot_id": "other"}))
