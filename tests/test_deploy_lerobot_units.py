"""LeRobot's bus normalisation, reimplemented: hand-worked values on a sample calibration file."""

import json

import pytest

from liftrl.deploy.lerobot_units import (calibration_digest, degrees_to_raw, load_calibration, parse_calibration,
                                         range_0_100_to_raw, raw_to_degrees, raw_to_range_0_100,
                                         relative_target_cap)

# The shape of the JSON LeRobot writes (robots/so101_follower/<id>.json); numbers of a plausible arm.
SAMPLE = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1311, "range_min": 758, "range_max": 3292},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 982, "range_min": 812, "range_max": 3190},
    "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": -1027, "range_min": 900, "range_max": 3100},
    "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": 1200, "range_min": 880, "range_max": 3200},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": -400, "range_min": 0, "range_max": 4095},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1500, "range_min": 2030, "range_max": 3400},
}


@pytest.fixture
def cal():
    return parse_calibration(SAMPLE)


# (raw count, LeRobot degrees) for shoulder_pan: mid = (758 + 3292) / 2 = 2025, degrees = (raw - 2025) * 360 / 4095
PAN = [(2025, 0.0), (3000, 975 * 360 / 4095), (3000, 600 / 7), (1050, -600 / 7), (2026, 360 / 4095)]


@pytest.mark.parametrize("raw,deg", PAN)
def test_degrees_from_raw(cal, raw, deg):
    assert raw_to_degrees(raw, cal["shoulder_pan"]) == pytest.approx(deg, abs=1e-9)


def test_degrees_to_raw_truncates_like_lerobot(cal):
    # 10 deg -> 10 * 4095 / 360 + 2025 = 2138.75 -> 2138; -10 deg -> 1911.25 -> 1911 (toward zero)
    assert degrees_to_raw(10.0, cal["shoulder_pan"]) == 2138
    assert degrees_to_raw(-10.0, cal["shoulder_pan"]) == 1911
    # no clamp in degree mode: 200 deg is past the recorded stop and still converted
    assert degrees_to_raw(200.0, cal["shoulder_pan"]) == int(200 * 4095 / 360 + 2025) == 4300


def test_full_turn_wrist_roll(cal):
    # range 0..4095, mid 2047.5: the ends are -180 and +180 deg
    assert raw_to_degrees(0, cal["wrist_roll"]) == pytest.approx(-180.0)
    assert raw_to_degrees(4095, cal["wrist_roll"]) == pytest.approx(180.0)


def test_gripper_range_0_100(cal):
    g = cal["gripper"]  # 2030 .. 3400, span 1370
    assert raw_to_range_0_100(2715, g) == pytest.approx(50.0)
    assert raw_to_range_0_100(2372, g) == pytest.approx(342 / 1370 * 100)  # 24.96
    assert raw_to_range_0_100(1900, g) == 0.0 and raw_to_range_0_100(3500, g) == 100.0  # clamped to the stops
    assert range_0_100_to_raw(50.0, g) == 2715
    assert range_0_100_to_raw(25.0, g) == 2372  # 2030 + 342.5 -> 2372
    assert range_0_100_to_raw(-5.0, g) == 2030 and range_0_100_to_raw(120.0, g) == 3400


def test_gripper_drive_mode_mirrors_the_scale():
    g = parse_calibration({**SAMPLE, "gripper": {**SAMPLE["gripper"], "drive_mode": 1}})["gripper"]
    assert raw_to_range_0_100(2372, g) == pytest.approx(100 - 342 / 1370 * 100)  # 75.04
    assert range_0_100_to_raw(75.0, g) == 2372


def test_relative_target_cap_against_present():
    goal = {"a": 30.0, "b": -12.0, "c": 1.0}
    present = {"a": 10.0, "b": -2.0, "c": 0.0}
    cap = {"a": 5.0, "b": 4.0, "c": 5.0}
    assert relative_target_cap(goal, present, cap) == {"a": 15.0, "b": -6.0, "c": 1.0}


def test_calibration_file_round_trip_and_errors_named(tmp_path):
    path = tmp_path / "my_arm.json"
    path.write_text(json.dumps(SAMPLE))
    cal = load_calibration(path)
    assert cal["gripper"].range_max == 3400 and cal["shoulder_pan"].mid == 2025
    assert calibration_digest(cal) == calibration_digest(parse_calibration(json.loads(json.dumps(SAMPLE))))
    changed = parse_calibration({**SAMPLE, "elbow_flex": {**SAMPLE["elbow_flex"], "range_min": 901}})
    assert calibration_digest(changed) != calibration_digest(cal)
    with pytest.raises(ValueError, match=r"no calibration for motor\(s\) \['gripper'\]"):
        parse_calibration({k: v for k, v in SAMPLE.items() if k != "gripper"})
    with pytest.raises(ValueError, match=r"'wrist_flex' lacks \['range_max'\]"):
        parse_calibration({**SAMPLE, "wrist_flex": {k: v for k, v in SAMPLE["wrist_flex"].items() if k != "range_max"}})
    with pytest.raises(ValueError, match="must exceed range_min"):
        parse_calibration({**SAMPLE, "elbow_flex": {**SAMPLE["elbow_flex"], "range_max": 900}})
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_calibration(path)
