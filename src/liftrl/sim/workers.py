"""One environment worker process and every way it can fail, each reported by name.

A vector env talks to its workers over pipes. Without care, a worker killed by the OOM killer or a
``kill -9`` surfaces in the parent as a bare ``BrokenPipeError``, and a worker that is stopped
(``SIGSTOP``, a debugger, a swapped-out machine) makes the parent wait on ``recv`` forever. Here
every exchange has a timeout, and a worker that died or went silent raises ``WorkerFault`` whose
message says which worker, which envs, its pid, how it ended (exit code or signal) and what it
was doing; the vector env decides whether to restart it. An exception inside the env code is a
``WorkerError``: a restart would only repeat it.

Workers ignore SIGINT and SIGTERM: a Ctrl-C in a terminal reaches the whole process group, and the
trainer needs its workers alive to finish the step and save their env states before it stops.
They still end when the parent closes them, or when the parent dies (their pipe reaches EOF).
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from liftrl.sim.envblock import reset_block, step_block

# Spawning a worker imports MuJoCo and builds its envs (a few seconds on a busy CPU, with renderers
# more): the handshake gets this long whatever the per-command timeout is.
STARTUP_TIMEOUT_S = 300.0
_CLOSE_TIMEOUT_S = 5.0


class WorkerError(RuntimeError):
    """A worker failed in a way a restart cannot fix (an exception in env code, a failed start)."""


class WorkerFault(RuntimeError):
    """A worker died or did not answer in time; the message names it. It has been killed."""

    def __init__(self, message: str, worker: int):
        super().__init__(message)
        self.worker = worker


def _serve(conn, envs: list) -> None:
    while True:
        cmd, arg = conn.recv()
        if cmd == "reset":
            seeds, options = arg
            conn.send(("ok", reset_block(envs, seeds, options)))
        elif cmd == "step":
            conn.send(("ok", step_block(envs, arg)))
        elif cmd == "call":
            name, args, kwargs = arg
            conn.send(("ok", [getattr(env, name)(*args, **kwargs) if callable(getattr(env, name))
                              else getattr(env, name) for env in envs]))
        elif cmd == "call_each":
            name, per_env = arg
            conn.send(("ok", [getattr(env, name)(*a) for env, a in zip(envs, per_env)]))
        elif cmd == "close":
            for env in envs:
                env.close()
            conn.send(("ok", None))
            return
        else:
            conn.send(("error", f"unknown command {cmd!r}"))


def worker_main(conn, env_kwargs: dict, count: int) -> None:
    """The worker process: build ``count`` envs, then answer commands until ``close`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("MUJOCO_GL", "egl")
    # One render thread per worker: there are as many workers as cores, and Mesa's llvmpipe would
    # otherwise start a thread per core in every worker to split an 84x84 frame, oversubscribing
    # the machine (16 envs ran no faster than 1 on 2 cores).
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        from liftrl.sim.factory import build_env

        envs = [build_env(**env_kwargs) for _ in range(count)]
        conn.send(("ok", None))
    except Exception:  # report construction errors to the parent instead of dying silently
        conn.send(("error", traceback.format_exc()))
        return
    try:
        _serve(conn, envs)
    except EOFError:  # the parent is gone
        return
    except Exception:
        conn.send(("error", traceback.format_exc()))


@contextmanager
def _children_ignore_interrupts():
    """Start children with SIGINT/SIGTERM ignored from their first instruction (dispositions survive exec)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running but its pipe is closed"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


@dataclass
class WorkerHandle:
    """The parent's end of one worker: its pipe, its process and the envs it owns."""

    index: int
    first_env: int
    count: int
    conn: Any
    proc: Any

    def describe(self) -> str:
        envs = (f"env {self.first_env}" if self.count == 1
                else f"envs {self.first_env}-{self.first_env + self.count - 1}")
        return f"env worker {self.index} ({envs}, pid {self.proc.pid})"

    def send(self, cmd: str, arg: Any, doing: str) -> None:
        try:
            self.conn.send((cmd, arg))
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            raise self._died(doing) from None

    def receive(self, timeout: float, doing: str) -> Any:
        """The worker's reply; ``WorkerFault`` if it died or stayed silent for ``timeout`` s."""
        try:
            ready = self.conn.poll(timeout)
        except (EOFError, OSError):
            ready = True  # recv below reports the closed pipe
        if not ready:
            self.kill()
            raise WorkerFault(f"{self.describe()} did not answer within {timeout:g} s while {doing} "
                              f"(stopped or hung; it was killed)", self.index)
        try:
            status, payload = self.conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise self._died(doing) from None
        if status != "ok":
            raise WorkerError(f"{self.describe()} failed while {doing}:\n{payload}")
        return payload

    def _died(self, doing: str) -> WorkerFault:
        self.proc.join(timeout=2)
        self.kill()
        return WorkerFault(f"{self.describe()} died while {doing}: {how_it_ended(self.proc.exitcode)}", self.index)

    def kill(self) -> None:
        """SIGKILL: the one signal a stopped (SIGSTOP) or signal-ignoring worker still obeys."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=_CLOSE_TIMEOUT_S)

    def close(self, polite: bool = True) -> None:
        if polite and self.proc.is_alive():
            try:
                self.conn.send(("close", None))
                if self.conn.poll(_CLOSE_TIMEOUT_S):
                    self.conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            self.proc.join(timeout=_CLOSE_TIMEOUT_S)
        self.kill()
        self.conn.close()


def start_worker(ctx, index: int, first_env: int, count: int, env_kwargs: dict) -> WorkerHandle:
    """Spawn one worker owning envs ``first_env .. first_env + count - 1`` (its handshake is not awaited)."""
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=worker_main, args=(child, env_kwargs, count), daemon=True,
                       name=f"liftrl-env-worker-{index}")
    with _children_ignore_interrupts():
        proc.start()
    child.close()
    return WorkerHandle(index=index, first_env=first_env, count=count, conn=parent, proc=proc)
