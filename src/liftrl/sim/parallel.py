"""Whole episodes spread over worker processes, with the results one process would give, in task order.

Why: an episode of the dry run, ``liftrl eval`` or ``liftrl stress`` is seconds of CPU (physics,
rendering, a policy) and episodes are independent, so they scale with the cores; what must not
change is *what* they compute. So the contract is:

- ``make_job`` is a picklable callable of no arguments (a module-level class or function, or a
  ``functools.partial`` of one) that builds what a worker needs (its own env, its own copy of the
  policy, loaded from disk) and returns ``job(task) -> result``. It is called once in each worker
  process, or once here when ``workers == 1`` (then it may hold objects that do not pickle).
  A job with a ``close()`` has it called when the serial run ends (worker processes just exit).
- ``job(task)`` depends only on ``task`` (it resets its env from the task's seed), never on which
  tasks the worker ran before; then the parallel results equal the serial ones, episode by episode.
- tasks and results are picklable; a task's ``str()`` names it in messages (an ``int`` reads as a seed).

Workers start with ``spawn`` (an EGL context does not survive ``fork``) and ignore SIGINT (Ctrl-C is
the caller's). An exception raised by a job, or by ``make_job`` in a worker, is raised here as it
was: a restart would only repeat it. A pool that loses a worker, or in which no episode finishes
within ``timeout_s`` (a stopped or hung worker: its processes are killed), is replaced and the
tasks not yet done run again (deterministic, so with the same results), at most ``max_restarts``
times, each time with a warning; past that, ``WorkerError``.

Example (the dry run's and ``liftrl eval``'s use)::

    results = run_episodes_parallel(functools.partial(MyJob, bundle_path), seeds, workers=4,
                                    progress=lambda i, r: bar.update())
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

from liftrl.sim.workers import STARTUP_TIMEOUT_S, WorkerError

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, Any], None]

_TODO = object()  # a slot of the results not filled yet (a job may legitimately return None)
_WORKER: dict[str, Any] = {}


def default_workers(tasks: int | None = None) -> int:
    """One worker per core this process may run on, at most one per task."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, tasks) if tasks else cores)


def describe(task: Any) -> str:
    return f"seed {task}" if isinstance(task, int) else str(task)


def run_episodes_parallel(make_job: Callable[[], Callable[[T], R]], tasks: Sequence[T], workers: int,
                          progress: Progress | None = None, *, timeout_s: float = 120.0, max_restarts: int = 3,
                          who: str = "episode") -> list[R]:
    """``job(task)`` for every task, over ``workers`` spawn processes (``1``: here); results in task order.

    ``progress(i, result)`` is called here as each task ``i`` finishes (in finishing order), e.g. to
    move a progress bar; ``who`` names the workers in warnings ("an evaluation worker died").
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    tasks = list(tasks)
    results: list[Any] = [_TODO] * len(tasks)
    if not tasks:
        return []
    if min(workers, len(tasks)) == 1:
        _serial(make_job, tasks, results, progress)
    else:
        _pooled(make_job, tasks, min(workers, len(tasks)), results, progress, timeout_s, max_restarts, who)
    return results


def _serial(make_job, tasks: list, results: list, progress: Progress | None) -> None:
    job = make_job()
    try:
        for i, task in enumerate(tasks):
            results[i] = job(task)
            if progress is not None:
                progress(i, results[i])
    finally:
        close = getattr(job, "close", None)
        if callable(close):
            close()


# ---------------------------------------------------------------------------------- in a worker
def _init_worker(make_job) -> None:
    import signal

    os.environ.setdefault("MUJOCO_GL", "egl")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a worker killed by Ctrl-C would look like a crash
    try:
        _WORKER["job"] = make_job()
    except Exception as exc:  # raised with each task, so the caller sees it instead of a broken pool
        _WORKER["error"] = exc


def _run_task(task):
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _WORKER["job"](task)


# ---------------------------------------------------------------------------------- the pool
class _PoolHung(RuntimeError):
    """No episode finished in time: a worker is stopped or hung, and the pool's workers were killed."""


def _pooled(make_job, tasks: list, workers: int, results: list, progress: Progress | None, timeout_s: float,
            max_restarts: int, who: str) -> None:
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    restarts = 0
    while any(r is _TODO for r in results):
        # spawn: an EGL context does not survive fork (as in liftrl.sim.vector).
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(make_job,))
        try:
            _gather(pool, tasks, results, progress, timeout_s, who)
        except KeyboardInterrupt:  # the episodes in flight finish, the others are dropped
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        except (BrokenProcessPool, _PoolHung) as exc:
            lost = next(i for i, r in enumerate(results) if r is _TODO)
            what = (f"episode {lost + 1} ({describe(tasks[lost])}) "
                    + (str(exc) if isinstance(exc, _PoolHung) else f"was unfinished when an {who} worker died"))
            if restarts >= max_restarts:
                raise WorkerError(f"{what}; workers were replaced {restarts} times already "
                                  f"(env.max_worker_restarts={max_restarts})") from None
            restarts += 1
            warnings.warn(f"{what}; starting new workers for the {sum(r is _TODO for r in results)} episodes "
                          f"not done (restart {restarts})", stacklevel=3)
        finally:
            _close_pool(pool, timeout_s)


def _gather(pool, tasks: list, results: list, progress: Progress | None, timeout_s: float, who: str) -> None:
    """Submit the tasks not done and fill ``results`` as they finish; kill the pool when none finishes in time."""
    todo = [i for i, r in enumerate(results) if r is _TODO]
    index = {pool.submit(_run_task, tasks[i]): i for i in todo}
    pending = set(index)
    first = True
    while pending:
        # The first result also waits for the workers to start (torch, MuJoCo, the policy).
        wait_s = max(timeout_s, STARTUP_TIMEOUT_S) if first else timeout_s
        done, pending = wait(pending, timeout=wait_s, return_when=FIRST_COMPLETED)
        if not done:
            _kill(pool)
            raise _PoolHung(f"did not finish within {wait_s:g} s (env.worker_timeout_s): an {who} worker "
                            f"is stopped or hung, and the workers were killed")
        first = False
        for future in sorted(done, key=index.__getitem__):
            i = index[future]
            results[i] = future.result()  # a job's own exception is raised here, as it was
            if progress is not None:
                progress(i, results[i])


def _kill(pool) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()


def _close_pool(pool, timeout_s: float) -> None:
    """Shut the pool down without waiting forever on a stopped worker: one still there is killed."""
    import time

    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + min(timeout_s, 30.0)
    for process in processes:
        process.join(timeout=max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
