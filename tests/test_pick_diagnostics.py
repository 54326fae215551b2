"""The pick diagnostics in bench/: where a policy's episodes fail (pick_failures.py) and how the teacher fares
with a misplaced cube (teacher_cube_error.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import bench_module


def module(name):
    return bench_module(name)


def test_an_episode_is_sorted_by_the_furthest_stage_it_reached():
    categorise = module("pick_failures").categorise
    assert categorise(True, True, True, 0.0, 0.03) == "success"
    assert categorise(False, True, True, 0.0, 0.03) == "lifted-not-held"
    assert categorise(False, False, True, 0.0, 0.03) == "grasped-no-lift"
    assert categorise(False, False, False, 0.02, 0.03) == "near-no-grasp"
    assert categorise(False, False, False, 0.05, 0.03) == "never-near"


def test_real_episodes_land_in_the_category_of_what_the_policy_did():
    """The scripted grasp picks the cube; an arm held still at the start pose never comes near it."""
    failures = module("pick_failures")
    env, make_scripted = module("pick_heatmap").scripted_policy(max_episode_steps=400)
    still = np.zeros(env.action_space.shape, np.float32)
    still[3] = 1.0  # jaws open
    try:
        picked = failures.episode_row(env, make_scripted(), 3, near_m=0.03)
        idle = failures.episode_row(env, lambda obs, info: still, 3, near_m=0.03)
    finally:
        env.close()
    assert picked["category"] == "success" and picked["longest_hold"] >= 150 and picked["first_grasp_tick"] > 0
    assert idle["category"] == "never-near" and idle["nearest_m"] > 0.03 and idle["first_grasp_tick"] is None
    assert picked["cube_xy"] == idle["cube_xy"]  # the same seed: the same cube


@pytest.mark.parametrize("argv", [["--run", "no-label"], ["--run", "a=x", "--episodes", "0"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        module("pick_failures").main(argv)
    assert exc.value.code == 2


def test_the_teacher_reads_a_cube_moved_by_the_error_and_nothing_else():
    """bench/teacher_cube_error.py: only the cube centre of ``privileged`` moves; the caller's observation stays."""
    with_error = module("teacher_cube_error").with_error
    seen = {}

    def policy(obs):
        seen.update(obs)
        return np.zeros((1, 5), np.float32)

    obs = {"privileged": np.arange(11, dtype=np.float32)[None], "state": np.ones((1, 18), np.float32)}
    with_error(policy, np.array([0.01, -0.02, 0.005]), 0.0, np.random.default_rng(0))(obs)
    np.testing.assert_allclose(seen["privileged"][0, :3], [0.01, 0.98, 2.005], rtol=1e-6)
    np.testing.assert_array_equal(seen["privileged"][0, 3:], obs["privileged"][0, 3:])
    np.testing.assert_array_equal(obs["privileged"][0], np.arange(11))  # the env's observation is not touched
    assert seen["state"] is obs["state"]


@pytest.mark.parametrize("argv", [["run", "--episodes", "0"], ["run", "--bias", "-0.01"]])
def test_bad_error_sizes_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        module("teacher_cube_error").main(argv)
    assert exc.value.code == 2


def test_a_guess_one_step_behind_has_slope_minus_one_and_a_present_one_zero():
    """bench/student_cube_guess.py's statistics on made-up guesses: lag, RMS and bias per distance band."""
    stats = module("student_cube_guess").guess_stats
    rng = np.random.default_rng(0)
    changes = rng.normal(0, 0.01, (200, 3))
    distances = np.linspace(0.0, 0.19, 200)
    behind = stats(-changes, changes, distances)  # the guess is where the cube was one step ago
    assert behind["lag_slope"] == [-1.0, -1.0, -1.0]
    biased = stats(np.tile([0.01, 0.0, 0.0], (200, 1)), changes, distances)  # off by 1 cm in x, no lag
    assert max(abs(s) for s in biased["lag_slope"]) < 0.2
    assert [b["steps"] for b in biased["bands"]] == [int((distances < 0.03).sum()),
                                                     int(((distances >= 0.03) & (distances < 0.08)).sum()),
                                                     int((distances >= 0.08).sum())]
    assert all(b["bias_m"] == [0.01, 0.0, 0.0] and b["rms_m"] == [0.01, 0.0, 0.0] for b in biased["bands"])
