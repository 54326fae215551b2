"""The one env factory: task options build LiftCubeEnv, the loop's options wrap it, nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from liftrl.config import EnvConfig
from liftrl.run.envs import make_env, make_task_env
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.factory import build_env
from liftrl.sim.latency import ControlRateWrapper
from liftrl.sim.options import EnvOptions, TaskOptions, resolve_options

SRC = Path(__file__).resolve().parents[1] / "src" / "liftrl"
STATE = dict(curriculum_stage=3, observations=("state",), render_mode=None)


def test_task_options_are_what_the_env_reads_and_loop_options_are_not():
    task_fields = {f for f in TaskOptions.__dataclass_fields__}
    loop_fields = set(EnvOptions.__dataclass_fields__) - task_fields
    assert loop_fields == {"control_hz", "latency_ms", "camera_noise", "camera_gain", "camera_delay_ms"}
    env = LiftCubeEnv(**STATE)
    assert type(env.options) is TaskOptions
    env.close()


def test_env_refuses_loop_options_and_names_the_factory():
    with pytest.raises(TypeError, match="build_env"):
        LiftCubeEnv(control_hz=15, **STATE)
    with pytest.raises(ValueError, match="build_env"):
        LiftCubeEnv(EnvOptions(latency_ms=100.0, observations=("state",)), render_mode=None)
    with pytest.raises(ValueError, match="build_env"):
        LiftCubeEnv(EnvOptions(camera_noise=4.0, observations=("state",)), render_mode=None)
    with pytest.raises(TypeError, match="unknown env option"):
        build_env(contol_hz=15, **STATE)


def test_factory_composes_in_one_order():
    plain = build_env(**STATE)
    assert type(plain) is LiftCubeEnv and not plain.camera_noise.active
    slow = build_env(control_hz=15, latency_ms=[66, 133], camera_noise=4.0, camera_gain=0.2, **STATE)
    assert isinstance(slow, ControlRateWrapper) and slow.control_hz == 15
    assert slow.latency_range == (66.0, 133.0)
    assert slow.unwrapped.camera_noise.std == 4.0 and slow.unwrapped.camera_noise.gain == 0.2
    for e in (plain, slow):
        e.close()


def test_run_level_factory_passes_every_option_through():
    cfg = EnvConfig(curriculum_stage=3, observations=("state",), control_hz=15, latency_ms=100.0,
                    camera_noise=2.0, num_envs=2)
    env = make_env(cfg)
    assert isinstance(env, ControlRateWrapper) and env.latency_ms == 100.0
    assert env.unwrapped.camera_noise.std == 2.0
    bare = make_task_env(cfg)  # for the deploy loop, which applies rate, latency and camera itself
    assert type(bare) is LiftCubeEnv and not bare.camera_noise.active
    assert bare.options == cfg.task_options()
    o1, _ = env.reset(seed=3)
    o2, _ = bare.reset(seed=3)
    np.testing.assert_array_equal(o1["state"], o2["state"])  # the same task underneath
    for e in (env, bare):
        e.close()


def test_resolve_options_reads_a_task_as_an_env_with_the_plain_loop():
    task = TaskOptions(curriculum_stage=2, hold_steps=20)
    env_opts = resolve_options(task, {}, EnvOptions)
    assert env_opts.plain_rate and env_opts.curriculum_stage == 2 and env_opts.hold_steps == 20
    assert resolve_options(None, {"latency_ms": [10, 20]}).latency_ms == (10, 20)


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                yield node


def test_only_the_factory_wraps_or_hands_the_camera_stage_in():
    """The control rate and the camera reach the env through sim/factory.py alone: no second route."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text())
        if rel != "sim/factory.py":
            offenders += [f"{rel}:{c.lineno} ControlRateWrapper" for c in _calls(tree, "ControlRateWrapper")]
            offenders += [f"{rel}:{c.lineno} LiftCubeEnv(camera_noise=)" for c in _calls(tree, "LiftCubeEnv")
                          if any(k.arg == "camera_noise" for k in c.keywords)]
    assert not offenders, offenders
