"""bench/safety_gap.py: the dry-run seeds with the deploy loop's lead cap and tracking watchdog on and off."""

from __future__ import annotations

import json

import pytest

from bench_modules import bench_module
from test_deploy_bundle import TINY_SAC, snapshot


@pytest.fixture(scope="module")
def pick_bundle(tmp_path_factory):
    from liftrl.deploy.bundle import export_snapshot, load_bundle
    from liftrl.sim.task import PICK_STAGE

    state, meta, _ = snapshot(TINY_SAC, ("state",), ("state",),
                              env_extra={"curriculum_stage": PICK_STAGE, "max_episode_steps": 20})
    path = export_snapshot(state, meta, tmp_path_factory.mktemp("gap") / "pick")
    return path, load_bundle(path, real_arm=True)


def test_off_moves_the_lead_cap_out_of_the_way_and_on_is_the_shipped_one(pick_bundle):
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.safety import SafetyLimits

    gap, (_, bundle), arm = bench_module("safety_gap"), pick_bundle, ArmModel.build()
    shipped = SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                   bundle.action.workspace_high)
    assert gap.limits_for(bundle, arm, True) == shipped
    off = gap.limits_for(bundle, arm, False)
    assert off.max_lead == (gap.OFF_LEAD_RAD,) * 6 and off.max_joint_speed == shipped.max_joint_speed


def test_the_tracking_limit_reaches_the_deploy_loop(pick_bundle):
    """A tracking limit no arm can keep stops every episode; one that cannot trip stops none."""
    from liftrl.deploy.dryrun import run_deploy
    from liftrl.deploy.safety import TrackingLimit

    _, bundle = pick_bundle
    strict = run_deploy(bundle, [3, 4], bundle.control.hz, bundle.control.latency_ms,
                        tracking=TrackingLimit(max_error=1e-6, max_duration_s=0.01))
    assert [o.stop_reason for o in strict.outcomes] == ["tracking", "tracking"]
    wide = run_deploy(bundle, [3, 4], bundle.control.hz, bundle.control.latency_ms,
                      tracking=TrackingLimit(max_error=100.0))
    assert all(o.stop_reason != "tracking" for o in wide.outcomes)


def test_a_tiny_run_writes_every_row_as_it_goes(pick_bundle, tmp_path):
    path, _ = pick_bundle
    out = tmp_path / "gap"
    bench_module("safety_gap").main([str(path), "--episodes", "1", "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    rows = report["rows"]
    assert [r["loop"] for r in rows] == ["env"] + ["deploy"] * 4
    assert [(r["lead"], r["tracking"]) for r in rows[1:]] == [(True, True), (True, False), (False, True),
                                                              (False, False)]
    assert all(r["episodes"] == 1 and 0 <= r["successes"] <= 1 for r in rows)
    assert report["trained_lead_rad"] == [0.35, 0.8]
    md = out.with_suffix(".md").read_text()
    assert md.count("| deploy |") == 4 and "| env |" in md


def test_no_episodes_is_refused(pick_bundle, tmp_path):
    with pytest.raises(SystemExit):
        bench_module("safety_gap").main([str(pick_bundle[0]), "--episodes", "0", "--out", str(tmp_path / "x")])
