"""First and last contact with the real SO-101: connect without calibrating, close without dropping the arm.

LeRobot's ``connect()`` calibrates by default when the servos' registers differ from the file (it
resets the position limits to 0..4095 and rewrites the homing offsets before asking anything), and
its ``disconnect()`` turns the torque off. Here:

- ``connect_follower`` refuses an arm without a calibration file, or whose servos hold other
  limits/offsets than the file (checked with LeRobot's own ``is_calibrated`` on a bus opened for the
  check only), naming the ``lerobot-calibrate`` command; it then connects with
  ``calibrate=False``. Nothing here writes a limit or an offset;
- every failure of the real path becomes an ``ArmFault`` whose message says what happened and the
  state the arm is left in; a half-made connection (the bus open, the camera refused) is closed
  part by part, because LeRobot's ``disconnect`` refuses a robot that is not fully connected;
- ``close_follower`` closes the port with the torque kept on, unless releasing was asked for;
  ``ask_release`` asks at the terminal (a flag answers for unattended runs).
"""

from __future__ import annotations

import signal
import threading
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator

from liftrl.deploy.calibration import CalibrationMissing, calibrate_command

TORQUE_KEPT = "the arm holds its pose with torque on (support it before switching the power off)"


class ArmFault(RuntimeError):
    """A failure on the real arm's path; the message ends with the state the arm is left in."""


def _motor_names(follower, error: Exception) -> str:
    """Which motors a LeRobot bus error is about, by the ids in its message (``id_=3``/``ids=[...]``)."""
    text = str(error)
    names = [f"{m} (id {motor.id})" for m, motor in follower.bus.motors.items()
             if f"id_={motor.id}" in text or f"id={motor.id}" in text]
    return ", ".join(names)


def describe_bus_error(follower, error: Exception) -> str:
    which = _motor_names(follower, error)
    return (f"the servo bus stopped answering ({type(error).__name__}: {str(error).strip()})"
            + (f"; motor {which}" if which else "") + ": check the 3-pin cables, the 12 V supply and the port")


def _open_bus_for_check(follower, port: str) -> bool:
    """Open the bus, ask LeRobot whether the servos hold the file's limits and offsets, close it unchanged."""
    bus = follower.bus
    try:
        bus.connect()
    except Exception as exc:  # LeRobot wraps a missing port in ConnectionError; a missing motor is RuntimeError
        raise ArmFault(f"could not open the arm on port {port!r}: {' '.join(str(exc).split())} (check --port); "
                       f"nothing was sent, the arm is as it was") from None
    try:
        return bool(bus.is_calibrated)
    except Exception as exc:
        raise ArmFault(f"{describe_bus_error(follower, exc)}; nothing was written, the torque was not "
                       f"changed") from None
    finally:
        try:
            bus.disconnect(disable_torque=False)
        except Exception:
            pass


def connect_follower(follower, robot_id: str, port: str, camera_text: str | None = None) -> None:
    """Connect LeRobot's follower without ever running its calibration; see the module docstring."""
    folder = follower.calibration_dir
    if not follower.calibration:
        raise CalibrationMissing(f"no LeRobot calibration for robot id {robot_id!r} in {folder}: calibrate the arm "
                                 f"with LeRobot first ({calibrate_command(robot_id, port, folder)})")
    if not _open_bus_for_check(follower, port):
        raise CalibrationMissing(
            f"the servos on {port} hold other position limits or homing offsets than {follower.calibration_fpath} "
            f"(another arm, or calibrated since): liftrl writes neither; recalibrate with LeRobot "
            f"({calibrate_command(robot_id, port, folder)}) and then run `liftrl bringup` again")
    try:
        follower.connect(calibrate=False)
    except Exception as exc:
        problems = close_follower(follower, release_torque=False)
        tail = "; ".join(["the servos were not moved and their torque was not changed"] + problems)
        if _raised_in_camera(exc):
            raise ArmFault(f"the wrist camera could not be used as {camera_text or 'configured'}: "
                           f"{str(exc).strip()} -- pick a mode the camera lists (v4l2-ctl --list-formats-ext) with "
                           f"--camera-width/--camera-height/--camera-fps/--camera-fourcc, or another --camera; "
                           f"{tail}") from None
        raise ArmFault(f"configuring the servos failed: {describe_bus_error(follower, exc)}; the torque may be off "
                       f"on some servos: support the arm") from None


def _raised_in_camera(exc: BaseException) -> bool:
    """Whether LeRobot's camera code raised it (the follower connects the bus, then cameras, then configures)."""
    return any("/cameras/" in frame.filename.replace("\\", "/") for frame in traceback.extract_tb(exc.__traceback__))


def close_follower(follower, release_torque: bool) -> list[str]:
    """Close cameras and bus part by part (each may be down); returns what could not be done, in words."""
    problems = []
    for name, cam in follower.cameras.items():
        try:
            if cam.is_connected or getattr(cam, "thread", None) is not None:
                cam.disconnect()
        except Exception as exc:
            problems.append(f"camera {name!r} did not close cleanly ({exc})")
    bus = follower.bus
    if bus.is_connected:
        try:
            bus.disconnect(disable_torque=release_torque)
        except Exception as exc:
            problems.append(f"could not {'release the torque' if release_torque else 'close the port'} ({exc})")
            try:
                bus.port_handler.closePort()
            except Exception:
                pass
    return problems


def silent_motors(follower) -> list[str]:
    """The motors that do not answer a position read now (after a failure: is it the bus?)."""
    silent = []
    for name in follower.bus.motors:
        try:
            follower.bus.read("Present_Position", name, normalize=False)
        except Exception:
            silent.append(name)
    return silent


def ask_release(ask: Callable[[str], str] = input, unattended: bool = False) -> bool:
    """True only if the user types ``release``; Enter, end of input, Ctrl-C or ``--unattended`` keep torque."""
    if unattended:
        return False
    try:
        answer = ask("Support the arm, then type 'release' and Enter to turn its torque off "
                     "(Enter keeps it holding): ")
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() == "release"


def finish(follower, release: bool) -> str:
    """Close the follower (releasing torque if asked) and say the state the arm is left in."""
    problems = close_follower(follower, release_torque=release)
    state = "torque released: the arm is limp" if release and not problems else TORQUE_KEPT
    return "; ".join([state] + problems)


@contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises ``KeyboardInterrupt`` while the real arm is driven, whatever this process inherited.

    A process started with SIGINT ignored (a background job of a script, or a parent that ignores it:
    Python then leaves it ignored) would otherwise run a whole episode through Ctrl-C. The loop's
    stop path (hold the pose, torque on) must always be reachable, so the default handler is set for
    the run and the inherited one put back after it.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
