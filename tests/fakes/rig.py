"""The bench for tests/test_lerobot_*.py: LeRobot's real SO-101 code over the fake servos and camera.

``use_fakes()`` swaps in the fake ``scservo_sdk`` and ``cv2.VideoCapture`` (and the documented
torchvision shim where torchvision is missing); ``lerobot_calibrate`` runs LeRobot's own calibration
(``lerobot-calibrate``'s code path: ``connect(calibrate=False)``, ``calibrate()``, ``disconnect()``)
with a scripted hand that moves the fake joints through the model's ranges, so the file liftrl
reads is written by LeRobot itself.
"""

from __future__ import annotations

import builtins
import json
import math
from pathlib import Path

from fakes import camera, feetech, use_shims

# Where the arm's encoders sit with every joint in the middle of its range: not 2048, so the homing
# offsets LeRobot computes are not zero (a sign or address error in the offsets would show).
MID_ACTUAL = (1700, 2400, 2150, 1900, 2048, 2250)


def use_fakes(spec: camera.CameraSpec | None = None):
    use_shims()
    feetech.install()
    camera.install(spec)


def model_spans_counts() -> list[int]:
    """Each motor's range in the model (encoder counts): what a careful hand sweeps at calibration."""
    from liftrl.deploy.pipeline import ArmModel

    r = ArmModel.build().joint_range
    return [int(round((hi - lo) * feetech.RESOLUTION / (2 * math.pi))) for lo, hi in r]


def lerobot_calibrate(port: str, robot_id: str, calibration_dir: Path) -> Path:
    """LeRobot's calibration of the arm plugged into ``port``, answered by a scripted user; returns the file."""
    import lerobot.motors.motors_bus as motors_bus
    from liftrl.deploy.so101 import import_so101_follower

    follower_cls, config_cls = import_so101_follower()
    arm = feetech.ARMS[port]
    spans = model_spans_counts()
    sweep = iter([[m - s / 2 for m, s in zip(MID_ACTUAL, spans)], [m + s / 2 for m, s in zip(MID_ACTUAL, spans)],
                  list(MID_ACTUAL)])

    def hand_then_enter() -> bool:  # record_ranges_of_motion polls this; the "hand" moves the joints meanwhile
        pose = next(sweep, None)
        if pose is not None:
            for i, servo in arm.servos.items():
                servo.actual = float(pose[i - 1])
        return pose is None

    def enter(prompt=""):  # "move to the middle of the range": the joints are put there
        for i, servo in arm.servos.items():
            servo.actual = float(MID_ACTUAL[i - 1])
        return ""

    saved = builtins.input, motors_bus.enter_pressed
    builtins.input, motors_bus.enter_pressed = enter, hand_then_enter
    try:
        device = follower_cls(config_cls(port=port, id=robot_id, calibration_dir=Path(calibration_dir)))
        device.connect(calibrate=False)
        try:
            device.calibrate()
        finally:
            device.disconnect()
    finally:
        builtins.input, motors_bus.enter_pressed = saved
    return Path(calibration_dir) / f"{robot_id}.json"


def load_registers(arm: feetech.FakeArm, calibration_file: Path) -> None:
    """The servos' EEPROM as a calibration left it (for a fresh process: no SDK write, nothing logged)."""
    data = json.loads(Path(calibration_file).read_text())
    for motor in data.values():
        servo = arm.servos[motor["id"]]
        servo.set("Homing_Offset", motor["homing_offset"])
        servo.set("Min_Position_Limit", motor["range_min"])
        servo.set("Max_Position_Limit", motor["range_max"])
        servo.set("Goal_Position", servo.present())
