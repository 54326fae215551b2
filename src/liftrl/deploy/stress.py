"""``liftrl stress``: a bundle's success under shifted scenes, through the dry run's deploy loop.

Each condition of a suite (``liftrl.deploy.stress_suite``) is the baseline env with some options
overridden; its episodes run the deploy loop on ``SimRobot`` exactly as ``liftrl deploy --robot sim``
does (same seeds in every condition, so the cube, start and original randomisation are paired and
conditions differ only in what they change). Episodes are cut into jobs of one condition and a few
seeds; a job is a plain function of plain values (``run_job``), mapped over a spawn-context process
pool: MuJoCo's EGL renderers do not survive a fork, and each worker loads the bundle once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
from liftrl.config import EnvConfig, env_config_from_dict
from liftrl.deploy.bundle import Bundle, load_bundle
from liftrl.deploy.dryrun import env_config, run_deploy
from liftrl.deploy.sim_robot import CameraNoise, SimRobot
from liftrl.deploy.stress_suite import Condition, condition_env
from liftrl.run.envs import make_task_env
from liftrl.sim.options import parse_latency
from liftrl.sim.parallel import run_episodes_parallel
from liftrl.train.scoring import wilson_interval

OTHER_EPISODE_SEED_OFFSET = 100_000_000  # the "another episode" frames come from seed + this (still dry-run seeds)
GREY = 128
JOB_TIMEOUT_S = 600.0  # a job is a few whole episodes; a worker silent this long is replaced
JOB_EPISODES = 5  # episodes per job: small enough to spread a condition over the cores


@dataclass(frozen=True)
class Baseline:
    """The loop every condition starts from: the real arm's rate, latency and camera by default."""

    rate_hz: float
    latency_ms: float
    camera_noise: float = 0.0
    camera_gain: float = 0.0


def baseline_env(bundle: Bundle, base: Baseline) -> EnvConfig:
    """The bundle's env (its task, observation and trained grasp rule) with the baseline's loop options."""
    return dataclasses.replace(env_config(bundle), control_hz=base.rate_hz, latency_ms=base.latency_ms,
                               camera_noise=base.camera_noise, camera_gain=base.camera_gain)


# ---------------------------------------------------------------------------------------------- image checks
class GreyFrames:
    """The robot with every camera frame replaced by mid-grey: what a policy does without its image."""

    def __init__(self, sim: SimRobot):
        self.sim = sim

    def read(self):
        r = self.sim.read()
        return dataclasses.replace(r, frame=np.full_like(r.frame, GREY))

    def command(self, q):
        self.sim.command(q)

    def stop(self):
        self.sim.stop()


class OtherEpisodeFrames:
    """The robot seen through another episode's camera: a second sim (another seed, so another cube
    place and colour) follows the same commands, and its frames replace the real ones."""

    def __init__(self, env: EnvConfig):
        self._env = make_task_env(env)
        self.sim: SimRobot | None = None
        self.shadow: SimRobot | None = None

    def wrap(self, sim: SimRobot) -> "OtherEpisodeFrames":
        self.sim = sim
        self.shadow = SimRobot(self._env, latency_s=sim.latency_s, camera_noise=sim.camera_noise,
                               camera_delay_s=sim.camera_delay_s)
        return self

    def reset_episode(self, seed: int) -> None:
        self.shadow.reset(seed + OTHER_EPISODE_SEED_OFFSET)

    def read(self):
        self.shadow.sleep_until(self.sim.now())
        return dataclasses.replace(self.sim.read(), frame=self.shadow.read().frame)

    def command(self, q):
        self.sim.command(q)
        self.shadow.command(q)

    def stop(self):
        self.sim.stop()
        self.shadow.stop()

    def close(self):
        self._env.close()


# ---------------------------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class Job:
    """One condition's share of episodes, as plain values a spawned worker can receive."""

    bundle: str
    condition: Condition
    env: dict[str, Any]  # the condition's EnvConfig as a dict (checked again in the worker)
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class JobResult:
    label: str
    successes: int
    episodes: int
    safety_stops: int


_BUNDLES: dict[str, Bundle] = {}


def _bundle(path: str) -> Bundle:
    """The bundle, loaded (and its golden actions checked) once per worker process."""
    if path not in _BUNDLES:
        _BUNDLES[path] = load_bundle(path)
    return _BUNDLES[path]


def run_job(job: Job) -> JobResult:
    """Run a job's episodes through the deploy loop on SimRobot; plain in, plain out (a pool's unit)."""
    import torch

    torch.set_num_threads(1)  # one process per core: more threads only wait for each other
    bundle = _bundle(job.bundle)
    env = env_config_from_dict(job.env)
    lo, hi = parse_latency(env.latency_ms)
    image = job.condition.image
    other = OtherEpisodeFrames(env) if image == "other_episode" else None
    adapter: Callable | None = GreyFrames if image == "grey" else (other.wrap if other else None)
    try:
        row = run_deploy(bundle, list(job.seeds), env.control_hz, 0.5 * (lo + hi),
                         CameraNoise(std=float(env.camera_noise), gain=float(env.camera_gain)), adapter=adapter,
                         label=job.condition.label, env_options=env, camera_delay_ms=float(env.camera_delay_ms))
    finally:
        if other is not None:
            other.close()
    return JobResult(job.condition.label, row.successes, row.episodes, row.safety_stops)


def make_jobs(bundle_path: str, bundle: Bundle, suite: Iterable[Condition], base: Baseline, episodes: int,
              seed: int = DRY_RUN_SEED_BASE) -> list[Job]:
    """Every condition's episodes (the same seeds for each), cut into jobs of ``JOB_EPISODES``."""
    seeds = dry_run_seeds(episodes, seed)
    base_env = baseline_env(bundle, base)
    jobs = []
    for cond in suite:
        env = dataclasses.asdict(condition_env(base_env, cond))
        for i in range(0, episodes, JOB_EPISODES):
            jobs.append(Job(bundle_path, cond, env, tuple(seeds[i:i + JOB_EPISODES])))
    return jobs


def _job_runner() -> Callable[[Job], JobResult]:
    """What each worker runs (``run_episodes_parallel``'s ``make_job``): bundles are cached per process."""
    return run_job


def run_jobs(jobs: list[Job], workers: int, progress: bool = True) -> list[JobResult]:
    """The jobs over ``workers`` spawned processes (1: in this one), with a progress bar of episodes,
    through the dry run's runner (``liftrl.sim.parallel``: results in job order, lost or hung
    workers replaced)."""
    from tqdm import tqdm

    bar = tqdm(total=sum(len(j.seeds) for j in jobs), unit="episode", dynamic_ncols=True, disable=not progress)
    try:
        return run_episodes_parallel(_job_runner, jobs, max(1, workers),
                                     progress=lambda i, res: bar.update(res.episodes),
                                     timeout_s=JOB_TIMEOUT_S, who="stress")
    finally:
        bar.close()


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ConditionResult:
    group: str
    name: str
    overrides: dict[str, Any]
    image: str
    successes: int
    episodes: int
    safety_stops: int

    @property
    def label(self) -> str:
        return f"{self.group}/{self.name}"

    @property
    def rate(self) -> float:
        return self.successes / self.episodes if self.episodes else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.episodes)


def collect(suite: Iterable[Condition], results: Iterable[JobResult]) -> list[ConditionResult]:
    """Sum the jobs of each condition, in the suite's order."""
    sums: dict[str, list[int]] = {}
    for r in results:
        s = sums.setdefault(r.label, [0, 0, 0])
        s[0] += r.successes
        s[1] += r.episodes
        s[2] += r.safety_stops
    out = []
    for c in suite:
        k, n, stops = sums.get(c.label, (0, 0, 0))
        out.append(ConditionResult(c.group, c.name, dict(c.overrides), c.image, k, n, stops))
    return out
