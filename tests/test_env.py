"""The LiftCube env: API conformance, physics solvability, determinism and bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import liftrl  # noqa: F401  (registers the env id)
from liftrl.scripted import ScriptedGrasp
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.factory import build_env


def make(**kw):
    kw.setdefault("observations", ("state", "privileged"))
    return LiftCubeEnv(**kw)


@pytest.mark.parametrize("observations", [("pixels", "state"), ("state", "privileged")])
def test_gymnasium_env_checker(observations):
    env = gym.make("liftrl/LiftCube-v0", observations=observations, image_size=84)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_observation_layout():
    env = make(observations=("pixels", "state", "privileged"), image_size=48, frame_stack=3)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (9, 48, 48) and obs["pixels"].dtype == np.uint8
    assert obs["state"].shape == (18,) and obs["state"].dtype == np.float32
    # privileged: cube position, half-size, orientation (qw >= 0), linear velocity (liftrl.sim.privileged)
    assert obs["privileged"].shape == (11,) and obs["privileged"].dtype == np.float32
    np.testing.assert_allclose(obs["privileged"][:3], info["cube_pos"], atol=1e-6)
    assert obs["privileged"][3] == pytest.approx(info["cube_half_size"])
    # reset fills the stack with copies of the first frame
    np.testing.assert_array_equal(obs["pixels"][0:3], obs["pixels"][6:9])
    # state = qpos(6), qvel(6), tool point(3), euler(3)
    np.testing.assert_allclose(obs["state"][12:15], info["tool_pos"], atol=1e-6)
    obs2, *_ = env.step(np.array([0.0, 0.0, -1.0, 1.0]))
    np.testing.assert_array_equal(obs2["pixels"][3:6], obs["pixels"][6:9])  # shifted one slot older
    env.close()


def run_scripted(env, seed):
    obs, info = env.reset(seed=seed)
    policy = ScriptedGrasp()
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(policy.act(info))
        done = term or trunc
    return info


@pytest.mark.slow
def test_scripted_policy_solves_stage3_with_randomisation():
    """The task is physically solvable with this IK, gripper and friction at hold 150."""
    env = make(curriculum_stage=3, hold_steps=150, randomize=True)
    results = [run_scripted(env, seed)["is_success"] for seed in range(10)]
    assert sum(results) >= 8, results


def test_action_moves_target_by_scale_and_clamps():
    env = make(curriculum_stage=3, randomize=False)
    _, info = env.reset(seed=0)
    t0 = info["target"]
    _, _, _, _, info = env.step(np.array([1.0, -0.5, 0.0, 1.0]))
    np.testing.assert_allclose(info["target"] - t0, [0.02, -0.01, 0.0], atol=1e-12)
    for _ in range(40):
        _, _, _, _, info = env.step(np.array([0.0, 0.0, -1.0, 1.0]))
    assert info["target"][2] == pytest.approx(0.01)  # workspace floor


def test_tool_point_follows_target():
    env = make(curriculum_stage=3, randomize=False)
    env.reset(seed=1)
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([0.0, 0.0, 0.5, 1.0]))
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
    assert np.linalg.norm(info["tool_pos"] - info["target"]) < 0.003


def test_hold_count_success_and_termination_only_when_asked():
    env = make(curriculum_stage=1, hold_steps=20, terminate_on_success=False, randomize=False)
    _, info = env.reset(seed=0)
    assert info["is_grasping"]
    up = np.array([0.0, 0.0, 1.0, -1.0])
    stay = np.array([0.0, 0.0, 0.0, -1.0])
    counts, successes = [], []
    for t in range(30):
        _, _, term, trunc, info = env.step(up if t < 2 else stay)
        assert not term  # success never terminates when not asked
        counts.append(info["hold_count"])
        successes.append(info["is_success"])
    assert counts == list(range(1, 31))  # lifted from the first step on, never broken
    assert successes.index(True) == 19  # success exactly at the 20th consecutive lifted step
    for _ in range(15):  # open the gripper: the cube falls and the count resets
        _, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
    assert not info["is_grasping"] and info["hold_count"] == 0 and not info["is_success"]
    assert info["cube_pos"][2] < 0.03

    env = make(curriculum_stage=1, hold_steps=20, terminate_on_success=True, randomize=False)
    env.reset(seed=0)
    for t in range(30):
        _, _, term, _, info = env.step(up if t < 2 else stay)
        if term:
            break
    assert term and info["is_success"] and t == 19


def test_grasp_lost_is_reported_once():
    env = make(curriculum_stage=1, randomize=False)
    env.reset(seed=0)
    lost = []
    for _ in range(20):
        _, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
        lost.append(info["grasp_lost"])
    assert sum(lost) == 1


def test_truncation_at_max_episode_steps():
    env = make(curriculum_stage=3, max_episode_steps=7)
    env.reset(seed=0)
    for t in range(7):
        _, _, term, trunc, _ = env.step(np.zeros(4))
    assert trunc and not term


def test_same_seed_same_episode_different_seed_differs():
    def rollout(seed):
        env = make(observations=("pixels", "state", "privileged"), image_size=32, curriculum_stage=3)
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(0)  # same actions for both seeds
        trace = [obs]
        for _ in range(50):
            obs, r, _, _, info = env.step(rng.uniform(-1, 1, 4))
            trace.append({**obs, "r": np.array(r), "cube": info["cube_pos"], "hold": np.array(info["hold_count"])})
        env.close()
        return trace

    a, b, c = rollout(5), rollout(5), rollout(6)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert not np.array_equal(a[0]["privileged"], c[0]["privileged"])
    assert not np.array_equal(a[-1]["pixels"], c[-1]["pixels"])


def test_randomisation_changes_across_resets():
    env = make(randomize=True)
    draws = [env.reset(seed=s)[1]["randomization"] for s in range(6)]
    assert len({d["cube_friction"] for d in draws}) == 6
    assert len({d["cube_rgb"] for d in draws}) == 6
    sizes = {d["cube_half_size"] for d in draws}
    assert sizes <= {0.012, 0.014, 0.016, 0.018} and len(sizes) > 1
    # the model really changed: geometry and friction match the draw
    _, info = env.reset(seed=11)
    g = env.ids.cube_geom
    assert env.model.geom_size[g][0] == info["randomization"]["cube_half_size"]
    assert env.model.geom_friction[g][0] == info["randomization"]["cube_friction"]


def test_randomisation_off_is_nominal():
    env = make(randomize=False)
    _, info = env.reset(seed=0)
    assert info["randomization"]["cube_half_size"] == 0.015
    assert info["randomization"]["cube_friction"] == 0.5


@pytest.mark.parametrize(
    "action, message",
    [
        (np.zeros(3), r"shape \(4,\)"),
        (np.zeros((1, 4)), r"shape \(4,\)"),
        (np.array([0.0, np.nan, 0.0, 0.0]), "NaN"),
        (np.array([0.0, 0.0, np.inf, 0.0]), "NaN or inf"),
    ],
)
def test_bad_actions_are_refused(action, message):
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"curriculum_stage": 9}, "curriculum_stage 9"),
        ({"observations": ("pixels", "depth")}, "unknown observation key.*depth"),
        ({"observations": ()}, "unknown observation key"),
        ({"camera": "top"}, "unknown camera 'top'"),
        ({"reward": "v12"}, "v12"),
        ({"image_size": 8}, "image_size"),
        ({"hold_steps": 0}, "hold_steps"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        make(**kwargs)


def test_unknown_stage_in_reset_options():
    env = make()
    with pytest.raises(ValueError, match="curriculum_stage 9"):
        env.reset(seed=0, options={"curriculum_stage": 9})


def test_reward_terms_in_info_sum_to_reward():
    env = make(curriculum_stage=1, reward="v19", randomize=False)
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.array([0.0, 0.0, 1.0, -1.0]))
    assert sum(info["reward_terms"].values()) == pytest.approx(r)
    assert info["reward_terms"]["grasp"] > 0


def test_video_render_is_third_person():
    env = make(observations=("pixels",), image_size=32)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (360, 480, 3) and frame.dtype == np.uint8 and frame.std() > 5
    env.close()


def test_curriculum_mix_draws_stages_from_the_env_generator():
    """Training resets draw their stage from the mix, reproducibly per seed; options still win."""
    env = make(curriculum_stage=3, curriculum_mix=(0, 0.5, 0, 0.5, 0), observations=("state",))
    stages = []
    for seed in range(12):
        _, info = env.reset(seed=seed)
        stages.append(info["curriculum_stage"])
        if info["curriculum_stage"] == 1:  # stage 1 starts with the cube already grasped
            assert info["is_grasping"]
    assert set(stages) == {1, 3}
    assert [env.reset(seed=s)[1]["curriculum_stage"] for s in range(12)] == stages
    assert env.reset(seed=0, options={"curriculum_stage": 4})[1]["curriculum_stage"] == 4
    only_two = make(curriculum_stage=3, curriculum_mix=(0, 0, 1, 0, 0), observations=("state",))
    assert {only_two.reset(seed=s)[1]["curriculum_stage"] for s in range(3)} == {2}


@pytest.mark.parametrize("mix", [(0.5, 0.5), (0, 0, 0, 0, 2), (0, -1, 1, 1, 0), (0, 0, float("nan"), 1, 0)])
def test_bad_curriculum_mix_is_refused(mix):
    with pytest.raises(ValueError, match="curriculum_mix"):
        make(curriculum_mix=mix)


@pytest.mark.slow
def test_camera_noise_and_gain_per_episode_are_seeded_and_resumable():
    """env.camera_noise / camera_gain: the deploy dry run's camera model, in training (build_env's camera stage)."""
    def env(**kw):
        return build_env(curriculum_stage=3, observations=("pixels",), image_size=32, **kw)

    clean, noisy, again = env(), env(camera_noise=8.0, camera_gain=0.2), env(camera_noise=8.0, camera_gain=0.2)
    c0, _ = clean.reset(seed=4)
    n0, _ = noisy.reset(seed=4)
    a0, _ = again.reset(seed=4)
    assert np.abs(n0["pixels"].astype(int) - c0["pixels"]).mean() > 2
    np.testing.assert_array_equal(n0["pixels"], a0["pixels"])
    gains = []
    for seed in range(5):
        noisy.reset(seed=seed)
        gains.append(noisy._gain)
    assert len(set(gains)) == 5 and all(0.8 <= g <= 1.2 for g in gains)  # a gain per episode
    noisy.reset(seed=4)
    noisy.step(np.zeros(4))
    state = noisy.get_state()
    again.set_state(state)
    step = np.array([0.1, 0.0, 0.0, 0.5])
    np.testing.assert_array_equal(noisy.step(step)[0]["pixels"], again.step(step)[0]["pixels"])
    for e in (clean, noisy, again):
        e.close()
