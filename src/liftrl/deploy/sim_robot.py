"""The MuJoCo scene behind the Robot interface: the deploy loop's dry run before the arm moves.

It wraps a ``LiftCubeEnv`` (its model, data, wrist renderer, curriculum resets and task rules)
but is driven the way the real arm is: joint targets in, joints and frames out, at whatever rate
the loop runs. It is its own clock: ``sleep_until`` advances physics in 2 ms steps, and a command
takes effect ``latency_s`` after it is sent (queued, so latency longer than a control period works).

The task is scored as the env scores it: grasp / lift / hold rules every 10 physics steps (20 ms),
success after ``hold_steps`` such ticks in a row, time limit ``max_episode_steps`` ticks. So a
success rate here and one from the env at 50 Hz measure the same thing in the same physical time.
"""

from __future__ import annotations

from collections import deque

import mujoco
import numpy as np

from liftrl.deploy.robot import RobotReading
from liftrl.obs.pipeline import CameraNoise
from liftrl.sim import task
from liftrl.common.units import PHYSICS_STEPS_PER_CONTROL
from liftrl.sim.env import LiftCubeEnv


class SimRobot:
    def __init__(self, env: LiftCubeEnv, latency_s: float = 0.0, camera_noise: CameraNoise = CameraNoise(),
                 measure_velocity: bool = False, render: bool = True, camera_delay_s: float = 0.0):
        """``measure_velocity`` hands the simulator's joint velocities to the loop; the real arm cannot, so
        dry runs leave it off and the loop differentiates positions exactly as on the arm. ``render=False``
        (for policies that read no pixels) returns a 1x1 black frame instead of rendering the wrist camera.
        ``camera_delay_s``: a read returns the newest frame at least that old (frames are rendered every
        20 ms tick while a delay is set), as a USB camera's buffered frame lags the joints."""
        if latency_s < 0 or camera_delay_s < 0:
            raise ValueError(f"latency and camera delay must be >= 0 s, got {latency_s}, {camera_delay_s}")
        self.env = env
        self.latency_s = float(latency_s)
        self.camera_noise = camera_noise
        self.measure_velocity = measure_velocity
        self.render = render
        self.dt = float(env.model.opt.timestep)
        self._pending: deque[tuple[float, np.ndarray]] = deque()
        self._substeps = 0
        self._ticks = 0
        self._hold = 0
        self.success = False
        self._rng = np.random.default_rng(0)
        self._gain = 1.0
        self.camera_delay_s = float(camera_delay_s)
        self._frames: deque[tuple[float, np.ndarray]] = deque()  # (time, raw frame) while delayed

    # ------------------------------------------------------------------ episodes and scoring
    def reset(self, seed: int) -> dict:
        """Start an episode from the env's curriculum start for ``seed``; returns the env's reset info."""
        _, info = self.env.reset(seed=seed)
        self._pending.clear()
        self._substeps = self._ticks = self._hold = 0
        self.success = False
        self._rng = np.random.default_rng(seed)
        self._gain = self.camera_noise.draw_gain(self._rng)
        self._frames.clear()
        self._record_frame()
        return info

    def _record_frame(self) -> None:
        """Keep this tick's frame while a camera delay is set; older ones than the delay needs are dropped."""
        if not (self.render and self.camera_delay_s > 0):
            return
        now = self.now()
        self._frames.append((now, self.env.render_wrist().copy()))
        while len(self._frames) > 1 and self._frames[1][0] <= now - self.camera_delay_s + 1e-9:
            self._frames.popleft()

    def _delayed_frame(self) -> tuple[np.ndarray, float]:
        """The newest recorded frame at least ``camera_delay_s`` old (the oldest one early in an episode)."""
        target = self.now() - self.camera_delay_s + 1e-9
        best = self._frames[0]
        for t, frame in self._frames:
            if t <= target:
                best = (t, frame)
        return best[1], best[0]

    def _score(self) -> None:
        env, d, ids, cfg = self.env, self.env.data, self.env.ids, self.env.cfg
        touch = env.touches()  # the env's own contact test (pads vs cube)
        grasping = task.is_grasping(float(d.qpos[ids.arm_qpos[5]]), *touch, env.grasp_max)
        lifted = task.is_lifted(grasping, float(d.xpos[ids.cube_body][2]), cfg.lift_height)
        self._hold = task.next_hold_count(lifted, self._hold)
        self._ticks += 1
        self.success = self.success or task.is_success(self._hold, cfg.hold_steps)

    def episode_over(self) -> bool:
        cfg = self.env.cfg
        return (self.success and cfg.terminate_on_success) or self._ticks >= cfg.max_episode_steps

    @property
    def hold_count(self) -> int:
        return self._hold

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        return self._substeps * self.dt

    def sleep_until(self, t: float) -> None:
        while (self._substeps + 1) * self.dt <= t + 1e-9:
            self._physics_step()

    def _physics_step(self) -> None:
        d, ids = self.env.data, self.env.ids
        now = self.now()
        while self._pending and self._pending[0][0] <= now + 1e-9:
            d.ctrl[ids.actuators] = self._pending.popleft()[1]
        mujoco.mj_step(self.env.model, d)
        self._substeps += 1
        if self._substeps % PHYSICS_STEPS_PER_CONTROL == 0:
            self._score()
            self._record_frame()

    # ------------------------------------------------------------------ Robot
    def joints(self) -> np.ndarray:
        """The six joint angles now (rad), without rendering a frame (what a servo bus read costs)."""
        return self.env.data.qpos[self.env.ids.arm_qpos].copy()

    def read(self) -> RobotReading:
        d, ids = self.env.data, self.env.ids
        t = frame_t = self.now()
        if self.render and self.camera_delay_s > 0:
            frame, frame_t = self._delayed_frame()
            frame = self.camera_noise.apply(frame, self._gain, self._rng)
        elif self.render:
            frame = self.camera_noise.apply(self.env.render_wrist(), self._gain, self._rng)
        else:
            frame = np.zeros((1, 1, 3), np.uint8)
        return RobotReading(
            joints=self.joints(), frame=frame, timestamp=t, frame_timestamp=frame_t,
            velocities=d.qvel[ids.arm_dof].copy() if self.measure_velocity else None,
            privileged=self.env.privileged(),
        )

    def command(self, joint_targets: np.ndarray) -> None:
        q = np.asarray(joint_targets, dtype=float)
        if q.shape != (6,) or not np.all(np.isfinite(q)):
            raise ValueError(f"joint targets must be 6 finite values, got {q.tolist()}")
        self._pending.append((self.now() + self.latency_s, q.copy()))

    def stop(self) -> None:
        d, ids = self.env.data, self.env.ids
        self._pending.clear()
        d.ctrl[ids.actuators] = d.qpos[ids.arm_qpos]
