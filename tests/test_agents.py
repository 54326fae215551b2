"""Agents: augmentation, networks, DrQ-v2 and SAC on tiny networks and synthetic batches.

Everything runs on the CPU with one thread; no simulator is involved (agents never import it).
"""

from __future__ import annotations

import dataclasses
import io
import math
import types

import numpy as np
import pytest
import torch

from liftrl.agents import AGENTS, DrQV2Agent, SACAgent, make_agent
from liftrl.agents.augment import random_shift
from liftrl.agents.base import Agent
from liftrl.agents.config import DrQV2Config, SACConfig
from liftrl.agents.drqv2 import DIAGNOSTICS as DRQ_DIAGNOSTICS
from liftrl.agents.networks import Encoder, GaussianActor
from liftrl.agents.sac import DIAGNOSTICS as SAC_DIAGNOSTICS

ACTION_DIM = 4
SHAPES = {"pixels": (9, 32, 32), "state": (18,), "privileged": (3,)}
TINY_DRQ = DrQV2Config(feature_dim=16, hidden_dim=32, encoder_channels=8, lr=1e-3, batch_size=16,
                       stddev_schedule="linear(1.0,0.1,1000)")
TINY_SAC = SACConfig(hidden_dim=32, lr=1e-3, batch_size=16, diagnostics_every=1)  # every update: tests read them
# (config, actor keys, critic keys) per agent: the critic alone reads the privileged cube position.
SETUPS = {
    "drqv2": (TINY_DRQ, ("pixels", "state"), ("pixels", "state", "privileged")),
    "sac": (TINY_SAC, ("state",), ("state", "privileged")),
}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def build(name, seed=0, **kwargs):
    cfg, actor_keys, critic_keys = SETUPS[name]
    return make_agent(cfg, SHAPES, ACTION_DIM, actor_keys, critic_keys, "cpu", seed=seed, **kwargs)


def make_obs(rng, batch):
    return {
        "pixels": rng.integers(0, 256, size=(batch, *SHAPES["pixels"]), dtype=np.uint8),
        "state": rng.standard_normal((batch, 18)).astype(np.float32),
        "privileged": rng.standard_normal((batch, 3)).astype(np.float32),
    }


def make_batch(rng, batch=16, reward=None, discount=None):
    return {
        "obs": make_obs(rng, batch),
        "next_obs": make_obs(rng, batch),
        "action": rng.uniform(-1, 1, size=(batch, ACTION_DIM)).astype(np.float32),
        "reward": (rng.standard_normal(batch) if reward is None else np.full(batch, reward)).astype(np.float32),
        "discount": np.full(batch, 0.99 if discount is None else discount, dtype=np.float32),
    }


def only(obs, keys):
    return {k: obs[k] for k in keys}


# ---------------------------------------------------------------------------- augmentation
def test_random_shift_moves_a_bright_pixel_by_at_most_pad():
    pad, n, row, col = 4, 512, 9, 14
    x = torch.zeros(n, 1, 24, 20)
    x[:, :, row, col] = 1.0
    out = random_shift(x, pad, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    flat = out.reshape(n, -1)
    # Integer shifts copy the pixel, never blur it.
    torch.testing.assert_close(flat.max(dim=1).values, torch.ones(n), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.sum(dim=1), torch.ones(n), atol=1e-4, rtol=0)
    where = flat.argmax(dim=1)
    dy, dx = (where // 20 - row).numpy(), (where % 20 - col).numpy()
    assert np.abs(dy).max() <= pad and np.abs(dx).max() <= pad
    # Every offset in [-pad, pad] occurs on both axes, so the range is used in full.
    assert set(dy.tolist()) == set(range(-pad, pad + 1)) == set(dx.tolist())


def test_random_shift_equals_a_crop_of_the_replicate_padded_image():
    pad, x = 3, torch.rand(6, 2, 18, 22)
    gen = torch.Generator().manual_seed(4)
    replay = torch.Generator().set_state(gen.get_state())
    out = random_shift(x, pad, gen)
    offsets = torch.randint(0, 2 * pad + 1, (6, 1, 1, 2), generator=replay).reshape(6, 2)  # (x, y) per image
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="replicate")
    for i, (ox, oy) in enumerate(offsets.tolist()):
        torch.testing.assert_close(out[i], padded[i, :, oy:oy + 18, ox:ox + 22], atol=1e-5, rtol=0)


def test_random_shift_pad_zero_is_identity_and_generator_makes_it_deterministic():
    x = torch.rand(8, 3, 20, 20)
    assert torch.equal(random_shift(x, 0, torch.Generator().manual_seed(1)), x)
    a = random_shift(x, 3, torch.Generator().manual_seed(7))
    b = random_shift(x, 3, torch.Generator().manual_seed(7))
    c = random_shift(x, 3, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_random_shift_replicates_borders_and_rejects_uint8():
    x = torch.full((4, 2, 16, 16), 7.0)
    torch.testing.assert_close(random_shift(x, 4, torch.Generator().manual_seed(0)), x)
    with pytest.raises(TypeError, match="float"):
        random_shift(torch.zeros(1, 1, 16, 16, dtype=torch.uint8), 2)


# ---------------------------------------------------------------------------- networks
@pytest.mark.parametrize("size", [16, 32, 84])
def test_encoder_output_dim_matches_forward(size):
    enc = Encoder((9, size, size), channels=8, layers=4)
    out = enc(torch.randint(0, 256, (2, 9, size, size), dtype=torch.uint8))
    assert out.shape == (2, enc.repr_dim)
    with pytest.raises(ValueError, match="16"):
        Encoder((9, 15, 15))


def test_squashed_gaussian_log_prob_matches_change_of_variables():
    torch.manual_seed(0)
    actor = GaussianActor(5, 3, 16, 2)
    obs = torch.randn(64, 5)
    gen = torch.Generator().manual_seed(3)
    replay = torch.Generator().set_state(gen.get_state())
    action, logp, mean, log_std = actor.sample(obs, gen)
    assert (log_std >= GaussianActor.LOG_STD_MIN).all() and (log_std <= GaussianActor.LOG_STD_MAX).all()
    # Recompute in float64 from the same noise: log N(u) - sum log(1 - tanh(u)^2).
    eps = torch.randn(mean.shape, generator=replay).double()
    m, s = mean.detach().double(), log_std.detach().double().exp()
    u = m + s * eps
    expected = torch.distributions.Normal(m, s).log_prob(u).sum(-1) - torch.log1p(-torch.tanh(u) ** 2).sum(-1)
    torch.testing.assert_close(action.detach().double(), torch.tanh(u), atol=1e-5, rtol=0)
    torch.testing.assert_close(logp.detach().double(), expected, atol=2e-3, rtol=1e-4)


def test_actor_act_is_the_sampled_action_from_the_same_noise_and_leaves_the_generator_alike():
    torch.manual_seed(0)
    actor = GaussianActor(5, 3, 16, 2)
    obs = torch.randn(7, 5)
    a, b = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    with torch.no_grad():
        acted = actor.act(obs, a)
        sampled = actor.sample(obs, b)[0]
    assert torch.equal(acted, sampled)  # bit for bit: acting must not change a run's trajectory
    assert torch.equal(a.get_state(), b.get_state())


# ---------------------------------------------------------------------------- both agents
@pytest.mark.parametrize("name", sorted(SETUPS))
def test_make_agent_builds_an_agent_following_the_protocol(name):
    agent = build(name)
    assert isinstance(agent, AGENTS[name]) and isinstance(agent, Agent)
    assert agent.actor_keys == SETUPS[name][1] and agent.critic_keys == SETUPS[name][2]


def test_make_agent_rejects_unknown_names():
    with pytest.raises(ValueError, match="drqv2, sac"):
        make_agent(types.SimpleNamespace(name="ppo"), SHAPES, ACTION_DIM, ("state",), ("state",), "cpu")


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_act_shapes_and_ranges(name):
    agent = build(name)
    obs = only(make_obs(np.random.default_rng(0), 5), agent.actor_keys)  # the loop passes actor keys only
    greedy = agent.act(obs, step=0, eval_mode=True)
    noisy = agent.act(obs, step=0, eval_mode=False)
    for a in (greedy, noisy):
        assert a.shape == (5, ACTION_DIM) and a.dtype == np.float32
        assert np.all(a >= -1.0) and np.all(a <= 1.0)
    assert np.array_equal(greedy, agent.act(obs, step=0, eval_mode=True))
    assert not np.allclose(greedy, noisy)


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_update_returns_finite_named_diagnostics(name):
    agent = build(name)
    expected = DRQ_DIAGNOSTICS if name == "drqv2" else SAC_DIAGNOSTICS
    diag = agent.update(make_batch(np.random.default_rng(1)), step=10)
    assert set(expected) <= set(diag)
    for key in ("critic_loss", "actor_loss", "q1_mean", "q_min", "q_max", "target_q_mean", "target_q_max",
                "reward_mean", "actor_stddev", "actor_grad_norm", "critic_grad_norm", "saturated_action_frac"):
        assert key in diag
    assert all(isinstance(v, float) and math.isfinite(v) for v in diag.values()), diag
    if name == "drqv2":
        assert "encoder_grad_norm" in diag
        assert diag["actor_stddev"] == pytest.approx(1.0 + (0.1 - 1.0) * 10 / 1000)
    else:
        assert {"alpha", "entropy", "alpha_loss"} <= set(diag)
        assert diag["alpha"] == pytest.approx(TINY_SAC.init_temperature, rel=0.01)


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_terminal_target_is_the_reward(name):
    diag = build(name).update(make_batch(np.random.default_rng(2), discount=0.0), step=0)
    assert diag["target_q_mean"] == pytest.approx(diag["reward_mean"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETUPS))
def test_critic_learns_a_constant_reward(name):
    # Reward 1 and discount 0 on every transition: Q should converge to 1 everywhere.
    agent = build(name)
    rng = np.random.default_rng(3)
    pool = [make_batch(rng, reward=1.0, discount=0.0) for _ in range(8)]
    history = [agent.update(pool[i % len(pool)], step=i) for i in range(300)]
    first, last = history[0]["critic_loss"], np.mean([d["critic_loss"] for d in history[-20:]])
    assert last < 0.05 * first, (first, last)
    assert abs(np.mean([d["q1_mean"] for d in history[-20:]]) - 1.0) < 0.1
    q1, q2 = agent.critic_q(pool[0]["obs"], pool[0]["action"])
    assert np.abs(q1 - 1.0).max() < 0.3 and np.abs(q2 - 1.0).max() < 0.3


def test_sac_diagnostics_from_every_kth_update_only():
    """diagnostics_every=3: updates 0, 3, 6 report (the same keys as every update would), the rest ``{}``;
    skipping them changes no weight."""
    rng = np.random.default_rng(9)
    batches = [make_batch(rng) for _ in range(7)]
    _, actor_keys, critic_keys = SETUPS["sac"]
    every = build("sac", seed=2)
    sparse = make_agent(dataclasses.replace(TINY_SAC, diagnostics_every=3), SHAPES, ACTION_DIM, actor_keys, critic_keys,
                        "cpu", seed=2)
    full = [every.update(b, step=i) for i, b in enumerate(batches)]
    some = [sparse.update(b, step=i) for i, b in enumerate(batches)]
    assert [bool(d) for d in some] == [True, False, False, True, False, False, True]
    for i in (0, 3, 6):
        assert some[i] == full[i]
    for key, value in every.state_dict()["critic"].items():
        assert torch.equal(value, sparse.state_dict()["critic"][key]), key


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_actor_never_sees_privileged_but_critic_does(name):
    agent = build(name)
    rng = np.random.default_rng(4)
    obs = make_obs(rng, 6)
    changed = dict(obs, privileged=obs["privileged"] + 5.0 * rng.standard_normal((6, 3)).astype(np.float32))
    assert np.array_equal(agent.act(obs, 0, eval_mode=True), agent.act(changed, 0, eval_mode=True))
    state = agent.state_dict()["generator"]
    noisy = agent.act(obs, 0, eval_mode=False)
    agent.generator.set_state(state)
    assert np.array_equal(noisy, agent.act(changed, 0, eval_mode=False))
    # A missing privileged key is no problem for acting (the real arm has none) ...
    agent.act(only(obs, agent.actor_keys), 0, eval_mode=True)
    # ... while the critic reads it.
    action = rng.uniform(-1, 1, (6, ACTION_DIM)).astype(np.float32)
    assert not np.allclose(agent.critic_q(obs, action)[0], agent.critic_q(changed, action)[0])


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_state_dict_resumes_exactly_through_torch_save(name):
    rng = np.random.default_rng(5)
    batches = [make_batch(rng) for _ in range(4)]
    obs = only(make_obs(rng, 3), SETUPS[name][1])
    agent = build(name, seed=1)
    for i, b in enumerate(batches[:3]):
        agent.update(b, step=i)
    agent.act(obs, 3, eval_mode=False)  # advance the generator too

    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    resumed = build(name, seed=99)  # different init and generator, all overwritten by the load
    resumed.load_state_dict(torch.load(buffer, weights_only=True))

    for eval_mode in (True, False):
        assert np.array_equal(agent.act(obs, 4, eval_mode), resumed.act(obs, 4, eval_mode))
    assert agent.update(batches[3], step=4) == resumed.update(batches[3], step=4)
    for key, value in agent.state_dict().items():
        if key in ("encoder", "actor", "critic", "critic_target"):
            for param, tensor in value.items():
                assert torch.equal(tensor, resumed.state_dict()[key][param]), (key, param)
    assert np.array_equal(agent.act(obs, 5, False), resumed.act(obs, 5, False))


def test_same_seed_same_agent_different_seed_different_agent():
    obs = make_obs(np.random.default_rng(6), 2)
    a, b, c = build("drqv2", seed=3), build("drqv2", seed=3), build("drqv2", seed=4)
    assert np.array_equal(a.act(obs, 0, True), b.act(obs, 0, True))
    assert not np.array_equal(a.act(obs, 0, True), c.act(obs, 0, True))


# ---------------------------------------------------------------------------- agent-specific
def test_sac_refuses_pixels():
    with pytest.raises(ValueError, match="pixels"):
        SACAgent(TINY_SAC, SHAPES, ACTION_DIM, ("pixels", "state"), ("state",), "cpu")
    with pytest.raises(ValueError, match="pixels"):
        SACAgent(TINY_SAC, SHAPES, ACTION_DIM, ("state",), ("pixels", "state", "privileged"), "cpu")


def test_drqv2_needs_pixels():
    with pytest.raises(ValueError, match="pixels"):
        DrQV2Agent(TINY_DRQ, SHAPES, ACTION_DIM, ("state",), ("pixels", "state"), "cpu")


def test_drqv2_input_layout_follows_keys_and_fuse_state():
    fused = build("drqv2")
    assert fused.actor_low == ("state",) and fused.critic_low == ("privileged", "state")
    assert fused.actor.policy[0].in_features == TINY_DRQ.feature_dim + 18
    assert fused.critic.q1[0].in_features == TINY_DRQ.feature_dim + 18 + 3 + ACTION_DIM
    import dataclasses

    cfg = dataclasses.replace(TINY_DRQ, fuse_state=False)
    plain = DrQV2Agent(cfg, SHAPES, ACTION_DIM, ("pixels", "state"), ("pixels", "state"), "cpu")
    assert plain.actor.policy[0].in_features == TINY_DRQ.feature_dim
    obs = make_obs(np.random.default_rng(7), 2)
    moved = dict(obs, state=obs["state"] + 1.0)
    assert np.array_equal(plain.act(obs, 0, True), plain.act(moved, 0, True))


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_reward_scale_scales_the_td_target(name):
    """With discount 0 the target is exactly reward_scale * reward (hand value: 0.1 * 5 = 0.5)."""
    import dataclasses

    cfg, actor_keys, critic_keys = SETUPS[name]
    agent = make_agent(dataclasses.replace(cfg, reward_scale=0.1), SHAPES, ACTION_DIM, actor_keys, critic_keys, "cpu")
    diag = agent.update(make_batch(np.random.default_rng(3), reward=5.0, discount=0.0), step=0)
    assert diag["target_q_mean"] == pytest.approx(0.5, abs=1e-6)
