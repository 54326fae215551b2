"""Per-environment independence in the vector env: the user's IK and randomisation bugs."""

import numpy as np
import pytest

from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.vector import LiftCubeVectorEnv, WorkerError

KW = dict(curriculum_stage=3, observations=("state", "privileged"), randomize=True)


@pytest.fixture(scope="module")
def venv():
    env = LiftCubeVectorEnv(num_envs=4, num_workers=2, **KW)
    yield env
    env.close()


@pytest.mark.slow
def test_each_env_moves_by_its_own_action(venv):
    """With a different action per env, each tool point moves along its own action.

    The user's bug applied env 0's Jacobian to every env; envs start in different arm poses
    (randomised cube positions), so a shared Jacobian sends the others the wrong way.
    """
    _, info = venv.reset(seed=100)
    start = np.array(info["tool_pos"])
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    actions = np.concatenate([0.5 * directions, np.ones((4, 1))], axis=1).astype(np.float32)
    for _ in range(6):
        _, _, _, _, info = venv.step(actions)
    for _ in range(5):  # let the servos settle on the final targets
        _, _, _, _, info = venv.step(np.concatenate([np.zeros((4, 3)), np.ones((4, 1))], axis=1).astype(np.float32))
    moved = np.array(info["tool_pos"]) - start
    for i in range(4):
        assert np.linalg.norm(moved[i] - 6 * 0.01 * directions[i]) < 0.004, (i, moved[i])


@pytest.mark.slow
def test_vector_env_matches_standalone_envs_exactly(venv):
    """Env i of the vector env, seeded s+i, steps exactly like a lone env seeded s+i."""
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, size=(15, 4, 4)).astype(np.float32)
    obs, _ = venv.reset(seed=200)
    vec_trace = [obs]
    for a in actions:
        obs, *_ = venv.step(a)
        vec_trace.append(obs)
    for i in (0, 3):
        env = LiftCubeEnv(**KW)
        o, _ = env.reset(seed=200 + i)
        np.testing.assert_array_equal(o["state"], vec_trace[0]["state"][i])
        for t, a in enumerate(actions):
            o, *_ = env.step(a[i])
            np.testing.assert_array_equal(o["state"], vec_trace[t + 1]["state"][i])
            np.testing.assert_array_equal(o["privileged"], vec_trace[t + 1]["privileged"][i])


@pytest.mark.slow
def test_randomisation_differs_across_envs_and_resets(venv):
    _, info = venv.reset(seed=300)
    first = info["randomization"]
    frictions = list(first["cube_friction"])
    assert len(set(frictions)) == 4, frictions
    assert len({tuple(c) for c in first["cube_rgb"]}) == 4
    assert len({tuple(np.round(o, 6)) for o in first["camera_offset"]}) == 4
    _, info = venv.reset(seed=400)
    assert set(info["randomization"]["cube_friction"]).isdisjoint(frictions)


@pytest.mark.slow
def test_autoreset_reports_final_observation():
    env = LiftCubeVectorEnv(num_envs=2, num_workers=1, curriculum_stage=3, observations=("state",),
                            max_episode_steps=3)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs, _, term, trunc, info = env.step(np.zeros((2, 4), dtype=np.float32))
    assert trunc.all() and not term.any()
    assert info["_final_obs"].all()
    final = info["final_obs"][0]["state"]
    assert not np.array_equal(final, obs["state"][0])  # obs is already the next episode's first
    assert info["final_info"]["step"][0] == 3
    env.close()


@pytest.mark.slow
def test_bad_actions_and_worker_errors():
    env = LiftCubeVectorEnv(num_envs=2, num_workers=1, observations=("state",))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, 4), dtype=np.float32))
    env.close()
    with pytest.raises(WorkerError, match="curriculum_stage"):
        LiftCubeVectorEnv(num_envs=2, num_workers=1, curriculum_stage=8)
