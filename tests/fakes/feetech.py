"""A register-level stand-in for ``scservo_sdk`` (Feetech's Python SDK): six STS3215 servos on a fake port.

Test-only. LeRobot's ``FeetechMotorsBus`` imports ``scservo_sdk`` and talks to it through
``PortHandler``, ``PacketHandler``, ``GroupSyncRead`` and ``GroupSyncWrite``; ``install()`` puts
this module in ``sys.modules`` under that name, so everything above it (the bus, its unit
conversion, the SO-101 follower, liftrl) is the real code.

Each servo is a control table of bytes at the STS3215's documented addresses (not LeRobot's table:
a wrong address in either shows up as a wrong reading), little-endian words, sign-magnitude where
the servo uses it. The servo's own behaviour:

- ``Present_Position = actual - Homing_Offset`` (12-bit, wraps), as Feetech documents;
- with torque on, the actual position moves toward ``Goal_Position + Homing_Offset`` at a finite
  speed (``SPEED_COUNTS_S``, about the STS3215's no-load speed), the goal clamped into
  ``Min_Position_Limit .. Max_Position_Limit``; with torque off it stays where the hand puts it;
- turning torque on copies the present position into the goal (the servo holds where it is);
- a servo told to ``stop_answering`` times out on every packet from then on (a loose cable).

Every register write is recorded per servo, so a test can show that nothing wrote the position
limits or the homing offset.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from dataclasses import dataclass, field

import serial

# ---------------------------------------------------------------------------------------------- SDK constants
BROADCAST_ID = 0xFE
MAX_ID = 0xFC
COMM_SUCCESS = 0
COMM_PORT_BUSY = -1
COMM_TX_FAIL = -2
COMM_RX_FAIL = -3
COMM_RX_TIMEOUT = -6
COMM_RX_CORRUPT = -7
COMM_NOT_AVAILABLE = -9
PKT_ID, PKT_LENGTH, PKT_INSTRUCTION, PKT_ERROR = 2, 3, 4, 4
INST_PING = 1

# ---------------------------------------------------------------------------------------------- STS3215 table
MODEL_NUMBER = 777
ADDR = {  # name: (address, bytes, sign bit or None) -- Feetech STS/SMS memory table
    "Firmware_Major_Version": (0, 1, None), "Firmware_Minor_Version": (1, 1, None), "Model_Number": (3, 2, None),
    "ID": (5, 1, None), "Min_Position_Limit": (9, 2, None), "Max_Position_Limit": (11, 2, None),
    "Homing_Offset": (31, 2, 11), "Operating_Mode": (33, 1, None), "Torque_Enable": (40, 1, None),
    "Goal_Position": (42, 2, 15), "Lock": (55, 1, None), "Present_Position": (56, 2, 15),
    "Max_Torque_Limit": (16, 2, None), "Torque_Limit": (48, 2, None),
}
CALIBRATION_REGISTERS = ("Min_Position_Limit", "Max_Position_Limit", "Homing_Offset")
SPEED_COUNTS_S = 3000.0  # ~264 deg/s: the STS3215 at 12 V, no load (0.22 s per 60 deg)
RESOLUTION = 4096


def SCS_LOBYTE(w):  # noqa: N802 - the SDK's names
    return w & 0xFF


def SCS_HIBYTE(w):  # noqa: N802
    return (w >> 8) & 0xFF


def SCS_LOWORD(v):  # noqa: N802
    return v & 0xFFFF


def SCS_HIWORD(v):  # noqa: N802
    return (v >> 16) & 0xFFFF


def SCS_MAKEWORD(a, b):  # noqa: N802
    return (a & 0xFF) | ((b & 0xFF) << 8)


def _to_sign_magnitude(value: int, bit: int) -> int:
    return (abs(value) | (1 << bit)) if value < 0 else value


def _from_sign_magnitude(raw: int, bit: int) -> int:
    magnitude = raw & ((1 << bit) - 1)
    return -magnitude if raw & (1 << bit) else magnitude


@dataclass
class Servo:
    """One STS3215: its control table, its actual shaft position (counts, 0..4095) and its write log."""

    id: int
    actual: float = 2048.0
    answering: bool = True
    stuck: bool = False  # a blocked joint: the shaft does not move whatever the goal
    regs: bytearray = field(default_factory=lambda: bytearray(128))
    writes: list = field(default_factory=list)  # (register name or address, value) in order
    last_t: float = field(default_factory=time.monotonic)

    def __post_init__(self):
        self.set("Firmware_Major_Version", 3)
        self.set("Firmware_Minor_Version", 10)
        self.set("Model_Number", MODEL_NUMBER)
        self.set("ID", self.id)
        self.set("Max_Position_Limit", RESOLUTION - 1)
        self.set("Max_Torque_Limit", 1000)
        self.set("Torque_Limit", 1000)  # at power-up the servo loads it from Max_Torque_Limit
        self.set("Goal_Position", self.present())

    # registers by name (the servo's own view, decoded)
    def get(self, name: str) -> int:
        addr, n, bit = ADDR[name]
        raw = int.from_bytes(self.regs[addr:addr + n], "little")
        return raw if bit is None else _from_sign_magnitude(raw, bit)

    def set(self, name: str, value: int) -> None:
        addr, n, bit = ADDR[name]
        raw = value if bit is None else _to_sign_magnitude(int(value), bit)
        self.regs[addr:addr + n] = int(raw).to_bytes(n, "little")

    def present(self) -> int:
        return int(round(self.actual - self.get("Homing_Offset"))) % RESOLUTION

    def advance(self, now: float) -> None:
        """Move toward the clamped goal at the servo's speed for the time since the last packet."""
        dt, self.last_t = max(0.0, now - self.last_t), now
        if not self.get("Torque_Enable") or self.stuck:
            return
        lo, hi = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        goal = min(max(self.get("Goal_Position"), lo), hi) if hi > lo else self.get("Goal_Position")
        target = goal + self.get("Homing_Offset")
        step = SPEED_COUNTS_S * dt
        self.actual = target if abs(target - self.actual) <= step else self.actual + step * (1 if target > self.actual else -1)

    # the packet layer: what a read or write at an address does
    def read_bytes(self, addr: int, n: int) -> list[int]:
        self.advance(time.monotonic())
        self.set("Present_Position", self.present())
        return list(self.regs[addr:addr + n])

    def write_bytes(self, addr: int, data: list[int]) -> None:
        self.advance(time.monotonic())
        name = next((k for k, (a, n, _) in ADDR.items() if a == addr and n == len(data)), addr)
        torque_was = self.get("Torque_Enable")
        self.regs[addr:addr + len(data)] = bytes(data)
        self.writes.append((name, self.get(name) if isinstance(name, str) else list(data)))
        if name == "Torque_Enable" and self.get("Torque_Enable") and not torque_was:
            self.set("Goal_Position", self.present())  # torque on: hold where it is


class FakeArm:
    """Six servos on one port; ``written(...)`` lists what was written where."""

    def __init__(self, port: str, actual: list[float] | None = None):
        self.port = port
        self.lock = threading.Lock()
        self.servos = {i: Servo(i, float(actual[i - 1]) if actual else 2048.0) for i in range(1, 7)}
        self.sync_reads = 0
        self.fail_after_reads: tuple[int, int] | None = None  # (servo id, sync reads of Present_Position)
        self.mark: tuple[str, int] | None = None  # (file to create, at this many position sync reads)

    def stop_answering(self, servo_id: int, after_reads: int = 0) -> None:
        """Servo ``servo_id`` times out once this many more position sync reads have happened."""
        self.fail_after_reads = (servo_id, self.sync_reads + after_reads)

    def _check_faults(self) -> None:
        if self.fail_after_reads and self.sync_reads >= self.fail_after_reads[1]:
            self.servos[self.fail_after_reads[0]].answering = False
        if self.mark and self.sync_reads >= self.mark[1]:
            open(self.mark[0], "w").close()
            self.mark = None

    def written(self, names=CALIBRATION_REGISTERS) -> dict[int, list]:
        return {i: [w for w in s.writes if w[0] in names] for i, s in self.servos.items()
                if any(w[0] in names for w in s.writes)}

    def torque(self) -> dict[int, int]:
        return {i: s.get("Torque_Enable") for i, s in self.servos.items()}

    def present(self) -> dict[int, int]:
        return {i: s.present() for i, s in self.servos.items()}


ARMS: dict[str, FakeArm] = {}  # port name -> arm plugged into it


def plug(port: str, actual: list[float] | None = None) -> FakeArm:
    ARMS[port] = FakeArm(port, actual)
    return ARMS[port]


# ---------------------------------------------------------------------------------------------- the SDK's classes
class PortHandler:
    def __init__(self, port_name: str):
        self.port_name = port_name
        self.is_open = False
        self.is_using = False
        self.baudrate = 1_000_000
        self.packet_timeout = 0.0

    def openPort(self):  # noqa: N802
        if self.port_name not in ARMS:  # what pyserial says for a missing device
            raise serial.SerialException(f"[Errno 2] could not open port {self.port_name}: "
                                         f"[Errno 2] No such file or directory: '{self.port_name}'")
        self.is_open = True
        return True

    def closePort(self):  # noqa: N802
        self.is_open = False

    def clearPort(self):  # noqa: N802
        pass

    def getBaudRate(self):  # noqa: N802
        return self.baudrate

    def setBaudRate(self, baudrate):  # noqa: N802
        self.baudrate = baudrate
        return True

    def getCurrentTime(self):  # noqa: N802
        return time.monotonic() * 1000.0

    def setPacketTimeoutMillis(self, msec):  # noqa: N802
        self.packet_timeout = msec

    @property
    def tx_time_per_byte(self):
        return 10000.0 / self.baudrate

    @property
    def arm(self) -> FakeArm:
        return ARMS[self.port_name]


class PacketHandler:
    def __init__(self, protocol_end=0):
        self.protocol_end = protocol_end

    @staticmethod
    def _servo(port: PortHandler, scs_id: int) -> Servo | None:
        arm = port.arm
        servo = arm.servos.get(scs_id)
        return servo if servo is not None and servo.answering else None

    def getTxRxResult(self, result):  # noqa: N802
        return {COMM_SUCCESS: "[TxRxResult] Communication success!",
                COMM_RX_TIMEOUT: "[TxRxResult] There is no status packet!",
                COMM_PORT_BUSY: "[TxRxResult] Port is in use!"}.get(result, "")

    def getRxPacketError(self, error):  # noqa: N802
        return "" if not error else f"[RxPacketError] error bits {error:#x}"

    def ping(self, port, scs_id):
        with port.arm.lock:
            servo = self._servo(port, scs_id)
            return (0, COMM_RX_TIMEOUT, 0) if servo is None else (servo.get("Model_Number"), COMM_SUCCESS, 0)

    def _read(self, port, scs_id, address, n):
        with port.arm.lock:
            servo = self._servo(port, scs_id)
            if servo is None:
                return 0, COMM_RX_TIMEOUT, 0
            data = servo.read_bytes(address, n)
        return int.from_bytes(bytes(data), "little"), COMM_SUCCESS, 0

    def read1ByteTxRx(self, port, scs_id, address):  # noqa: N802
        return self._read(port, scs_id, address, 1)

    def read2ByteTxRx(self, port, scs_id, address):  # noqa: N802
        return self._read(port, scs_id, address, 2)

    def read4ByteTxRx(self, port, scs_id, address):  # noqa: N802
        return self._read(port, scs_id, address, 4)

    def writeTxRx(self, port, scs_id, address, length, data):  # noqa: N802
        with port.arm.lock:
            servo = self._servo(port, scs_id)
            if servo is None:
                return COMM_RX_TIMEOUT, 0
            servo.write_bytes(address, list(data[:length]))
        return COMM_SUCCESS, 0

    def txPacket(self, port, txpacket):  # noqa: N802 - broadcast ping is not modelled
        return COMM_TX_FAIL


class GroupSyncRead:
    def __init__(self, port, ph, start_address, data_length):
        self.port, self.ph = port, ph
        self.start_address, self.data_length = start_address, data_length
        self.data_dict: dict[int, list[int]] = {}

    def clearParam(self):  # noqa: N802
        self.data_dict.clear()

    def addParam(self, scs_id):  # noqa: N802
        if scs_id in self.data_dict:
            return False
        self.data_dict[scs_id] = []
        return True

    def txRxPacket(self):  # noqa: N802
        if not self.data_dict:
            return COMM_NOT_AVAILABLE
        arm = self.port.arm
        with arm.lock:
            if self.start_address == ADDR["Present_Position"][0]:
                arm.sync_reads += 1
                arm._check_faults()
            for scs_id in self.data_dict:
                servo = PacketHandler._servo(self.port, scs_id)
                if servo is None:
                    return COMM_RX_TIMEOUT
                self.data_dict[scs_id] = servo.read_bytes(self.start_address, self.data_length)
        return COMM_SUCCESS

    def getData(self, scs_id, address, data_length):  # noqa: N802
        data = self.data_dict.get(scs_id) or []
        offset = address - self.start_address
        if offset < 0 or offset + data_length > len(data):
            return 0
        return int.from_bytes(bytes(data[offset:offset + data_length]), "little")


class GroupSyncWrite:
    """A sync write has no status packet: a servo that does not answer just misses it."""

    def __init__(self, port, ph, start_address, data_length):
        self.port, self.ph = port, ph
        self.start_address, self.data_length = start_address, data_length
        self.data_dict: dict[int, list[int]] = {}

    def clearParam(self):  # noqa: N802
        self.data_dict.clear()

    def addParam(self, scs_id, data):  # noqa: N802
        self.data_dict[scs_id] = list(data)
        return True

    def txPacket(self):  # noqa: N802
        arm = self.port.arm
        with arm.lock:
            for scs_id, data in self.data_dict.items():
                servo = PacketHandler._servo(self.port, scs_id)
                if servo is not None:
                    servo.write_bytes(self.start_address, data[:self.data_length])
        return COMM_SUCCESS


def install() -> types.ModuleType:
    """Make ``import scservo_sdk`` return this module (LeRobot imports it inside its methods)."""
    module = sys.modules[__name__]
    sys.modules["scservo_sdk"] = module
    return module
