"""Predict the sim-to-real gap before the arm moves: the same policy, the same episodes, three ways.

1. ``env``: the policy in the training env at the rate it was trained at (the number training reports);
2. ``deploy``: the full deploy loop (SimRobot, finite-difference velocities, safety limits) at the
   trained rate and latency: what the deploy pipeline itself costs;
3. ``deploy``: the same loop at the real arm's rate and latency (and camera noise): the gap to expect.

Episodes use the same seeds in every row (same cube, randomisation and start), and success is
scored by the env's rules in physical time, so the rows differ only in how the policy is run.

All rows' episodes run in one pool of worker processes (``liftrl.sim.parallel``; ``workers=1``:
in this process), each worker loading the bundle from its folder and building its own envs; an
episode's outcome depends only on its seed, so any number of workers gives the same table,
episode by episode.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
from liftrl.common.units import CONTROL_PERIOD_S, PHYSICS_STEPS_PER_CONTROL
from liftrl.config import ConfigError, EnvConfig, env_with
from liftrl.deploy.bundle import Bundle, load_bundle
from liftrl.deploy.episode_log import EpisodeLog
from liftrl.deploy.pipeline import ArmModel, CommandMapper, ObservationBuilder
from liftrl.deploy.robot import Robot
from liftrl.deploy.runner import LoopConfig, run_arm_episode
from liftrl.deploy.safety import SafetyLimits, TrackingLimit, Watchdog
from liftrl.deploy.sim_robot import CameraNoise, SimRobot
from liftrl.obs.action_history import history_length
from liftrl.rewards import known_versions
from liftrl.run.envs import make_env, make_task_env
from liftrl.sim.options import EnvOptions, TaskOptions
from liftrl.sim.parallel import run_episodes_parallel
from liftrl.train.episodes import run_episode

LOOP_KEYS = frozenset(f.name for f in dataclasses.fields(EnvOptions)) - {f.name for f in dataclasses.fields(TaskOptions)}


@dataclass(frozen=True)
class RowSpec:
    """How one row runs the policy: ``loop`` "env" (the training env at ``rate_hz``/``latency_ms``) or
    "deploy" (the deploy loop on SimRobot at that rate and latency, with ``camera_noise`` and frames
    ``camera_delay_ms`` old), in the scene ``env`` describes (default: the scene the bundle was trained in,
    ``env_config(bundle, trained_scene=True)``)."""

    label: str
    loop: str
    rate_hz: float
    latency_ms: float
    camera_noise: CameraNoise = CameraNoise()
    log_dir: str | None = None
    env: EnvConfig | None = None
    camera_delay_ms: float = 0.0


@dataclass(frozen=True)
class DryRunEpisode:
    """One episode of one row: a task for ``liftrl.sim.parallel``."""

    row: int
    seed: int

    def __str__(self) -> str:
        return f"row {self.row + 1}, seed {self.seed}"


@dataclass(frozen=True)
class EpisodeOutcome:
    """What one dry-run episode gave; ``steps`` are control steps, ``seconds`` physical time, ``cube_end``
    where the cube ended (m): each seed starts it elsewhere, so an episode is told apart by it."""

    seed: int
    success: bool
    steps: int
    seconds: float
    cube_end: tuple[float, float, float]
    stop_reason: str = "done"

    @property
    def safety_stop(self) -> bool:
        return self.stop_reason not in ("done", "max_steps", "interrupted")


@dataclass(frozen=True)
class DryRunRow:
    label: str
    rate_hz: float
    latency_ms: float
    camera_noise: float
    episodes: int
    successes: int
    safety_stops: int = 0
    outcomes: tuple[EpisodeOutcome, ...] = ()

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    @classmethod
    def of(cls, spec: RowSpec, outcomes: list[EpisodeOutcome]) -> "DryRunRow":
        return cls(spec.label, spec.rate_hz, spec.latency_ms, spec.camera_noise.std, len(outcomes),
                   sum(o.success for o in outcomes), sum(o.safety_stop for o in outcomes), tuple(outcomes))


def env_config(bundle: Bundle, scene: Mapping[str, Any] | None = None, trained_scene: bool = False) -> EnvConfig:
    """The env a bundle was trained in, at its trained control rate and latency, with ``scene`` options
    (``liftrl.sim.scene_options``, e.g. ``{"table_texture": ["busy"]}``) over the default scene, or
    over the scene it was trained in (``bundle.task.scene``) when ``trained_scene``.

    A bad scene option raises ``ConfigError`` naming ``env.KEY``; the loop's options (rate, latency,
    camera) are not scene options and are refused here (the dry run sets them itself)."""
    if trained_scene:
        scene = {**bundle.task.scene, **dict(scene or {})}
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
                     latency_ms=bundle.control.latency_ms, grasp_rule=task.grasp_rule,
                     wrist_roll_action=bundle.action.dim == 5, action_history=_action_history(bundle),
                     command_lead_rad=task.command_lead_rad)


def _action_history(bundle: Bundle) -> int:
    """How many actions the bundle's ``last_actions`` holds (its shape is k x the action's size)."""
    if "last_actions" not in bundle.observation.keys:
        return EnvConfig.action_history
    return history_length(tuple(bundle.observation.shapes["last_actions"]), bundle.action.dim)


# ---------------------------------------------------------------------------------- one row's episodes
def _xyz(position) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in position)
    return x, y, z


class _EnvRow:
    """The policy in the env at the rate and latency it was trained at (wrapped if not 50 Hz / 0 ms)."""

    def __init__(self, bundle: Bundle, spec: RowSpec):
        self.bundle = bundle
        self.env = make_env(spec.env or env_config(bundle, trained_scene=True))

    def __call__(self, seed: int) -> EpisodeOutcome:
        last: dict = {}
        result = run_episode(self.env, self.bundle.policy, seed, on_step=lambda record: last.update(record.info))
        return EpisodeOutcome(seed, result.success, result.length, int(last["step"]) * CONTROL_PERIOD_S,
                              _xyz(last["cube_pos"]))

    def close(self) -> None:
        self.env.close()


class _DeployRow:
    """The deploy loop on the simulated robot; ``adapter`` puts something between the loop and the
    simulation (``sim_lerobot``: LeRobot's units and a calibration); the simulation stays the clock
    and the judge of success."""

    def __init__(self, bundle: Bundle, spec: RowSpec, arm: ArmModel, limits: SafetyLimits | None,
                 adapter: Callable[[SimRobot], Robot] | None, tracking: TrackingLimit = TrackingLimit()):
        # The env alone: SimRobot applies the rate, latency and camera itself, at physics resolution.
        self.env = make_task_env(spec.env or env_config(bundle, trained_scene=True))
        self.sim = SimRobot(self.env, latency_s=spec.latency_ms / 1000.0, camera_noise=spec.camera_noise,
                            render="pixels" in bundle.observation.keys, camera_delay_s=spec.camera_delay_ms / 1000.0)
        self.robot = self.sim if adapter is None else adapter(self.sim)
        self.bundle, self.spec, self.arm, self.adapter, self.tracking = bundle, spec, arm, adapter, tracking
        self.limits = limits or SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl,
                                                     bundle.action.workspace_low, bundle.action.workspace_high)
        tick_s = self.env.model.opt.timestep * PHYSICS_STEPS_PER_CONTROL
        self.loop = LoopConfig(rate_hz=spec.rate_hz,
                               max_steps=int(math.ceil(bundle.task.max_episode_steps * tick_s * spec.rate_hz)) + 2)

    def __call__(self, seed: int) -> EpisodeOutcome:
        bundle, sim, spec = self.bundle, self.sim, self.spec
        sim.reset(seed)
        if hasattr(self.robot, "reset_episode"):  # an adapter with its own episode state (liftrl stress)
            self.robot.reset_episode(seed)
        episode_log = EpisodeLog(log_frames=spec.log_dir is not None)
        result = run_arm_episode(self.robot, sim, bundle.policy, ObservationBuilder(bundle.observation, self.arm.kinematics, bundle.action.dim),
                                 CommandMapper(bundle.action, bundle.task, self.arm), self.limits, Watchdog(), self.loop,
                                 episode_log, done=sim.episode_over, tracking=self.tracking)
        if spec.log_dir is not None:
            episode_log.meta.update({"robot": "sim" if self.adapter is None else "sim-lerobot", "seed": seed,
                                     "latency_ms": spec.latency_ms, "success": bool(sim.success),
                                     "bundle": str(bundle.path)})
            episode_log.save(Path(spec.log_dir) / f"sim_{spec.rate_hz:g}hz_{spec.latency_ms:g}ms_seed{seed}.npz")
        return EpisodeOutcome(seed, bool(sim.success), result.steps, sim.now(), _xyz(self.env.cube_pos()),
                              result.stop_reason)

    def close(self) -> None:
        self.env.close()


class DryRunJob:
    """What one worker (or this process) holds for a dry run: the bundle, loaded from its folder in a
    worker, and one env per row, built at the row's first episode (``liftrl.sim.parallel``'s job)."""

    def __init__(self, bundle: Bundle | str, rows: tuple[RowSpec, ...], threads: int | None = None,
                 arm: ArmModel | None = None, limits: SafetyLimits | None = None,
                 adapter: Callable[[SimRobot], Robot] | None = None, tracking: TrackingLimit = TrackingLimit()):
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.rows, self.arm, self.limits, self.adapter = rows, arm or ArmModel.build(), limits, adapter
        self.tracking = tracking
        self._runners: dict[int, _EnvRow | _DeployRow] = {}

    def __call__(self, episode: DryRunEpisode) -> EpisodeOutcome:
        runner = self._runners.get(episode.row)
        if runner is None:
            spec = self.rows[episode.row]
            runner = (_EnvRow(self.bundle, spec) if spec.loop == "env"
                      else _DeployRow(self.bundle, spec, self.arm, self.limits, self.adapter, self.tracking))
            self._runners[episode.row] = runner
        return runner(episode.seed)

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()


# ---------------------------------------------------------------------------------- rows
RowProgress = Callable[[int, int, EpisodeOutcome], None]


def run_rows(bundle: Bundle, rows: Sequence[RowSpec], episode_seeds: Sequence[int], workers: int = 1,
             progress: RowProgress | None = None, timeout_s: float = 120.0, max_restarts: int = 3) -> list[DryRunRow]:
    """Every row over the same seeds, all episodes in one pool of ``workers`` processes (``1``: here).

    The episodes are the same, and give the same outcomes, whatever ``workers`` is: each worker
    loads the bundle from ``bundle.path`` and builds its own envs. ``progress(row, k, outcome)`` is
    called as the ``k``-th episode of ``row`` finishes.
    """
    rows, seeds = tuple(rows), [int(s) for s in episode_seeds]
    tasks = [DryRunEpisode(r, s) for r in range(len(rows)) for s in seeds]
    n = len(seeds)
    make_job = (partial(DryRunJob, bundle, rows) if workers == 1 else partial(DryRunJob, str(bundle.path), rows, 1))
    outcomes = run_episodes_parallel(make_job, tasks, workers,
                                     None if progress is None else lambda i, o: progress(i // n, i % n, o),
                                     timeout_s=timeout_s, max_restarts=max_restarts, who="dry-run")
    return [DryRunRow.of(spec, outcomes[r * n:(r + 1) * n]) for r, spec in enumerate(rows)]


def run_env(bundle: Bundle, episode_seeds: list[int], env_options: EnvConfig | None = None) -> DryRunRow:
    """The policy in the env at the rate and latency it was trained at (wrapped if not 50 Hz / 0 ms)."""
    spec = RowSpec("env (training loop)", "env", bundle.control.hz, bundle.control.latency_ms, env=env_options)
    return run_rows(bundle, [spec], episode_seeds)[0]


def run_deploy(bundle: Bundle, episode_seeds: list[int], rate_hz: float, latency_ms: float,
               camera_noise: CameraNoise = CameraNoise(), log_dir: str | Path | None = None,
               arm: ArmModel | None = None, adapter: Callable[[SimRobot], Robot] | None = None,
               label: str = "deploy loop on SimRobot", limits: SafetyLimits | None = None,
               env_options: EnvConfig | None = None, camera_delay_ms: float = 0.0,
               tracking: TrackingLimit = TrackingLimit()) -> DryRunRow:
    """The deploy loop on the simulated robot, at ``rate_hz`` with ``latency_ms`` command latency, in this
    process (``adapter``, e.g. ``sim_lerobot``'s or ``liftrl stress``'s, need not pickle).

    ``env_options`` (default: the scene the bundle was trained in) describe the scene, e.g. a condition of
    ``liftrl stress``; ``camera_delay_ms`` makes every frame that much older than the joints; ``tracking``
    is the watchdog's limit on the arm trailing its commands (bench/safety_gap.py widens it).
    """
    spec = RowSpec(label, "deploy", rate_hz, latency_ms, camera_noise, None if log_dir is None else str(log_dir),
                   env_options, camera_delay_ms)
    job = DryRunJob(bundle, (spec,), arm=arm, limits=limits, adapter=adapter, tracking=tracking)
    try:
        return DryRunRow.of(spec, [job(DryRunEpisode(0, int(s))) for s in episode_seeds])
    finally:
        job.close()


def dry_run_rows(bundle: Bundle, rate_hz: float, latency_ms: float, camera_noise: CameraNoise = CameraNoise(),
                 log_dir: str | Path | None = None, scene: Mapping[str, Any] | None = None,
                 camera_delay_ms: float = 0.0, trained_scene: bool = True) -> list[RowSpec]:
    """The env row, the deploy loop at the trained rate, and (if anything differs) at the real rate, all in
    the scene the bundle was trained in with ``scene``'s options over it (``trained_scene=False``: over the
    default scene); ``camera_delay_ms`` applies to the last row."""
    env = env_config(bundle, scene, trained_scene)
    hz, ms = bundle.control.hz, bundle.control.latency_ms
    rows = [RowSpec("env (training loop)", "env", hz, ms, env=env),
            RowSpec("deploy loop on SimRobot", "deploy", hz, ms, env=env)]
    if (rate_hz, latency_ms, camera_noise, camera_delay_ms) != (hz, ms, CameraNoise(), 0.0):
        rows.append(RowSpec("deploy loop on SimRobot", "deploy", rate_hz, latency_ms, camera_noise,
                            None if log_dir is None else str(log_dir), env, camera_delay_ms))
    return rows


def dry_run(bundle: Bundle, rate_hz: float, latency_ms: float, episodes: int, camera_noise: CameraNoise = CameraNoise(),
            log_dir: str | Path | None = None, seed: int = DRY_RUN_SEED_BASE,
            scene: Mapping[str, Any] | None = None, camera_delay_ms: float = 0.0, workers: int = 1,
            progress: RowProgress | None = None, trained_scene: bool = True) -> list[DryRunRow]:
    """The dry run's rows (``dry_run_rows``) over ``episodes`` dry-run seeds, in ``workers`` processes."""
    rows = dry_run_rows(bundle, rate_hz, latency_ms, camera_noise, log_dir, scene, camera_delay_ms, trained_scene)
    return run_rows(bundle, rows, dry_run_seeds(episodes, seed), workers, progress)


def scene_line(trained: dict, given: dict, default_scene: bool) -> str:
    """Which scene the dry run's episodes are in, so a result is never read against the wrong one."""
    base = "the default scene" if default_scene or not trained else f"the scene it was trained in ({_options(trained)})"
    return f"scene: {base}" + (f", with --env {_options(given)}" if given else "")


def _options(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def format_rows(rows: list[DryRunRow]) -> str:
    lines = ["| run | rate (Hz) | latency (ms) | camera noise (std, 0-255) | success | safety stops |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.label} | {r.rate_hz:g} | {r.latency_ms:g} | {r.camera_noise:g} | "
                     f"{r.successes}/{r.episodes} ({100 * r.success_rate:.0f}%) | {r.safety_stops} |")
    return "\n".join(lines)
