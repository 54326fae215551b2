"""``liftrl/LiftCube-v0``: grasp, lift and hold a cube with the SO-101, as a Gymnasium env.

Composes the scene, per-env IK, the task rules, randomisation, the shared observation pipeline
and a reward version chosen by name. Each instance owns its model, data, IK scratch data,
renderer and generator, so any number of them (in one process or many) are independent.
"""

from __future__ import annotations

import atexit
import dataclasses
import weakref
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from liftrl.common.units import CONTROL_HZ, PHYSICS_STEPS_PER_CONTROL
from liftrl.obs.keys import OBSERVATION_KEYS
from liftrl.obs.action_history import ActionHistory
from liftrl.obs.pipeline import CameraNoise, CameraSpec, FrameDelay, FrameStack, preprocess_frame
from liftrl.rewards import get_reward
from liftrl.sim import randomize as domain_rand
from liftrl.sim import scene, task, variation
from liftrl.sim.ik import WRIST_ROLL, TopDownIK
from liftrl.sim.kinematics import MAX_JOINT_SPEED, STATE_DIM, ArmKinematics, action_to_joint_targets, limit_motion
from liftrl.sim.privileged import PRIVILEGED_DIM, privileged_vector
from liftrl.sim.options import EnvOptions, TaskOptions, resolve_options

ACTION_DIM = 4  # [dx, dy, dz, gripper]; 5 with the wrist_roll_action option (droll last)
ACTION_MEANING = {4: "[dx, dy, dz, gripper]", 5: "[dx, dy, dz, gripper, droll]"}
SETTLE_STEPS = 60  # physics steps that let a gripped cube settle at reset (0.12 s)


_LIVE_ENVS: "weakref.WeakSet[LiftCubeEnv]" = weakref.WeakSet()
_EXIT_HOOK = False


_MAX_SPEED = np.asarray(MAX_JOINT_SPEED, dtype=float)


def _close_renderers() -> None:
    """Free GL contexts before MuJoCo's own exit hook terminates the EGL display."""
    for env in list(_LIVE_ENVS):
        try:
            env.close()
        except Exception:
            pass


def _new_renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    global _EXIT_HOOK
    renderer = mujoco.Renderer(model, height, width)
    if not _EXIT_HOOK:  # registered after MuJoCo's EGL hook, so it runs before it (LIFO)
        atexit.register(_close_renderers)
        _EXIT_HOOK = True
    return renderer


def _place_cube(start: task.StageStart, stage: int, cube_xy) -> task.StageStart:
    """``start`` with the cube's centre at ``cube_xy``: only for the pick stage, whose arm pose does not
    depend on where the cube is."""
    xy = np.asarray(cube_xy, dtype=float)
    if stage != task.PICK_STAGE or xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"reset option cube_xy needs the pick stage ({task.PICK_STAGE}) and two finite "
                         f"numbers, got stage {stage} and {cube_xy!r}")
    return dataclasses.replace(start, cube_xy=xy)


class LiftCubeEnv(gym.Env):
    """Grasp, lift to ``lift_height`` and hold for ``hold_steps`` consecutive control steps."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": round(CONTROL_HZ)}

    def __init__(self, options: TaskOptions | None = None, *, camera_noise: CameraNoise = CameraNoise(),
                 camera_delay_ms: float = 0.0, camera: str = scene.WRIST_CAMERA, mesh_quality: str | None = None,
                 render_mode: str | None = "rgb_array",
                 video_size: tuple[int, int] = (scene.VIDEO_WIDTH, scene.VIDEO_HEIGHT), **option_values: Any):
        """``options`` (or the same fields as keywords, e.g. ``curriculum_stage=1``, as ``gymnasium.make``
        passes them) describe the task; ``camera_noise`` is the camera stage ``build_env`` hands in
        (it acts on the raw render, before the shared preprocessing, as a real camera's noise does),
        and ``camera_delay_ms`` how late its frames arrive (whole 20 ms ticks); the rest is how this
        instance renders."""
        super().__init__()
        if isinstance(options, EnvOptions) and (not options.plain_rate or options.camera().active
                                                or options.camera_delay_ms > 0):
            raise ValueError(f"LiftCubeEnv steps at {CONTROL_HZ:g} Hz with no latency and a clean camera; "
                             f"control_hz={options.control_hz:g} / latency_ms={options.latency_ms} / "
                             f"camera_noise={options.camera_noise:g} / camera_gain={options.camera_gain:g} / "
                             f"camera_delay_ms={options.camera_delay_ms:g} "
                             f"are applied around it by liftrl.sim.factory.build_env")
        self.options = resolve_options(options, option_values, TaskOptions)
        if not self.options.observations:
            raise ValueError(f"unknown observation key(s) (): the env must compute one of {OBSERVATION_KEYS}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if camera not in scene.CAMERAS:
            raise ValueError(f"unknown camera {camera!r}; the scene has {scene.CAMERAS}")
        self.cfg = self.options.task_config()
        self.camera = camera
        self.observation_keys = self.options.observations
        self.randomize = bool(self.options.randomize)
        self.reward_version = get_reward(self.options.reward)
        self.render_mode = render_mode
        self.camera_spec = CameraSpec(size=int(self.options.image_size))
        self.frame_stack = int(self.options.frame_stack)
        # The real camera's noise and per-episode gain, as the deploy dry run emulates them.
        self.camera_noise = camera_noise
        self._gain = 1.0
        self._cube_error = np.zeros(3)  # the episode's privileged_cube_error_m draw
        tick_ms = 1000.0 / CONTROL_HZ
        self._delay = FrameDelay(int(round(float(camera_delay_ms) / tick_ms)))
        self.video_size = video_size
        self._build_simulation(mesh_quality)
        self.observation_space = self._observation_space()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)

    def _build_simulation(self, mesh_quality: str | None) -> None:
        """This instance's own model, data, IK scratch data, kinematics and renderers."""
        o = self.options
        self.model = scene.build_model(mesh_quality or o.mesh_quality or scene.default_mesh_quality())
        self.data = mujoco.MjData(self.model)
        self.ids = scene.lookup_ids(self.model)
        # Scene variations beyond the original randomisation: none at the defaults (liftrl.sim.variation).
        self._scene_active = not o.default_scene
        variation.configure_model(self.model, o, self.ids)
        self.scene_nominal = variation.SceneNominal.from_model(self.model, self.ids)
        self.scene_draw: variation.SceneDraw | None = None
        self.grasp_max = self.cfg.grasp_max_gripper  # the jaw angle below which a held cube counts as grasped
        self.ik = TopDownIK(self.model, self.ids.arm_qpos, self.ids.arm_dof,
                            self.model.jnt_range[self.ids.arm_joint], self.ids.tool_site, self.ids.ee_site)
        self.kin = ArmKinematics(self.model, self.ids)  # the same FK the real arm's state uses
        self._tick_s = float(self.model.opt.timestep) * PHYSICS_STEPS_PER_CONTROL  # one control tick (s)
        self.nominal = domain_rand.Nominal.from_model(self.model, self.ids.cube_geom, self.ids.wrist_camera)
        grip_act = self.ids.actuators[5]
        self._grip_lo, self._grip_hi = self.model.actuator_ctrlrange[grip_act]
        # What the deploy loop's safety layer clips a command to (``deploy.safety.limit_command``):
        # the joint ranges, the gripper's commandable range, and the lead cap (None: no cap).
        limits = self.model.jnt_range[self.ids.arm_joint]
        self._cmd_low, self._cmd_high = limits[:, 0].copy(), limits[:, 1].copy()
        self._cmd_low[5] = max(self._cmd_low[5], self._grip_lo)
        self._cmd_high[5] = min(self._cmd_high[5], self._grip_hi)
        self._lead = self.options.lead_cap()
        self._wrist_renderer: mujoco.Renderer | None = None
        self._video_renderer: mujoco.Renderer | None = None
        self._stack = FrameStack(self.frame_stack)
        self.action_dim = self.options.action_dim  # 4, or 5 with wrist_roll_action
        self._history = ActionHistory(self.options.action_history, self.action_dim)
        self.action_history = self._history.k  # actions in ``last_actions`` (when observed)
        _LIVE_ENVS.add(self)
        self._target = np.zeros(3)
        self._q_cmd = np.zeros(6)
        self._prev_action = np.zeros(4)
        self._was_grasping = False
        self._hold = 0
        self._t = 0
        self.draw: domain_rand.Randomization | None = None

    def _observation_space(self) -> gym.spaces.Dict:
        spaces: dict[str, gym.Space] = {}
        if "pixels" in self.observation_keys:
            s = self.camera_spec.size
            spaces["pixels"] = gym.spaces.Box(0, 255, (3 * self.frame_stack, s, s), np.uint8)
        if "state" in self.observation_keys:
            spaces["state"] = gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32)
        if "privileged" in self.observation_keys:
            spaces["privileged"] = gym.spaces.Box(-np.inf, np.inf, (PRIVILEGED_DIM,), np.float32)
        if "last_actions" in self.observation_keys:
            spaces["last_actions"] = gym.spaces.Box(-1.0, 1.0, (self.options.action_history * self.action_dim,), np.float32)
        return gym.spaces.Dict(spaces)

    # ------------------------------------------------------------------ measurements
    def touches(self) -> tuple[bool, bool]:
        """(cube touches the fixed pad, cube touches the moving pad): the contact half of the grasp test."""
        n = self.data.ncon
        if n == 0:
            return False, False
        cube = self.ids.cube_geom
        fixed, moving = self.ids.pads
        touch_fixed = touch_moving = False
        for a, b in self.data.contact.geom[:n].tolist():  # a few contacts: a plain loop beats array ops
            other = b if a == cube else a if b == cube else -1
            touch_fixed = touch_fixed or other == fixed
            touch_moving = touch_moving or other == moving
        return touch_fixed, touch_moving

    def tool_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.ids.tool_site].copy()

    def cube_pos(self) -> np.ndarray:
        return self.data.xpos[self.ids.cube_body].copy()

    def privileged(self) -> np.ndarray:
        """The cube as only the simulator knows it, in ``liftrl.sim.privileged.PRIVILEGED_LAYOUT``."""
        d, ids = self.data, self.ids
        quat = d.qpos[ids.cube_qpos + 3:ids.cube_qpos + 7]
        observed = self.cube_pos() + self._cube_error  # privileged_cube_error_m: the observation only
        return privileged_vector(observed, float(self.model.geom_size[ids.cube_geom][0]), quat,
                                 d.qvel[ids.cube_dof:ids.cube_dof + 3])

    def _state(self) -> np.ndarray:
        """From the joints alone, by the forward kinematics the deploy loop runs on measured joints."""
        return self.kin.state(self.data.qpos[self.ids.arm_qpos], self.data.qvel[self.ids.arm_dof])

    def render_wrist(self) -> np.ndarray:
        """The policy camera's raw frame (HxWx3 RGB uint8), before the shared preprocessing."""
        if self._wrist_renderer is None:
            s = self.camera_spec.size
            w, h = self.options.camera_resolution or (s, s)  # a real camera's frame is cropped and resized
            self._wrist_renderer = _new_renderer(self.model, h, w)
        self._wrist_renderer.update_scene(self.data, camera=self.camera)
        return self._wrist_renderer.render()

    def render(self) -> np.ndarray | None:
        """Third-person view for videos."""
        if self.render_mode is None:
            return None
        if self._video_renderer is None:
            w, h = self.video_size
            self._video_renderer = _new_renderer(self.model, h, w)
        self._video_renderer.update_scene(self.data, camera=self.ids.scene_camera)
        return self._video_renderer.render()

    def _observe(self, reset: bool) -> dict[str, np.ndarray]:
        obs: dict[str, np.ndarray] = {}
        if "pixels" in self.observation_keys:
            raw = self._delay.frame() if self._delay.active else self.render_wrist()
            raw = self.camera_noise.apply(raw, self._gain, self.np_random)
            frame = preprocess_frame(raw, self.camera_spec)
            obs["pixels"] = self._stack.reset(frame) if reset else self._stack.push(frame)
        if "state" in self.observation_keys:
            obs["state"] = self._state()
        if "privileged" in self.observation_keys:
            obs["privileged"] = self.privileged()
        if "last_actions" in self.observation_keys:
            obs["last_actions"] = self._history.values()
        return obs

    def _info(self, action: np.ndarray, touch: tuple[bool, bool], grasping: bool, lifted: bool) -> dict[str, Any]:
        d, ids = self.data, self.ids
        gripper_q = float(d.qpos[ids.arm_qpos[5]])
        return {
            "cube_pos": self.cube_pos(),
            "cube_half_size": float(self.model.geom_size[ids.cube_geom][0]),
            "cube_quat": d.qpos[ids.cube_qpos + 3:ids.cube_qpos + 7].copy(),
            "tool_pos": self.tool_pos(),
            "moving_pad_pos": d.geom_xpos[ids.pads[1]].copy(),
            "gripper_joint": gripper_q,
            "gripper_closed": gripper_q < self.grasp_max,
            "touch_fixed_pad": touch[0],
            "touch_moving_pad": touch[1],
            "is_grasping": grasping,
            "was_grasping": self._was_grasping,
            "grasp_lost": self._was_grasping and not grasping,
            "is_lifted": lifted,
            "hold_count": self._hold,
            "is_success": task.is_success(self._hold, self.cfg.hold_steps),
            "action": action.copy(),
            "prev_action": self._prev_action.copy(),
            "lift_height": self.cfg.lift_height,
            "hold_steps": self.cfg.hold_steps,
            "target": self._target.copy(),
            "wrist_roll": float(self._q_cmd[4]),  # the commanded roll (turned by a 5-D action's last value)
            # The jaws' closing direction: the fixed pad's face normal (its box's thin axis), towards
            # the moving pad. Fixed to the gripper, so the jaw opening does not swing it.
            "jaw_axis": d.geom_xmat[ids.pads[0]].reshape(3, 3)[:, 0].copy(),
            "step": self._t,
        }

    # ------------------------------------------------------------------ reset
    def _jaw_contact_angle(self, half: float, arm: np.ndarray) -> float:
        """Jaw angle at which the pads' inner faces are a cube's width apart, arm at ``arm`` (bisection on FK).

        A pure function of its inputs, on the state FK's scratch data with all six joints set:
        it used to leave a jaw angle in the IK's scratch, which the IK never sets, so later
        solves differed in the last bit from those of an env resumed with ``set_state``.
        """
        m, d = self.model, self.kin.data
        fixed, moving = self.ids.pads

        def gap(angle: float) -> float:
            d.qpos[self.ids.arm_qpos] = [*arm, WRIST_ROLL, angle]
            mujoco.mj_kinematics(m, d)
            axis = d.site_xmat[self.ids.ee_site].reshape(3, 3)[:, 2]  # jaw axis
            centre = axis @ (d.geom_xpos[moving] - d.geom_xpos[fixed])
            return centre - m.geom_size[fixed][0] - m.geom_size[moving][0]

        lo, hi = 0.0, 1.2
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if gap(mid) < 2 * half else (lo, mid)
        return 0.5 * (lo + hi)

    def _draw_world(self) -> None:
        """This episode's randomisation and scene variation, written into the env's model."""
        self.draw = (domain_rand.sample(self.np_random, self.nominal, self.options) if self.randomize
                     else domain_rand.nominal_draw(self.nominal, self.options))
        domain_rand.apply(self.model, self.draw, self.nominal, self.ids.cube_geom, self.ids.wrist_camera)
        if self._scene_active:  # its own stream: the main generator's draws stay as they were
            self.scene_draw = variation.sample_scene(variation.scene_stream(self.np_random), self.options,
                                                     self.model.nlight, self.randomize)
            self._apply_scene()

    def _grasp_threshold(self, half: float, arm: np.ndarray) -> float:
        """The episode's grasp threshold: the original fixed angle, or one that follows the cube's size."""
        if self.options.grasp_rule == "jaw_0.45":
            return self.cfg.grasp_max_gripper
        return task.grasp_threshold(self.options.grasp_rule, self._jaw_contact_angle(half, arm))

    def _place_arm_and_cube(self, start: task.StageStart, half: float) -> np.ndarray:
        """Reset the physics to ``start``: the arm's joints (given, or the IK of the start's tool point),
        the cube on the table or settled in a closed grip; returns the arm's first four joints."""
        m, d, ids = self.model, self.data, self.ids
        mujoco.mj_resetData(m, d)
        if start.joints is not None:  # a pose given as joints (the pick stage's start pose)
            arm = np.asarray(start.joints[:4], dtype=float)
        else:
            seed_q = np.array([0.0, 0.0, 0.0, np.pi / 2])
            arm = self.ik.solve(seed_q, start.tool, iterations=200)
        cube_z = start.tool[2] if start.held else half
        if start.held:
            # Centre the cube on the tool point, the pads just touching it.
            gripper = self._jaw_contact_angle(half, arm) - 0.01
        else:
            gripper = start.gripper
        q = np.concatenate([arm, [WRIST_ROLL, gripper]])
        self.grasp_max = self._grasp_threshold(half, arm)
        d.qpos[ids.arm_qpos] = q
        yaw = 0.5 * start.cube_yaw
        d.qpos[ids.cube_qpos:ids.cube_qpos + 7] = [start.cube_xy[0], start.cube_xy[1], cube_z,
                                                   np.cos(yaw), 0, 0, np.sin(yaw)]
        mujoco.mj_forward(m, d)
        if start.held:
            tool = self.tool_pos()
            d.qpos[ids.cube_qpos:ids.cube_qpos + 3] = tool
            d.ctrl[ids.actuators] = np.concatenate([arm, [WRIST_ROLL, self._grip_lo]])
            mujoco.mj_forward(m, d)
            for _ in range(SETTLE_STEPS):
                mujoco.mj_step(m, d)
        else:
            d.ctrl[ids.actuators] = q
        return arm

    def _reset_stage(self, options: dict | None) -> int:
        """The stage this reset starts: asked for in ``options``, else drawn (``curriculum_mix``)."""
        if options and "curriculum_stage" in options:
            stage = options["curriculum_stage"]
            if stage not in task.ALL_STAGES:
                raise ValueError(f"unknown curriculum_stage {stage!r} in reset options; stages are {task.ALL_STAGES}")
            return stage
        return task.pick_stage(self.np_random, self.cfg)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        stage = self._reset_stage(options)
        d, ids = self.data, self.ids
        self._draw_world()
        half = self.draw.cube_half_size
        start = task.sample_stage_start(stage, self.np_random, self.cfg, half, self.draw.cube_xy_spread,
                                        self.options.cube_xy_offset)
        if options and "cube_xy" in options:  # a chosen spot of the pick area (heat maps); yaw is still drawn
            start = _place_cube(start, stage, options["cube_xy"])
        arm = self._place_arm_and_cube(start, half)
        self._q_cmd = np.concatenate([arm, [WRIST_ROLL, d.ctrl[ids.actuators[5]]]])
        tool = self.tool_pos() if start.tool is None else start.tool.copy()
        self._target = task.clamp_target(tool, self.cfg)
        self._prev_action = np.zeros(4)
        if start.held:
            self._prev_action[3] = -1.0
        touch = self.touches()
        grasping = task.is_grasping(float(d.qpos[ids.arm_qpos[5]]), *touch, self.grasp_max)
        self._was_grasping = grasping
        self._hold = 0
        self._t = 0
        if self.camera_noise.active:  # drawn last: without noise every episode is what it was before
            self._gain = self.camera_noise.draw_gain(self.np_random)
        if self.options.privileged_cube_error_m > 0:  # after the gain, for the same reason
            self._cube_error = self.np_random.normal(0.0, self.options.privileged_cube_error_m, 3)
        else:  # no draw: nothing an earlier set_state loaded stays
            self._cube_error = np.zeros(3)
        self._history.reset()
        if self._delay.active and "pixels" in self.observation_keys:
            self._delay.reset(self.render_wrist())
        obs = self._observe(reset=True)
        info = self._info(self._prev_action, touch, grasping, False)
        info["randomization"] = self.draw.as_dict()
        if self.scene_draw is not None:
            info["scene"] = self.scene_draw.as_dict()
        info["curriculum_stage"] = stage
        return obs, info

    # ------------------------------------------------------------------ step
    def step(self, action):
        reward, terminated, truncated, info = self.advance(action)
        return self._observe(reset=False), reward, terminated, truncated, info

    def joints(self) -> np.ndarray:
        """The six arm joints now (rad): what the real arm's servo read returns."""
        return self.data.qpos[self.ids.arm_qpos].copy()

    def _send(self, period: float, measured: np.ndarray | None) -> np.ndarray:
        """The command the actuators get for this period's IK command: as the deploy loop sends it.

        The IK's own chain (``_q_cmd``) goes on from what it asked for, as the deploy loop's mapper
        does; what the actuators receive is that command clipped to the joint ranges, kept to the
        joint speed from the last command *sent* and within the lead cap of ``measured`` (the
        joints when the action's observation was taken: now, unless a latency wrapper says).
        """
        if self._lead is None:  # as every env before the cap: the IK's command as it is
            return self._q_cmd.copy()
        q = np.minimum(np.maximum(self._q_cmd, self._cmd_low), self._cmd_high)
        sent = self.data.ctrl[self.ids.actuators]
        measured = self.joints() if measured is None else np.asarray(measured, dtype=float)
        q, _, _ = limit_motion(q, sent, measured, _MAX_SPEED * period, self._lead, self._cmd_low, self._cmd_high)
        return q

    def advance(self, action, period_s: float | None = None,
                measured: np.ndarray | None = None) -> tuple[float, bool, bool, dict[str, Any]]:
        """``step`` without the observation: (reward, terminated, truncated, info).

        For callers that step several control ticks per observation (``liftrl.sim.latency`` at
        15 Hz) and then call :meth:`observe` once: a wrist render per unseen tick is most of a
        tick's cost. ``period_s`` is the time since the last action, which the joint speed limit
        scales with: one tick when None. ``period_s=0`` marks a tick that carries no new action
        (the rest of a 15 Hz period): the joint command is held as it is, as the deploy loop holds
        it between actions, and ``action`` (xyz 0) only enters the reward and info. ``measured``:
        the joints when the action's observation was taken (``joints()`` then), which the lead cap
        (``command_lead_rad``) holds the command near; None means now, as without latency.
        """
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.action_dim,):
            raise ValueError(f"action must have shape ({self.action_dim},) = {ACTION_MEANING[self.action_dim]}, "
                             f"got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"action contains NaN or inf: {a.tolist()}")
        a = np.minimum(np.maximum(a, -1.0), 1.0)  # np.clip's values, without its wrapper's cost
        m, d, ids, cfg = self.model, self.data, self.ids, self.cfg

        if period_s is not None and not period_s >= 0.0:
            raise ValueError(f"period_s must be None (one tick), 0 (hold the command) or positive, got {period_s!r}")
        if period_s is None or period_s > 0.0:
            period = self._tick_s if period_s is None else period_s
            self._target, self._q_cmd = action_to_joint_targets(
                a, self._target, self._q_cmd, self.ik, cfg, self._grip_lo, self._grip_hi, period)
            d.ctrl[ids.actuators] = self._send(period, measured)
        mujoco.mj_step(m, d, nstep=PHYSICS_STEPS_PER_CONTROL)
        self._t += 1
        if self._delay.active and "pixels" in self.observation_keys:
            self._delay.push(self.render_wrist())  # every tick: a late frame is one the policy never asked for

        touch = self.touches()
        cube_z = float(d.xpos[ids.cube_body][2])
        grasping = task.is_grasping(float(d.qpos[ids.arm_qpos[5]]), *touch, self.grasp_max)
        lifted = task.is_lifted(grasping, cube_z, cfg.lift_height)
        self._hold = task.next_hold_count(lifted, self._hold)
        info = self._info(a[:4], touch, grasping, lifted)  # rewards see [dx, dy, dz, gripper] only
        result = self.reward_version.fn(info)
        info["reward_terms"] = dict(result.terms)
        self._was_grasping = grasping
        self._prev_action = a[:4]
        self._history.push(a)

        terminated = bool(info["is_success"] and cfg.terminate_on_success)
        truncated = bool(self._t >= cfg.max_episode_steps and not terminated)
        return float(result.total), terminated, truncated, info

    def observe(self) -> dict[str, np.ndarray]:
        """The observation of the current state, its frame pushed on the env's stack (as ``step`` does)."""
        return self._observe(reset=False)

    # ------------------------------------------------------------------ exact resume
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue this episode bit for bit in a fresh env.

        Training snapshots save it so a resumed run steps the same episodes the uninterrupted
        run would have; plain numpy arrays and JSON-able values only (no pickled objects).
        """
        m, d = self.model, self.data
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(m, spec))
        mujoco.mj_getState(m, d, physics, spec)
        state = {
            "physics": physics,
            "target": self._target.copy(),
            "q_cmd": self._q_cmd.copy(),
            "prev_action": self._prev_action.copy(),
            "was_grasping": bool(self._was_grasping),
            "hold": int(self._hold),
            "t": int(self._t),
            "draw": None if self.draw is None else self.draw.as_dict(),
            "rng": self.np_random.bit_generator.state,
            "camera_gain": float(self._gain),
            "cube_error": self._cube_error.tolist(),
            "history": self._history.state(),
        }
        if "pixels" in self.observation_keys:
            state["frames"] = self._stack.state()
            if self._delay.active:
                state["delayed_frames"] = self._delay.state()
        if self.scene_draw is not None:
            state["scene"] = self.scene_draw.as_dict()
        if self.options.grasp_rule != "jaw_0.45":
            state["grasp_max"] = float(self.grasp_max)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        m, d = self.model, self.data
        if state["draw"] is not None:
            draw = dict(state["draw"])
            for key in ("cube_rgb", "light_scale", "camera_offset"):
                draw[key] = tuple(draw[key])
            self.draw = domain_rand.Randomization(**draw)
            domain_rand.apply(m, self.draw, self.nominal, self.ids.cube_geom, self.ids.wrist_camera)
        if state.get("scene") is not None:
            self.scene_draw = variation.SceneDraw.from_dict(state["scene"])
            self._apply_scene()
        self.grasp_max = float(state.get("grasp_max", self.cfg.grasp_max_gripper))
        physics = np.asarray(state["physics"], dtype=np.float64)
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        if physics.shape != (mujoco.mj_stateSize(m, spec),):
            raise ValueError(f"env state has {physics.shape} physics values, this model needs "
                             f"{mujoco.mj_stateSize(m, spec)}: saved from another scene?")
        mujoco.mj_setState(m, d, physics, spec)
        mujoco.mj_forward(m, d)
        self._target = np.array(state["target"], dtype=float)
        self._q_cmd = np.array(state["q_cmd"], dtype=float)
        self._prev_action = np.array(state["prev_action"], dtype=float)
        self._was_grasping = bool(state["was_grasping"])
        self._hold = int(state["hold"])
        self._t = int(state["t"])
        self.np_random.bit_generator.state = state["rng"]
        self._gain = float(state.get("camera_gain", 1.0))
        self._cube_error = np.array(state.get("cube_error", (0.0, 0.0, 0.0)), dtype=float)
        if "history" in state:
            self._history.set_state(state["history"])
        else:  # a state saved before last_actions existed: nothing recorded, as at a reset
            self._history.reset()
        if "pixels" in self.observation_keys:
            self._stack.set_state(state["frames"])
            if self._delay.active:
                self._delay.set_state(state["delayed_frames"])

    def _apply_scene(self) -> None:
        """Write the episode's scene draw; a changed table texture goes to the live renderers too."""
        if variation.apply_scene(self.model, self.scene_draw, self.scene_nominal, self.options, self.ids):
            for r in (self._wrist_renderer, self._video_renderer):
                if r is not None:
                    variation.upload_table(self.model, r)

    def close(self):
        for r in (self._wrist_renderer, self._video_renderer):
            if r is not None:
                r.close()
        self._wrist_renderer = self._video_renderer = None
