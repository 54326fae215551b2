"""The teacher's observations: the privileged layout, last_actions (sim vs deploy parity), latency ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liftrl.deploy.episode_log import EpisodeLog
from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.runner import LoopConfig, run_arm_episode
from liftrl.deploy.safety import SafetyLimits, Watchdog
from liftrl.deploy.sim_robot import SimRobot
from liftrl.deploy.spec import ActionSpec, ObservationSpec, TaskSpec
from liftrl.obs.action_history import ActionHistory, history_length
from liftrl.obs.pipeline import CameraSpec
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.ik import WRIST_ROLL
from liftrl.sim.kinematics import STATE_LAYOUT
from liftrl.sim.factory import build_env
from liftrl.sim.latency import ControlRateWrapper
from liftrl.sim.options import parse_latency
from liftrl.sim.privileged import PRIVILEGED_DIM, PRIVILEGED_LAYOUT, layout_problem, privileged_vector, tilt

KEYS = ("state", "privileged", "last_actions")


def env_of(**kw) -> LiftCubeEnv:
    kw.setdefault("observations", KEYS)
    return LiftCubeEnv(curriculum_stage=3, render_mode=None, **kw)


# ---------------------------------------------------------------------------------------------- privileged
def test_privileged_layout_matches_the_simulator():
    env = env_of(randomize=True)
    obs, info = env.reset(seed=4)
    p = obs["privileged"]
    assert p.shape == (PRIVILEGED_DIM,) == (len(PRIVILEGED_LAYOUT),) and p.dtype == np.float32
    d, ids = env.data, env.ids
    for _ in range(5):  # push the cube so it moves and turns
        obs, *_ = env.step(np.array([0.0, 0.0, -1.0, 1.0]))
    p = obs["privileged"]
    np.testing.assert_allclose(p[0:3], env.cube_pos(), atol=1e-6)
    assert p[3] == pytest.approx(info["cube_half_size"]) and p[3] in (0.012, 0.014, 0.016, 0.018)
    q = d.qpos[ids.cube_qpos + 3:ids.cube_qpos + 7]
    np.testing.assert_allclose(p[4:8], q * np.sign(q[0]) / np.linalg.norm(q), atol=1e-6)
    np.testing.assert_allclose(p[8:11], d.qvel[ids.cube_dof:ids.cube_dof + 3], atol=1e-6)
    env.close()


def test_privileged_cube_error_moves_only_the_observation_and_is_held_per_episode():
    """A teacher trained against a student's cube estimate reads an offset cube centre; the physics,
    reward and success keep the true cube, the offset stays for the episode, and each env draws its own."""
    plain, noisy = env_of(randomize=True), env_of(randomize=True, privileged_cube_error_m=0.01)
    offsets = []
    for seed in (0, 1, 2):
        (o1, i1), (o2, i2) = plain.reset(seed=seed), noisy.reset(seed=seed)
        np.testing.assert_allclose(i1["cube_pos"], i2["cube_pos"])  # the same scene: drawn last
        np.testing.assert_allclose(o1["privileged"][3:], o2["privileged"][3:], atol=1e-6)
        offset = o2["privileged"][:3] - i2["cube_pos"]
        assert 1e-4 < np.linalg.norm(offset) < 0.08
        np.testing.assert_allclose(o1["privileged"][:3], i1["cube_pos"], atol=1e-6)
        for _ in range(3):
            a = np.array([0.0, 0.0, -1.0, 1.0])
            (o1, r1, *_, i1), (o2, r2, *_, i2) = plain.step(a), noisy.step(a)
            assert r1 == pytest.approx(r2) and i1["is_grasping"] == i2["is_grasping"]
            np.testing.assert_allclose(o2["privileged"][:3] - i2["cube_pos"], offset, atol=1e-5)
        offsets.append(offset)
    assert not np.allclose(offsets[0], offsets[1])
    state = noisy.get_state()  # a resumed env keeps its episode's offset
    again = env_of(randomize=True, privileged_cube_error_m=0.01)
    again.reset(seed=9)
    again.set_state(state)
    np.testing.assert_allclose(again.privileged()[:3] - again.cube_pos(), offsets[-1], atol=1e-5)
    plain.set_state(state)  # an env without the option carries a loaded offset to its next reset only
    obs, info = plain.reset(seed=5)
    np.testing.assert_allclose(obs["privileged"][:3], info["cube_pos"], atol=1e-6)
    for env in (plain, noisy, again):
        env.close()


@pytest.mark.parametrize("bad", [-0.01, 0.2, True, "1cm"])
def test_privileged_cube_error_is_refused_when_out_of_range(bad):
    from liftrl.sim.task import OptionError

    with pytest.raises(OptionError, match="privileged_cube_error_m"):
        env_of(privileged_cube_error_m=bad)


def test_privileged_quaternion_sign_and_tilt():
    q = np.array([-0.9, 0.1, 0.2, 0.3])
    v = privileged_vector([0.1, 0.2, 0.3], 0.015, q, [0.0, 0.0, -1.0])
    assert v[4] > 0 and np.allclose(v[4:8], -q / np.linalg.norm(q), atol=1e-6)
    assert tilt([1, 0, 0, 0]) == pytest.approx(0.0)
    half_turn = np.array([np.cos(np.pi / 8), np.sin(np.pi / 8), 0, 0])  # 45 degrees about x: on an edge
    assert tilt(half_turn) == pytest.approx(np.pi / 4)
    assert tilt([np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0]) == pytest.approx(0.0, abs=1e-7)  # on another face


def test_old_privileged_layout_is_refused_by_name():
    assert layout_problem(PRIVILEGED_DIM, "x") is None
    message = layout_problem(3, "run R")
    assert "run R" in message and "cube position only" in message and "retrain" in message


@pytest.mark.slow
def test_resuming_a_run_with_the_old_layout_is_refused(tmp_path):
    import torch

    from liftrl.config import load_config, save_config
    from liftrl.run.snapshot import load_snapshot, save_snapshot
    from liftrl.train.loop import build_trainer, new_run_dir, resume

    torch.set_num_threads(1)
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny_sac.yaml", ["train.total_env_steps=100", "train.eval_every=100",
                                                "train.video_episodes=0"])
    run = new_run_dir(tmp_path, cfg.agent.name)
    save_config(cfg, run / "config.yaml")
    trainer = build_trainer(cfg, run)
    try:
        trainer.run()
    finally:
        trainer.close()
    latest = run / "snapshots" / "latest.pt"
    state, meta = load_snapshot(latest)
    meta["observations"]["shapes"]["privileged"] = [3]  # as a snapshot from before the new layout says
    save_snapshot(latest, state, {k: v for k, v in meta.items() if not k.startswith("snapshot_")})
    with pytest.raises(ValueError, match="3-value 'privileged'.*cube position only"):
        resume(run, ["train.total_env_steps=200"])


# ---------------------------------------------------------------------------------------------- last_actions
def test_action_history_keeps_the_last_k_clipped_oldest_first():
    h = ActionHistory(2)
    np.testing.assert_array_equal(h.reset(), np.zeros(8))
    h.push([1, 2, 3, 4])
    out = h.push([-0.5, 0.5, -3, 0])
    np.testing.assert_array_equal(out, [1, 1, 1, 1, -0.5, 0.5, -1, 0])
    assert history_length((12,)) == 3
    with pytest.raises(ValueError):
        history_length((10,))
    with pytest.raises(ValueError):
        h.push([np.nan, 0, 0, 0])


def test_env_last_actions_at_the_env_rate():
    env = env_of(action_history=2)
    obs, _ = env.reset(seed=0)
    assert obs["last_actions"].shape == (8,) and not obs["last_actions"].any()
    obs, *_ = env.step(np.array([0.1, 0.2, 0.3, 0.4]))
    obs, *_ = env.step(np.array([0.5, 0.6, 0.7, 2.0]))
    np.testing.assert_allclose(obs["last_actions"], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0], atol=1e-7)
    env.close()


def _action_spec(env):
    lo, hi = env.model.actuator_ctrlrange[env.ids.actuators[5]]
    c = env.cfg
    return ActionSpec(dim=4, scale=c.action_scale, workspace_low=c.workspace_low, workspace_high=c.workspace_high,
                      gripper_ctrl=(float(lo), float(hi)), wrist_roll=WRIST_ROLL)


def test_last_actions_parity_sim_wrapper_vs_deploy_loop():
    """The 15 Hz training env and the deploy loop on the simulated robot build the same last_actions
    from the same action sequence: per control step, from the actions the policy sent (not per tick)."""
    rng = np.random.default_rng(3)
    actions = rng.uniform(-1.2, 1.2, size=(10, 4)).astype(np.float32)

    wrapped = ControlRateWrapper(env_of(action_history=3), control_hz=15, latency_ms=100)
    obs, _ = wrapped.reset(seed=2)
    sim_seen = [obs["last_actions"]]
    for a in actions[:-1]:
        obs, *_ = wrapped.step(a)
        sim_seen.append(obs["last_actions"])
    wrapped.close()

    env = env_of(action_history=3)
    spec = ObservationSpec(keys=KEYS, shapes={"state": (18,), "privileged": (PRIVILEGED_DIM,), "last_actions": (12,)},
                           camera=CameraSpec(size=32), frame_stack=1, state_layout=STATE_LAYOUT)
    arm = ArmModel.build()
    robot = SimRobot(env, latency_s=0.1, render=False)
    robot.reset(seed=2)
    replay = iter(actions)
    log = EpisodeLog(log_frames=False)
    task_spec = TaskSpec(curriculum_stage=3, hold_steps=150, lift_height=0.08, max_episode_steps=300)
    action = _action_spec(env)
    limits = SafetyLimits.for_arm(arm.joint_range, action.gripper_ctrl, action.workspace_low, action.workspace_high)
    result = run_arm_episode(robot, robot, lambda o: next(replay)[None], ObservationBuilder(spec, arm.kinematics),
                         CommandMapper(action, task_spec, arm), limits, Watchdog(), LoopConfig(15.0, len(actions)), log)
    assert result.steps == len(actions)
    deploy_seen = [row["obs.last_actions"] for row in log.rows]
    np.testing.assert_array_equal(np.array(deploy_seen), np.array(sim_seen))
    # and they are the policy's own actions, clipped: the last row ends with actions[-2]
    np.testing.assert_allclose(deploy_seen[-1][-4:], np.clip(actions[-2], -1, 1))
    env.close()


# ---------------------------------------------------------------------------------------------- latency range
def test_latency_range_is_drawn_per_episode_from_the_env_seed():
    def latencies(seed_list):
        env = build_env(control_hz=15, latency_ms=[66, 133], observations=("state",), render_mode=None)
        out = [env.reset(seed=s)[1]["latency_ms"] for s in seed_list]
        out += [env.reset()[1]["latency_ms"] for _ in range(3)]  # unseeded resets continue the env's stream
        env.close()
        return out

    a, b = latencies([1, 2, 3]), latencies([1, 2, 3])
    assert a == b  # the same seeds give the same latencies
    assert all(66 <= v <= 133 for v in a) and len(set(a)) == len(a)  # drawn, not fixed
    assert latencies([4])[0] != a[0]


def test_latency_range_changes_when_actions_land():
    env = build_env(control_hz=15, latency_ms=[20, 140], observations=("state",), render_mode=None)
    seen = {}
    for seed in range(12):
        _, info = env.reset(seed=seed)
        seen[seed] = env.latency_ticks
        assert env.latency_ticks == int(round(info["latency_ms"] / 20.0))
    assert len(set(seen.values())) > 2
    state = env.get_state()
    other = build_env(control_hz=15, latency_ms=[20, 140], observations=("state",), render_mode=None)
    other.reset(seed=0)
    other.set_state(state)  # exact resume carries the drawn latency
    assert other.latency_ticks == env.latency_ticks and other.latency_ms == env.latency_ms
    env.close()
    other.close()


@pytest.mark.parametrize("bad", [[-1, 10], [50, 10], [1, 2, 3], "fast"])
def test_bad_latency_ranges_are_refused(bad):
    with pytest.raises(ValueError, match="latency_ms"):
        parse_latency(bad)
    assert parse_latency(5) == (5.0, 5.0) and parse_latency([66, 133]) == (66.0, 133.0)


def test_bundle_control_records_a_latency_range():
    from liftrl.deploy.bundle import _control_json
    from liftrl.deploy.spec import ControlSpec

    raw = _control_json(15.0, (66.0, 133.0))
    assert raw == {"hz": 15.0, "latency_ms": 99.5, "latency_ms_range": [66.0, 133.0]}
    spec = ControlSpec.from_json(raw)
    assert spec.latency_ms_range == (66.0, 133.0) and "66-133 ms" in spec.describe_latency()
    fixed = ControlSpec.from_json(_control_json(15.0, 100.0))
    assert fixed.latency_ms == 100.0 and fixed.latency_ms_range is None  # older bundles read the same way
