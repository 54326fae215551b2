"""bench/loop_gap.py: one episode in the deploy loop, its actions replayed in the env, compared step by step."""

from __future__ import annotations

import json

import pytest

from bench_modules import bench_module
from test_deploy_bundle import TINY_SAC, snapshot


def test_first_parting_is_the_first_step_any_observation_differs():
    first_parting = bench_module("loop_gap").first_parting
    same = {"joints_rad": 0.0, "velocities_rad_s": 0.0, "last_actions": 0.0}
    assert first_parting([{"step": 0, **same}, {"step": 1, **same}]) is None
    assert first_parting([{"step": 0, **same}, {"step": 1, **same, "velocities_rad_s": 0.2},
                          {"step": 2, **same, "joints_rad": 0.1}]) == 1
    assert first_parting([{"step": 0, "newest_frame_mean_abs": 3.0}]) == 0


def test_a_pick_bundle_starts_identically_in_both_loops_and_the_report_names_the_parting(tmp_path, capsys):
    from liftrl.deploy.bundle import export_snapshot
    from liftrl.sim.task import PICK_STAGE

    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",),
                              env_extra={"curriculum_stage": PICK_STAGE, "max_episode_steps": 60})
    bundle = export_snapshot(state, meta, tmp_path / "pick")
    bench_module("loop_gap").main([str(bundle), "--seed", "7", "--steps", "4", "--out", str(tmp_path / "gap.json")])
    report = json.loads((tmp_path / "gap.json").read_text())
    rows = report["rows"]
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and report["seed"] == 7
    # the same seed gives the same start in both loops: the first observation is identical
    assert rows[0]["joints_rad"] == 0.0 and rows[0]["velocities_rad_s"] == 0.0
    parted = report["first_parting"]
    assert parted is None or parted >= 1
    out = capsys.readouterr().out
    assert (f"the loops part at step {parted}" if parted is not None else "identical for 4 steps") in out
    assert [json.loads(line)["step"] for line in out.splitlines() if line.startswith("{")] == [0, 1, 2, 3]


def test_an_unreadable_bundle_is_refused(tmp_path):
    with pytest.raises(Exception, match="bundle"):
        bench_module("loop_gap").main([str(tmp_path / "missing")])
