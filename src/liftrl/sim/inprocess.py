"""N environments stepped in the calling process, behind the same ``VectorEnv`` API as the workers.

Why: with one state-only env a step is well under a millisecond of physics, and a worker
process adds a pipe round trip, pickling and a process switch to every step; on one core it
also competes with the learner (the measured cost at SAC's state settings: docs/performance.md,
bench/results/e2e_sac_state_workers{0,1}.txt). This env runs
:func:`liftrl.sim.envblock.step_block` (the code the workers run) on all its envs in this
process, so observations, seeds, auto-resets, final observations, infos and exact-resume state
are the worker path's, bit for bit (``tests/test_inprocess.py``).

:func:`choose_workers` is what ``env.num_workers: null`` means: in-process where processes
cannot pay for themselves (state-only and few envs, or a single usable core), else one
worker per core.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from liftrl.sim.envblock import block_seeds, reset_block, step_block

# Up to this many state-only envs step in-process when cores allow workers. Measured for one env
# (above); with more envs the workers step them in parallel, and where that starts to pay was not
# measured: 4 is the quickstart's count, a judgement, not a break-even.
MAX_INPROCESS_STATE_ENVS = 4


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which ``taskset`` narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def choose_workers(num_envs: int, observations: tuple[str, ...] | list[str], num_workers: int | None,
                   cores: int | None = None) -> tuple[int, str]:
    """``(worker processes, why)``; 0 workers means in-process. An explicit ``num_workers`` wins."""
    if num_workers is not None:
        if not (isinstance(num_workers, int) and 0 <= num_workers <= num_envs):
            raise ValueError(f"num_workers must be in 0..num_envs ({num_envs}) or None, got {num_workers!r}")
        return num_workers, ("in-process (env.num_workers=0)" if num_workers == 0
                             else f"{num_workers} worker process(es) (env.num_workers={num_workers})")
    cores = usable_cores() if cores is None else cores
    if cores <= 1:
        return 0, "in-process: one usable core, worker processes would only add pipe round trips"
    if "pixels" not in observations and num_envs <= MAX_INPROCESS_STATE_ENVS:
        return 0, f"in-process: state-only and {num_envs} env(s) (<= {MAX_INPROCESS_STATE_ENVS}), a worker's pipe costs more than it saves"
    workers = min(num_envs, cores)
    return workers, f"{workers} worker process(es), one per usable core"


class InProcessVectorEnv(VectorEnv):
    """``num_envs`` independent LiftCube envs (``liftrl.sim.factory.build_env``) in this process."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
    # No worker processes, so nothing to restart: what the trainer reads of any vector env.
    num_workers = 0
    restarts = 0
    last_fault: str | None = None
    fault_time = 0.0

    def __init__(self, num_envs: int, **env_kwargs: Any):
        if not (isinstance(num_envs, int) and num_envs >= 1):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        os.environ.setdefault("MUJOCO_GL", "egl")
        from liftrl.sim.factory import build_env

        self.num_envs = num_envs
        self.envs: list = []
        try:
            for _ in range(num_envs):
                self.envs.append(build_env(**env_kwargs))
        except BaseException:
            self.close()
            raise
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._np_random_seed = None
        self._closed = False

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        seeds = block_seeds(seed, self.num_envs)
        return reset_block(self.envs, seeds, options)

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) + self.single_action_space.shape:
            raise ValueError(
                f"actions must have shape {(self.num_envs,) + self.single_action_space.shape}, got {actions.shape}"
            )
        return step_block(self.envs, actions)

    def call(self, name: str, *args, **kwargs) -> tuple:
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def call_each(self, name: str, per_env_args: list[tuple]) -> tuple:
        """Call ``name`` on every env with its own arguments (e.g. ``set_state`` on resume)."""
        if len(per_env_args) != self.num_envs:
            raise ValueError(f"got {len(per_env_args)} argument tuples for {self.num_envs} environments")
        return tuple(getattr(env, name)(*a) for env, a in zip(self.envs, per_env_args))

    def close(self, **kwargs):
        if getattr(self, "_closed", False):
            return
        self._closed = True
        for env in self.envs:
            env.close()
