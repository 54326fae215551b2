"""Train at the real arm's control rate and latency: a wrapper over the 50 Hz env, in 20 ms ticks.

The user's real loop ran at 10-20 Hz with ~100 ms between seeing a frame and the arm acting on
it, while the policy was trained at 50 Hz with none. This wrapper makes one agent step a control
period of ``control_hz`` and applies each action ``latency_ms`` after the observation it answers,
as the deploy loop does on the arm (``liftrl.deploy``):

- a control period spans ``floor((k+1) * 50 / hz) - floor(k * 50 / hz)`` env ticks of 20 ms, so
  15 Hz alternates 3, 3, 4 ticks and averages 66.7 ms;
- the action becomes a joint command once (``sim.kinematics.action_to_joint_targets``: the same
  target step, IK solve and joint speed limit over one period as the deploy loop), in the tick
  where its latency has elapsed; every other tick holds that command as it is (its reward and
  info see xyz 0 and the last effective gripper action); actions queue when the latency exceeds
  a period;
- ``pixels`` are re-stacked per control period (the newest frame of each period), so the frame
  stack spans the same time as on the arm; the env observes (renders) only once per period, at
  its end, since the other ticks' frames are never seen; rewards are summed over the period's
  ticks; success, hold counts and the time limit stay in env ticks, i.e. physical time.

- ``latency_ms`` may also be a range ``(lo, hi)``: each episode draws its latency uniformly from it
  at reset, from the env's own generator (so a seeded reset gives the same latency, and parallel
  envs draw their own), so a policy learns to tolerate the spread a real loop shows;
- ``last_actions`` (if the env provides it) is rebuilt per control period from the actions the
  agent sent, not the per-tick commands, so it means what the deploy loop's does;
- each queued action keeps the joints of the moment it was asked for, when its observation was
  taken: the env's lead cap (``command_lead_rad``) holds the command near those joints, as the
  deploy loop's safety layer holds it near the reading it acted on.

Latency and rate are rounded to whole 20 ms ticks; ``liftrl deploy --robot sim`` emulates them
at 2 ms physics resolution instead.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from liftrl.obs.action_history import ActionHistory
from liftrl.obs.pipeline import FrameStack
from liftrl.common.units import CONTROL_HZ, PHYSICS_STEPS_PER_CONTROL
from liftrl.sim.env import ACTION_MEANING, LiftCubeEnv
from liftrl.sim.options import check_rate, parse_latency


def env_tick_hz(env: LiftCubeEnv) -> float:
    return 1.0 / (float(env.model.opt.timestep) * PHYSICS_STEPS_PER_CONTROL)


class ControlRateWrapper(gym.Wrapper):
    def __init__(self, env: LiftCubeEnv, control_hz: float = CONTROL_HZ,
                 latency_ms: float | tuple[float, float] = 0.0):
        super().__init__(env)
        base = env_tick_hz(env.unwrapped)
        check_rate(control_hz, latency_ms, tick_hz=base)
        self.latency_range = parse_latency(latency_ms)
        self.control_hz = float(control_hz)
        self.base_hz = base
        self._set_latency(self.latency_range[0])
        self._pixels = "pixels" in env.unwrapped.observation_keys
        self._stack = FrameStack(env.unwrapped.frame_stack)
        keys = env.unwrapped.observation_keys
        self._history = (ActionHistory(env.unwrapped.action_history, env.unwrapped.action_dim)
                         if "last_actions" in keys else None)
        self._k = 0
        self._tick = 0
        # (tick due, action, joints when it was asked for): the lead cap holds the command near those
        # joints, as the deploy loop holds it near the reading its observation came from.
        self._pending: deque[tuple[int, np.ndarray, np.ndarray | None]] = deque()
        self._dim = env.unwrapped.action_dim
        self._hold = np.zeros(self._dim)

    def _set_latency(self, ms: float) -> None:
        self.latency_ms = float(ms)
        self.latency_ticks = int(round(self.latency_ms / 1000.0 * self.base_hz))

    def _held(self, gripper: float) -> np.ndarray:
        """What a tick without a new action reports: no motion, the last effective gripper action."""
        hold = np.zeros(self._dim)
        hold[3] = gripper
        return hold

    def ticks_in_period(self, k: int) -> int:
        r = self.base_hz / self.control_hz
        return int(math.floor((k + 1) * r + 1e-9) - math.floor(k * r + 1e-9))

    def _restack(self, obs: dict, first: bool) -> dict:
        if self._pixels:
            newest = obs["pixels"][-3:]
            obs = {**obs, "pixels": self._stack.reset(newest) if first else self._stack.push(newest)}
        if self._history is not None:
            obs = {**obs, "last_actions": self._history.values()}
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        lo, hi = self.latency_range
        if hi > lo:  # drawn after the env's reset, from its own (just seeded) generator
            self._set_latency(float(self.env.unwrapped.np_random.uniform(lo, hi)))
        self._k = self._tick = 0
        self._pending.clear()
        self._hold = self._held(float(np.asarray(info["action"])[3]))
        if self._history is not None:
            self._history.reset()
        return self._restack(obs, first=True), {**info, "latency_ms": self.latency_ms}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self._dim,):
            raise ValueError(f"action must have shape ({self._dim},) = {ACTION_MEANING[self._dim]}, got shape {a.shape}")
        env: LiftCubeEnv = self.env.unwrapped
        self._pending.append((self._tick + self.latency_ticks, a.copy(), env.joints()))
        if self._history is not None:
            self._history.push(a)
        total = 0.0
        info, term, trunc = {}, False, False
        for _ in range(self.ticks_in_period(self._k)):
            send, period_s, measured = self._hold, 0.0, None  # no new action: the env holds its command
            if self._pending and self._pending[0][0] <= self._tick:
                _, send, measured = self._pending.popleft()
                period_s = 1.0 / self.control_hz
                self._hold = self._held(send[3])
            r, term, trunc, info = env.advance(send, period_s, measured)
            total += float(r)
            self._tick += 1
            if term or trunc:
                break
        self._k += 1
        info = {**info, "control_ticks": self._tick, "latency_ms": self.latency_ms}
        # Observed (rendered) once per control period: the frames of the other ticks are never seen.
        return self._restack(env.observe(), first=False), total, term, trunc, info

    # exact resume, as the env itself offers it
    def get_state(self) -> dict[str, Any]:
        state = {"env": self.env.unwrapped.get_state(), "k": self._k, "tick": self._tick,
                 "pending": [[t, a.tolist(), None if q is None else q.tolist()] for t, a, q in self._pending],
                 "hold": self._hold.tolist(),
                 "latency_ms": self.latency_ms}
        if self._pixels:
            state["frames"] = self._stack.state()
        if self._history is not None:
            state["history"] = self._history.state()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        self.env.unwrapped.set_state(state["env"])
        self._k, self._tick = int(state["k"]), int(state["tick"])
        # A state saved before the lead cap has no joints with its queued actions: capped against
        # the joints when each is applied instead.
        self._pending = deque((int(p[0]), np.array(p[1], dtype=float),
                               None if len(p) < 3 or p[2] is None else np.array(p[2], dtype=float))
                              for p in state["pending"])
        self._hold = np.array(state["hold"], dtype=float)
        if "latency_ms" in state:  # states saved before latency ranges existed keep the fixed latency
            self._set_latency(float(state["latency_ms"]))
        if self._pixels:
            self._stack.set_state(state["frames"])
        if self._history is not None:
            if "history" in state:
                self._history.set_state(state["history"])
            else:
                self._history.reset()
