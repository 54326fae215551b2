"""bench/image_checks.py: a pixel policy played with its own frames, a grey image and another episode's frames."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import bench_module


def checks():
    return bench_module("image_checks")


@pytest.fixture(scope="module")
def env():
    from liftrl.sim.factory import build_env

    e = build_env(control_hz=15, curriculum_stage=5, observations=("pixels", "state"), image_size=16,
                 max_episode_steps=12, render_mode=None)
    yield e
    e.close()


def test_the_policy_sees_grey_or_the_other_episodes_frames(env):
    mod = checks()
    _, own = mod.play(env, lambda obs: np.zeros(4, np.float32), seed=1)
    _, other = mod.play(env, lambda obs: np.zeros(4, np.float32), seed=2)
    assert not np.array_equal(own[0], other[0])  # another cube, another picture
    _, grey = mod.play(env, lambda obs: np.zeros(4, np.float32), seed=1, grey=True)
    assert all(np.all(f == mod.GREY) for f in grey)
    _, swapped = mod.play(env, lambda obs: np.zeros(4, np.float32), seed=1, frames=other)
    assert len(swapped) == len(own)
    for a, b in zip(swapped, other):
        np.testing.assert_array_equal(a, b)


def test_bad_input_exits_2(capsys):
    assert checks().main(["/no/such/run"]) == 2
    assert "image_checks: error" in capsys.readouterr().err
