"""Every option of the simulated task, defined once with its default and its check.

Two groups, because two different things consume them:

- ``TaskOptions``: what one ``LiftCubeEnv`` is (task rules, observation shape, reward, scene and
  randomisation). The env reads these and nothing else.
- ``EnvOptions(TaskOptions)``: adds what the real loop puts between the policy and that env
  (control rate, latency, the camera's noise and gain). ``liftrl.sim.factory.build_env`` turns them
  into wrappers and camera stages around the env; it is the one place an env is composed.

A run's config section ``env`` (``liftrl.config.EnvConfig``) *is* an ``EnvOptions`` plus how many
copies run, so a bad value fails when the config is loaded, naming its key, and never first
inside a spawned worker. ``resolve_options`` is the one place keyword values become options.

The task's own options (stage, mix, hold, lift height, episode length, termination) take their
defaults and checks from ``TaskConfig``, which the deploy side also builds on its own; the
checks raise ``OptionError``, whose ``key`` names the option.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from liftrl.common.units import CONTROL_HZ
from liftrl.obs.keys import OBSERVATION_KEYS
from liftrl.obs.pipeline import CameraNoise
from liftrl.rewards import known_versions
from liftrl.sim.scene_options import SceneOptions
from liftrl.sim.task import MAX_LEAD, OptionError, TaskConfig, check_lead

IMAGE_SIZE_RANGE = (16, 512)  # a wrist image smaller than 16 px shows nothing; above 512 px is only slow
MAX_CUBE_ERROR_M = 0.05  # a cube estimate off by more than 5 cm per axis is not one to train against
_TASK = TaskConfig  # the task options' defaults are TaskConfig's class attributes


@dataclass(frozen=True)
class TaskOptions(SceneOptions):
    """What one ``LiftCubeEnv`` is; building one checks every value (``OptionError`` names it).

    The scene's variations (lights, table, cube, camera mount, rendering, physics, grasp rule) are
    the fields of ``liftrl.sim.scene_options.SceneOptions``, inherited here.
    """

    # Where episodes start (0: arm at home; 1: cube held at lift height; 2: cube held on the table;
    # 3: open gripper just above the cube; 4: gripper 8-12 cm away); evaluation always starts here.
    curriculum_stage: int = _TASK.curriculum_stage
    # Training resets draw their stage from these probabilities of stages 0-4 (empty: always
    # curriculum_stage). Evaluation, videos and eval runs always use curriculum_stage.
    curriculum_mix: tuple[float, ...] = _TASK.curriculum_mix
    # Success: the cube held above lift_height (m, its centre) for hold_steps consecutive control steps.
    hold_steps: int = _TASK.hold_steps
    lift_height: float = _TASK.lift_height
    max_episode_steps: int = _TASK.max_episode_steps
    # End the episode at success (false: run all max_episode_steps).
    terminate_on_success: bool = _TASK.terminate_on_success
    # What the env computes, from OBSERVATION_KEYS.
    observations: tuple[str, ...] = ("pixels", "state")
    # Wrist camera image side in pixels (16-512) and how many frames the `pixels` stack holds.
    image_size: int = 84
    frame_stack: int = 3
    # Domain randomisation per env and per reset (cube size, friction, colour, lights, camera pose, cube xy).
    randomize: bool = True
    # The reward version by name (liftrl.rewards: sparse, v11, v19, v20); a name keeps its meaning forever.
    reward: str = "v19"
    # How many of the policy's last actions the `last_actions` observation holds (liftrl.obs.action_history).
    action_history: int = 3
    # Actions get a 5th value that turns wrist_roll (liftrl.sim.task.ROLL_STEP rad per step,
    # within ROLL_SPAN of top-down), so the jaws can meet a cube at any yaw face-on. Off: 4-D
    # actions [dx, dy, dz, gripper], roll held top-down (every stage-3 config and bundle). Rewards
    # see the first four values only, so a reward version keeps its meaning (v20 has no action term).
    wrist_roll_action: bool = False
    # A state teacher that tolerates a pixel student's cube estimate (docs/pick.md, "A teacher for
    # the student's cube estimate"): each episode offsets the `privileged` cube centre by a Gaussian
    # draw with this std (m, per axis), held for the whole episode, because a persistent error is
    # what misleads a teacher. Only the observation moves: physics, rewards and success use the true
    # cube. 0 (the default) draws nothing, so every other episode is what it was.
    privileged_cube_error_m: float = 0.0
    # How far (rad) a joint command may lead the joints measured when its observation was taken:
    # [body joints, gripper]. The deploy loop's safety layer enforces this cap on the arm
    # (``deploy.safety``, ``--max-lead``), so training keeps to it too: a policy trained without it
    # approached from the start pose faster than the arm allows and lost 22 of 45 dry-run
    # successes to it (docs/pick.md). Empty ([]) trains without a cap, as every run before it did.
    command_lead_rad: tuple[float, ...] = (MAX_LEAD[0], MAX_LEAD[5])

    @property
    def action_dim(self) -> int:
        return 5 if self.wrist_roll_action else 4

    def lead_cap(self) -> np.ndarray | None:
        """The six joints' lead cap (rad) ``command_lead_rad`` asks for, or None for no cap."""
        if not self.command_lead_rad:
            return None
        body, gripper = self.command_lead_rad
        return np.array([body] * 5 + [gripper], dtype=float)

    def __post_init__(self):
        super().__post_init__()  # the scene's options
        self.task_config()  # the task rules check their own options
        check_observations(self.observations)
        if not (isinstance(self.image_size, (int, np.integer)) and
                IMAGE_SIZE_RANGE[0] <= self.image_size <= IMAGE_SIZE_RANGE[1]):
            raise OptionError("image_size", f"image_size must be an integer in "
                                            f"{IMAGE_SIZE_RANGE[0]}..{IMAGE_SIZE_RANGE[1]}, got {self.image_size!r}")
        if not (isinstance(self.frame_stack, (int, np.integer)) and self.frame_stack >= 1):
            raise OptionError("frame_stack", f"frame_stack must be an integer >= 1, got {self.frame_stack!r}")
        if self.reward not in known_versions():
            close = difflib.get_close_matches(str(self.reward), known_versions(), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptionError("reward", f"unknown reward {self.reward!r}, choose from {known_versions()}{hint}")
        if isinstance(self.action_history, bool) or not (isinstance(self.action_history, (int, np.integer))
                                                         and self.action_history >= 1):
            raise OptionError("action_history", f"action_history must be an integer >= 1, got {self.action_history!r}")
        if not isinstance(self.wrist_roll_action, (bool, np.bool_)):
            raise OptionError("wrist_roll_action", f"wrist_roll_action must be true or false, got {self.wrist_roll_action!r}")
        # a list (as written in YAML or by hand) is read as the tuple it means
        object.__setattr__(self, "command_lead_rad", check_lead(self.command_lead_rad))
        error = self.privileged_cube_error_m
        if isinstance(error, bool) or not (isinstance(error, (int, float)) and 0 <= error <= MAX_CUBE_ERROR_M):
            raise OptionError("privileged_cube_error_m", f"privileged_cube_error_m must be in "
                                                         f"[0, {MAX_CUBE_ERROR_M}] m (std per axis), got {error!r}")

    def task_config(self) -> TaskConfig:
        """The task rules these options describe (workspace, scale and gripper angles are the model's)."""
        return TaskConfig(curriculum_stage=self.curriculum_stage, curriculum_mix=tuple(self.curriculum_mix),
                          hold_steps=self.hold_steps, lift_height=self.lift_height,
                          max_episode_steps=self.max_episode_steps, terminate_on_success=self.terminate_on_success)

    def task_options(self) -> "TaskOptions":
        """Just what ``LiftCubeEnv`` reads (a subclass such as ``EnvOptions`` adds the loop's options)."""
        return _only(self, TaskOptions)


@dataclass(frozen=True)
class EnvOptions(TaskOptions):
    """A ``TaskOptions`` plus what the real loop adds around the env (``build_env`` applies these)."""

    # Train (and evaluate) at the real arm's control rate and latency (liftrl.sim.latency): the
    # user's real loop ran at 10-20 Hz with ~100 ms latency. 50 Hz / 0 ms is the plain env.
    control_hz: float = CONTROL_HZ
    # A number, or a [lo, hi] range each episode draws its latency from (each env's own generator).
    latency_ms: float | tuple[float, ...] = 0.0
    # The real camera's imperfections, as `liftrl deploy --camera-noise/--camera-gain` emulate them:
    # per-pixel Gaussian noise (std, 0-255 units) and a brightness gain of 1 +- gain drawn per
    # episode (liftrl.obs.pipeline.CameraNoise). Evaluation uses the same env, so it sees them too.
    camera_noise: float = 0.0
    camera_gain: float = 0.0
    # How old the frame the policy sees is (ms): a USB camera's exposure, transfer and buffering put
    # its newest frame 30-150 ms behind the arm. Rounded to the env's 20 ms ticks in training.
    camera_delay_ms: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        check_rate(self.control_hz, self.latency_ms)
        if isinstance(self.camera_delay_ms, bool) or not (
                isinstance(self.camera_delay_ms, (int, float)) and 0 <= self.camera_delay_ms <= 1000):
            raise OptionError("camera_delay_ms", f"camera_delay_ms must be in [0, 1000] ms, got {self.camera_delay_ms!r}")
        if not (isinstance(self.camera_noise, (int, float)) and self.camera_noise >= 0):
            raise OptionError("camera_noise", f"camera_noise must be >= 0 (std in 0-255 units), got {self.camera_noise!r}")
        if not (isinstance(self.camera_gain, (int, float)) and 0 <= self.camera_gain < 1):
            raise OptionError("camera_gain", f"camera_gain must be in [0, 1), got {self.camera_gain!r}")

    @property
    def plain_rate(self) -> bool:
        """True for the env's own 50 Hz with no latency: no control-rate wrapper needed."""
        return self.control_hz == CONTROL_HZ and parse_latency(self.latency_ms) == (0.0, 0.0)

    def camera(self) -> CameraNoise:
        """The camera stage these options ask for (inactive at the defaults)."""
        return CameraNoise(std=float(self.camera_noise), gain=float(self.camera_gain))

    def options_only(self) -> "EnvOptions":
        """Just the env's options (a subclass such as ``EnvConfig`` adds others): what a worker needs."""
        return _only(self, EnvOptions)


def _only(options: TaskOptions, cls: type) -> TaskOptions:
    """``options``'s values of ``cls``'s fields; a field ``options`` lacks keeps ``cls``'s default
    (so a ``TaskOptions`` read as ``EnvOptions`` is that task with the plain loop)."""
    return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls) if hasattr(options, f.name)})


def resolve_options(options: TaskOptions | None, values: dict[str, Any], cls: type = EnvOptions) -> TaskOptions:
    """``options`` (as a ``cls``) with keyword ``values`` applied (lists read as tuples), checked.

    The one place keyword values become options: ``build_env``, ``LiftCubeEnv`` (``cls=TaskOptions``)
    and the vector envs all come through here. ``cls()`` if neither is given.
    """
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        loop = sorted(set(unknown) & {f.name for f in dataclasses.fields(EnvOptions)})
        hint = (f"; {loop} are the loop's options, applied around the env by liftrl.sim.factory.build_env"
                if loop else "")
        raise TypeError(f"unknown env option(s) {unknown}; the options are the fields of "
                        f"liftrl.sim.options.{cls.__name__}{hint}")
    if options is None:
        return cls(**values)
    return dataclasses.replace(_only(options, cls), **values)


def check_observations(keys) -> None:
    unknown = [k for k in keys if k not in OBSERVATION_KEYS]
    if unknown:
        raise OptionError("observations", f"unknown observation key(s) {unknown!r}; choose from {OBSERVATION_KEYS}")
    if len(set(keys)) != len(keys):
        raise OptionError("observations", f"observations lists a key twice: {list(keys)}")


def check_rate(control_hz: float, latency_ms, tick_hz: float = CONTROL_HZ) -> None:
    """A control rate the env can step (no faster than its own ticks) and a non-negative latency (or range)."""
    if not (isinstance(control_hz, (int, float)) and 0 < control_hz <= tick_hz):
        raise OptionError("control_hz", f"control_hz must be in (0, {tick_hz:g}] (the env ticks at {tick_hz:g} Hz), "
                                        f"got {control_hz!r}")
    parse_latency(latency_ms)


def parse_latency(latency_ms) -> tuple[float, float]:
    """``latency_ms`` as a ``(lo, hi)`` range in ms (a single number is ``(x, x)``); OptionError otherwise."""
    if isinstance(latency_ms, (list, tuple)):
        if len(latency_ms) != 2:
            raise OptionError("latency_ms", f"latency_ms must be a number or a [lo, hi] range, got {list(latency_ms)!r}")
        lo, hi = latency_ms
    else:
        lo = hi = latency_ms
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v >= 0:
            raise OptionError("latency_ms", f"latency_ms must be >= 0 (a number or a [lo, hi] range), "
                                            f"got {latency_ms!r}")
    if lo > hi:
        raise OptionError("latency_ms", f"latency_ms range [lo, hi] needs lo <= hi, got {list(latency_ms)!r}")
    return float(lo), float(hi)
