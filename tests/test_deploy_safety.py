"""Safety limits and the watchdog, through the real control loop with the fake robot."""

import numpy as np
import pytest

from liftrl.deploy.episode_log import EpisodeLog
from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.robot import FakeRobot
from liftrl.deploy.runner import LoopConfig, run_arm_episode
from liftrl.deploy.safety import SafetyLimits, SafetyStop, TrackingLimit, Watchdog, limit_command
from liftrl.deploy.start_pose import home_pose, move_to_pose
from liftrl.deploy.spec import ActionSpec, ObservationSpec, TaskSpec
from liftrl.obs.pipeline import CameraSpec
from liftrl.sim.ik import WRIST_ROLL
from liftrl.sim.kinematics import STATE_LAYOUT

OBS = ObservationSpec(keys=("pixels", "state"), shapes={"pixels": (6, 32, 32), "state": (18,)},
                      camera=CameraSpec(size=32), frame_stack=2, state_layout=STATE_LAYOUT)
ACTION = ActionSpec(dim=4, scale=0.02, workspace_low=(0.1, -0.3, 0.01), workspace_high=(0.5, 0.3, 0.4),
                    gripper_ctrl=(-0.17453, 1.74533), wrist_roll=WRIST_ROLL)
TASK = TaskSpec(curriculum_stage=3, hold_steps=150, lift_height=0.08, max_episode_steps=200)


@pytest.fixture(scope="module")
def arm():
    return ArmModel.build()


@pytest.fixture(scope="module")
def start_q(arm):
    """A pose with the tool at (0.25, 0, 0.12), inside the workspace."""
    q4 = arm.ik.solve(np.array([0.0, 0.0, 0.0, np.pi / 2]), np.array([0.25, 0.0, 0.12]), iterations=200)
    return np.concatenate([q4, [WRIST_ROLL, 0.8]])


def limits(arm, **kw):
    return SafetyLimits.for_arm(arm.joint_range, ACTION.gripper_ctrl, ACTION.workspace_low, ACTION.workspace_high, **kw)


def run(robot, arm, policy, steps=10, rate=10.0, watchdog=Watchdog(), lim=None):
    log = EpisodeLog()
    result = run_arm_episode(robot, robot, policy, ObservationBuilder(OBS, arm.kinematics),
                         CommandMapper(ACTION, TASK, arm),
                         lim or limits(arm), watchdog, LoopConfig(rate_hz=rate, max_steps=steps), log)
    return result, log


def constant(action):
    return lambda obs: np.tile(np.asarray(action, np.float32), (len(obs["state"]), 1))


# ---------------------------------------------------------------------------------------------- limits
def test_target_outside_a_joint_limit_is_clamped(arm, start_q):
    lim = limits(arm)
    q = start_q.copy()
    q[0] = 3.0  # shoulder_pan beyond its 1.92 rad stop
    q[5] = 2.5  # gripper beyond fully open
    safe, events = limit_command(q, q, q, lim, 0.1, arm.kinematics.tool_point)
    assert safe[0] == pytest.approx(arm.joint_range[0, 1])
    assert safe[5] == pytest.approx(min(lim.joint_high[5], lim.gripper_range[1]))
    assert "joint_limit" in events and "gripper_range" in events


def test_jump_larger_than_the_speed_limit_is_cut_to_the_limit(arm, start_q):
    lim = limits(arm, max_arm_speed=1.0)  # 1 rad/s for 0.1 s: 0.1 rad
    q = start_q.copy()
    q[1] += 0.4
    q[2] -= 0.2
    safe, events = limit_command(q, start_q, start_q, lim, 0.1, arm.kinematics.tool_point)
    step = safe - start_q
    assert events == ["max_speed"]
    assert np.max(np.abs(step)) == pytest.approx(0.1)  # the largest joint moves exactly the limit
    np.testing.assert_allclose(step[[1, 2]], [0.1, -0.05], atol=1e-12)  # direction kept


def test_command_whose_tool_leaves_the_workspace_holds_the_previous_one(arm, start_q):
    lim = limits(arm, max_arm_speed=100.0, max_arm_lead=10.0)
    below = arm.ik.solve(start_q[:4], np.array([0.25, 0.0, -0.10]), iterations=200)  # 10 cm under the table
    q = np.concatenate([below, start_q[4:]])
    assert arm.kinematics.tool_point(q)[2] < 0.01 - lim.workspace_tolerance
    safe, events = limit_command(q, start_q, start_q, lim, 0.1, arm.kinematics.tool_point)
    assert events == ["workspace"]
    np.testing.assert_allclose(safe, start_q)


def test_non_finite_command_stops():
    lim = SafetyLimits.for_arm(np.tile([-2.0, 2.0], (6, 1)), (-0.1, 1.7), (0.1, -0.3, 0.01), (0.5, 0.3, 0.4))
    with pytest.raises(SafetyStop, match="6 finite"):
        limit_command(np.full(6, np.nan), np.zeros(6), np.zeros(6), lim, 0.1, lambda q: np.zeros(3))


# ---------------------------------------------------------------------------------------------- the loop
def test_loop_clamps_target_to_the_workspace_and_cuts_every_jump(arm, start_q):
    robot = FakeRobot(joints=start_q)
    lim = limits(arm, max_arm_speed=0.3)  # 0.03 rad per step at 10 Hz
    result, log = run(robot, arm, constant([0.0, 0.0, 1.0, 1.0]), steps=30, lim=lim)  # straight up, forever
    assert result.stop_reason == "max_steps" and result.steps == 30 and robot.stopped
    targets = np.array([r["target"] for r in log.rows])
    assert np.all(targets[:, 2] <= 0.4 + 1e-12) and targets[-1, 2] == pytest.approx(0.4)  # clamped to the box
    sent = np.array(robot.commands)
    steps = np.abs(np.diff(np.vstack([start_q, sent]), axis=0))
    assert np.all(steps[:, :5] <= 0.03 + 1e-9)
    assert any("max_speed" in r["events"] for r in log.rows)
    lo, hi = np.array(lim.joint_low), np.array(lim.joint_high)
    assert np.all(sent >= lo - 1e-12) and np.all(sent <= hi + 1e-12)


def test_stale_frame_stops_and_holds(arm, start_q):
    robot = FakeRobot(joints=start_q, freeze_frame_after=3)
    result, log = run(robot, arm, constant([0.2, 0.0, 0.0, 0.0]), steps=20, rate=10.0,
                      watchdog=Watchdog(max_frame_age_s=0.25))
    # frame frozen at read 3 (t = 0.3 s); at read 6 (t = 0.6 s) it is 300 ms old > 250 ms
    assert result.stop_reason == "stale_frame" and result.steps == 6
    assert "300 ms old" in result.message
    assert robot.stopped and len(robot.commands) == 6  # nothing sent after the stale reading


def test_nan_joint_reading_stops(arm, start_q):
    robot = FakeRobot(joints=start_q, nan_joints_at=4)
    result, _ = run(robot, arm, constant([0.0, 0.0, 0.0, 0.0]))
    assert result.stop_reason == "nan_reading" and result.steps == 4 and robot.stopped


def test_nan_action_stops(arm, start_q):
    robot = FakeRobot(joints=start_q)
    result, _ = run(robot, arm, constant([0.0, np.nan, 0.0, 0.0]))
    assert result.stop_reason == "nan_action" and result.steps == 0 and robot.stopped and not robot.commands


@pytest.mark.parametrize("fault,reason", [({"fail_read_at": 2}, "read_failed"),
                                          ({"fail_command_at": 3}, "write_failed")])
def test_failed_read_or_write_stops(arm, start_q, fault, reason):
    robot = FakeRobot(joints=start_q, **fault)
    result, _ = run(robot, arm, constant([0.1, 0.0, 0.0, 0.0]))
    assert result.stop_reason == reason and robot.stopped
    assert "fake bus" in result.message


def test_ctrl_c_stops_the_arm(arm, start_q):
    robot = FakeRobot(joints=start_q)
    calls = []

    def policy(obs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return constant([0.0, 0.0, 0.0, 0.0])(obs)

    result, log = run(robot, arm, policy)
    assert result.stop_reason == "interrupted" and result.steps == 2 and robot.stopped
    assert log.meta["stop_reason"] == "interrupted"


def test_loop_runs_at_the_requested_rate_on_the_robot_clock(arm, start_q):
    robot = FakeRobot(joints=start_q)
    _, log = run(robot, arm, constant([0.0, 0.0, 0.0, 0.0]), steps=5, rate=15.0)
    np.testing.assert_allclose([r["timestamp"] for r in log.rows], np.arange(5) / 15.0)
    # state: the measured joints, and velocities by finite difference of consecutive readings
    joints = np.array([r["joints"] for r in log.rows])
    states = np.array([r["obs.state"] for r in log.rows])
    np.testing.assert_allclose(states[:, :6], joints.astype(np.float32))
    np.testing.assert_allclose(states[0, 6:12], 0.0)
    np.testing.assert_allclose(states[1:, 6:12], np.diff(joints, axis=0) * 15.0, rtol=1e-5, atol=1e-5)
    assert np.abs(states[1, 6:12]).max() > 0.1  # the gripper moved on the first command: not trivially zero


def test_a_policy_that_raises_stops_the_arm_and_the_episode_is_still_logged(arm, start_q):
    robot = FakeRobot(joints=start_q)
    calls = []

    def broken(obs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("actor blew up")
        return np.zeros((1, 4), np.float32)

    result, log = run(robot, arm, broken)
    assert result.stop_reason == "error" and result.safety_stop and robot.stopped
    assert "RuntimeError" in result.message and "actor blew up" in result.message
    assert log.meta["stop_reason"] == "error" and len(log.rows) == 2


# ---------------------------------------------------------------------------------------------- reading the arm
class StuckRobot(FakeRobot):
    """An arm that accepts every command and never moves (blocked, unpowered, or a dead bus)."""

    def command(self, joint_targets):
        self.commands.append(np.asarray(joint_targets, dtype=float).copy())


def test_commands_never_lead_a_stuck_arm_by_more_than_the_cap_and_tracking_stops_it(arm, start_q):
    robot = StuckRobot(joints=start_q)
    lim = limits(arm, max_arm_speed=3.0, max_arm_lead=0.2)
    tracking = TrackingLimit(max_error=0.15, max_duration_s=0.5)
    log = EpisodeLog()
    result = run_arm_episode(robot, robot, constant([1.0, 0.0, 0.0, 0.0]), ObservationBuilder(OBS, arm.kinematics),
                             CommandMapper(ACTION, TASK, arm), lim, Watchdog(),
                             LoopConfig(rate_hz=10.0, max_steps=40), log, tracking=tracking)
    sent = np.array(robot.commands)
    lead = np.abs(sent - start_q)  # measured == start_q at every read
    assert np.all(lead <= np.array(lim.max_lead) + 1e-12)
    assert lead[:, :5].max() == pytest.approx(0.2)  # the policy pushed as far as the cap allows
    assert any("max_lead" in r["events"] for r in log.rows)
    # the error exceeds 0.15 rad from some step on; 0.5 s at 10 Hz = 5 periods later the loop stops
    first_over = int(np.argmax(lead[:, :5].max(axis=1) > 0.15))
    assert result.stop_reason == "tracking" and robot.stopped
    assert result.steps == first_over + 5
    assert "deg from its command" in result.message


def test_a_following_arm_is_not_stopped_by_the_tracking_watchdog(arm, start_q):
    robot = FakeRobot(joints=start_q)  # follows every command exactly
    result, log = run(robot, arm, constant([1.0, 0.0, 0.0, 0.0]), steps=30)
    assert result.stop_reason == "max_steps" and log.meta["tracking_worst_rad"] < 1e-12


@pytest.mark.parametrize("rate", [15.0, 50.0])
def test_speed_limit_is_the_same_in_rad_per_s_at_15_and_50_hz(arm, start_q, rate):
    robot = FakeRobot(joints=start_q)
    lim = limits(arm, max_arm_speed=0.5, max_arm_lead=10.0)
    far = start_q + np.array([1.0, -0.8, 0.6, 0.0, 0.0, 0.0])
    steps = int(rate)  # one second
    for _ in range(steps):
        q, _ = limit_command(far, robot.joints, robot.joints, lim, 1.0 / rate)
        robot.command(q)
    sent = np.vstack([start_q, robot.commands])
    speed = np.abs(np.diff(sent, axis=0)) * rate  # rad/s between consecutive commands
    assert speed[:, :5].max() == pytest.approx(0.5)
    # after one second the largest joint has moved 0.5 rad at either rate, the others in proportion
    np.testing.assert_allclose(sent[-1] - start_q, [0.5, -0.4, 0.3, 0.0, 0.0, 0.0], atol=1e-9)


def test_slow_move_to_the_start_pose(arm, start_q):
    robot = FakeRobot(joints=start_q)
    goal = home_pose(arm, ACTION.task_config(TASK))
    lim = limits(arm)
    n = move_to_pose(robot, robot, goal, lim, rate_hz=20.0, speed=0.4)
    sent = np.vstack([start_q, robot.commands])
    assert np.abs(np.diff(sent, axis=0)).max() <= 0.4 / 20.0 + 1e-12  # never faster than 0.4 rad/s
    assert n == len(robot.commands) and np.all(np.abs(robot.joints[:5] - goal[:5]) <= 0.03)
    home = ACTION.task_config(TASK).home_tool
    np.testing.assert_allclose(arm.kinematics.tool_point(goal), home, atol=5e-3)  # within the IK's residual


def test_slow_move_stops_when_the_arm_does_not_follow(arm, start_q):
    robot = StuckRobot(joints=start_q)
    goal = start_q + np.array([0.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(SafetyStop) as stop:
        move_to_pose(robot, robot, goal, limits(arm, max_arm_lead=0.2), rate_hz=20.0, speed=0.4,
                     tracking=TrackingLimit(max_error=0.1, max_duration_s=0.5))
    assert stop.value.reason == "tracking"


def test_the_real_path_never_runs_ahead_of_an_arm_that_does_not_move(arm, start_q):
    """The same through the arm adapter: LeRobot's interface, the mapping, commands in degrees."""
    from liftrl.deploy.mapping import MOTORS, JointMapping
    from liftrl.deploy.so101 import So101Robot
    from test_deploy_mapping import StandInFollower

    class DeadFollower(StandInFollower):
        def send_action(self, action):
            self.sent.append(dict(action))  # accepted, never executed
            return action

    mapping = JointMapping.from_joint_ranges(arm.joint_range)
    follower = DeadFollower(dict(zip(MOTORS, mapping.to_lerobot(start_q))), frame=None)
    clock = FakeRobot()  # only its clock
    robot = So101Robot(follower, mapping, camera_key=None, clock=clock.now)
    state_only = ObservationSpec(keys=("state",), shapes={"state": (18,)}, camera=CameraSpec(size=32), frame_stack=1,
                                 state_layout=STATE_LAYOUT)
    result = run_arm_episode(robot, clock, constant([0.0, 1.0, 0.0, 1.0]),
                             ObservationBuilder(state_only, arm.kinematics), CommandMapper(ACTION, TASK, arm),
                             limits(arm), Watchdog(), LoopConfig(15.0, 60), EpisodeLog())
    assert result.stop_reason == "tracking"
    sent = np.array([[a[f"{m}.pos"] for m in MOTORS] for a in follower.sent])
    lead_deg = np.abs(sent - mapping.to_lerobot(start_q))[:, :5]
    assert lead_deg.max() <= np.degrees(0.35) + 1e-6 and lead_deg.max() > np.degrees(0.25)


def test_slow_move_accepts_a_servo_that_settles_a_little_short(arm, start_q):
    class SaggingRobot(FakeRobot):
        """Follows every command but ends 0.06 rad (3.4 deg) short on shoulder_lift, as a servo under load."""

        def command(self, joint_targets):
            super().command(joint_targets)
            self.joints = self.joints - np.array([0.0, 0.06, 0.0, 0.0, 0.0, 0.0])

    robot = SaggingRobot(joints=start_q)
    goal = start_q + np.array([0.3, 0.0, 0.0, 0.0, 0.0, 0.0])
    n = move_to_pose(robot, robot, goal, limits(arm), rate_hz=20.0, speed=0.4, settle_s=1.0)
    # 0.3 rad at 0.4 rad/s is 15 commands; then one second (20 periods) of settling
    assert n == 15 + 20 and np.allclose(robot.commands[-1], goal)


def test_limit_command_refuses_a_nan_measured_position(arm, start_q):
    """The lead cap clips around the measured joints; a NaN there must stop, not pass into the command
    (the slow move to the start pose calls limit_command without the loop's reading check)."""
    measured = start_q.copy()
    measured[1] = np.nan
    with pytest.raises(SafetyStop) as stop:
        limit_command(start_q, start_q, measured, limits(arm), 0.1, arm.kinematics.tool_point)
    assert stop.value.reason == "nan_reading"
