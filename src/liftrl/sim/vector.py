"""N environments in a few worker processes, behind Gymnasium's ``VectorEnv`` API.

Gymnasium's ``AsyncVectorEnv`` runs one process per environment; with 16 envs on a 2-core
machine the processes mostly wait for each other and for the pipe. Here each worker owns a
contiguous block of environments and steps them in a loop, so there are as many processes as
cores and one message per worker per step. Every environment is still a complete
``LiftCubeEnv`` with its own model, IK scratch data, renderer and seed.

Workers start with ``spawn``: an EGL context does not survive ``fork``, and each worker creates
its renderers itself. Episodes auto-reset in the same step (Gymnasium's ``SAME_STEP`` mode):
the returned observation is the new episode's first, and the finished episode's last
observation and info are in ``infos["final_obs"]`` / ``infos["final_info"]`` (masks with a
leading underscore), which is what a replay buffer needs to store true next observations.

A worker that dies or does not answer within ``worker_timeout_s`` is killed and, up to
``max_worker_restarts`` times, started again (``liftrl.sim.workers`` names it and says how it
ended). Its envs restart from fresh episodes: in a ``step`` their rows hold the new episodes'
first observations with reward 0 and no episode end, and ``infos["worker_restarted"]`` marks them,
so a caller can drop the interrupted transition and episode; any other command is sent again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from liftrl.sim.envblock import block_seeds, concat_infos
from liftrl.sim.workers import STARTUP_TIMEOUT_S, WorkerError, WorkerFault, WorkerHandle, start_worker

DEFAULT_NUM_ENVS = 16
DEFAULT_WORKER_TIMEOUT_S = 120.0
# Restarted envs get seeds from here up, apart from training (seed * 10_000 + i) and evaluation (1e9 + i).
RESTART_SEED_BASE = 2_000_000_000
_RETRIES_PER_COMMAND = 3


class WorkerRestarted(RuntimeWarning):
    """A worker died or went silent and was restarted; its envs began fresh episodes."""


class LiftCubeVectorEnv(VectorEnv):
    """``num_envs`` independent LiftCube envs spread over ``num_workers`` spawn processes.

    ``env_kwargs`` go to ``liftrl.sim.factory.build_env``: an ``EnvOptions`` as ``options=``, or its
    fields as keywords (``control_hz`` / ``latency_ms`` step at the real arm's rate and latency).
    ``max_worker_restarts=None`` restarts without limit (a caller such as the trainer then keeps
    its own limit by reading ``restarts``); past the limit a fault is a ``WorkerError``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = DEFAULT_NUM_ENVS, num_workers: int | None = None, *,
                 worker_timeout_s: float = DEFAULT_WORKER_TIMEOUT_S, max_worker_restarts: int | None = 0,
                 **env_kwargs: Any):
        if not (isinstance(num_envs, int) and num_envs >= 1):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        workers = num_workers or min(num_envs, os.cpu_count() or 1)
        if not (isinstance(workers, int) and 1 <= workers <= num_envs):
            raise ValueError(f"num_workers must be in 1..num_envs ({num_envs}), got {num_workers!r}")
        if not worker_timeout_s > 0:
            raise ValueError(f"worker_timeout_s must be > 0 seconds, got {worker_timeout_s!r}")
        self.num_envs = num_envs
        self.worker_timeout_s = float(worker_timeout_s)
        self.max_worker_restarts = max_worker_restarts
        self.restarts = 0
        self.last_fault: str | None = None
        self.fault_time = 0.0  # time.monotonic() of last_fault
        self.vector_steps = 0
        self._env_kwargs = dict(env_kwargs)
        self._ctx = mp.get_context("spawn")
        base, extra = divmod(num_envs, workers)
        counts = [base + (1 if i < extra else 0) for i in range(workers)]
        firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        self._workers: list[WorkerHandle] = [start_worker(self._ctx, i, first, count, self._env_kwargs)
                                             for i, (first, count) in enumerate(zip(firsts, counts))]
        self._closed = False
        self._fresh: dict[int, tuple] = {}
        for w in self._workers:
            self._handshake(w)

        from liftrl.sim.factory import build_env  # spaces only; this env never steps in the parent

        probe = build_env(**env_kwargs)
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        probe.close()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._np_random_seed = None

    # ------------------------------------------------------------------ worker lifecycle
    def _handshake(self, w: WorkerHandle) -> None:
        try:
            w.receive(max(self.worker_timeout_s, STARTUP_TIMEOUT_S), "starting")
        except (WorkerFault, WorkerError) as exc:
            self.close(terminate=True)
            hint = ("; with the 'spawn' start method a script that builds a vector env must guard it with "
                    "`if __name__ == '__main__':`" if isinstance(exc, WorkerFault) else "")
            raise WorkerError(f"{exc}{hint}") from None

    def _restart(self, fault: WorkerFault) -> None:
        """Replace the faulty worker, or raise ``WorkerError`` past the restart limit."""
        old = self._workers[fault.worker]
        old.close(polite=False)
        limit = self.max_worker_restarts
        if limit is not None and self.restarts >= limit:
            self.close(terminate=True)
            raise WorkerError(f"{fault} (restart limit {limit} reached)")
        self.restarts += 1
        self.last_fault, self.fault_time = str(fault), time.monotonic()
        warnings.warn(f"{fault}; restarting it (restart {self.restarts}), its envs begin new episodes",
                      WorkerRestarted, stacklevel=3)
        new = start_worker(self._ctx, old.index, old.first_env, old.count, self._env_kwargs)
        self._workers[old.index] = new
        self._handshake(new)
        seeds = [RESTART_SEED_BASE + 1000 * self.restarts + old.first_env + i for i in range(old.count)]
        new.send("reset", (seeds, None), "resetting after a restart")
        self._fresh[old.index] = new.receive(self.worker_timeout_s, "resetting after a restart")

    def _exchange(self, cmd: str, parts: list, doing: str) -> list:
        """Send each worker its part and gather the replies; ``None`` for a worker that had to be restarted."""
        faults: dict[int, WorkerFault] = {}
        for w, part in zip(self._workers, parts):
            try:
                w.send(cmd, part, doing)
            except WorkerFault as fault:
                faults[w.index] = fault
        out = []
        for w in self._workers:
            if w.index in faults:
                out.append(None)
                continue
            try:
                out.append(w.receive(self.worker_timeout_s, doing))
            except WorkerFault as fault:
                faults[w.index] = fault
                out.append(None)
            except WorkerError:
                self.close(terminate=True)
                raise
        for fault in faults.values():
            self._restart(fault)
        return out

    def _exchange_all(self, cmd: str, parts: list, doing: str) -> list:
        """``_exchange`` where a restarted worker is asked again (reset, call): every reply arrives."""
        out = self._exchange(cmd, parts, doing)
        for _ in range(_RETRIES_PER_COMMAND):
            missing = [i for i, r in enumerate(out) if r is None]
            if not missing:
                return out
            for i in missing:
                w = self._workers[i]
                try:
                    w.send(cmd, parts[i], doing)
                    out[i] = w.receive(self.worker_timeout_s, doing)
                except WorkerFault as fault:
                    self._restart(fault)
        self.close(terminate=True)
        raise WorkerError(f"env workers {[i for i, r in enumerate(out) if r is None]} failed "
                          f"{_RETRIES_PER_COMMAND} times in a row while {doing}")

    @property
    def num_workers(self) -> int:
        return len(self._workers)

    def _split(self, items) -> list:
        return [items[w.first_env:w.first_env + w.count] for w in self._workers]

    # ------------------------------------------------------------------ the VectorEnv API
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = block_seeds(seed, self.num_envs)
        replies = self._exchange_all("reset", [(part, options) for part in self._split(seeds)], "resetting")
        self._fresh.clear()
        obs_parts, info_parts = zip(*replies)
        return self._concat(obs_parts), concat_infos(info_parts, self._counts)

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) + self.single_action_space.shape:
            raise ValueError(
                f"actions must have shape {(self.num_envs,) + self.single_action_space.shape}, got {actions.shape}"
            )
        self.vector_steps += 1
        replies = self._exchange("step", self._split(actions), f"vector step {self.vector_steps}")
        restarted = np.zeros(self.num_envs, dtype=bool)
        for n, (w, reply) in enumerate(zip(self._workers, replies)):
            if reply is None:  # restarted: its envs' new episodes, nothing ended
                obs, infos = self._fresh.pop(w.index)
                replies[n] = (obs, np.zeros(w.count), np.zeros(w.count, bool), np.zeros(w.count, bool), infos)
                restarted[w.first_env:w.first_env + w.count] = True
        obs, rews, terms, truncs, infos = zip(*replies)
        infos = concat_infos(infos, self._counts)
        if restarted.any():
            infos["worker_restarted"] = restarted
        return (self._concat(obs), np.concatenate(rews), np.concatenate(terms), np.concatenate(truncs), infos)

    def call(self, name: str, *args, **kwargs) -> tuple:
        replies = self._exchange_all("call", [(name, args, kwargs)] * len(self._workers), f"calling {name}")
        return tuple(x for reply in replies for x in reply)

    def call_each(self, name: str, per_env_args: list[tuple]) -> tuple:
        """Call ``name`` on every env with its own arguments (e.g. ``set_state`` on resume)."""
        if len(per_env_args) != self.num_envs:
            raise ValueError(f"got {len(per_env_args)} argument tuples for {self.num_envs} environments")
        replies = self._exchange_all("call_each", [(name, part) for part in self._split(list(per_env_args))],
                                     f"calling {name}")
        return tuple(x for reply in replies for x in reply)

    @property
    def _counts(self) -> list[int]:
        return [w.count for w in self._workers]

    @staticmethod
    def _concat(parts) -> dict[str, np.ndarray]:
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def close(self, terminate: bool = False, **kwargs):
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for w in self._workers:
            w.close(polite=not terminate)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def make_vector_env(num_envs: int = DEFAULT_NUM_ENVS, num_workers: int | None = None, *,
                    worker_timeout_s: float = DEFAULT_WORKER_TIMEOUT_S, max_worker_restarts: int | None = 0,
                    **env_kwargs) -> VectorEnv:
    """The vector env for ``num_workers``: 0 steps the envs in this process, None picks the faster path.

    The choice (``liftrl.sim.inprocess.choose_workers``) and why are in the env's ``placement``.
    ``worker_timeout_s`` and ``max_worker_restarts`` apply to worker processes only: envs in this
    process fail with it.
    """
    from liftrl.sim.options import resolve_options
    from liftrl.sim.inprocess import InProcessVectorEnv, choose_workers

    values = {k: v for k, v in env_kwargs.items() if k not in ("options", "render_mode")}
    observations = resolve_options(env_kwargs.get("options"), values).observations
    workers, why = choose_workers(num_envs, observations, num_workers)
    env = (InProcessVectorEnv(num_envs, **env_kwargs) if workers == 0
           else LiftCubeVectorEnv(num_envs=num_envs, num_workers=workers, worker_timeout_s=worker_timeout_s,
                                  max_worker_restarts=max_worker_restarts, **env_kwargs))
    env.placement = why
    return env


__all__ = ["LiftCubeVectorEnv", "make_vector_env", "WorkerError", "WorkerRestarted", "DEFAULT_NUM_ENVS", "gym"]
