"""Mixed precision (``train.amp``): bfloat16 where it pays, float32 weights and losses, exact resume.

Whether this CPU has native bfloat16 is patched both ways, so each path runs on any CI machine
(autocast to bfloat16 works on every CPU; only its speed depends on the instructions).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from liftrl.agents import make_agent, precision
from liftrl.agents.config import DrQV2Config, SACConfig, StudentConfig

SHAPES = {"pixels": (9, 32, 32), "state": (18,), "privileged": (3,)}
SETUPS = {
    "drqv2": (DrQV2Config(feature_dim=16, hidden_dim=32, encoder_channels=8, batch_size=8),
              ("pixels", "state"), ("pixels", "state", "privileged")),
    "student": (StudentConfig(feature_dim=16, hidden_dim=32, encoder_channels=8, batch_size=8, aux_cube_weight=0.5),
                ("pixels", "state"), ()),
}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def native_bf16(monkeypatch, value: bool) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: value)


def build(name: str, amp: bool, seed: int = 0):
    cfg, actor, critic = SETUPS[name]
    return make_agent(cfg, SHAPES, 4, actor, critic, "cpu", seed=seed, amp=amp)


def batch(rng: np.random.Generator, n: int = 8) -> dict:
    def obs():
        return {"pixels": rng.integers(0, 256, (n, *SHAPES["pixels"]), dtype=np.uint8),
                "state": rng.standard_normal((n, 18)).astype(np.float32),
                "privileged": rng.standard_normal((n, 3)).astype(np.float32)}

    return {"obs": obs(), "next_obs": obs(), "action": rng.uniform(-1, 1, (n, 4)).astype(np.float32),
            "reward": rng.standard_normal(n).astype(np.float32), "discount": np.full(n, 0.99, np.float32)}


def conv_output_dtypes(agent, fn) -> set[torch.dtype]:
    """The dtypes the encoder's first convolution produced while ``fn`` ran."""
    seen: set[torch.dtype] = set()
    handle = agent.encoder.convnet[0].register_forward_hook(lambda m, i, out: seen.add(out.dtype))
    try:
        fn()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_amp_runs_the_pixel_update_in_bfloat16_and_keeps_float32_weights(monkeypatch, name):
    native_bf16(monkeypatch, True)
    rng = np.random.default_rng(0)
    b = batch(rng)
    amp, plain = build(name, amp=True), build(name, amp=False)
    assert amp.amp is True and plain.amp is False
    assert conv_output_dtypes(amp, lambda: amp.update(b, 0)) == {torch.bfloat16}
    assert conv_output_dtypes(plain, lambda: plain.update(b, 0)) == {torch.float32}
    for net in (amp.encoder, amp.actor):
        assert {p.dtype for p in net.parameters()} == {torch.float32}
        assert all(torch.isfinite(p).all() for p in net.parameters())


def test_the_student_acts_in_float32_even_with_amp(monkeypatch):
    """DAgger's rollouts and the evaluations that pick the best student run the network as deployed."""
    native_bf16(monkeypatch, True)
    agent = build("student", amp=True)
    obs = {k: v[:2] for k, v in batch(np.random.default_rng(1))["obs"].items()}
    assert conv_output_dtypes(agent, lambda: agent.act(obs, 0, True)) == {torch.float32}


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_amp_changes_the_arithmetic_but_not_what_is_learnt(monkeypatch, name):
    """Same seed and batches: bfloat16 updates differ from float32 ones in the low bits only."""
    native_bf16(monkeypatch, True)
    rng = np.random.default_rng(2)
    batches = [batch(rng) for _ in range(3)]
    amp, plain = build(name, amp=True), build(name, amp=False)
    for i, b in enumerate(batches):
        amp.update(b, i)
        plain.update(b, i)
    diffs = [(a - p).abs().max().item() for a, p in zip(amp.actor.parameters(), plain.actor.parameters())]
    assert max(diffs) > 0  # the products really ran in bfloat16
    assert max(diffs) < 0.05  # ... a few Adam steps of lr 3e-4..1e-3 apart at most, not a different net


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_amp_state_dict_resumes_exactly(monkeypatch, name):
    native_bf16(monkeypatch, True)
    rng = np.random.default_rng(3)
    batches = [batch(rng) for _ in range(3)]
    agent = build(name, amp=True, seed=1)
    for i, b in enumerate(batches[:2]):
        agent.update(b, i)
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    resumed = build(name, amp=True, seed=9)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert agent.update(batches[2], 2) == resumed.update(batches[2], 2)
    for a, r in zip(agent.encoder.parameters(), resumed.encoder.parameters()):
        assert torch.equal(a, r)


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_amp_is_ignored_with_a_warning_on_a_cpu_without_native_bf16(monkeypatch, name):
    native_bf16(monkeypatch, False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        agent = build(name, amp=True)
    assert agent.amp is False
    assert conv_output_dtypes(agent, lambda: agent.update(batch(np.random.default_rng(4)), 0)) == {torch.float32}


def test_amp_is_refused_by_name_for_sac(monkeypatch):
    native_bf16(monkeypatch, True)
    with pytest.warns(UserWarning, match="ignored by the sac agent"):
        make_agent(SACConfig(hidden_dim=32, batch_size=8), SHAPES, 4, ("state",), ("state", "privileged"), "cpu",
                   amp=True)


def test_use_amp_names_the_device_it_cannot_use():
    with pytest.warns(UserWarning, match="not on meta"):
        assert precision.use_amp(True, torch.device("meta")) is False
    assert precision.use_amp(False, torch.device("cuda")) is False
    assert precision.use_amp(True, torch.device("cuda")) is True
