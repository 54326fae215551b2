"""Policy bundles: export -> load reproduces the run's actor; tampering and sim-only inputs are refused."""

import dataclasses
import datetime
import json

import numpy as np
import pytest
import torch

from liftrl.agents import DrQV2Config, SACConfig, make_agent
from liftrl.deploy.bundle import (
    GOLDEN_FILE, SPEC_FILE, WEIGHTS_FILE, BundleError, export_run, export_snapshot, load_bundle,
)
from liftrl.deploy.episode_log import EpisodeLog, load_log, replay
from liftrl.run.snapshot import RUN_SNAPSHOT_FORMAT

torch.set_num_threads(1)

TINY_DRQ = DrQV2Config(feature_dim=8, hidden_dim=16, encoder_channels=4, encoder_layers=2, batch_size=4)
TINY_SAC = SACConfig(hidden_dim=16, hidden_layers=2, batch_size=4)
SHAPES = {"pixels": (6, 32, 32), "state": (18,), "privileged": (3,)}


def snapshot(agent_cfg, actor, critic, seed=0, env_extra=None):
    """(state, metadata) shaped as the train loop writes them (see Trainer._state / _metadata)."""
    keys = sorted(set(actor) | set(critic))
    shapes = {k: SHAPES[k] for k in keys}
    agent = make_agent(agent_cfg, shapes, 4, actor, critic, "cpu", seed=seed)
    env = {"curriculum_stage": 3, "hold_steps": 150, "lift_height": 0.08, "max_episode_steps": 200,
           "image_size": 32, "frame_stack": 2, "reward": "v19", **(env_extra or {})}
    meta = {"format": RUN_SNAPSHOT_FORMAT, "agent": agent_cfg.name, "env_steps": 1234,
            "reward": {"name": "v19", "fingerprint": "x"},
            "observations": {"actor": list(actor), "critic": list(critic),
                             "shapes": {k: list(v) for k, v in shapes.items()}},
            "action_dim": 4, "config": {"env": env, "agent": dataclasses.asdict(agent_cfg)}}
    return {"agent": agent.state_dict()}, meta, agent


def obs_batch(keys, n=3, seed=1):
    rng = np.random.default_rng(seed)
    out = {}
    for k in keys:
        if k == "pixels":
            out[k] = rng.integers(0, 256, size=(n, *SHAPES[k]), dtype=np.uint8)
        else:
            out[k] = rng.normal(size=(n, *SHAPES[k])).astype(np.float32)
    return out


@pytest.mark.parametrize("cfg,actor,critic", [
    (TINY_DRQ, ("pixels", "state"), ("pixels", "state", "privileged")),
    (TINY_SAC, ("state",), ("state", "privileged")),
])
def test_export_then_load_acts_like_the_run_actor(tmp_path, cfg, actor, critic):
    state, meta, agent = snapshot(cfg, actor, critic)
    out = export_snapshot(state, meta, tmp_path / "bundle")
    assert sorted(p.name for p in out.iterdir()) == sorted([SPEC_FILE, WEIGHTS_FILE, GOLDEN_FILE])
    bundle = load_bundle(out, real_arm=True)
    # fresh inputs, not the golden ones: the rebuilt actor is the run's actor
    obs = obs_batch(actor)
    np.testing.assert_allclose(bundle.policy(obs), agent.act(obs, step=0, eval_mode=True), atol=1e-6)
    spec = json.loads((out / SPEC_FILE).read_text())
    assert spec["control"] == {"hz": 50.0, "latency_ms": 0.0}
    assert spec["action"]["scale"] == 0.02
    assert spec["action"]["workspace_low"] == [0.1, -0.3, 0.01] and spec["action"]["workspace_high"] == [0.5, 0.3, 0.4]
    assert spec["observation"]["keys"] == list(bundle.policy.keys)
    assert len(spec["observation"]["state_layout"]) == 18
    if "pixels" in actor:
        assert spec["observation"]["camera"]["size"] == 32 and spec["observation"]["frame_stack"] == 2
    assert bundle.reward == "v19" and bundle.task.hold_steps == 150


def test_weights_file_is_plain_tensors_and_loads_without_pickled_code(tmp_path):
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    out = export_snapshot(state, meta, tmp_path / "b")
    weights = torch.load(out / WEIGHTS_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    assert all(k.startswith("actor.") for k in weights)  # no critic, no optimiser: the actor only


def test_control_rate_from_config_is_recorded(tmp_path):
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",), env_extra={"control_hz": 15.0, "latency_ms": 100.0})
    bundle = load_bundle(export_snapshot(state, meta, tmp_path / "b"))
    assert (bundle.control.hz, bundle.control.latency_ms) == (15.0, 100.0)


def test_changed_weight_is_refused_naming_the_largest_difference(tmp_path):
    state, meta, _ = snapshot(TINY_DRQ, ("pixels", "state"), ("pixels", "state"))
    out = export_snapshot(state, meta, tmp_path / "b")
    weights = torch.load(out / WEIGHTS_FILE, weights_only=True)
    last_bias = [k for k in weights if k.startswith("actor.policy") and k.endswith("bias")][-1]
    weights[last_bias] = weights[last_bias] + 0.5
    torch.save(weights, out / WEIGHTS_FILE)
    with pytest.raises(BundleError, match=r"golden check failed, largest difference 0\.\d+ at pair \d action\[\d\]"):
        load_bundle(out)


def test_pickled_object_in_weights_is_refused(tmp_path):
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    out = export_snapshot(state, meta, tmp_path / "b")
    torch.save({"actor.net.0.weight": datetime.date(2020, 1, 1)}, out / WEIGHTS_FILE)  # any non-tensor object
    with pytest.raises(BundleError, match="could run code"):
        load_bundle(out)


def test_privileged_actor_is_refused_for_the_real_arm_only(tmp_path):
    state, meta, agent = snapshot(TINY_SAC, ("privileged", "state"), ("privileged", "state"))
    out = export_snapshot(state, meta, tmp_path / "b")
    sim_bundle = load_bundle(out)  # the simulated robot can supply the cube position
    assert sim_bundle.sim_only_inputs == ("privileged",)
    with pytest.raises(BundleError, match=r"reads \['privileged'\].*only the simulated robot can supply"):
        load_bundle(out, real_arm=True)


def test_missing_golden_file_is_refused(tmp_path):
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    out = export_snapshot(state, meta, tmp_path / "b")
    (out / GOLDEN_FILE).unlink()
    with pytest.raises(BundleError, match="cannot verify"):
        load_bundle(out)


def test_export_from_a_run_folder_snapshot(tmp_path):
    from liftrl.run.snapshot import save_snapshot

    import os

    state, meta, agent = snapshot(TINY_SAC, ("state",), ("state", "privileged"))
    run = tmp_path / "run"
    save_snapshot(run / "snapshots" / "step_000001234.pt", state, meta)
    os.link(run / "snapshots" / "step_000001234.pt", run / "snapshots" / "best.pt")  # as the train loop links it
    (run / "config.yaml").write_text("env:\n  num_envs: 2\n")
    out = export_run(run, "best")
    assert out == run / "bundle_best"
    bundle = load_bundle(out, real_arm=True)
    assert bundle.source["snapshot"] == "step_000001234.pt" and bundle.source["env_steps"] == 1234
    obs = obs_batch(("state",))
    np.testing.assert_allclose(bundle.policy(obs), agent.act(obs, 0, True), atol=1e-6)
    assert export_run(run, "1234", tmp_path / "by_step").is_dir()
    assert export_run(run, "1.234k", tmp_path / "by_k").is_dir()  # the step names `liftrl eval` takes
    with pytest.raises(FileNotFoundError, match=r"no snapshots/latest\.pt"):
        export_run(run, "latest")
    with pytest.raises(FileNotFoundError, match=r"no snapshot at step 999.*available: "):
        export_run(run, "999")
    with pytest.raises(ValueError, match="one checkpoint"):
        export_run(run, "best,latest")


def test_episode_log_replays_to_the_logged_actions(tmp_path):
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    bundle = load_bundle(export_snapshot(state, meta, tmp_path / "b"))
    log = EpisodeLog(log_frames=True)
    obs = obs_batch(("state",), n=5)
    actions = bundle.policy(obs)
    for i in range(5):
        log.append(frame=np.zeros((4, 4, 3), np.uint8), obs={"state": obs["state"][i]}, action=actions[i],
                   requested=np.zeros(6), sent=np.zeros(6), joints=np.zeros(6), target=np.zeros(3), timestamp=i * 0.1,
                   frame_timestamp=i * 0.1, timings={"loop_ms": 1.0}, events=["max_step"] if i == 2 else [])
    log.meta["stop_reason"] = "done"
    path = log.save(tmp_path / "ep.npz")
    arrays, meta_out = load_log(path)
    assert meta_out == {"stop_reason": "done", "steps": 5}
    assert arrays["frame"].shape == (5, 4, 4, 3) and list(arrays["events"]) == ["", "", "max_step", "", ""]
    assert replay(path, bundle.policy) == 0.0
    other = load_bundle(export_snapshot(*snapshot(TINY_SAC, ("state",), ("state",), seed=1)[:2], tmp_path / "c"))
    assert replay(path, other.policy) > 1e-3  # a different actor does not reproduce the log


def test_inconsistent_spec_is_refused_naming_the_field(tmp_path):
    state, meta, _ = snapshot(TINY_DRQ, ("pixels", "state"), ("pixels", "state"))
    out = export_snapshot(state, meta, tmp_path / "b")
    spec = json.loads((out / SPEC_FILE).read_text())
    spec["observation"]["frame_stack"] = 3  # the actor was trained on 2 stacked frames
    (out / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=r"shapes.pixels \[6, 32, 32\] does not match 3 stacked RGB frames"):
        load_bundle(out)
    spec["observation"]["frame_stack"] = 2
    del spec["action"]
    (out / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(BundleError, match="missing section 'action'"):
        load_bundle(out)


@pytest.mark.slow
def test_loading_needs_no_training_code_nor_simulator(tmp_path):
    import subprocess
    import sys

    state, meta, _ = snapshot(TINY_DRQ, ("pixels", "state"), ("pixels", "state"))
    out = export_snapshot(state, meta, tmp_path / "b")
    code = ("import sys; from liftrl.deploy.bundle import load_bundle; load_bundle(sys.argv[1], real_arm=True); "
            "print(sorted(m for m in sys.modules if m == 'mujoco' or m.startswith(('liftrl.sim.', 'liftrl.train', "
            "'liftrl.replay', 'liftrl.report')) and m not in PURE or m in ('liftrl.agents.drqv2', 'liftrl.agents.sac', "
            "'liftrl.agents.augment')))")
    # the task's pure rules (workspace, gripper mapping), the scene options' checks (bundle.json's
    # task.scene) and the env id registration need no simulator
    code = "PURE = ('liftrl.sim.task', 'liftrl.sim.scene_options', 'liftrl.sim.registration'); " + code
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_export_never_replaces_a_folder_that_is_not_a_bundle(tmp_path):
    state, meta, _ = snapshot(TINY_DRQ, ("pixels", "state"), ("pixels", "state"))
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "keep.txt").write_text("data")
    with pytest.raises(FileExistsError, match="not a policy bundle"):
        export_snapshot(state, meta, precious)
    assert (precious / "keep.txt").read_text() == "data"
    first = export_snapshot(state, meta, tmp_path / "b")
    again = export_snapshot(state, meta, tmp_path / "b")  # an earlier bundle is replaced in place
    assert first == again and (again / SPEC_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "notes"]  # no temporary or old folders left


def test_edited_spec_is_refused_naming_the_changed_field(tmp_path):
    """The golden check covers bundle.json: the weights intact, an edited action scale is still refused."""
    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    out = export_snapshot(state, meta, tmp_path / "b")
    spec = json.loads((out / SPEC_FILE).read_text())
    load_bundle(out)
    (out / SPEC_FILE).write_text(json.dumps(spec, indent=4, sort_keys=True))  # layout is not an edit
    load_bundle(out)
    scale = spec["action"]["scale"]
    spec["action"]["scale"] = scale * 10
    (out / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=rf"edited after export \(action.scale: {scale} at export, "
                                          rf"{scale * 10} now\)"):
        load_bundle(out)
