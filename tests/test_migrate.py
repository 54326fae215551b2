"""Old formats in one place (liftrl.run.migrate): each step on a hand-made old dict, the walk, the refusal
of a newer format by name, and old files read end to end through the usual loaders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liftrl.run import migrate
from liftrl.run.migrate import FormatTooNew, migrate_bundle, migrate_snapshot

torch.set_num_threads(1)


def _v1_snapshot(**counters):
    """A run snapshot as written before format versions: no ``run_version``, counters of that time."""
    return {"state": {"agent": {"w": torch.zeros(2)}, "counters": {"env_steps": 300, "updates": 10, **counters}},
            "metadata": {"format": "liftrl.run-snapshot", "env_steps": 300}}


def test_snapshot_1_to_2_counts_no_guard_restore_yet_and_leaves_its_input_alone():
    old = _v1_snapshot()
    new = migrate.snapshot_1_to_2(old)
    assert new["state"]["counters"]["guard_restores"] == 0 and new["metadata"]["run_version"] == 2
    assert "guard_restores" not in old["state"]["counters"] and "run_version" not in old["metadata"]  # pure
    assert new["state"]["agent"]["w"] is old["state"]["agent"]["w"]  # tensors shared, not copied
    assert migrate.snapshot_1_to_2(_v1_snapshot(guard_restores=2))["state"]["counters"]["guard_restores"] == 2


def test_snapshot_2_to_3_counts_no_worker_restart_before_it_was_counted():
    old = {**_v1_snapshot(guard_restores=1), "metadata": {"run_version": 2}}
    new = migrate.snapshot_2_to_3(old)
    assert new["state"]["counters"]["worker_restarts"] == 0 and new["metadata"]["run_version"] == 3
    assert "worker_restarts" not in old["state"]["counters"]
    weights_only = migrate.snapshot_2_to_3({"state": {"agent": {}}, "metadata": {"run_version": 2}})
    assert weights_only["state"] == {"agent": {}}  # nothing to count in a state of weights alone


def test_a_v1_snapshot_walks_every_step_to_today_and_today_s_is_unchanged():
    state, meta = migrate_snapshot(_v1_snapshot()["state"], _v1_snapshot()["metadata"], "old.pt")
    assert meta["run_version"] == migrate.RUN_SNAPSHOT_VERSION == 4
    assert state["counters"] == {"env_steps": 300, "updates": 10, "guard_restores": 0, "worker_restarts": 0}
    today = {"counters": {"guard_restores": 1, "worker_restarts": 4}}
    assert migrate_snapshot(today, {"run_version": 4}, "new.pt") == (today, {"run_version": 4})
    assert sorted(migrate.SNAPSHOT_STEPS) == list(range(1, migrate.RUN_SNAPSHOT_VERSION))  # no gap


def test_a_newer_snapshot_is_refused_by_name():
    with pytest.raises(FormatTooNew, match=r"runs/x/step_5\.pt: run snapshot format version 5 .*newer liftrl"):
        migrate_snapshot({}, {"run_version": 5}, "runs/x/step_5.pt")


def test_snapshot_3_to_4_says_a_run_from_before_the_lead_cap_trained_without_one():
    old = {"state": {}, "metadata": {"run_version": 3, "config": {"env": {"curriculum_stage": 5}, "agent": {}}}}
    new = migrate.snapshot_3_to_4(old)
    assert new["metadata"]["config"]["env"] == {"curriculum_stage": 5, "command_lead_rad": []}
    assert new["metadata"]["run_version"] == 4 and "command_lead_rad" not in old["metadata"]["config"]["env"]
    kept = {"state": {}, "metadata": {"run_version": 3, "config": {"env": {"command_lead_rad": [0.3, 0.7]}}}}
    assert migrate.snapshot_3_to_4(kept)["metadata"]["config"]["env"]["command_lead_rad"] == [0.3, 0.7]
    assert migrate.snapshot_3_to_4({"state": {}, "metadata": {"run_version": 3}})["metadata"] == {"run_version": 4}


def test_bundle_2_to_3_says_an_old_bundle_trained_without_a_lead_cap():
    old = {"version": 2, "task": {"curriculum_stage": 5}}
    new = migrate.bundle_2_to_3(old)
    assert new == {"version": 3, "task": {"curriculum_stage": 5, "command_lead_rad": []}}
    assert old == {"version": 2, "task": {"curriculum_stage": 5}}


def test_bundle_1_to_2_gives_an_old_sac_actor_no_layer_norm():
    old = {"format": "liftrl.policy-bundle", "version": 1, "actor": {"kind": "sac", "hidden_dim": 16}}
    new = migrate.bundle_1_to_2(old)
    assert new["actor"] == {"kind": "sac", "hidden_dim": 16, "layer_norm": False} and new["version"] == 2
    assert "layer_norm" not in old["actor"] and old["version"] == 1
    assert migrate.bundle_1_to_2({**old, "actor": {"kind": "sac", "layer_norm": True}})["actor"]["layer_norm"]
    drq = migrate.bundle_1_to_2({"version": 1, "actor": {"kind": "drqv2"}})
    assert drq["actor"] == {"kind": "drqv2"}


def test_a_newer_or_unversioned_bundle_is_refused_by_name():
    with pytest.raises(FormatTooNew, match=r"b/bundle\.json: bundle format version 4 .*newer liftrl"):
        migrate_bundle({"version": 4}, "b/bundle.json")
    with pytest.raises(ValueError, match="b/bundle.json: bundle version None"):
        migrate_bundle({}, "b/bundle.json")


def test_an_old_sac_bundle_loads_and_acts_as_exported(tmp_path):
    """A version-1 bundle written before LayerNorm was recorded (spec and its golden copy as then)."""
    from test_deploy_bundle import TINY_SAC, obs_batch, snapshot

    from liftrl.deploy.bundle import GOLDEN_FILE, GOLDEN_SPEC, SPEC_FILE, canonical_spec, export_snapshot, load_bundle

    state, meta, agent = snapshot(TINY_SAC, ("state",), ("state",))
    out = export_snapshot(state, meta, tmp_path / "bundle")
    spec = json.loads((out / SPEC_FILE).read_text())
    assert spec["version"] == migrate.BUNDLE_VERSION
    assert spec["task"]["command_lead_rad"] == [0.35, 0.8]  # today's default, recorded
    spec["version"] = 1
    del spec["actor"]["layer_norm"]
    del spec["task"]["command_lead_rad"]
    (out / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    with np.load(out / GOLDEN_FILE, allow_pickle=False) as golden:
        golden = dict(golden)
    golden[GOLDEN_SPEC] = np.array(canonical_spec(spec))
    np.savez(out / GOLDEN_FILE, **golden)
    bundle = load_bundle(out)
    assert bundle.task.command_lead_rad == ()  # trained before the cap: its dry-run env row has none
    from liftrl.deploy.dryrun import env_config

    assert env_config(bundle).command_lead_rad == ()
    assert "trained without a lead cap" in bundle.task.lead_note((0.35,) * 5 + (0.8,))
    obs = obs_batch(("state",))
    np.testing.assert_allclose(bundle.policy(obs), agent.act(obs, step=0, eval_mode=True), atol=1e-6)


def test_a_newer_run_snapshot_is_refused_by_the_policy_loader(tmp_path):
    from test_deploy_bundle import TINY_SAC, snapshot

    from liftrl.run.policy import load_policy
    from liftrl.run.snapshot import save_snapshot

    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",))
    path = save_snapshot(tmp_path / "step_000000100.pt", state, {**meta, "run_version": 9})
    with pytest.raises(FormatTooNew, match=r"step_000000100\.pt: run snapshot format version 9"):
        load_policy(path)
    path = save_snapshot(tmp_path / "step_000000200.pt", state, meta)  # no run_version: version 1
    assert load_policy(path).meta["run_version"] == migrate.RUN_SNAPSHOT_VERSION


@pytest.mark.slow
def test_a_run_saved_before_format_versions_resumes(tmp_path):
    """A real run's latest snapshot rewritten as a version-1 one (no run_version, no guard or worker
    counters) resumes, and its next snapshot is written in today's format."""
    from pathlib import Path

    from liftrl.run.snapshot import load_snapshot, save_snapshot
    from liftrl.train.loop import resume, train

    config = str(Path(__file__).resolve().parents[1] / "configs" / "tiny_sac.yaml")
    run = train(config, ["train.total_env_steps=100", "train.eval_every=100", "train.video_episodes=0",
                         "train.progress=false"], run_root=str(tmp_path))
    latest = run / "snapshots" / "latest.pt"
    state, meta = load_snapshot(latest)
    for key in ("guard_restores", "worker_restarts"):
        del state["counters"][key]
    old_meta = {k: v for k, v in meta.items() if not k.startswith("snapshot_") and k != "run_version"}
    save_snapshot(latest, state, old_meta)
    resume(run, ["train.total_env_steps=200"])
    state, meta = load_snapshot(run / "snapshots" / "latest.pt")
    assert meta["env_steps"] == 200 and meta["run_version"] == migrate.RUN_SNAPSHOT_VERSION
    assert state["counters"]["guard_restores"] == 0 and state["counters"]["worker_restarts"] == 0


def test_a_saved_run_config_from_before_the_lead_cap_reads_as_trained_without_it(tmp_path):
    """A run folder's config.yaml holds every field; one written before ``command_lead_rad`` lacks it, and
    resume, eval and sweep trials must read it as that run trained (no cap), not as today's default."""
    import yaml

    from liftrl.config import load_config, save_config

    path = tmp_path / "config.yaml"
    save_config(load_config(None), path)
    raw = yaml.safe_load(path.read_text())
    assert raw["env"]["command_lead_rad"] == [0.35, 0.8]  # written by today's liftrl
    del raw["env"]["command_lead_rad"]
    path.write_text(yaml.safe_dump(raw))
    assert load_config(path, saved_run=True).env.command_lead_rad == ()
    assert load_config(path).env.command_lead_rad == (0.35, 0.8)  # a user's config: today's default
    assert load_config(path, ["env.command_lead_rad=[0.3,0.7]"], saved_run=True).env.command_lead_rad == (0.3, 0.7)
