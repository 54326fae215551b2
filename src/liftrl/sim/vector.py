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
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from liftrl.sim.envblock import concat_infos, reset_block, step_block

DEFAULT_NUM_ENVS = 16


def _worker(conn, env_kwargs: dict, count: int) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    # One render thread per worker: there are as many workers as cores, and Mesa's llvmpipe would
    # otherwise start a thread per core in every worker to split an 84x84 frame, oversubscribing
    # the machine (16 envs ran no faster than 1 on 2 cores).
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        from liftrl.sim.latency import make_env

        envs = [make_env(**env_kwargs) for _ in range(count)]
        conn.send(("ok", None))
    except Exception:  # report construction errors to the parent instead of dying silently
        conn.send(("error", traceback.format_exc()))
        return
    try:
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
    except (EOFError, KeyboardInterrupt):
        return
    except Exception:
        conn.send(("error", traceback.format_exc()))


class WorkerError(RuntimeError):
    pass


class LiftCubeVectorEnv(VectorEnv):
    """``num_envs`` independent LiftCube envs spread over ``num_workers`` spawn processes.

    ``env_kwargs`` go to ``liftrl.sim.latency.make_env``: an ``EnvOptions`` as ``options=``, or its
    fields as keywords (``control_hz`` / ``latency_ms`` step at the real arm's rate and latency).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = DEFAULT_NUM_ENVS, num_workers: int | None = None, **env_kwargs: Any):
        if not (isinstance(num_envs, int) and num_envs >= 1):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        workers = num_workers or min(num_envs, os.cpu_count() or 1)
        if not (isinstance(workers, int) and 1 <= workers <= num_envs):
            raise ValueError(f"num_workers must be in 1..num_envs ({num_envs}), got {num_workers!r}")
        self.num_envs = num_envs
        base, extra = divmod(num_envs, workers)
        self._counts = [base + (1 if i < extra else 0) for i in range(workers)]
        ctx = mp.get_context("spawn")
        self._conns, self._procs = [], []
        for count in self._counts:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_kwargs, count), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._closed = False
        for conn in self._conns:
            self._receive(conn)

        from liftrl.sim.latency import make_env  # spaces only; this env never steps in the parent

        probe = make_env(**env_kwargs)
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        probe.close()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._np_random_seed = None

    def _receive(self, conn):
        try:
            status, payload = conn.recv()
        except (EOFError, ConnectionResetError):
            proc = self._procs[self._conns.index(conn)]
            proc.join(timeout=1)
            self.close(terminate=True)
            raise WorkerError(
                f"environment worker exited without replying (exit code {proc.exitcode}); with the 'spawn' "
                "start method a script that builds a vector env must guard it with `if __name__ == '__main__':`"
            ) from None
        if status != "ok":
            self.close(terminate=True)
            raise WorkerError(f"environment worker failed:\n{payload}")
        return payload

    def _split(self, items):
        out, start = [], 0
        for count in self._counts:
            out.append(items[start:start + count])
            start += count
        return out

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for conn, part in zip(self._conns, self._split(seeds)):
            conn.send(("reset", (part, options)))
        obs_parts, info_parts = zip(*(self._receive(conn) for conn in self._conns))
        return self._concat(obs_parts), concat_infos(info_parts, self._counts)

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) + self.single_action_space.shape:
            raise ValueError(
                f"actions must have shape {(self.num_envs,) + self.single_action_space.shape}, got {actions.shape}"
            )
        for conn, part in zip(self._conns, self._split(actions)):
            conn.send(("step", part))
        obs, rews, terms, truncs, infos = zip(*(self._receive(conn) for conn in self._conns))
        return (self._concat(obs), np.concatenate(rews), np.concatenate(terms), np.concatenate(truncs),
                concat_infos(infos, self._counts))

    def call(self, name: str, *args, **kwargs) -> tuple:
        for conn in self._conns:
            conn.send(("call", (name, args, kwargs)))
        out: list = []
        for conn in self._conns:
            out.extend(self._receive(conn))
        return tuple(out)

    def call_each(self, name: str, per_env_args: list[tuple]) -> tuple:
        """Call ``name`` on every env with its own arguments (e.g. ``set_state`` on resume)."""
        if len(per_env_args) != self.num_envs:
            raise ValueError(f"got {len(per_env_args)} argument tuples for {self.num_envs} environments")
        for conn, part in zip(self._conns, self._split(list(per_env_args))):
            conn.send(("call_each", (name, part)))
        out: list = []
        for conn in self._conns:
            out.extend(self._receive(conn))
        return tuple(out)

    @staticmethod
    def _concat(parts) -> dict[str, np.ndarray]:
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def close(self, terminate: bool = False, **kwargs):
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for conn, proc in zip(self._conns, self._procs):
            try:
                if not terminate and proc.is_alive():
                    conn.send(("close", None))
                    conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
            conn.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def make_vector_env(num_envs: int = DEFAULT_NUM_ENVS, num_workers: int | None = None, **env_kwargs) -> VectorEnv:
    """The vector env for ``num_workers``: 0 steps the envs in this process, None picks the faster path.

    The choice (``liftrl.sim.inprocess.choose_workers``) and why are in the env's ``placement``.
    """
    from liftrl.sim.env import resolve_options
    from liftrl.sim.inprocess import InProcessVectorEnv, choose_workers

    values = {k: v for k, v in env_kwargs.items() if k not in ("options", "render_mode")}
    observations = resolve_options(env_kwargs.get("options"), values).observations
    workers, why = choose_workers(num_envs, observations, num_workers)
    env = (InProcessVectorEnv(num_envs, **env_kwargs) if workers == 0
           else LiftCubeVectorEnv(num_envs=num_envs, num_workers=workers, **env_kwargs))
    env.placement = why
    return env


__all__ = ["LiftCubeVectorEnv", "make_vector_env", "WorkerError", "DEFAULT_NUM_ENVS", "gym"]
