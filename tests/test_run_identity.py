"""A snapshot says which run and network it is: eval, export and resume refuse another's by name."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from liftrl.cli import main
from liftrl.run.identity import RUN_FILE, ForeignSnapshot, check_snapshot, read_run_identity
from liftrl.run.snapshot import load_snapshot, read_metadata
from liftrl.train.loop import resume, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHORT = ["train.progress=false", "train.total_env_steps=100", "train.eval_every=100", "train.snapshot_every=100",
         "train.video_episodes=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """This run (SAC, width 32) and a stranger (SAC, width 16)."""
    root = tmp_path_factory.mktemp("identity")
    mine = train(str(CONFIGS / "tiny_sac.yaml"), SHORT, run_root=str(root / "mine"))
    other = train(str(CONFIGS / "tiny_sac.yaml"), SHORT + ["agent.hidden_dim=16"], run_root=str(root / "other"))
    return mine, other


@pytest.mark.slow
def test_every_snapshot_records_its_run_and_network(runs):
    mine, _ = runs
    ident = read_run_identity(mine)
    meta = read_metadata(mine / "snapshots" / "latest.pt")
    assert meta["run_id"] == ident["run_id"] and meta["architecture_hash"] == ident["architecture_hash"]


@pytest.mark.slow
def test_foreign_snapshot_is_refused_by_eval_export_and_resume(runs, capsys):
    mine, other = runs
    mine_id, other_id = read_run_identity(mine)["run_id"], read_run_identity(other)["run_id"]
    shutil.copy(other / "snapshots" / "step_000000100.pt", mine / "snapshots" / "step_000000900.pt")
    both = rf"saved by run {other_id}, and this run is {mine_id} and its network differs from this run's \(.*" \
           rf"\[16, \d+\] in the snapshot, \[32, \d+\] in the run"
    assert main(["eval", str(mine), "--checkpoints", "900", "--episodes", "1", "--no-video"]) == 2
    assert re.search(both, capsys.readouterr().err)
    assert not list(mine.glob("eval_900*"))
    assert main(["export", str(mine), "--checkpoint", "900", "--out", str(mine / "bundle_foreign")]) == 2
    assert re.search(both, capsys.readouterr().err)
    assert not (mine / "bundle_foreign").exists()
    latest = mine / "snapshots" / "latest.pt"
    saved = latest.read_bytes()
    shutil.copy(other / "snapshots" / "latest.pt", latest)
    try:
        with pytest.raises(ForeignSnapshot, match=both):
            resume(mine, ["train.total_env_steps=200"])
    finally:
        latest.write_bytes(saved)
        (mine / "snapshots" / "step_000000900.pt").unlink()


@pytest.mark.slow
def test_resume_with_another_network_names_the_keys_instead_of_a_torch_traceback(runs, tmp_path):
    mine, _ = runs
    run = tmp_path / "copy"
    shutil.copytree(mine, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["agent"]["hidden_dim"] = 64  # an edited config: the run's snapshot holds width 32
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ForeignSnapshot, match=r"resume refused: .*latest.pt holds another network than .*config.yaml "
                                              r"builds \(.*\[32, \d+\] in the snapshot, \[64, \d+\] in the run"):
        resume(run, ["train.total_env_steps=200"])


@pytest.mark.slow
def test_snapshots_from_before_ids_load_with_a_warning(runs, tmp_path):
    mine, _ = runs
    state, meta = load_snapshot(mine / "snapshots" / "latest.pt")
    from liftrl.run.identity import snapshot_architecture

    arch = snapshot_architecture(state, meta)
    old = {k: v for k, v in meta.items() if k not in ("run_id", "architecture_hash")}
    with pytest.warns(UserWarning, match="saved before liftrl recorded run ids"):
        check_snapshot(mine, "old.pt", old, arch)
    bare = tmp_path / "legacy"
    bare.mkdir()
    with pytest.warns(UserWarning, match=f"has no {RUN_FILE}"):
        check_snapshot(bare, "old.pt", old, arch)
    json.dumps(arch)  # the architecture record is plain JSON
