"""The one place a simulated env is composed: task options build the env, the loop's options wrap it.

``LiftCubeEnv`` is the task at its own 50 Hz (``TaskOptions``). What the real loop adds between the
policy and the arm is layered around it here, in one order, for every caller (training and
evaluation envs, worker processes, the dry run, the stress report, benches):

1. the camera stage (``CameraNoise``: per-pixel noise and a per-episode gain on the raw render,
   before the shared preprocessing, as a real camera's noise comes before the crop and resize;
   ``camera_delay_ms``: frames that arrive late, kept by the env in whole 20 ms ticks);
2. ``ControlRateWrapper`` for a control rate below 50 Hz and/or a command latency.

So a new loop-level option is added in ``EnvOptions`` and applied here, and no caller strips or
re-adds wrappers of its own. Run-level callers reach this through ``liftrl.run.envs.make_env``,
which turns a config's ``env`` section into ``EnvOptions``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.latency import ControlRateWrapper
from liftrl.sim.options import EnvOptions, resolve_options


def build_env(options: EnvOptions | None = None, *, render_mode: str | None = "rgb_array",
              **option_values: Any) -> gym.Env:
    """A ``LiftCubeEnv`` for ``options`` (or its fields as keywords), wrapped as its loop options ask.

    At 50 Hz with no latency the env itself is returned (nothing to wrap), so the plain env and
    the composed one are the same object type wherever the loop adds nothing.
    """
    options = resolve_options(options, option_values, EnvOptions)
    env = LiftCubeEnv(options.task_options(), camera_noise=options.camera(), camera_delay_ms=options.camera_delay_ms,
                      render_mode=render_mode)
    if options.plain_rate:
        return env
    return ControlRateWrapper(env, control_hz=options.control_hz, latency_ms=options.latency_ms)
