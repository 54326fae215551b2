"""The control loop: read, observe, act, map, limit, command; at a fixed rate, until done or stopped.

Every way out of an episode ends in ``robot.stop()`` (the arm holds where it is): the episode's
natural end, a safety stop (stale frame, NaN, failed read or write, the arm not following its
commands) and Ctrl-C alike. Commands are limited against the joints measured in the same tick. The episode
is logged whatever happened, so the reason for a stop can be read afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from liftrl.common.types import Policy
from liftrl.deploy.episode_log import EpisodeLog
from liftrl.deploy.pipeline import CommandMapper, ObservationBuilder
from liftrl.deploy.robot import Clock, Robot
from liftrl.deploy.safety import SafetyLimits, SafetyStop, TrackingLimit, TrackingMonitor, Watchdog, limit_command

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class LoopConfig:
    rate_hz: float
    max_steps: int

    def __post_init__(self):
        if not (self.rate_hz > 0 and np.isfinite(self.rate_hz)):
            raise ValueError(f"control rate must be a positive number of Hz, got {self.rate_hz!r}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps!r}")


@dataclass(frozen=True)
class LoopResult:
    steps: int
    stop_reason: str  # "done", "max_steps", "interrupted", "error", or a SafetyStop reason
    message: str

    @property
    def safety_stop(self) -> bool:
        return self.stop_reason not in ("done", "max_steps", "interrupted")


@dataclass
class _Loop:
    """What one episode's ticks share: the parts of the loop and the last command sent."""

    robot: Robot
    clock: Clock
    policy: Policy
    builder: ObservationBuilder
    mapper: CommandMapper
    limits: SafetyLimits
    watchdog: Watchdog
    episode_log: EpisodeLog
    monitor: TrackingMonitor
    period_s: float
    q_sent: np.ndarray | None = None

    def tick(self, k: int, tick_time: float) -> None:
        """Read, observe, act, map, limit, command and log once; any safety problem raises ``SafetyStop``."""
        t_start = self.clock.now()
        try:
            reading = self.robot.read()
        except Exception as exc:
            raise SafetyStop("read_failed", f"robot read failed: {type(exc).__name__}: {exc}") from exc
        t_read = self.clock.now()
        self.watchdog.check_reading(reading, t_read)
        self.monitor.check(reading.joints, self.q_sent)
        if k == 0:
            obs = self.builder.reset(reading)
            self.mapper.reset_from_joints(reading.joints)
            self.q_sent = np.asarray(reading.joints, dtype=float)
        else:
            obs = self.builder.push(reading)
        action = np.asarray(self.policy({key: v[None] for key, v in obs.items()}), dtype=np.float32)[0]
        self.watchdog.check_action(action)
        self.builder.record_action(action)
        requested = self.mapper.step(action, self.period_s)
        q_safe, events = limit_command(requested, self.q_sent, reading.joints, self.limits, self.period_s,
                                       self.mapper.arm.kinematics.tool_point)
        t_policy = self.clock.now()
        try:
            self.robot.command(q_safe)
        except Exception as exc:
            raise SafetyStop("write_failed", f"robot command failed: {type(exc).__name__}: {exc}") from exc
        t_cmd = self.clock.now()
        self.q_sent = q_safe
        self.episode_log.append(
            frame=reading.frame, obs=obs, action=action, requested=requested, sent=q_safe, joints=reading.joints,
            target=self.mapper.target, timestamp=reading.timestamp, frame_timestamp=reading.frame_timestamp,
            events=events, timings={"lateness_ms": 1e3 * (t_start - tick_time), "read_ms": 1e3 * (t_read - t_start),
                                    "policy_ms": 1e3 * (t_policy - t_read), "command_ms": 1e3 * (t_cmd - t_policy),
                                    "loop_ms": 1e3 * (t_cmd - t_start)})


def run_arm_episode(robot: Robot, clock: Clock, policy: Policy, builder: ObservationBuilder, mapper: CommandMapper,
                    limits: SafetyLimits, watchdog: Watchdog, cfg: LoopConfig, episode_log: EpisodeLog,
                    done: Callable[[], bool] | None = None, tracking: TrackingLimit = TrackingLimit()) -> LoopResult:
    """One episode from the arm's current pose; ``done()`` (if given) is asked at each tick before reading."""
    period = 1.0 / cfg.rate_hz
    monitor = TrackingMonitor(tracking, cfg.rate_hz)
    loop = _Loop(robot, clock, policy, builder, mapper, limits, watchdog, episode_log, monitor, period)
    t0 = clock.now()
    steps, reason, message = 0, "max_steps", f"ran {cfg.max_steps} steps"
    try:
        for k in range(cfg.max_steps):
            tick_time = t0 + k * period
            clock.sleep_until(tick_time)
            if done is not None and done():
                reason, message = "done", f"episode ended after {steps} steps"
                break
            loop.tick(k, tick_time)
            steps = k + 1
    except SafetyStop as stop:
        reason, message = stop.reason, str(stop)
        log.warning("safety stop after %d steps: %s", steps, stop)
    except KeyboardInterrupt:
        reason, message = "interrupted", f"Ctrl-C after {steps} steps"
    except Exception as exc:  # any other failure stops the arm too, and the episode is still logged
        reason, message = "error", f"{type(exc).__name__} after {steps} steps: {exc}"
        log.error("deploy loop failed: %s", message)
    finally:
        try:
            robot.stop()
        except Exception as exc:  # the arm may be unreachable; say so, do not mask the first error
            log.error("robot.stop() failed: %s", exc)
            message += f"; robot.stop() failed: {exc}"
    episode_log.meta.update({"stop_reason": reason, "message": message, "rate_hz": cfg.rate_hz,
                             "tracking_worst_rad": monitor.worst})
    return LoopResult(steps=steps, stop_reason=reason, message=message)
