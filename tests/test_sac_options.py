"""SAC's options against collapse: LayerNorm, a temperature floor, gradient clipping (all off by default)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from liftrl.agents.config import SACConfig
from liftrl.agents.sac import SACAgent
from liftrl.config import ConfigError, load_config

SHAPES = {"state": (6,)}


def agent(**kw) -> SACAgent:
    torch.set_num_threads(1)
    # diagnostics_every=1: every update reports its diagnostics (the default reports every 10th)
    return SACAgent(SACConfig(hidden_dim=16, batch_size=8, diagnostics_every=1, **kw), SHAPES, 4, ["state"], ["state"],
                    "cpu", seed=0)


def batch(reward=1.0, n=8):
    rng = np.random.default_rng(0)
    obs = {"state": rng.normal(size=(n, 6)).astype(np.float32)}
    return {"obs": obs, "next_obs": obs, "action": rng.uniform(-1, 1, (n, 4)).astype(np.float32),
            "reward": np.full(n, reward, np.float32), "discount": np.full(n, 0.99, np.float32)}


def test_defaults_are_off():
    cfg = SACConfig()
    assert (cfg.layer_norm, cfg.alpha_min, cfg.grad_clip) == (False, 0.0, 0.0)
    a = agent()
    assert not any(isinstance(m, nn.LayerNorm) for m in [*a.actor.modules(), *a.critic.modules()])


def test_layer_norm_in_every_hidden_layer_of_actor_and_critic():
    a = agent(layer_norm=True, hidden_layers=3)
    for net in (a.actor.net, a.critic.q1, a.critic.q2, a.critic_target.q1):
        kinds = [type(m) for m in net]
        assert kinds.count(nn.LayerNorm) == 3 and kinds[-1] is nn.Linear
        assert all(kinds[i + 1] is nn.LayerNorm for i, k in enumerate(kinds[:-1]) if k is nn.Linear)
    a.update(batch(), 0)  # and it trains


def test_temperature_never_falls_below_the_floor():
    # A large entropy target drives log_alpha down at every update; the floor holds it.
    free = agent(target_entropy=-100.0, init_temperature=0.02, lr=0.05)
    floored = agent(target_entropy=-100.0, init_temperature=0.02, lr=0.05, alpha_min=0.01)
    for _ in range(20):
        free.update(batch(), 0)
        d = floored.update(batch(), 0)
    assert math.exp(free.log_alpha.item()) < 0.01
    assert d["alpha"] == pytest.approx(0.01, rel=1e-5) and math.exp(floored.log_alpha.item()) >= 0.01 * (1 - 1e-6)


def test_gradient_clipping_bounds_the_step_not_the_logged_norm():
    # actor_update_every=2: the second update trains the critic alone, so the critic's .grad is its own
    clipped, free = agent(grad_clip=0.1, actor_update_every=2), agent(actor_update_every=2)
    for a in (clipped, free):
        a.update(batch(reward=1000.0), 0)
    before = [p.detach().clone() for p in clipped.critic.parameters()]
    d_clip = clipped.update(batch(reward=1000.0), 0)
    d_free = free.update(batch(reward=1000.0), 0)
    assert d_clip["critic_grad_norm"] == pytest.approx(d_free["critic_grad_norm"], rel=1e-5)  # pre-clip norm logged
    assert d_clip["critic_grad_norm"] > 0.1
    # Adam normalises step sizes, so check the clipped gradients themselves:
    grads = [p.grad for p in clipped.critic.parameters() if p.grad is not None]
    assert torch.nn.utils.get_total_norm(grads).item() == pytest.approx(0.1, rel=1e-3)
    assert any(not torch.equal(b, p) for b, p in zip(before, clipped.critic.parameters()))


@pytest.mark.parametrize("override", ["agent.alpha_min=-0.1", "agent.grad_clip=-1"])
def test_negative_options_are_refused(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].split(".")[1]):
        load_config(None, ["agent.name=sac", override, "obs.actor=[state]", "obs.critic=[state]"])


def test_a_layer_norm_actor_exports_to_the_same_bundle_actions():
    from liftrl.deploy.policy import BundlePolicy, actor_arch, actor_weights

    a = agent(layer_norm=True)
    a.update(batch(), 0)  # LayerNorm gains and biases move away from their init
    arch = actor_arch("sac", {"hidden_dim": 16, "hidden_layers": 2, "layer_norm": True}, ("state",), SHAPES, 4)
    policy = BundlePolicy(arch, actor_weights("sac", a.state_dict()))
    obs = batch()["obs"]
    np.testing.assert_allclose(policy(obs), a.act(obs, 0, eval_mode=True), atol=1e-6)
