"""Registers ``liftrl/LiftCube-v0`` with Gymnasium, importing MuJoCo only when an env is made."""

from __future__ import annotations

ENV_ID = "liftrl/LiftCube-v0"


def register_envs() -> None:
    import gymnasium as gym

    if ENV_ID not in gym.registry:
        # No TimeLimit wrapper: the env truncates at its own max_episode_steps, which is a task
        # option (the curriculum and evaluation change it), not a registration constant.
        gym.register(id=ENV_ID, entry_point="liftrl.sim.factory:build_env", disable_env_checker=True)
