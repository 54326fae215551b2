"""A slow joint-space move to the pose an episode starts from, before the policy is given the arm.

The policy was trained from the task's start poses; on the arm it would otherwise start wherever the
arm was left (folded at rest, or where the last episode stopped) and its first actions would ask
for a large jump. The move runs through the same limits as the loop (joint limits, a lead cap
against the measured joints) at a low speed, with the tracking watchdog on, and fails with a
``SafetyStop`` if the arm does not arrive in time.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from liftrl.deploy.pipeline import ArmModel
from liftrl.deploy.robot import Clock, Robot
from liftrl.deploy.safety import SafetyLimits, SafetyStop, TrackingLimit, TrackingMonitor, limit_command
from liftrl.sim.start_pose import episode_start_joints, home_joints
from liftrl.sim.task import TaskConfig


def home_pose(arm: ArmModel, cfg: TaskConfig) -> np.ndarray:
    """The task's home (stage 0's start): the tool at ``cfg.home_tool``, wrist roll as in training, jaws open."""
    return home_joints(cfg, arm.ik)


def episode_start_pose(arm: ArmModel, cfg: TaskConfig) -> np.ndarray:
    """Where the arm goes before each episode of task ``cfg``: the pick stage's start pose, exactly the
    simulator's (``liftrl.sim.start_pose``), or the home for the stages the real arm cannot set up."""
    return episode_start_joints(cfg, arm.ik)


def move_to_pose(robot: Robot, clock: Clock, goal: np.ndarray, limits: SafetyLimits, rate_hz: float = 15.0,
                 speed: float = 0.4, tolerance: float = 0.03, settle_s: float = 1.0,
                 timeout_s: float | None = None, tracking: TrackingLimit = TrackingLimit()) -> int:
    """Drive the arm to ``goal`` (6, rad) at ``speed`` rad/s; returns the number of commands sent.

    Arrival: every body joint within ``tolerance`` rad of the goal, or ``settle_s`` after the
    command reached the goal (a servo holding a link against gravity can stay a degree or two short;
    the tracking watchdog still stops an arm that stays further off). The gripper is not waited for:
    it may close on an object. The default timeout is twice the time the largest joint needs, plus
    the settling time and 2 s.
    """
    goal = np.asarray(goal, dtype=float)
    slow = dataclasses.replace(limits, max_joint_speed=(speed,) * 6)
    period = 1.0 / rate_hz
    monitor = TrackingMonitor(tracking, rate_hz)
    q_cmd = np.asarray(robot.read().joints, dtype=float)
    if timeout_s is None:
        timeout_s = 2.0 * float(np.max(np.abs(goal - q_cmd))) / speed + settle_s + 2.0
    t0 = clock.now()
    commanded_at: int | None = None  # the tick at which the command first reached the goal
    for k in range(int(math.ceil(timeout_s * rate_hz)) + 1):
        clock.sleep_until(t0 + k * period)
        measured = np.asarray(robot.read().joints, dtype=float)
        monitor.check(measured, q_cmd if k else None)
        if commanded_at is None and np.allclose(q_cmd, goal, atol=1e-9):
            commanded_at = k
        settled = commanded_at is not None and (k - commanded_at) * period >= settle_s
        if settled or np.all(np.abs(measured[:5] - goal[:5]) <= tolerance):
            return k
        q_cmd, _ = limit_command(goal, q_cmd, measured, slow, period)
        robot.command(q_cmd)
    far = np.abs(measured - goal)
    raise SafetyStop("start_pose", f"the arm did not reach the start pose in {timeout_s:.1f} s (largest error "
                                   f"{math.degrees(float(far.max())):.1f} deg on joint {int(far.argmax())})")
