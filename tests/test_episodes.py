"""The one episode runner: hooks, bookkeeping, and the same episode in one env or a vector env."""

import numpy as np
import pytest

from liftrl.config import EnvConfig
from liftrl.run.envs import make_env, make_vector_env
from liftrl.scripted import ScriptedGrasp
from liftrl.train.episodes import EpisodeStats, StepRecord, run_episode, run_episodes
from liftrl.train.loop import EpisodeTracker

ENV = EnvConfig(observations=("state",), curriculum_stage=1, hold_steps=5, max_episode_steps=12, num_workers=1)


def down_and_open(obs):
    """A fixed deterministic policy (lower the cube and open the jaw), so every run of a seed matches."""
    n = len(next(iter(obs.values())))
    return np.tile(np.array([[0.1, 0.0, -0.6, 0.5]], np.float32), (n, 1))


def test_hooks_see_every_observation_and_step_and_agree_with_the_result():
    env = make_env(ENV)
    frames, steps = [], []
    try:
        result = run_episode(env, down_and_open, 7, on_frame=lambda o, i, r, t: frames.append((i["step"], r, t)),
                             on_step=steps.append)
    finally:
        env.close()
    assert len(frames) == result.length + 1 and frames[0] == (0, 0.0, 0.0)  # the reset, then one per step
    assert len(steps) == result.length and all(isinstance(s, StepRecord) for s in steps)
    assert [s.step for s in steps] == list(range(1, result.length + 1)) and {s.seed for s in steps} == {7}
    assert sum(s.reward for s in steps) == pytest.approx(result.reward) == pytest.approx(frames[-1][2])
    assert result.max_cube_z >= max(float(s.info["cube_pos"][2]) for s in steps)
    assert result.max_hold == max(int(s.info["hold_count"]) for s in steps)
    assert result.final_hold == int(steps[-1].info["hold_count"])


@pytest.mark.slow
def test_vector_runner_scores_the_same_episodes_as_the_single_env_runner():
    seeds = [11, 12, 13]
    env = make_env(ENV)
    try:
        single = [run_episode(env, down_and_open, s) for s in seeds]
    finally:
        env.close()
    venv = make_vector_env(ENV, num_envs=2)  # 3 seeds over 2 envs: two batches, one padded
    try:
        batched = run_episodes(venv, down_and_open, seeds)
    finally:
        venv.close()
    assert [r.seed for r in batched] == seeds
    for a, b in zip(single, batched):
        assert (a.length, a.success, a.max_hold, a.final_hold) == (b.length, b.success, b.max_hold, b.final_hold)
        assert a.reward == pytest.approx(b.reward) and a.max_cube_z == pytest.approx(b.max_cube_z)


def test_an_expert_reading_the_step_info_runs_through_the_same_runner():
    env = make_env(EnvConfig(observations=("state",), curriculum_stage=1, hold_steps=5, randomize=False))
    try:
        result = run_episode(env, ScriptedGrasp().act, 0, reads_info=True)
    finally:
        env.close()
    assert result.success and result.final_hold >= 5


def test_training_episode_books_survive_a_snapshot():
    tracker = EpisodeTracker(2)
    info = {"cube_pos": np.array([0.0, 0.0, 0.05]), "hold_count": 1, "is_success": False,
            "reward_terms": {"reach": 0.5, "lift": 0.25}}
    tracker.stats[0].add(1.5, info)
    tracker.stats[1].add(2.0, {**info, "reward_terms": {"reach": 1.0}})
    copy = EpisodeTracker(2)
    copy.load(tracker.state())
    assert copy.state() == tracker.state()
    row = copy.finish(0, {**info, "is_success": True})
    assert row == {"episode/return": 1.5, "episode/length": 1, "episode/success": 1.0, "episode/max_cube_z": 0.05,
                   "reward_terms/reach": 0.5, "reward_terms/lift": 0.25}
    assert copy.stats[0] == EpisodeStats()  # the slot starts the next episode from zero
