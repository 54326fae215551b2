"""``liftrl export`` and ``liftrl deploy --robot sim`` end to end on a tiny run folder."""

import argparse
import dataclasses
import importlib.util
import os

import numpy as np
import pytest
import torch
import yaml

from liftrl.agents import SACConfig, make_agent
from liftrl.deploy.cli_arm import add_bringup_parser
from liftrl.deploy.cli_commands import add_deploy_parser, add_export_parser
from liftrl.deploy.episode_log import load_log
from liftrl.run.snapshot import RUN_SNAPSHOT_FORMAT, save_snapshot

torch.set_num_threads(1)


def parser():
    p = argparse.ArgumentParser(prog="liftrl")
    sub = p.add_subparsers(dest="command", required=True)
    add_export_parser(sub)
    add_deploy_parser(sub)
    add_bringup_parser(sub)
    return p


def tiny_run(tmp_path, actor=("state",), env=None, action_dim=4, shapes=None):
    cfg = SACConfig(hidden_dim=16, hidden_layers=2)
    shapes = {"state": (18,), "privileged": (3,), **(shapes or {})}
    agent = make_agent(cfg, shapes, action_dim, actor, ("state", "privileged"), "cpu", seed=0)
    meta = {"format": RUN_SNAPSHOT_FORMAT, "agent": "sac", "env_steps": 10,
            "reward": {"name": "v11", "fingerprint": "x"},
            "observations": {"actor": list(actor), "critic": ["state", "privileged"],
                             "shapes": {k: list(v) for k, v in shapes.items()}},
            "action_dim": action_dim,
            "config": {"env": {"curriculum_stage": 3, "hold_steps": 5, "lift_height": 0.08, "max_episode_steps": 10,
                               "image_size": 32, "frame_stack": 2, "reward": "v11", **(env or {})},
                       "agent": dataclasses.asdict(cfg)}}
    run = tmp_path / "run"
    save_snapshot(run / "snapshots" / "step_000000010.pt", {"agent": agent.state_dict()}, meta)
    os.link(run / "snapshots" / "step_000000010.pt", run / "snapshots" / "latest.pt")  # as the train loop links it
    (run / "config.yaml").write_text(yaml.safe_dump(meta["config"]))
    return run


def call(argv):
    args = parser().parse_args(argv)
    return args.func(args)


@pytest.mark.slow
def test_export_then_sim_dry_run(tmp_path, capsys):
    run = tiny_run(tmp_path)
    assert call(["export", str(run), "--checkpoint", "latest"]) == 0
    bundle = run / "bundle_latest"
    assert "trained at 50 Hz with 0 ms latency" in capsys.readouterr().out
    logs = tmp_path / "logs"
    assert call(["deploy", str(bundle), "--robot", "sim", "--episodes", "2", "--rate", "15", "--latency-ms", "100",
                 "--log-dir", str(logs)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 3, out
    assert rows[0].startswith("| env (training loop) | 50 | 0 |")
    assert rows[1].startswith("| deploy loop on SimRobot | 50 | 0 |")
    assert rows[2].startswith("| deploy loop on SimRobot | 15 | 100 |")
    files = sorted(logs.glob("*.npz"))
    assert len(files) == 2
    arrays, meta = load_log(files[0])
    assert meta["robot"] == "sim" and meta["latency_ms"] == 100 and meta["stop_reason"] == "done"
    # 10 env ticks of 20 ms = 0.2 s at 15 Hz: 3 control steps, 66.7 ms apart
    assert arrays["action"].shape == (3, 4)
    np.testing.assert_allclose(np.diff(arrays["timestamp"]), 1 / 15, atol=0.002)


def test_real_arm_refuses_a_privileged_actor(tmp_path, capsys):
    run = tiny_run(tmp_path, actor=("privileged", "state"))
    call(["export", str(run), "--checkpoint", "latest", "--out", str(tmp_path / "b")])
    assert "usable with --robot sim only" in capsys.readouterr().out
    # the message lists every input a real-arm actor may read, its own recent actions included
    with pytest.raises(ValueError, match="only the simulated robot can supply; a policy for the real arm may read "
                                         "only pixels, state, last_actions"):
        call(["deploy", str(tmp_path / "b"), "--robot", "so101", "--port", "/dev/null"])


@pytest.mark.skipif(importlib.util.find_spec("lerobot") is not None, reason="LeRobot is installed here")
def test_real_arm_without_lerobot_says_how_to_install(tmp_path, capsys):
    run = tiny_run(tmp_path)
    call(["export", str(run), "--checkpoint", "latest", "--out", str(tmp_path / "b")])
    assert call(["deploy", str(tmp_path / "b"), "--robot", "so101", "--port", "/dev/ttyACM0", "--uncalibrated"]) == 2
    assert "install liftrl into your LeRobot environment" in capsys.readouterr().err
    assert call(["bringup", "--port", "/dev/ttyACM0"]) == 2
    assert "install liftrl into your LeRobot environment" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("lerobot") is None, reason="LeRobot is checked for first")
def test_real_arm_without_calibration_is_refused_by_name(tmp_path, monkeypatch):
    from liftrl.deploy.calibration import CalibrationMissing

    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path / "lerobot"))
    run = tiny_run(tmp_path)
    call(["export", str(run), "--checkpoint", "latest", "--out", str(tmp_path / "b")])
    with pytest.raises(CalibrationMissing, match="no LeRobot calibration for robot id 'arm7'"):
        call(["deploy", str(tmp_path / "b"), "--robot", "so101", "--port", "/dev/ttyACM0", "--robot-id", "arm7"])


def test_bad_arguments_are_named(tmp_path):
    run = tiny_run(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no snapshots/best\.pt"):
        call(["export", str(run)])
    call(["export", str(run), "--checkpoint", "latest"])
    with pytest.raises(ValueError, match="--episodes must be >= 1"):
        call(["deploy", str(run / "bundle_latest"), "--episodes", "0"])
    with pytest.raises(ValueError, match="latency and noise are real"):
        call(["deploy", str(run / "bundle_latest"), "--robot", "so101", "--latency-ms", "50", "--port", "x"])
    with pytest.raises(FileNotFoundError, match="not a policy bundle"):
        call(["deploy", str(run), "--robot", "sim"])
    # the real arm's caps are not silently dropped by the sim dry run, which keeps the default caps
    with pytest.raises(ValueError, match="--max-joint-speed and --max-lead are for --robot so101 or sim-lerobot"):
        call(["deploy", str(run / "bundle_latest"), "--robot", "sim", "--max-lead", "3"])
    with pytest.raises(ValueError, match="must be > 0, got None, 0.0"):
        call(["deploy", str(run / "bundle_latest"), "--robot", "sim-lerobot", "--max-lead", "0"])


def test_caps_left_out_are_the_safety_defaults_and_given_ones_are_used(capsys):
    from liftrl.deploy.cli_arm import limits_from_args
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.safety import SafetyLimits
    from liftrl.deploy.spec import TaskSpec

    arm = ArmModel.build()
    task = TaskSpec(curriculum_stage=5, hold_steps=150, lift_height=0.08, max_episode_steps=400,
                    command_lead_rad=(0.35, 0.8))
    bundle = argparse.Namespace(action=argparse.Namespace(gripper_ctrl=(-0.17, 1.75), workspace_low=(0.1, -0.3, 0.0),
                                                          workspace_high=(0.5, 0.3, 0.3)), task=task)
    default = SafetyLimits.for_arm(arm.joint_range, (-0.17, 1.75), (0.1, -0.3, 0.0), (0.5, 0.3, 0.3))
    args = parser().parse_args(["deploy", "b", "--robot", "so101"])
    assert limits_from_args(args, arm, bundle) == default
    assert "lead" not in capsys.readouterr().out  # the caps it was trained under: nothing to say
    args = parser().parse_args(["deploy", "b", "--robot", "so101", "--max-lead", "0.2", "--max-joint-speed", "3"])
    given = limits_from_args(args, arm, bundle)
    assert given.max_lead[:5] == (0.2,) * 5 and given.max_joint_speed[:5] == (3.0,) * 5
    assert given.max_lead[5] == default.max_lead[5]  # the gripper keeps its own
    out = capsys.readouterr().out
    assert "trained with commands within 0.35 / 0.8 rad" in out and "now caps at 0.2 / 0.8 rad" in out
    old = argparse.Namespace(action=bundle.action, task=TaskSpec(curriculum_stage=5, hold_steps=150,
                                                                lift_height=0.08, max_episode_steps=400))
    limits_from_args(parser().parse_args(["deploy", "b", "--robot", "so101"]), arm, old)
    assert "trained without a lead cap" in capsys.readouterr().out


def test_deploy_help_says_max_steps_defaults_to_the_bundles_episode(capsys):
    with pytest.raises(SystemExit):
        call(["deploy", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: the bundle's episode length" in text and "the task's 4 s" not in text
