"""Predict the sim-to-real gap before the arm moves: the same policy, the same episodes, three ways.

1. ``env``: the policy in the training env at the rate it was trained at (the number training reports);
2. ``deploy``: the full deploy loop (SimRobot, finite-difference velocities, safety limits) at the
   trained rate with no latency: what the deploy pipeline itself costs;
3. ``deploy``: the same loop at the real arm's rate and latency (and camera noise): the gap to expect.

Episodes use the same seeds in every row (same cube, randomisation and start), and success is
scored by the env's rules in physical time, so the rows differ only in how the policy is run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping


from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
from liftrl.common.units import PHYSICS_STEPS_PER_CONTROL
from liftrl.config import ConfigError, EnvConfig, env_with
from liftrl.deploy.bundle import Bundle
from liftrl.deploy.episode_log import EpisodeLog
from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.robot import Robot
from liftrl.deploy.runner import LoopConfig, run_arm_episode
from liftrl.deploy.safety import SafetyLimits, Watchdog
from liftrl.deploy.sim_robot import CameraNoise, SimRobot
from liftrl.rewards import known_versions
from liftrl.run.envs import make_env, make_task_env
from liftrl.sim.options import EnvOptions, TaskOptions
from liftrl.train.episodes import run_episode

LOOP_KEYS = frozenset(f.name for f in dataclasses.fields(EnvOptions)) - {f.name for f in dataclasses.fields(TaskOptions)}



@dataclass(frozen=True)
class DryRunRow:
    label: str
    rate_hz: float
    latency_ms: float
    camera_noise: float
    episodes: int
    successes: int
    safety_stops: int = 0

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def env_config(bundle: Bundle, scene: Mapping[str, Any] | None = None) -> EnvConfig:
    """The env a bundle was trained in, at its trained control rate and latency, with ``scene`` options
    (``liftrl.sim.scene_options``, e.g. ``{"table_texture": ["busy"]}``) over the default scene.

    A bad scene option raises ``ConfigError`` naming ``env.KEY``; the loop's options (rate, latency,
    camera) are not scene options and are refused here (the dry run sets them itself)."""
    if scene:
        loop = sorted(set(scene) & LOOP_KEYS)
        if loop:
            raise ConfigError(f"env options {loop} belong to the loop: use --rate, --latency-ms, --camera-noise, "
                              f"--camera-gain instead")
        return env_with(env_config(bundle), scene)
    task = bundle.task
    reward = bundle.reward if bundle.reward in known_versions() else "sparse"  # reward does not affect success
    return EnvConfig(curriculum_stage=task.curriculum_stage, hold_steps=task.hold_steps, lift_height=task.lift_height,
                     max_episode_steps=task.max_episode_steps, observations=tuple(sorted(set(bundle.observation.keys))),
                     image_size=bundle.observation.camera.size, frame_stack=bundle.observation.frame_stack,
                     randomize=True, reward=reward, control_hz=bundle.control.hz,
                     latency_ms=bundle.control.latency_ms, grasp_rule=task.grasp_rule)


def run_env(bundle: Bundle, episode_seeds: list[int], env_options: EnvConfig | None = None) -> DryRunRow:
    """The policy in the env at the rate and latency it was trained at (wrapped if not 50 Hz / 0 ms)."""
    env = make_env(env_config(bundle) if env_options is None else env_options)
    try:
        successes = sum(run_episode(env, bundle.policy, seed).success for seed in episode_seeds)
    finally:
        env.close()
    return DryRunRow("env (training loop)", bundle.control.hz, bundle.control.latency_ms, 0.0,
                     len(episode_seeds), successes)


def run_deploy(bundle: Bundle, episode_seeds: list[int], rate_hz: float, latency_ms: float,
               camera_noise: CameraNoise = CameraNoise(), log_dir: str | Path | None = None,
               arm: ArmModel | None = None, adapter: Callable[[SimRobot], Robot] | None = None,
               label: str = "deploy loop on SimRobot", limits: SafetyLimits | None = None,
               env_options: EnvConfig | None = None, camera_delay_ms: float = 0.0) -> DryRunRow:
    """The deploy loop on the simulated robot, at ``rate_hz`` with ``latency_ms`` command latency.

    ``adapter`` puts something between the loop and the simulation (``sim_lerobot``: LeRobot's
    units and a calibration); the simulation stays the clock and the judge of success.
    ``env_options`` (default: the bundle's ``env_config``) describe the scene, e.g. a condition of
    ``liftrl stress``; ``camera_delay_ms`` makes every frame that much older than the joints.
    """
    # The env alone: SimRobot applies the rate, latency and camera itself, at physics resolution.
    env = make_task_env(env_config(bundle) if env_options is None else env_options)
    sim = SimRobot(env, latency_s=latency_ms / 1000.0, camera_noise=camera_noise,
                   render="pixels" in bundle.observation.keys, camera_delay_s=camera_delay_ms / 1000.0)
    robot = sim if adapter is None else adapter(sim)
    arm = arm or ArmModel.build()
    limits = limits or SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                            bundle.action.workspace_high)
    tick_s = env.model.opt.timestep * PHYSICS_STEPS_PER_CONTROL
    loop = LoopConfig(rate_hz=rate_hz, max_steps=int(math.ceil(bundle.task.max_episode_steps * tick_s * rate_hz)) + 2)
    successes = stops = 0
    try:
        for seed in episode_seeds:
            sim.reset(seed)
            if hasattr(robot, "reset_episode"):  # an adapter with its own episode state (liftrl stress)
                robot.reset_episode(seed)
            episode_log = EpisodeLog(log_frames=log_dir is not None)
            result = run_arm_episode(robot, sim, bundle.policy, ObservationBuilder(bundle.observation, arm.kinematics),
                                     CommandMapper(bundle.action, bundle.task, arm), limits, Watchdog(), loop,
                                     episode_log, done=sim.episode_over)
            successes += bool(sim.success)
            stops += result.safety_stop
            if log_dir is not None:
                episode_log.meta.update({"robot": "sim" if adapter is None else "sim-lerobot", "seed": seed,
                                         "latency_ms": latency_ms, "success": bool(sim.success),
                                         "bundle": str(bundle.path)})
                episode_log.save(Path(log_dir) / f"sim_{rate_hz:g}hz_{latency_ms:g}ms_seed{seed}.npz")
    finally:
        env.close()
    return DryRunRow(label, rate_hz, latency_ms, camera_noise.std, len(episode_seeds),
                     successes, stops)


def dry_run(bundle: Bundle, rate_hz: float, latency_ms: float, episodes: int, camera_noise: CameraNoise = CameraNoise(),
            log_dir: str | Path | None = None, seed: int = DRY_RUN_SEED_BASE,
            scene: Mapping[str, Any] | None = None, camera_delay_ms: float = 0.0) -> list[DryRunRow]:
    """The three rows of the module docstring, all in the scene ``scene`` describes (default: the default scene);
    ``camera_delay_ms`` applies to the last row (the real arm's loop)."""
    s = dry_run_seeds(episodes, seed)
    arm = ArmModel.build()
    env = env_config(bundle, scene)
    rows = [run_env(bundle, s, env),
            run_deploy(bundle, s, bundle.control.hz, bundle.control.latency_ms, arm=arm, env_options=env)]
    if (rate_hz, latency_ms, camera_noise, camera_delay_ms) != (bundle.control.hz, bundle.control.latency_ms,
                                                                 CameraNoise(), 0.0):
        rows.append(run_deploy(bundle, s, rate_hz, latency_ms, camera_noise, log_dir, arm=arm, env_options=env,
                               camera_delay_ms=camera_delay_ms))
    return rows


def format_rows(rows: list[DryRunRow]) -> str:
    lines = ["| run | rate (Hz) | latency (ms) | camera noise | success | safety stops |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.label} | {r.rate_hz:g} | {r.latency_ms:g} | {r.camera_noise:g} | "
                     f"{r.successes}/{r.episodes} ({100 * r.success_rate:.0f}%) | {r.safety_stops} |")
    return "\n".join(lines)
