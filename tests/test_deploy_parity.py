"""Sim and deploy see the same world: observations and joint targets through both paths are identical.

Also the simulated robot's latency and the training wrapper that emulates the deploy rate/latency.
"""

import numpy as np
import pytest

from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.safety import SafetyLimits, limit_command
from liftrl.deploy.sim_robot import CameraNoise, SimRobot
from liftrl.deploy.spec import ActionSpec, ObservationSpec, TaskSpec
from liftrl.obs.pipeline import CameraSpec
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.ik import WRIST_ROLL
from liftrl.sim.kinematics import MAX_JOINT_SPEED, STATE_LAYOUT, ArmKinematics, action_to_joint_targets
from liftrl.sim.options import EnvOptions
from liftrl.sim.task import OptionError
from liftrl.sim.factory import build_env
from liftrl.sim.latency import ControlRateWrapper

SIZE, STACK = 32, 2
OBS = ObservationSpec(keys=("pixels", "state"), shapes={"pixels": (3 * STACK, SIZE, SIZE), "state": (18,)},
                      camera=CameraSpec(size=SIZE), frame_stack=STACK, state_layout=STATE_LAYOUT)
TASK = TaskSpec(curriculum_stage=3, hold_steps=150, lift_height=0.08, max_episode_steps=200)


def make(stage=3, **kw):
    return LiftCubeEnv(curriculum_stage=stage, observations=("pixels", "state"), image_size=SIZE, frame_stack=STACK,
                       randomize=True, **kw)


def action_spec(env):
    lo, hi = env.model.actuator_ctrlrange[env.ids.actuators[5]]
    c = env.cfg
    return ActionSpec(dim=env.action_dim, scale=c.action_scale, workspace_low=c.workspace_low, workspace_high=c.workspace_high,
                      gripper_ctrl=(float(lo), float(hi)), wrist_roll=WRIST_ROLL)


@pytest.fixture(scope="module")
def arm():
    return ArmModel.build()  # a fresh model, as on the real arm: not the env's own


@pytest.mark.parametrize("stage,seed", [(3, 0), (3, 7), (0, 1), (4, 2)])
def test_same_state_gives_identical_observations(arm, stage, seed):
    env = make(stage)
    obs, _ = env.reset(seed=seed)
    robot = SimRobot(env, measure_velocity=True)
    deploy_obs = ObservationBuilder(OBS, arm.kinematics).reset(robot.read())
    assert set(deploy_obs) == set(obs)
    np.testing.assert_array_equal(deploy_obs["pixels"], obs["pixels"])
    np.testing.assert_array_equal(deploy_obs["state"], obs["state"])
    env.close()


def test_same_action_gives_identical_joint_targets(arm):
    env = make(3)
    env.reset(seed=3)
    state = env.get_state()
    mapper = CommandMapper(action_spec(env), TASK, arm)
    mapper.reset(state["target"], state["q_cmd"])
    rng = np.random.default_rng(0)
    actions = list(rng.uniform(-1.3, 1.3, size=(12, 4))) + [np.array([0.0, 0.0, 1.0, -1.0])] * 15  # up to the box top
    for a in actions:
        expected = mapper.step(a, 0.02)  # the plain env: one action per 20 ms tick
        env.step(a)
        np.testing.assert_array_equal(env.data.ctrl[env.ids.actuators], expected)
        np.testing.assert_array_equal(env.get_state()["target"], mapper.target)
    assert mapper.target[2] == pytest.approx(0.4)  # the workspace clamp was exercised on both paths
    env.close()


def test_action_to_joint_targets_is_the_env_step_mapping():
    env = make(3)
    env.reset(seed=11)
    s = env.get_state()
    lo, hi = env.model.actuator_ctrlrange[env.ids.actuators[5]]
    target, q = action_to_joint_targets(np.array([0.3, -0.2, -0.5, 0.4]), s["target"], s["q_cmd"], env.ik, env.cfg,
                                        lo, hi, 0.02)
    env.step(np.array([0.3, -0.2, -0.5, 0.4]))
    np.testing.assert_array_equal(env.data.ctrl[env.ids.actuators], q)
    np.testing.assert_array_equal(env.get_state()["target"], target)
    with pytest.raises(ValueError, match="NaN"):
        action_to_joint_targets(np.array([np.nan, 0, 0, 0]), target, q, env.ik, env.cfg, lo, hi, 0.02)
    with pytest.raises(ValueError, match="period_s"):
        action_to_joint_targets(np.zeros(4), target, q, env.ik, env.cfg, lo, hi, 0.0)
    env.close()


@pytest.mark.parametrize("latency_ms,roll", [(0.0, False), (100.0, False), (100.0, True)])
def test_a_15hz_period_commands_what_the_deploy_loop_commands(arm, latency_ms, roll):
    """From the pick stage's start pose (the IK far from converged), the env at 15 Hz turns each
    action into exactly the joint command the deploy loop sends for it (its mapper, then its safety
    layer's speed and lead caps against the joints read with the observation), and holds that
    command for the rest of the period. Re-solving the IK on the period's other ticks (as the env
    once did) walked the arm elsewhere: 14/20 in the env against 1/20 in the dry run; without the
    lead cap a fast approach was cut back on the arm only: 43/50 in the env against 22/50."""
    env = build_env(EnvOptions(curriculum_stage=5, observations=("state",), control_hz=15.0, latency_ms=latency_ms,
                               wrist_roll_action=roll))
    env.reset(seed=4)
    u = env.unwrapped
    state = u.get_state()
    action = action_spec(u)
    mapper = CommandMapper(action, TaskSpec(curriculum_stage=5, hold_steps=150, lift_height=0.08,
                                            max_episode_steps=400), arm)
    mapper.reset(state["target"], state["q_cmd"])
    limits = SafetyLimits.for_arm(arm.joint_range, action.gripper_ctrl, action.workspace_low, action.workspace_high)
    rng = np.random.default_rng(1)
    expected, starts, checked, capped = [], [], 0, set()
    sent = u.data.ctrl[u.ids.actuators].copy()
    for k in range(30):
        a = rng.uniform(-1.0, 1.0, size=4 + roll) if k % 3 else np.array([1.0, 1.0, -1.0, -1.0, 1.0][:4 + roll])
        requested = mapper.step(a, 1.0 / 15.0)
        sent, events = limit_command(requested, sent, u.joints(), limits, 1.0 / 15.0)
        expected.append(sent)
        capped |= set(events)
        starts.append(env.get_wrapper_attr("_tick"))
        env.step(a)
        end = env.get_wrapper_attr("_tick")
        # The newest action whose latency has elapsed by this period's last tick is the one in force.
        due = [j for j, t in enumerate(starts) if t + env.get_wrapper_attr("latency_ticks") < end]
        if due:
            np.testing.assert_array_equal(u.data.ctrl[u.ids.actuators], expected[due[-1]])
            checked += 1
    assert checked >= 27
    assert "max_lead" in capped  # the lead cap bound on this path, in the env as in the loop
    env.close()


def test_the_lead_cap_holds_commands_near_the_joints_observed():
    """A full-scale approach from the start pose at 15 Hz / 100 ms: every command the env sends is
    within ``command_lead_rad`` of the joints read when its action was asked for, and the cap binds;
    without it (``command_lead_rad=[]``) the same actions run ahead of the arm by more."""
    def worst_lead(**kw):
        env = build_env(EnvOptions(curriculum_stage=5, observations=("state",), control_hz=15.0, latency_ms=100.0, **kw))
        env.reset(seed=2)
        u, worst, asked = env.unwrapped, np.zeros(6), []
        for _ in range(12):
            asked.append(u.joints())
            env.step(np.array([1.0, 0.0, -1.0, 1.0]))
            for q in asked[-3:]:  # the command in force answers one of the last few observations
                worst = np.maximum(worst, np.abs(u.data.ctrl[u.ids.actuators] - q))
        env.close()
        return worst

    capped = worst_lead()
    free = worst_lead(command_lead_rad=[])
    assert free[:4].max() > 0.45  # the approach asks for more than the cap allows ...
    assert capped[:4].max() < free[:4].max()  # ... and the cap holds it back
    with pytest.raises(OptionError, match="command_lead_rad"):
        EnvOptions(command_lead_rad=(0.35,))
    with pytest.raises(OptionError, match="command_lead_rad"):
        EnvOptions(command_lead_rad=(0.0, 0.8))


def test_the_env_keeps_joint_commands_to_the_servo_speed():
    """A full-scale action from the start pose asks the IK for more than the servos do in a period:
    the command moves at most MAX_JOINT_SPEED x period per joint, as the deploy loop's safety would."""
    env = build_env(EnvOptions(curriculum_stage=5, observations=("state",), control_hz=15.0))
    env.reset(seed=0)
    u = env.unwrapped
    prev = u.get_state()["q_cmd"]
    cap = np.asarray(MAX_JOINT_SPEED) / 15.0
    shrunk = 0
    for a in [np.array([1.0, -1.0, -1.0, -1.0])] * 4 + [np.array([-1.0, 1.0, 1.0, 1.0])] * 4:
        env.step(a)
        q = u.data.ctrl[u.ids.actuators].copy()
        assert np.all(np.abs(q - prev) <= cap + 1e-12)
        shrunk += bool(np.any(np.abs(q - prev) > cap - 1e-9))
        prev = q
    assert shrunk >= 2  # the cap really bound (the gripper's full swing alone is 1.9 rad)
    env.close()


def test_mid_episode_observations_match(arm):
    """Pixels, joints and velocities are identical mid-episode; see the note on the end-effector pose."""
    env = make(3)
    obs, _ = env.reset(seed=5)
    robot = SimRobot(env, measure_velocity=True)
    builder = ObservationBuilder(OBS, arm.kinematics)
    builder.reset(robot.read())
    rng = np.random.default_rng(1)
    for _ in range(8):
        obs, *_ = env.step(rng.uniform(-1, 1, size=4))
        deploy_obs = builder.push(robot.read())
        np.testing.assert_array_equal(deploy_obs["pixels"], obs["pixels"])  # same crop, resize, order, stack
        # the tool pose too: both compute it by forward kinematics of the joints they read
        np.testing.assert_array_equal(deploy_obs["state"], obs["state"])
    env.close()


def test_kinematics_state_matches_env_state_at_rest():
    env = make(0)
    obs, _ = env.reset(seed=4)
    d, ids = env.data, env.ids
    np.testing.assert_array_equal(ArmKinematics(env.model, ids).state(d.qpos[ids.arm_qpos], d.qvel[ids.arm_dof]),
                                  obs["state"])
    env.close()


# ---------------------------------------------------------------------------------------------- sim robot
def test_sim_robot_applies_commands_after_the_latency():
    env = make(3)
    robot = SimRobot(env, latency_s=0.1, render=False)
    robot.reset(seed=0)
    before = env.data.ctrl[env.ids.actuators].copy()
    q = robot.read().joints + np.array([0.05, 0.0, 0.0, 0.0, 0.0, 0.0])
    robot.command(q)
    robot.sleep_until(0.1)  # the command is due now: it acts from the next physics step on
    np.testing.assert_array_equal(env.data.ctrl[env.ids.actuators], before)
    robot.sleep_until(0.102)
    np.testing.assert_array_equal(env.data.ctrl[env.ids.actuators], q)
    assert robot.now() == pytest.approx(0.102)
    robot.command(q + 0.01)
    robot.stop()  # drops the queued command and holds where the arm is
    robot.sleep_until(0.3)
    np.testing.assert_allclose(env.data.ctrl[env.ids.actuators], env.data.qpos[env.ids.arm_qpos], atol=0.02)
    env.close()


def test_sim_robot_scores_episodes_in_env_ticks():
    env = make(3, max_episode_steps=7)
    robot = SimRobot(env, render=False)
    robot.reset(seed=0)
    robot.sleep_until(0.12)  # 6 ticks of 20 ms
    assert not robot.episode_over()
    robot.sleep_until(0.14)
    assert robot.episode_over() and not robot.success
    env.close()


def test_camera_noise_changes_frames_reproducibly():
    env = make(3)
    clean = SimRobot(env)
    clean.reset(seed=0)
    f0 = clean.read().frame
    noisy = SimRobot(env, camera_noise=CameraNoise(std=8.0, gain=0.2))
    noisy.reset(seed=0)
    f1 = noisy.read().frame
    noisy.reset(seed=0)
    f2 = noisy.read().frame
    assert f1.dtype == np.uint8 and np.abs(f1.astype(int) - f0).mean() > 2
    np.testing.assert_array_equal(f1, f2)
    env.close()


# ---------------------------------------------------------------------------------------------- training wrapper
def test_wrapper_at_50hz_without_latency_is_the_env():
    a, b = make(3), ControlRateWrapper(make(3), control_hz=50.0, latency_ms=0.0)
    oa, _ = a.reset(seed=2)
    ob, _ = b.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        act = rng.uniform(-1, 1, size=4)
        oa, ra, *_ = a.step(act)
        ob, rb, *_ = b.step(act)
        np.testing.assert_array_equal(oa["pixels"], ob["pixels"])
        np.testing.assert_array_equal(oa["state"], ob["state"])
        assert ra == rb
    a.close()
    b.close()
    assert isinstance(build_env(**dict(curriculum_stage=3, observations=("state",))), LiftCubeEnv)


def test_wrapper_emulates_rate_and_latency():
    env = ControlRateWrapper(make(3), control_hz=15.0, latency_ms=100.0)
    assert env.latency_ticks == 5 and [env.ticks_in_period(k) for k in range(6)] == [3, 3, 4, 3, 3, 4]
    _, info = env.reset(seed=1)
    t0 = info["target"].copy()
    up = np.array([0.0, 0.0, 1.0, 1.0])
    _, _, _, _, info = env.step(up)  # ticks 0-2: the action is not due yet (tick 5)
    assert info["step"] == 3
    np.testing.assert_array_equal(info["target"], t0)
    _, _, _, _, info = env.step(np.zeros(4))  # ticks 3-5: the first action lands at tick 5, once
    assert info["step"] == 6
    np.testing.assert_allclose(info["target"], t0 + [0.0, 0.0, 0.02])
    obs, _, _, _, info = env.step(np.zeros(4))  # ticks 6-9
    assert info["step"] == 10
    np.testing.assert_allclose(info["target"], t0 + [0.0, 0.0, 0.02])
    # frames are stacked once per control period: the newest slot is the env's latest frame
    np.testing.assert_array_equal(obs["pixels"][-3:], env.unwrapped._stack.state()[-1])
    state = env.get_state()
    env2 = ControlRateWrapper(make(3), control_hz=15.0, latency_ms=100.0)
    env2.reset(seed=0)
    env2.set_state(state)
    o1, r1, *_ = env.step(up)
    o2, r2, *_ = env2.step(up)
    np.testing.assert_array_equal(o1["pixels"], o2["pixels"])
    assert r1 == r2
    env.close()
    env2.close()


def test_wrapper_renders_once_per_control_period():
    """At 15 Hz a period spans 3-4 env ticks; only the frame the stack keeps is rendered."""
    env = ControlRateWrapper(make(3), control_hz=15.0, latency_ms=100.0)
    inner = env.unwrapped
    renders = []
    original = inner.render_wrist
    inner.render_wrist = lambda: renders.append(inner.data.time) or original()
    env.reset(seed=4)
    assert len(renders) == 1
    for k in range(6):
        renders.clear()
        _, _, _, _, info = env.step(np.zeros(4))
        assert len(renders) == 1, (k, renders)
        assert renders[0] == inner.data.time  # the period's last tick, after its physics
    assert info["step"] == sum(env.ticks_in_period(k) for k in range(6))
    env.close()


def test_wrapper_refuses_bad_rates():
    with pytest.raises(ValueError, match="control_hz must be in"):
        ControlRateWrapper(make(3), control_hz=80.0)
    with pytest.raises(ValueError, match="latency_ms must be >= 0"):
        ControlRateWrapper(make(3), control_hz=15.0, latency_ms=-1.0)


def test_deploy_loop_at_the_trained_rate_reproduces_the_env_episode(arm):
    """The scripted grasp's actions, replayed through SimRobot + the deploy loop at 50 Hz with no latency,
    give the env's episode: same success at the same step, cube at the same height."""
    from liftrl.deploy.episode_log import EpisodeLog
    from liftrl.deploy.runner import LoopConfig, run_arm_episode
    from liftrl.deploy.safety import SafetyLimits, Watchdog
    from liftrl.scripted import ScriptedGrasp

    env = LiftCubeEnv(curriculum_stage=3, observations=("state",), hold_steps=20, max_episode_steps=100)
    spec = action_spec(env)
    task_spec = TaskSpec(curriculum_stage=3, hold_steps=20, lift_height=0.08, max_episode_steps=100)
    state_only = ObservationSpec(keys=("state",), shapes={"state": (18,)}, camera=CameraSpec(size=SIZE), frame_stack=1,
                                 state_layout=STATE_LAYOUT)
    # speed limits that never bind: this is the pipeline's fidelity (the env jumps the gripper command in one
    # step, which the default 6 rad/s gripper limit spreads over a few); what the default limits change is
    # what the dry run measures
    limits = SafetyLimits.for_arm(arm.joint_range, spec.gripper_ctrl, spec.workspace_low, spec.workspace_high,
                                  max_arm_speed=100.0, max_gripper_speed=100.0)
    _, info = env.reset(seed=1)
    policy, actions, done = ScriptedGrasp(), [], False
    while not done:
        actions.append(policy.act(info))
        _, _, term, trunc, info = env.step(actions[-1])
        done = term or trunc
    assert info["is_success"]
    env_cube = info["cube_pos"]

    robot = SimRobot(env, render=False)
    robot.reset(seed=1)
    replay = iter(actions)
    result = run_arm_episode(robot, robot, lambda obs: next(replay)[None], ObservationBuilder(state_only, arm.kinematics),
                         CommandMapper(spec, task_spec, arm), limits, Watchdog(), LoopConfig(50.0, 200), EpisodeLog(),
                         done=robot.episode_over)
    assert robot.success and result.stop_reason == "done" and result.steps == len(actions)
    np.testing.assert_allclose(env.cube_pos(), env_cube, atol=2e-3)
    env.close()


def test_a_bundle_from_another_state_layout_or_wrist_roll_is_refused():
    import dataclasses

    from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder

    arm = ArmModel.build()
    with pytest.raises(ValueError, match="state layout differs"):
        ObservationBuilder(dataclasses.replace(OBS, state_layout=OBS.state_layout[::-1]), arm.kinematics)
    env = make()
    try:
        with pytest.raises(ValueError, match="wrist_roll"):
            CommandMapper(dataclasses.replace(action_spec(env), wrist_roll=0.0), TASK, arm)
    finally:
        env.close()


def test_ik_solve_kernel_gives_np_linalg_solve_bits():
    """The IK calls LAPACK's kernel directly for speed; it must be exactly np.linalg.solve."""
    from liftrl.sim import ik

    rng = np.random.default_rng(0)
    for _ in range(50):
        jac = rng.normal(size=(5, 4))
        a, b = jac @ jac.T + 0.05**2 * np.eye(5), rng.normal(size=5)
        assert np.array_equal(ik._solve(a, b), np.linalg.solve(a, b))
