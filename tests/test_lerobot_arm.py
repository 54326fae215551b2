"""``liftrl bringup`` and ``liftrl deploy --robot so101`` through LeRobot 0.4's real SO-101 code.

Everything from liftrl's CLI down to LeRobot's ``SOFollower``, ``FeetechMotorsBus`` and
``OpenCVCamera`` is the real code; below them sit only the register-level fake servos
(``fakes.feetech`` as ``scservo_sdk``) and the fake ``cv2.VideoCapture``. The calibration file is
written by LeRobot's own calibration routine. Each failure of the real path is played here: the
exit code is 2, the message names the problem, and the servos' registers show the state the arm is
left in (torque, goals) and that nothing wrote a position limit or a homing offset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("lerobot", reason="LeRobot 0.4.x is installed by scripts/setup.sh; .ci/run requires it")

from fakes import camera, feetech, rig  # noqa: E402
from liftrl.cli import main  # noqa: E402
from test_deploy_bundle import TINY_DRQ, TINY_SAC, snapshot  # noqa: E402

PORT = "/dev/ttyFAKE0"
ROBOT_ID = "arm1"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    """The fakes for this test only: ``scservo_sdk`` and ``cv2.VideoCapture`` are restored afterwards."""
    rig.use_shims()
    monkeypatch.setitem(sys.modules, "scservo_sdk", feetech)
    monkeypatch.setattr(cv2, "VideoCapture", camera.FakeVideoCapture)
    monkeypatch.setattr(camera.FakeVideoCapture, "spec", camera.CameraSpec())
    monkeypatch.setattr(feetech, "ARMS", {})


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from liftrl.deploy.bundle import export_snapshot

    root = tmp_path_factory.mktemp("bundles")
    state_only = export_snapshot(*snapshot(TINY_SAC, ("state",), ("state",))[:2], root / "state")
    pixels = export_snapshot(*snapshot(TINY_DRQ, ("pixels", "state"), ("pixels", "state"))[:2], root / "pixels")
    return {"state": str(state_only), "pixels": str(pixels)}


@pytest.fixture
def calibrated(tmp_path):
    """An arm on PORT calibrated by LeRobot; the write log starts empty afterwards, the arm at LeRobot's zero."""
    arm = feetech.plug(PORT, actual=list(rig.MID_ACTUAL))
    cal_dir = tmp_path / "calibration" / "robots" / "so_follower"
    cal_file = rig.lerobot_calibrate(PORT, ROBOT_ID, cal_dir)
    for servo in arm.servos.values():
        servo.writes.clear()
    return arm, cal_file


def answers(release: str = "", log: list | None = None):
    """A scripted user: yes to every direction check, skips the cube, ``release`` at the last prompt."""
    def ask(prompt: str = "") -> str:
        if log is not None:
            log.append(prompt)
        if "Did the arm do that" in prompt or "wide open" in prompt:
            return "y"
        if "30 mm cube" in prompt:
            return "s"
        if "'release'" in prompt:
            return release
        return ""
    return ask


def deploy_args(bundle: str, cal_file: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["deploy", bundle, "--robot", "so101", "--port", PORT, "--robot-id", ROBOT_ID,
            "--calibration-dir", str(cal_file.parent), "--episodes", "1", "--rate", "15", "--max-steps", "6",
            "--start-speed", "2.0", "--log-dir", str(tmp_path / "logs"), "--arm-file", str(tmp_path / "arm.json"),
            *extra]


def register_log(servo: feetech.Servo, *names: str) -> list[tuple[str, int]]:
    return [w for w in servo.writes if w[0] in names]


def holding(arm: feetech.FakeArm) -> bool:
    """Every servo has torque on and its goal at its present position (within a few counts): it holds still."""
    return all(s.get("Torque_Enable") == 1 and abs(s.get("Goal_Position") - s.present()) <= 3
               for s in arm.servos.values())


# ---------------------------------------------------------------------------------------------- the happy path
@pytest.mark.slow
def test_lerobot_calibration_then_bringup_then_deploy(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    data = json.loads(cal_file.read_text())
    assert data["shoulder_pan"]["homing_offset"] == rig.MID_ACTUAL[0] - 2047  # LeRobot's half-turn homing
    assert data["wrist_roll"]["range_min"] == 0 and data["wrist_roll"]["range_max"] == 4095
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", answers(log=prompts))
    arm.servos[6].set("Torque_Limit", 300)  # a servo already below the bring-up's limit keeps its own value
    bringup = ["bringup", "--robot", "so101", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir",
               str(cal_file.parent), "--arm-file", str(tmp_path / "arm.json"), "--speed", "60", "--rate", "30",
               "--torque-limit", "0.4"]
    assert main(bringup) == 0
    out = capsys.readouterr().out
    assert f"LeRobot calibration: {cal_file}" in out and (tmp_path / "arm.json").is_file()
    assert "torque on" in out and holding(arm)  # the release prompt was answered with Enter
    # every move of the bring-up (probes, gripper, rest, the final hold) under the lowered torque limit
    assert "every servo at most 40% of full torque" in out
    for i, servo in arm.servos.items():
        log = register_log(servo, "Torque_Limit", "Goal_Position")
        limits = [k for k, w in enumerate(log) if w[0] == "Torque_Limit"]
        goals = [k for k, w in enumerate(log) if w[0] == "Goal_Position"]
        assert [log[k][1] for k in limits] == ([400, 1000] if i != 6 else [300, 300]), (i, log)
        assert goals and limits[0] < min(goals) and max(goals) < limits[1], (i, log)
        assert servo.get("Torque_Limit") == (1000 if i != 6 else 300)
    assert main(deploy_args(bundles["state"], cal_file, tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"mapping: calibrated: per-arm file {tmp_path / 'arm.json'}" in out and "done: 1 episodes" in out
    assert (tmp_path / "logs" / "so101_episode000.npz").is_file()
    assert holding(arm) and arm.written() == {}  # torque kept; no limit or offset was ever written
    assert any("'release'" in p for p in prompts)
    # a camera policy hears whether the camera's mount was measured (this bring-up ran without --camera-mount)
    assert main(deploy_args(bundles["pixels"], cal_file, tmp_path, "--max-steps", "2")) == 0
    assert "camera mount not measured (liftrl bringup --camera-mount)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_pick_bundle_moves_the_arm_to_the_dry_runs_start_pose(tmp_path, calibrated, monkeypatch, capsys):
    """One start pose for the sim and the arm: before its episode, `liftrl deploy --robot so101` with a
    pick-stage bundle moves LeRobot's follower to exactly the joints the dry run's episodes start from."""
    from liftrl.deploy import cli_arm
    from liftrl.deploy.bundle import export_snapshot
    from liftrl.sim.env import LiftCubeEnv
    from liftrl.sim.task import PICK_STAGE

    arm, cal_file = calibrated
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",),
                              env_extra={"curriculum_stage": PICK_STAGE, "max_episode_steps": 400,
                                         "cube_sizes_mm": [30.0], "camera_shift_m": 0.005})
    bundle = export_snapshot(state, meta, tmp_path / "pick")
    moves: list[tuple[str, np.ndarray]] = []
    real_move = cli_arm._slow_move

    def spy(robot, pose, limits, rate, speed, what):
        moves.append((what, np.array(pose)))
        return real_move(robot, pose, limits, rate, speed, what)

    monkeypatch.setattr(cli_arm, "_slow_move", spy)
    monkeypatch.setattr("builtins.input", answers())
    assert main(deploy_args(str(bundle), cal_file, tmp_path, "--uncalibrated")) == 0
    assert [w for w, _ in moves] == ["start pose", "rest pose"]
    out = capsys.readouterr().out  # the operator is told what the narrower training scene needs, first
    assert out.index("this policy needs a cube of 30 mm") < out.index("this policy needs the wrist camera within +-5 mm")
    sim = LiftCubeEnv(curriculum_stage=PICK_STAGE, observations=("state",), render_mode=None)
    try:
        sim.reset(seed=11)
        np.testing.assert_allclose(moves[0][1], sim.data.qpos[sim.ids.arm_qpos], atol=1e-9)
    finally:
        sim.close()


def test_torque_is_released_only_when_the_user_types_release(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    monkeypatch.setattr("builtins.input", answers(release="release"))
    assert main(deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated")) == 0
    assert "torque released" in capsys.readouterr().out
    assert arm.torque() == {i: 0 for i in range(1, 7)}
    monkeypatch.setattr("builtins.input", answers(release="release"))  # --unattended: never asked, torque kept
    assert main(deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated", "--unattended")) == 0
    assert holding(arm)


# ---------------------------------------------------------------------------------------------- refusals before motion
def test_an_uncalibrated_arm_is_refused_with_the_lerobot_command(tmp_path, bundles, monkeypatch, capsys):
    arm = feetech.plug(PORT, actual=list(rig.MID_ACTUAL))
    monkeypatch.setattr("builtins.input", answers())
    argv = deploy_args(bundles["state"], tmp_path / "cal" / "x.json", tmp_path, "--uncalibrated")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (f"no LeRobot calibration for robot id '{ROBOT_ID}'" in err and
            f"lerobot-calibrate --robot.type=so101_follower --robot.port={PORT} --robot.id={ROBOT_ID}" in err)
    assert all(not s.writes for s in arm.servos.values())  # nothing at all was written to the servos
    assert main(["bringup", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir", str(tmp_path)]) == 2
    assert "lerobot-calibrate" in capsys.readouterr().err


def test_servos_calibrated_otherwise_are_refused_and_never_rewritten(tmp_path, bundles, calibrated, monkeypatch,
                                                                      capsys):
    arm, cal_file = calibrated
    arm.servos[3].set("Min_Position_Limit", arm.servos[3].get("Min_Position_Limit") + 40)  # recalibrated elsewhere
    monkeypatch.setattr("builtins.input", answers())
    assert main(deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated")) == 2
    err = capsys.readouterr().err
    assert "hold other position limits or homing offsets" in err and "lerobot-calibrate" in err
    assert all(not s.writes for s in arm.servos.values()) and arm.torque() == {i: 0 for i in range(1, 7)}


def test_a_wrong_port_is_named_and_nothing_is_sent(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    monkeypatch.setattr("builtins.input", answers())
    argv = deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated")
    argv[argv.index(PORT)] = "/dev/ttyNOPE"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "could not open the arm on port '/dev/ttyNOPE'" in err and "Traceback" not in err
    assert all(not s.writes for s in arm.servos.values())


def test_a_refused_camera_mode_is_named_and_the_servos_are_untouched(tmp_path, bundles, calibrated, monkeypatch,
                                                                     capsys):
    arm, cal_file = calibrated
    monkeypatch.setattr("builtins.input", answers())
    argv = deploy_args(bundles["pixels"], cal_file, tmp_path, "--uncalibrated", "--camera-width", "1280",
                       "--camera-height", "720")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "camera 0 at 1280x720 @ 30 fps" in err and "capture_width=1280" in err and "--camera-width" in err
    assert all(not s.writes for s in arm.servos.values()) and not feetech.ARMS[PORT].servos[1].get("Torque_Enable")
    assert all(not c.isOpened() for c in camera.FakeVideoCapture.opened_captures)  # released, not left open


@pytest.mark.slow
def test_the_camera_mode_options_reach_the_camera(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    camera.FakeVideoCapture.spec = camera.CameraSpec(modes=((320, 240, 15.0),), fourccs=("YUYV",))
    monkeypatch.setattr("builtins.input", answers())
    argv = deploy_args(bundles["pixels"], cal_file, tmp_path, "--uncalibrated", "--camera-width", "320",
                       "--camera-height", "240", "--camera-fps", "15", "--camera-fourcc", "YUYV")
    assert main(argv) == 0, capsys.readouterr().err
    frames = np.load(tmp_path / "logs" / "so101_episode000.npz")["frame"]
    assert frames.shape[1:] == (240, 320, 3) and frames[0, 0, 0, 0] == 200  # RGB: the fake's constant red first
    assert holding(arm)


@pytest.mark.slow
def test_bringup_takes_the_camera_mounts_views_through_lerobots_camera(tmp_path, calibrated, monkeypatch, capsys):
    """``--camera-mount`` on the real path: the follower is built with the wrist camera, the six views are
    read through LeRobot's OpenCVCamera, and the per-arm file is written whatever the frames showed (the
    fake camera shows no cube, so the step says why it measured nothing, and the rest of the file stands)."""
    arm, cal_file = calibrated

    def ask(prompt: str = "") -> str:
        return "" if "Camera mount" in prompt else answers()(prompt)

    monkeypatch.setattr("builtins.input", ask)
    assert main(["bringup", "--robot", "so101", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir",
                 str(cal_file.parent), "--arm-file", str(tmp_path / "arm.json"), "--speed", "90", "--rate", "30",
                 "--camera-mount", "--camera", "0", "--camera-fourcc", "MJPG"]) == 0
    out = capsys.readouterr().out
    assert "view 6/6 taken" in out and "Camera mount not measured:" in out
    assert json.loads((tmp_path / "arm.json").read_text())["camera_offset_m"] is None
    assert holding(arm) and arm.written() == {}


# ---------------------------------------------------------------------------------------------- failures mid-episode
@pytest.mark.slow
def test_a_camera_that_stops_mid_episode_stops_the_arm_holding(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    camera.FakeVideoCapture.spec = camera.CameraSpec(freeze_after=80)  # ~1 s warm-up + the start pose, then silence
    monkeypatch.setattr("builtins.input", answers())
    argv = deploy_args(bundles["pixels"], cal_file, tmp_path, "--uncalibrated", "--max-steps", "400")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "episode 1 stopped" in err and ("camera frame is" in err or "too old" in err), err
    assert "torque on" in err and holding(arm) and arm.written() == {}


@pytest.mark.slow
def test_a_servo_that_stops_answering_mid_episode_is_named(tmp_path, bundles, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    arm.stop_answering(3, after_reads=200)  # the start pose takes far fewer position reads; the episode 800
    monkeypatch.setattr("builtins.input", answers(release="release"))
    argv = deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated", "--max-steps", "400")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "episode 1 stopped" in err and "no status packet" in err and "['elbow_flex']" in err, err
    assert "robot.stop() failed" not in err  # the hold goal went out to the servos that still listen
    assert "stopped answering" in err and "torque on" in err
    others = [s for i, s in arm.servos.items() if i != 3]
    assert all(s.get("Torque_Enable") == 1 and abs(s.get("Goal_Position") - s.present()) <= 3 for s in others)
    assert arm.written() == {}  # and no release was offered: torque stays on everywhere


@pytest.mark.slow
def test_ctrl_c_mid_episode_exits_2_with_the_arm_holding(tmp_path, bundles, calibrated):
    """A real SIGINT from outside while the loop runs, even in a process that inherited SIGINT ignored;
    LeRobot and liftrl find the calibration by HF_LEROBOT_CALIBRATION."""
    arm, cal_file = calibrated
    scenario = {"port": PORT, "calibration": str(cal_file), "actual": list(rig.MID_ACTUAL),
                "mark_file": str(tmp_path / "running"), "mark_after_reads": 120, "state_file": str(tmp_path / "state")}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    argv = deploy_args(bundles["state"], cal_file, tmp_path, "--uncalibrated", "--max-steps", "2000", "--unattended")
    del argv[argv.index("--calibration-dir"):argv.index("--calibration-dir") + 2]
    env = {**os.environ, "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    # Started with SIGINT ignored, as a background job of a script is (Python then leaves it ignored):
    # liftrl must still stop on Ctrl-C while it drives the arm (deploy.so101_session.ctrl_c_raises).
    proc = subprocess.Popen([sys.executable, str(TESTS / "fakes" / "launch.py"), str(tmp_path / "scenario.json"),
                             *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 300
    while not (tmp_path / "running").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    try:  # generous: a loaded machine may be slow to wind down, but a run that ignored Ctrl-C ends in 133 s
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"liftrl deploy still ran 300 s after Ctrl-C:\n{out}\n{err}")
    assert proc.returncode == 2, out + err
    assert f"LeRobot calibration: {cal_file}" in out
    assert "interrupted (Ctrl-C) in episode 1" in err and "torque on" in err and "Traceback" not in err
    state = json.loads((tmp_path / "state").read_text())
    assert all(s["torque"] == 1 and abs(s["goal"] - s["present"]) <= 3 for s in state.values())
    assert not [w for s in state.values() for w in s["writes"] if w[0] in feetech.CALIBRATION_REGISTERS]


@pytest.mark.slow
def test_bringup_stops_naming_a_servo_that_stops_answering(tmp_path, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    arm.stop_answering(2, after_reads=12)  # during the direction probes
    monkeypatch.setattr("builtins.input", answers(release="release"))
    argv = ["bringup", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir", str(cal_file.parent),
            "--arm-file", str(tmp_path / "arm.json"), "--speed", "60", "--rate", "30"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bring-up stopped: ConnectionError" in err and "['shoulder_lift'] stopped answering" in err, err
    assert "no per-arm file was written" in err and not (tmp_path / "arm.json").exists()
    assert all(s.get("Torque_Enable") == 1 for i, s in arm.servos.items() if i != 2)  # no release offered
    assert arm.written() == {}


# ---------------------------------------------------------------------------------------------- a soft first contact
def bringup_args(cal_file: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["bringup", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir", str(cal_file.parent),
            "--arm-file", str(tmp_path / "arm.json"), "--speed", "60", "--rate", "30", *extra]


@pytest.mark.slow
def test_bringup_restores_the_torque_limit_when_the_user_aborts(tmp_path, calibrated, monkeypatch, capsys):
    arm, cal_file = calibrated
    ask = answers()
    monkeypatch.setattr("builtins.input", lambda p="": "a" if "Did the arm do that" in p else ask(p))
    assert main(bringup_args(cal_file, tmp_path)) == 2
    assert "bring-up aborted" in capsys.readouterr().err
    assert all(register_log(s, "Torque_Limit") == [("Torque_Limit", 500), ("Torque_Limit", 1000)]
               for s in arm.servos.values())
    assert holding(arm) and not (tmp_path / "arm.json").exists()


def test_bringup_does_not_move_an_arm_whose_torque_limit_cannot_be_lowered(tmp_path, calibrated, monkeypatch,
                                                                         capsys):
    """A servo that does not acknowledge its Torque_Limit write: the servos already lowered get their
    value back, nothing moves, no file is written, and the message names the servo."""
    arm, cal_file = calibrated
    real_write = feetech.PacketHandler.writeTxRx

    def deaf_elbow(self, port, scs_id, address, length, data):
        if scs_id == 3 and address == feetech.ADDR["Torque_Limit"][0]:
            return feetech.COMM_RX_TIMEOUT, 0
        return real_write(self, port, scs_id, address, length, data)

    monkeypatch.setattr(feetech.PacketHandler, "writeTxRx", deaf_elbow)
    monkeypatch.setattr("builtins.input", answers())
    assert main(bringup_args(cal_file, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "could not lower the torque limit of elbow_flex" in err and "nothing was moved" in err, err
    assert "could not restore elbow_flex (ConnectionError" in err  # it may have applied the write whose reply was lost
    assert not (tmp_path / "arm.json").exists()
    for i, servo in arm.servos.items():
        assert register_log(servo, "Torque_Limit") == ([("Torque_Limit", 500), ("Torque_Limit", 1000)] if i < 3 else [])
        assert not register_log(servo, "Goal_Position")
        assert servo.get("Torque_Limit") == 1000


@pytest.mark.parametrize("value", ["0.05", "1.5", "nan"])
def test_a_torque_limit_outside_its_range_is_refused_before_connecting(tmp_path, value, capsys):
    assert main(["bringup", "--port", PORT, "--robot-id", ROBOT_ID, "--calibration-dir", str(tmp_path),
                 "--torque-limit", value]) == 2
    assert "--torque-limit must be a fraction of full torque in [0.1, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_a_joint_blocked_short_of_its_goal_holds_before_its_torque_limit_is_lifted(tmp_path, calibrated,
                                                                                   monkeypatch, capsys):
    """A move that ends short (a blocked shoulder_lift) must not push at full torque once the bring-up
    ends: the arm is told to hold where it is before the limit is restored, and the run fails."""
    from liftrl.deploy import cli_arm

    arm, cal_file = calibrated
    arm.servos[2].stuck = True

    def blocked_steps(bringup, follower, args):
        goal = bringup.present()
        bringup.follower.send_action({f"{m}.pos": v + (20.0 if m == "shoulder_lift" else 0.0) for m, v in goal.items()})
        return "rest pose not reached (blocked)", []

    monkeypatch.setattr(cli_arm, "_bringup_steps", blocked_steps)
    monkeypatch.setattr("builtins.input", answers())
    assert main(bringup_args(cal_file, tmp_path)) == 2
    assert "rest pose not reached (blocked)" in capsys.readouterr().err
    log = register_log(arm.servos[2], "Torque_Limit", "Goal_Position")
    restore = log.index(("Torque_Limit", 1000))
    last_goal = [w for w in log[:restore] if w[0] == "Goal_Position"][-1][1]
    assert abs(last_goal - arm.servos[2].present()) <= 3, log  # holding, not pushing 20 deg on
    assert any(w[0] == "Goal_Position" and abs(w[1] - arm.servos[2].present()) > 200 for w in log[:restore])


def test_lowered_torque_names_a_servo_it_could_not_restore():
    """What ``_bringup_so101`` turns into a failure of the run (exit 2, the servo named)."""
    from liftrl.deploy.torque_limit import lowered_torque

    class Bus:
        def __init__(self):
            self.values, self.deaf = {"a": 1000, "b": 700}, False

        def read(self, name, motor, normalize=True):
            return self.values[motor]

        def write(self, name, motor, value, normalize=True):
            if self.deaf and motor == "b":
                raise ConnectionError("no status packet")
            self.values[motor] = value

    bus, said = Bus(), []
    with lowered_torque(type("F", (), {"bus": bus})(), ("a", "b"), 0.5, said.append) as limit:
        assert bus.values == {"a": 500, "b": 500} and limit.applied
        bus.deaf = True
    assert bus.values == {"a": 1000, "b": 500} and limit.unrestored == ["b (ConnectionError: no status packet)"]
