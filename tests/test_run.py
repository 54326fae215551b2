"""``liftrl.run``: the one env factory, the one policy loader and the one-checkpoint resolver."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from liftrl.agents import SACConfig, make_agent
from liftrl.config import VECTOR_ENV_KEYS, EnvConfig, load_config
from liftrl.run import envs
from liftrl.run.checkpoints import resolve_checkpoint
from liftrl.run.folder import RunError, link_atomic, new_run_dir, snapshot_name
from liftrl.run.policy import load_policy, policy_from_snapshot
from liftrl.run.snapshot import RUN_SNAPSHOT_FORMAT, save_snapshot
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.latency import ControlRateWrapper

torch.set_num_threads(1)

SHAPES = {"state": (18,), "privileged": (3,)}


def test_env_factory_applies_rate_and_training_only_options():
    plain = envs.make_env(EnvConfig(observations=("state",)))
    slow = envs.make_env(EnvConfig(observations=("state",), control_hz=15.0, latency_ms=100.0))
    try:
        assert type(plain) is LiftCubeEnv
        assert isinstance(slow, ControlRateWrapper) and (slow.control_hz, slow.latency_ms) == (15.0, 100.0)
    finally:
        plain.close()
        slow.close()
    mixed = EnvConfig(observations=("state",), curriculum_mix=(0.0, 1.0, 0.0, 0.0, 0.0))
    train_env, eval_env = envs.make_env(mixed, training=True), envs.make_env(mixed)
    try:
        assert train_env.cfg.curriculum_mix == (0.0, 1.0, 0.0, 0.0, 0.0)
        assert eval_env.cfg.curriculum_mix == ()  # every evaluation measures curriculum_stage
        assert train_env.reset(seed=3)[1]["curriculum_stage"] == 1
    finally:
        train_env.close()
        eval_env.close()


def test_every_env_option_reaches_the_env():
    """A field of EnvConfig that the factory forgot would silently train the default instead."""
    cfg = load_config(None, ["agent.name=sac", "obs.actor=[state]", "obs.critic=[state]", "env.hold_steps=7",
                             "env.lift_height=0.1", "env.max_episode_steps=33", "env.terminate_on_success=false",
                             "env.image_size=40", "env.frame_stack=2", "env.randomize=false", "env.reward=v11",
                             "env.curriculum_stage=2"])
    options = envs.env_options(cfg.env, training=True)
    per_env = {f.name for f in dataclasses.fields(EnvConfig)} - set(VECTOR_ENV_KEYS)
    assert all(getattr(options, name) == getattr(cfg.env, name) for name in per_env)
    env = envs.make_env(cfg.env)
    try:
        task = env.cfg
        assert (task.hold_steps, task.lift_height, task.max_episode_steps, task.terminate_on_success,
                task.curriculum_stage) == (7, 0.1, 33, False, 2)
        assert env.camera_spec.size == 40 and env.frame_stack == 2 and env.randomize is False
        assert env.reward_version.name == "v11"
    finally:
        env.close()


def test_worker_count_is_capped_by_the_envs():
    assert envs.worker_count(EnvConfig(num_workers=None), 4) is None
    assert envs.worker_count(EnvConfig(num_workers=8), 3) == 3


def _snapshot(tmp_path, seed=0):
    cfg = SACConfig(hidden_dim=16, hidden_layers=2)
    agent = make_agent(cfg, SHAPES, 4, ("state",), ("state", "privileged"), "cpu", seed=seed)
    meta = {"format": RUN_SNAPSHOT_FORMAT, "agent": "sac", "env_steps": 40,
            "observations": {"actor": ["state"], "critic": ["state", "privileged"],
                             "shapes": {k: list(v) for k, v in SHAPES.items()}},
            "action_dim": 4, "config": {"agent": dataclasses.asdict(cfg)}}
    path = save_snapshot(tmp_path / "snapshots" / snapshot_name(40), {"agent": agent.state_dict()}, meta)
    return path, agent


def test_policy_loader_acts_like_the_saved_agent_on_actor_keys_only(tmp_path):
    path, agent = _snapshot(tmp_path)
    policy = load_policy(path)
    assert policy.step == 40 and policy.actor_keys == ("state",)
    obs = {"state": np.random.default_rng(0).normal(size=(3, 18)).astype(np.float32),
           "privileged": np.zeros((3, 3), np.float32)}  # extra keys are ignored, as an env gives them
    np.testing.assert_allclose(policy(obs), agent.act({"state": obs["state"]}, 40, eval_mode=True), atol=1e-6)


def test_policy_loader_refuses_a_foreign_snapshot_or_agent_config(tmp_path):
    path, agent = _snapshot(tmp_path)
    with pytest.raises(RunError, match="not of a training run"):
        policy_from_snapshot({"agent": agent.state_dict()}, {"format": "other"})
    meta = {"format": RUN_SNAPSHOT_FORMAT, "config": {"agent": {"name": "sac", "lr": -1.0}}}
    with pytest.raises(RunError, match="agent.lr"):
        policy_from_snapshot({"agent": agent.state_dict()}, meta)


def test_one_checkpoint_is_resolved_by_name_and_step(tmp_path):
    run = new_run_dir(tmp_path, "sac")
    assert run.parent.name == "sac" and (run / "snapshots").is_dir()
    (run / "config.yaml").write_text("env:\n  num_envs: 2\n")
    for step in (100, 201):
        save_snapshot(run / "snapshots" / snapshot_name(step), {"x": torch.zeros(1)}, {"env_steps": step})
    link_atomic(run / "snapshots" / snapshot_name(100), run / "snapshots" / "best.pt")
    link_atomic(run / "snapshots" / snapshot_name(201), run / "snapshots" / "latest.pt")
    assert resolve_checkpoint(run, "best").step == 100
    assert resolve_checkpoint(run, "latest").step == 201
    assert resolve_checkpoint(run, "200").step == 201  # the snapshot saved on crossing step 200
    assert os.path.samefile(resolve_checkpoint(run, "0.1k").path, run / "snapshots" / "best.pt")
    with pytest.raises(ValueError, match="one checkpoint"):
        resolve_checkpoint(run, "all")
