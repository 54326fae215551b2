"""Scripted demonstrations: the scripted grasp at the real arm's rate, the demo buffer, batch mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from liftrl.common.seeds import demo_seeds
from liftrl.config import ConfigError, load_config
from liftrl.replay.buffer import ReplayBuffer
from liftrl.replay.mixing import concat_batches, demo_rows, sample_mixed
from liftrl.scripted import ScriptedGrasp
from liftrl.sim.factory import build_env
from liftrl.train import demos
from liftrl.train.metrics import read_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.slow
def test_scripted_grasp_holds_150_ticks_at_15hz_with_100ms_latency():
    """The teacher's demos exist: 15 Hz, 100 ms, stage 3, hold 150 within the teacher's 300 ticks."""
    env = build_env(control_hz=15, latency_ms=100, curriculum_stage=3, hold_steps=150, max_episode_steps=300,
                   observations=("state",), reward="v20", render_mode=None)
    wins = 0
    for seed in range(10):
        _, info = env.reset(seed=1000 + seed)
        policy, done = ScriptedGrasp(), False
        while not done:
            _, _, term, trunc, info = env.step(policy.act(info))
            done = term or trunc
        wins += bool(info["is_success"])
    env.close()
    assert wins >= 8


def _buffer(num_envs=1, seed=0, capacity=400):
    return ReplayBuffer(capacity=capacity, num_envs=num_envs, obs_shapes={"state": ((2,), np.float32)},
                        action_dim=4, n_step=1, gamma=0.9, frame_stack=1, seed=seed)


def _fill(buf: ReplayBuffer, value: float, steps: int = 20) -> None:
    E = buf.num_envs
    for t in range(steps):
        obs = {"state": np.full((E, 2), value + t, np.float32)}
        nxt = {"state": np.full((E, 2), value + t + 1, np.float32)}
        buf.add(obs, np.full((E, 4), value / 1000, np.float32), np.full(E, value), nxt,
                np.zeros(E, bool), np.zeros(E, bool))


@pytest.mark.parametrize("fraction, expected", [(0.5, 128), (0.25, 64), (0.0, 0), (1.0, 256), (0.3, 77)])
def test_every_batch_has_the_configured_demo_share(fraction, expected):
    online, demo = _buffer(2), _buffer(1, seed=1)
    _fill(online, 1.0)
    _fill(demo, 500.0)
    assert demo_rows(256, fraction) == expected
    for _ in range(3):
        batch = sample_mixed(online, demo, 256, fraction)
        from_demo = batch["reward"] == 500.0
        assert batch["reward"].shape == (256,) and int(from_demo.sum()) == expected
        assert batch["obs"]["state"].shape == (256, 2) and batch["action"].shape == (256, 4)
        # rows stay whole: each row's obs, action and reward come from the same transition
        np.testing.assert_array_equal(batch["action"][from_demo], 0.5)
        assert np.all(batch["obs"]["state"][from_demo] >= 500.0)
        assert np.all(batch["obs"]["state"][~from_demo] < 500.0)


def test_mixing_refuses_bad_input():
    with pytest.raises(ValueError):
        demo_rows(10, 1.5)
    a = {"obs": {"state": np.zeros((2, 2))}, "reward": np.zeros(2)}
    with pytest.raises(ValueError):
        concat_batches(a, {"obs": {"pixels": np.zeros((2, 2))}, "reward": np.zeros(2)})
    online = _buffer(1)
    _fill(online, 1.0)
    assert np.all(sample_mixed(online, None, 8, 0.5)["reward"] == 1.0)  # no demo buffer: all online


def test_success_ending_is_stored_as_truncation_only_when_asked():
    term, trunc, success = np.array([True, True, False]), np.array([False, False, True]), np.array([True, False, False])
    t, tr = demos.replay_end_flags(term, trunc, success, bootstrap_on_success=True)
    assert t.tolist() == [False, True, False] and tr.tolist() == [True, False, True]
    t, tr = demos.replay_end_flags(term, trunc, success, bootstrap_on_success=False)
    assert t.tolist() == term.tolist() and tr.tolist() == trunc.tolist()


def test_collect_keeps_whole_successful_episodes():
    kwargs = dict(curriculum_stage=1, hold_steps=5, max_episode_steps=30, observations=("state", "privileged"),
                  reward="v20", render_mode=None, control_hz=15, latency_ms=100)
    buf = ReplayBuffer(capacity=demos.demo_capacity(4, 30, 15), num_envs=1,
                       obs_shapes={"state": ((18,), np.float32), "privileged": ((11,), np.float32)},
                       action_dim=4, n_step=1, gamma=0.99, frame_stack=1, seed=0)
    env = build_env(**kwargs)
    stats = demos.collect(env, 4, buf, ("state", "privileged"), bootstrap_on_success=True)
    # The same seeds rolled out by hand: exactly the successful episodes are kept, whole.
    wins, steps = 0, 0
    for seed in demo_seeds(4, 0):
        _, info = env.reset(seed=seed)
        policy, done, n = ScriptedGrasp(), False, 0
        while not done:
            _, _, term, trunc, info = env.step(policy.act(info))
            done, n = term or trunc, n + 1
        if info["is_success"]:
            wins, steps = wins + 1, steps + n
    env.close()
    assert stats.episodes == 4 and (stats.successes, stats.transitions) == (wins, steps) and wins >= 1
    assert len(buf) == stats.transitions
    batch = buf.sample(64)
    # every kept episode ended in success, stored as a bootstrapped truncation: no zero discount
    assert np.all(batch["discount"] > 0)
    assert batch["obs"]["privileged"].shape == (64, 11)


@pytest.mark.slow
def test_train_with_demos_saves_and_reuses_the_demo_buffer(tmp_path, capsys):
    from liftrl.train.loop import resume, train

    torch.set_num_threads(1)
    overrides = ["train.demos=2", "replay.demo_fraction=0.5", "env.curriculum_stage=1", "env.hold_steps=5",
                 "env.reward=v20", "train.bootstrap_on_success=true", "train.video_episodes=0",
                 "train.total_env_steps=200", "train.eval_every=200", "train.snapshot_every=200"]
    run = train(str(CONFIGS / "tiny_sac.yaml"), overrides, run_root=str(tmp_path))
    printed = capsys.readouterr().out
    # the run's banner first, then the (seconds-long) collection announced before it starts, not a silent wait
    assert 0 <= printed.index(f"liftrl train: run folder {run}") \
        < printed.index(f"liftrl: run folder {run}: collecting 2 scripted demonstration episodes") \
        < printed.index("scripted demonstrations succeeded")
    rows = read_metrics(run / "metrics.jsonl")
    stats = [r for r in rows if r["kind"] == "demos"]
    assert len(stats) == 1 and stats[0]["demo/successes"] >= 1
    assert (run / demos.DEMO_FILE).is_file()
    before = (run / demos.DEMO_FILE).stat().st_mtime_ns
    resume(run, ["train.total_env_steps=300"])
    assert (run / demos.DEMO_FILE).stat().st_mtime_ns == before  # read back, not collected again
    assert len([r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "demos"]) == 1


def test_demo_config_keys_go_together():
    with pytest.raises(ConfigError, match="set together"):
        load_config(CONFIGS / "tiny_sac.yaml", ["train.demos=5"])
    with pytest.raises(ConfigError, match="set together"):
        load_config(CONFIGS / "tiny_sac.yaml", ["replay.demo_fraction=0.5"])
    with pytest.raises(ConfigError, match="demo_fraction"):
        load_config(CONFIGS / "tiny_sac.yaml", ["train.demos=5", "replay.demo_fraction=1.5"])
    cfg = load_config(CONFIGS / "tiny_sac.yaml")
    assert (cfg.train.demos, cfg.replay.demo_fraction, cfg.train.bootstrap_on_success) == (0, 0.0, False)
