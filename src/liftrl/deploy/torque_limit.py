"""A lowered torque limit on every servo for the first contact with an arm (``liftrl bringup``).

A bring-up moves an arm whose calibration and joint directions are not yet checked: a wrong sign
or a zero several degrees off can drive a link into the table, the base or the user's hand. The
STS3215's ``Torque_Limit`` register (RAM, 0-1000 = 0-100% of its stall torque) caps what it
pushes with, so a blocked move stalls softly instead of pushing at full strength. It is RAM: a
power cycle restores the value the servo loads from its EEPROM ``Max_Torque_Limit`` (LeRobot sets
the gripper's to 50%), so nothing here can leave a lasting change behind.

Only a LeRobot follower with a Feetech bus (``follower.bus``) has the register; the simulated
follower has none, and the limit is then reported as not applied. Values are raw register units,
read and written with ``normalize=False``; a servo already below the limit keeps its own value.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

REGISTER = "Torque_Limit"
FULL_SCALE = 1000  # the register's 100%
MIN_FRACTION = 0.1  # below this a servo cannot even hold the arm's own links


class TorqueLimitError(RuntimeError):
    """The limit could not be read or written; the message names the servo and says what was left."""


def check_fraction(fraction: float) -> float:
    """``fraction`` of full torque if it is in [MIN_FRACTION, 1]; a ValueError naming the option if not."""
    if not (isinstance(fraction, (int, float)) and MIN_FRACTION <= fraction <= 1.0):
        raise ValueError(f"--torque-limit must be a fraction of full torque in [{MIN_FRACTION:g}, 1], got {fraction!r}")
    return float(fraction)


def _restore(bus: Any, before: dict[str, int]) -> list[str]:
    problems = []
    for motor, value in before.items():
        try:
            bus.write(REGISTER, motor, value, normalize=False)
        except Exception as exc:  # the bus: LeRobot raises ConnectionError/RuntimeError naming the motor
            problems.append(f"{motor} ({type(exc).__name__}: {str(exc).strip()})")
    return problems


def _lower(bus: Any, motors: Sequence[str], limit: int) -> dict[str, int]:
    """Read every servo's limit, then lower each; a failure (or Ctrl-C) puts back every servo a write was
    sent to, the one that failed included (it may have applied a write whose reply was lost), and raises."""
    before: dict[str, int] = {}
    sent: dict[str, int] = {}
    try:
        for motor in motors:
            before[motor] = int(bus.read(REGISTER, motor, normalize=False))
        for motor in motors:
            sent[motor] = before[motor]
            bus.write(REGISTER, motor, min(before[motor], limit), normalize=False)
    except BaseException as exc:  # the bus: LeRobot raises ConnectionError/RuntimeError naming the motor
        left = _restore(bus, sent)
        tail = f"; could not restore {'; '.join(left)}: power-cycle the arm to reset them" if left else ""
        if not isinstance(exc, Exception):  # Ctrl-C: the limits are back; let it through
            raise
        raise TorqueLimitError(f"could not lower the torque limit of {motor} ({type(exc).__name__}: "
                               f"{str(exc).strip()}); nothing was moved{tail}") from None
    return before


@dataclass
class TorqueLimit:
    """What ``lowered_torque`` did: whether the limit applied, and the servos it could not restore
    (filled in when the block ends; the caller reports them as a failure)."""

    applied: bool = False
    unrestored: list[str] = field(default_factory=list)


@contextmanager
def lowered_torque(follower: Any, motors: Sequence[str], fraction: float,
                   say: Callable[[str], None] = print) -> Iterator[TorqueLimit]:
    """Within the block every servo of ``follower.bus`` pushes with at most ``fraction`` of its torque.

    On leaving (also on an error or Ctrl-C) each servo gets back the value it had; the caller must
    first make the arm hold where it is, so that no servo still pushing toward an unreached goal gets
    its full torque back. A servo that cannot be restored is listed in ``unrestored``."""
    state = TorqueLimit()
    bus = getattr(follower, "bus", None)
    if bus is None:
        say("torque limit: this follower has no servo bus (a simulation): not lowered")
        yield state
        return
    limit = int(round(FULL_SCALE * check_fraction(fraction)))
    before = _lower(bus, motors, limit)
    state.applied = True
    say(f"torque limit: every servo at most {100 * limit / FULL_SCALE:.0f}% of full torque until the bring-up ends "
        f"(--torque-limit; a blocked move stalls softly)")
    try:
        yield state
    finally:
        state.unrestored = _restore(bus, before)
