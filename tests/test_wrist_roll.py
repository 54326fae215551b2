"""The wrist_roll_action option: a 5th action value turns wrist_roll, the same in the env and on the arm."""

import numpy as np
import pytest

from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.spec import ActionSpec, ObservationSpec, TaskSpec
from liftrl.obs.pipeline import CameraSpec
from liftrl.sim.factory import build_env
from liftrl.sim.kinematics import STATE_LAYOUT
from liftrl.sim.options import EnvOptions
from liftrl.sim.task import ROLL_SPAN, ROLL_STEP, WRIST_ROLL, OptionError, next_roll

PICK = dict(curriculum_stage=5, observations=("state", "last_actions"), action_history=2)


def test_the_roll_value_turns_wrist_roll_within_its_span():
    env = build_env(EnvOptions(wrist_roll_action=True, **PICK))
    try:
        _, info = env.reset(seed=0)
        assert env.action_space.shape == (5,) and info["wrist_roll"] == WRIST_ROLL
        obs, *_ = env.step(np.array([0.0, 0.0, 0.0, 1.0, 0.5]))
        turned = env.unwrapped.data.ctrl[env.unwrapped.ids.actuators[4]] - WRIST_ROLL
        assert 0.0 < turned <= 0.5 * ROLL_STEP + 1e-12  # the joint speed limit may shrink the first step
        np.testing.assert_allclose(obs["last_actions"][-5:], [0, 0, 0, 1, 0.5])  # the history holds all 5 values
        for _ in range(40):
            _, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 1.0, 1.0]))
        assert info["wrist_roll"] == pytest.approx(WRIST_ROLL + ROLL_SPAN)  # held at the span's edge
        assert np.isclose(np.linalg.norm(info["jaw_axis"]), 1.0)
        with pytest.raises(ValueError, match=r"shape \(5,\)"):
            env.step(np.zeros(4))
    finally:
        env.close()


def test_four_d_actions_keep_the_roll_top_down():
    env = build_env(EnvOptions(**PICK))
    try:
        env.reset(seed=0)
        for _ in range(5):
            _, _, _, _, info = env.step(np.array([0.5, 0.5, -0.5, 1.0]))
        assert info["wrist_roll"] == WRIST_ROLL and env.action_space.shape == (4,)
        with pytest.raises(ValueError, match=r"shape \(4,\)"):
            env.step(np.zeros(5))
    finally:
        env.close()


def test_option_and_rule_checks():
    with pytest.raises(OptionError, match="wrist_roll_action"):
        EnvOptions(wrist_roll_action="yes")
    assert next_roll(WRIST_ROLL, -1.0) == pytest.approx(WRIST_ROLL - ROLL_STEP)
    assert next_roll(WRIST_ROLL - ROLL_SPAN, -1.0) == pytest.approx(WRIST_ROLL - ROLL_SPAN)


def _spec(dim, **kw):
    return ActionSpec(dim=dim, scale=0.02, workspace_low=(0.05, -0.3, 0.0), workspace_high=(0.5, 0.3, 0.4),
                      gripper_ctrl=(-0.17, 1.75), wrist_roll=WRIST_ROLL, **kw)


def test_a_bundles_roll_rule_round_trips_and_a_different_one_is_refused():
    spec = _spec(5)
    back = ActionSpec.from_json(spec.to_json())
    assert back == spec and "droll" in spec.to_json()["meaning"]
    task_spec = TaskSpec(curriculum_stage=5, hold_steps=150, lift_height=0.08, max_episode_steps=400)
    arm = ArmModel.build()
    CommandMapper(spec, task_spec, arm)
    with pytest.raises(ValueError, match="roll_step|wrist_roll by"):
        CommandMapper(_spec(5, roll_step=0.3), task_spec, arm)
    with pytest.raises(ValueError, match="4-D"):
        CommandMapper(_spec(6), task_spec, arm)
    # An older bundle's spec has no roll fields: read as this code's rule (they only matter at dim 5).
    raw = {k: v for k, v in _spec(4).to_json().items() if k not in ("roll_step", "roll_span")}
    assert ActionSpec.from_json(raw).roll_step == ROLL_STEP


def test_the_deploy_observation_builder_keeps_5_d_actions():
    obs_spec = ObservationSpec(keys=("last_actions",), shapes={"last_actions": (10,)}, camera=CameraSpec(size=32),
                               frame_stack=1, state_layout=STATE_LAYOUT)
    builder = ObservationBuilder(obs_spec, ArmModel.build().kinematics, action_dim=5)
    builder.record_action(np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    assert builder._history.values().shape == (10,)
    np.testing.assert_allclose(builder._history.values()[-5:], [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-6)


def test_limit_joint_speed_keeps_the_tools_direction_and_moves_roll_and_gripper_alone():
    from liftrl.sim.kinematics import limit_joint_speed

    cap = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.12])
    prev = np.zeros(6)
    q, shrunk = limit_joint_speed(np.array([0.4, 0.2, -0.1, 0.0, 0.05, -1.9]), prev, cap)
    assert shrunk
    np.testing.assert_allclose(q[:4], [0.1, 0.05, -0.025, 0.0])  # the IK's joints: one ratio, same direction
    assert q[4] == 0.05 and q[5] == pytest.approx(-0.12)  # roll within its cap untouched, gripper clipped alone
    q2, shrunk2 = limit_joint_speed(q, prev, cap)  # what it returns passes again (the safety layer's second look)
    assert not shrunk2 and np.array_equal(q2, q)
    q3, _ = limit_joint_speed(np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.0]), prev, cap)
    assert q3[4] == pytest.approx(0.1) and not q3[:4].any()  # a big roll does not slow the arm


@pytest.mark.slow
def test_a_5_d_bundle_exports_and_dry_runs_turning_the_wrist(tmp_path, capsys):
    """Export a 5-D run and dry-run it through both loops: the env row builds a 5-D env with the
    bundle's action history, the deploy loop sends turning wrist_roll commands."""
    from test_deploy_cli import call, tiny_run  # noqa: I001 - tests/ is on sys.path

    from liftrl.deploy.episode_log import load_log

    run = tiny_run(tmp_path, actor=("state", "last_actions"), action_dim=5, shapes={"last_actions": (10,)},
                   env={"curriculum_stage": 5, "max_episode_steps": 30, "wrist_roll_action": True, "action_history": 2})
    assert call(["export", str(run), "--checkpoint", "latest"]) == 0
    logs = tmp_path / "logs"
    assert call(["deploy", str(run / "bundle_latest"), "--robot", "sim", "--episodes", "1", "--rate", "15",
                 "--latency-ms", "100", "--log-dir", str(logs)]) == 0
    out = capsys.readouterr().out
    assert out.count("| deploy loop on SimRobot |") == 2 and "| env (training loop) |" in out
    arrays, meta = load_log(sorted(logs.glob("*.npz"))[0])
    assert arrays["action"].shape[1] == 5 and meta["stop_reason"] == "done"
    assert np.ptp(arrays["sent"][:, 4]) > 0.01  # the wrist turned
