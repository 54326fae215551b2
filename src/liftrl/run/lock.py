"""One writer per run folder: ``liftrl train`` and ``--resume`` hold ``RUN/writer.lock`` while they run.

Two ``liftrl train --resume RUN`` at once both exited 0, wrote a duplicate metrics row for every
step they overlapped, and left whichever snapshots finished last. Now the second is refused,
naming the holder (pid, host, start time, command).

The lock is an ``flock`` on the file, so the kernel drops it when the holder dies however it dies;
the file's JSON says who holds it. A file left by a process that is gone from this host (a
``kill -9``, a power cut) is taken over with a warning. A file written on another host is never
taken over automatically: this host cannot tell whether that run still goes, so the message says
to delete the file if it does not.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

LOCK_FILE = "writer.lock"


class RunLocked(FileExistsError):
    """Another process is writing this run; the message names it."""


def _proc_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc): tells a reused pid from the holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str
    command: str
    proc_start: str | None = None

    @classmethod
    def me(cls) -> "LockHolder":
        return cls(pid=os.getpid(), host=socket.gethostname(), started=datetime.now().isoformat(timespec="seconds"),
                   command=" ".join(sys.argv), proc_start=_proc_start(os.getpid()))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.started} ({self.command})"

    def running_here(self) -> bool:
        """Still running on this host (a reused pid with another start time does not count)."""
        if self.host != socket.gethostname() or not _alive(self.pid):
            return False
        return self.proc_start is None or _proc_start(self.pid) in (None, self.proc_start)


def _read_holder(fd: int) -> LockHolder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 1 << 16).decode("utf-8", "replace")
    try:
        data = json.loads(text)
        return LockHolder(**{k: data[k] for k in ("pid", "host", "started", "command")},
                          proc_start=data.get("proc_start"))
    except (ValueError, KeyError, TypeError):
        return None


class RunLock:
    """``with RunLock(run_dir):`` hold the run's writer lock for the block, or raise ``RunLocked``."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        for _ in range(3):  # the file can be replaced between open and flock: then lock the new one
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                who = holder.describe() if holder else "another process"
                raise RunLocked(f"{self.path.parent} is being written by {who}; a second writer would duplicate "
                                f"its metrics and overwrite its snapshots. Wait for it to stop (Ctrl-C stops it "
                                f"cleanly), then resume") from None
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                break
            os.close(fd)
        else:
            raise RunLocked(f"{self.path}: the lock file kept changing while taking it; is another writer starting?")
        try:
            self._take_over(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _take_over(self, fd: int) -> None:
        """The flock is ours: refuse a holder on another host, warn about a stale one, write our own record."""
        holder = _read_holder(fd)
        if holder is not None and holder.host != socket.gethostname():
            raise RunLocked(f"{self.path} was written by {holder.describe()}; this host cannot tell whether that "
                            f"run still goes. If it does not, delete {self.path} and resume again")
        if holder is not None and holder.running_here():
            raise RunLocked(f"{self.path.parent} is being written by {holder.describe()}")
        if holder is not None:
            warnings.warn(f"{self.path}: taking over a stale lock of {holder.describe()}, which is no longer "
                          f"running", stacklevel=4)
        record = json.dumps(asdict(LockHolder.me())) + "\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, record.encode())
        os.fsync(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            holder = _read_holder(self._fd)
            if holder is not None and holder.pid == os.getpid():
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def current_writer(run_dir: str | os.PathLike) -> LockHolder | None:
    """Who is writing ``run_dir`` now, or None: for readers (summaries, figures) to say that what they
    read may lack the rows still to come. Reads the lock file's record only (taking even a shared
    flock could make a writer starting at that moment fail); a holder on another host counts, since
    this host cannot tell that it stopped."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        holder = _read_holder(fd)
    finally:
        os.close(fd)
    if holder is None or (holder.host == socket.gethostname() and not holder.running_here()):
        return None
    return holder
