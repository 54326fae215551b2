"""The one way from a config's ``env`` section to environments: every caller builds them here.

The train loop (its training and evaluation vector envs), ``liftrl eval``, the end-of-training
video, the deploy dry run, the scripted demo and the benchmarks all call ``make_env`` or
``make_vector_env``, so an env option added to ``EnvConfig`` reaches every one of them, and the
control rate and latency wrapper is applied the same way everywhere.

Only training envs get ``curriculum_mix``: every evaluation measures ``curriculum_stage``.
"""

from __future__ import annotations

import dataclasses

from liftrl.config import EnvConfig
from liftrl.sim.options import EnvOptions


def env_options(env: EnvConfig, training: bool = False) -> EnvOptions:
    """The options of one env of this config (``curriculum_mix`` for training envs only)."""
    options = env.options_only()
    return options if training else dataclasses.replace(options, curriculum_mix=())


def make_env(env: EnvConfig, training: bool = False, render_mode: str | None = None):
    """One env in this process, composed by ``liftrl.sim.factory.build_env`` (the loop's wrappers included)."""
    from liftrl.sim.factory import build_env

    return build_env(env_options(env, training), render_mode=render_mode)


def make_task_env(env: EnvConfig, render_mode: str | None = None):
    """The env alone (its task options, the plain 50 Hz loop), for a caller that applies the rate,
    latency and camera itself at physics resolution: the deploy loop on ``SimRobot``."""
    from liftrl.sim.factory import build_env

    return build_env(env_options(env).task_options(), render_mode=render_mode)


def worker_count(env: EnvConfig, num_envs: int) -> int | None:
    """``env.num_workers`` capped at ``num_envs``; 0 runs the envs in this process; None lets the vector
    env pick the faster path (``liftrl.sim.inprocess.choose_workers``)."""
    return None if env.num_workers is None else min(env.num_workers, num_envs)


_CONFIG_LIMIT = object()


def make_vector_env(env: EnvConfig, num_envs: int | None = None, training: bool = False,
                    max_worker_restarts: int | None | object = _CONFIG_LIMIT):
    """``num_envs`` (default ``env.num_envs``) envs stepped in ``env.num_workers`` worker processes (0: in this one).

    A worker that dies or stays silent for ``env.worker_timeout_s`` is restarted up to
    ``env.max_worker_restarts`` times; ``max_worker_restarts=None`` lifts the limit for a caller
    (the trainer) that keeps its own count and must still be able to save the envs' states.
    """
    from liftrl.sim.vector import make_vector_env as make_sim_vector_env

    n = env.num_envs if num_envs is None else num_envs
    limit = env.max_worker_restarts if max_worker_restarts is _CONFIG_LIMIT else max_worker_restarts
    return make_sim_vector_env(n, num_workers=worker_count(env, n), worker_timeout_s=env.worker_timeout_s,
                               max_worker_restarts=limit, options=env_options(env, training))
