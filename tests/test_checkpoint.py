"""Snapshots: exact round trip of a training state, atomic writes, and refusal of bad files."""

import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from liftrl.run import snapshot as checkpoint
from liftrl.run.snapshot import FORMAT, SnapshotError, load_snapshot, read_metadata, save_snapshot


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def training_like_state():
    """The kinds of values a real snapshot holds (agent, optimiser, RNGs, env physics, counters)."""
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    rng = np.random.default_rng(123)
    rng.random(5)
    gen = torch.Generator().manual_seed(7)
    return {
        "agent": {"net": net.state_dict(), "opt": opt.state_dict(), "generator": gen.get_state()},
        "counters": {"env_steps": 300, "update_credit": 0.5},
        "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()},
        "envs": [{"physics": np.linspace(0, 1, 7), "frames": np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
                  "hold": np.int64(3), "was_grasping": np.bool_(True), "draw": None,
                  "counts": np.array([1, 2], dtype=np.uint16), "rgb": (0.1, 0.2, 0.3)}],
        "best": {"success_lcb": 0.0, "reward_mean": float("-inf")},
        "odd_keys": {1: "int key", "__tensor__": "a key that looks like a tag"},
        "pending": [],
    }


def assert_same(a, b, where="state"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=where)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.generic):
        assert b == a.item() and type(b) is type(a.item()), where
    else:
        assert type(b) is type(a) and b == a, where


def test_round_trip_is_exact(tmp_path):
    state = training_like_state()
    path = save_snapshot(tmp_path / "snap.pt", state, {"env_steps": 300, "agent": "sac"})
    loaded, meta = load_snapshot(path)
    assert_same(state, loaded)
    assert meta["env_steps"] == 300 and meta["agent"] == "sac"
    assert meta["snapshot_format"] == FORMAT and meta["snapshot_version"] == checkpoint.VERSION
    assert read_metadata(path) == meta
    # 128-bit PCG64 state survives, so the generator continues the same stream
    rng = np.random.default_rng()
    rng.bit_generator.state = loaded["rng"]["numpy"]
    original = np.random.default_rng(123)
    original.random(5)
    assert rng.random() == original.random()


def test_loaded_optimiser_state_continues_identically(tmp_path):
    state = training_like_state()
    save_snapshot(tmp_path / "s.pt", state, {})
    loaded, _ = load_snapshot(tmp_path / "s.pt")
    nets = []
    for s in (state, loaded):
        net = torch.nn.Linear(3, 2)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        net.load_state_dict(s["agent"]["net"])
        opt.load_state_dict(s["agent"]["opt"])
        net(torch.ones(1, 3)).sum().backward()
        opt.step()
        nets.append(net)
    torch.testing.assert_close(nets[0].weight, nets[1].weight, rtol=0, atol=0)


def test_file_holds_only_tensors_and_json_text(tmp_path):
    save_snapshot(tmp_path / "s.pt", training_like_state(), {"a": 1})
    record = torch.load(tmp_path / "s.pt", weights_only=True)
    assert record["format"] == FORMAT
    assert isinstance(record["metadata"], str) and isinstance(record["structure"], str)
    assert all(isinstance(t, torch.Tensor) for t in record["tensors"].values())


def test_unsnapshottable_values_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="state.x"):
        save_snapshot(tmp_path / "s.pt", {"x": object()}, {})
    with pytest.raises(TypeError, match="metadata"):
        save_snapshot(tmp_path / "s.pt", {}, {"when": object()})
    assert not list(tmp_path.iterdir())


def test_crash_mid_write_leaves_previous_snapshot_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_snapshot(path, {"w": torch.ones(3)}, {"env_steps": 100})
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a snapshot")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_snapshot(path, {"w": torch.zeros(3)}, {"env_steps": 200})
    monkeypatch.undo()
    assert path.read_bytes() == before
    state, meta = load_snapshot(path)
    assert meta["env_steps"] == 100 and torch.equal(state["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temporary file left behind


def test_interrupt_mid_write_also_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(path, {"w": torch.ones(1)}, {})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_refused_with_the_path(tmp_path, fraction):
    good = tmp_path / "good.pt"
    save_snapshot(good, training_like_state(), {"env_steps": 1})
    data = good.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(SnapshotError) as err:
        load_snapshot(bad)
    message = str(err.value)
    assert str(bad) in message
    assert "truncated" in message or "empty" in message


def test_foreign_files_are_refused_with_the_reason(tmp_path):
    other = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2)}, other)  # a torch file, but not a liftrl snapshot
    with pytest.raises(SnapshotError, match="not a liftrl snapshot.*format marker"):
        load_snapshot(other)
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint")
    with pytest.raises(SnapshotError, match="not a torch.save archive"):
        load_snapshot(text)
    archive = tmp_path / "data.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "a zip, but not torch's")
    with pytest.raises(SnapshotError, match=str(archive)):
        load_snapshot(archive)
    with pytest.raises(FileNotFoundError, match="no snapshot"):
        load_snapshot(tmp_path / "missing.pt")


def test_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "VERSION", 99)
    save_snapshot(tmp_path / "s.pt", {}, {})
    monkeypatch.undo()
    with pytest.raises(SnapshotError, match="version 99"):
        load_snapshot(tmp_path / "s.pt")


class Payload:
    """Unpickling this would run code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_loading_executes_no_code(tmp_path):
    marker = tmp_path / "code_ran"
    # as a torch archive (the snapshot container) ...
    evil_zip = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": 1, "x": Payload(marker)}, evil_zip)
    with pytest.raises(SnapshotError, match="refused to load.*could run code"):
        load_snapshot(evil_zip)
    # ... and as a bare pickle
    evil_pickle = tmp_path / "evil.pkl"
    evil_pickle.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(SnapshotError, match=str(evil_pickle)):
        load_snapshot(evil_pickle)
    assert not marker.exists()
    # the payload is real: plain pickle would have run it
    pickle.loads(evil_pickle.read_bytes())
    assert marker.exists()
