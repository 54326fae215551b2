"""The train loop's entry points: config in, run folder out. The loop never knows which agent it runs.

``train`` and ``resume`` build online RL's parts (``online_parts``: a collector that explores, a
learner on the agent's own cadence with the demo mix, an evaluator with the collapse guard, a
checkpointer) and pass them to the ``Trainer`` (``liftrl.train.trainer``). ``build_core`` is the
part every kind of run shares (``liftrl distill`` builds its parts on it too): device and
threads, seeds, the training envs, the agent, its replay buffer, the run identity and the
metrics file, in an order that fixes the random streams.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from liftrl.agents import make_agent
from liftrl.agents.base import Agent
from liftrl.common.units import CONTROL_HZ
from liftrl.config import Config, load_config, save_config
from liftrl.replay.buffer import ReplayBuffer
from liftrl.rewards import get_reward
from liftrl.run.envs import make_env, make_vector_env, worker_count
from liftrl.run.folder import CONFIG_FILE, new_run_dir
from liftrl.run.identity import architecture
from liftrl.sim.inprocess import choose_workers, usable_cores
from liftrl.train import demos as demo_data
from liftrl.train import guard as collapse_guard
from liftrl.train.checkpointer import Checkpointer, writer_session
from liftrl.train.collector import Acting, Collector, EpisodeTracker, Explore
from liftrl.train.evaluator import Baseline, Evaluator
from liftrl.train.init_from import init_actor_from
from liftrl.train.learner import Learner, OnlineLearner
from liftrl.train.metrics import MetricsLogger
from liftrl.train.session import AfterTraining, ResumeRules, TrainingStopped, resume_run, run_new
from liftrl.train.signals import StopRequest
from liftrl.train.trainer import EvalEvent, Parts, Trainer

__all__ = ["AfterTraining", "EpisodeTracker", "EvalEvent", "RESUME_OVERRIDABLE", "Trainer", "TrainingStopped",
           "build_trainer", "new_run_dir", "online_parts", "resume", "train", "writer_session"]

# Settings a resume may change: how long to go on, and how the run is watched, checked and run on
# this machine. None of them changes what is learned (evaluation acts deterministically and draws
# no training random numbers); every other key describes the learning itself and stays fixed.
RESUME_OVERRIDABLE = (
    "train.total_env_steps", "train.max_minutes", "train.progress", "train.log_every", "train.eval_every",
    "train.eval_episodes", "train.snapshot_every", "train.video_episodes", "train.torch_threads",
    "replay.save_with_snapshot", "env.num_workers", "env.worker_timeout_s", "env.max_worker_restarts",
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} asked for CUDA but torch sees no GPU; use device=cpu or auto")
    return device


def auto_threads(cfg: Config) -> int:
    """Torch threads that leave one core per env worker process, and one core when the envs run in-process.

    In-process the env steps between updates, not beside them, but a core is still left free: on a
    busy machine a second OpenMP thread made SAC updates many times slower (docs/performance.md).
    """
    cores = usable_cores()  # the affinity mask: under taskset -c 1 this is 1, not the host's count
    workers, _ = choose_workers(cfg.env.num_envs, cfg.env.observations, worker_count(cfg.env, cfg.env.num_envs))
    return max(1, cores - max(workers, 1))


@dataclass
class Core:
    """What every kind of run builds first (``build_core``)."""

    cfg: Config
    run_dir: Path
    device: torch.device
    env: Any  # the training vector env
    agent: Agent
    rng: np.random.Generator
    action_dim: int
    replay: ReplayBuffer
    checkpointer: Checkpointer
    logger: MetricsLogger

    def new_buffer(self, capacity: int, num_envs: int, seed: int) -> ReplayBuffer:
        return replay_buffer(self.cfg, self.env.single_observation_space, self.agent, self.action_dim, capacity,
                             num_envs, seed)

    def assemble(self, acting: Acting, learner: Learner, command: str, baseline: Baseline | None = None) -> Parts:
        """The four parts around ``acting`` and ``learner``: a collector, and an evaluator with the guard."""
        cfg, t = self.cfg, self.cfg.train
        collector = Collector(self.env, acting, self.replay, self.agent.replay_keys, self.rng, t.bootstrap_on_success)
        guard_cfg = collapse_guard.GuardConfig(t.guard, t.guard_lcb_drop, t.guard_q_factor, t.guard_max_restores,
                                               t.guard_lr_scale)
        ticks = math.ceil(CONTROL_HZ / cfg.env.control_hz - 1e-9)
        q_limit = collapse_guard.scaled(self.agent.value_bound(get_reward(cfg.env.reward).step_bound, ticks),
                                        t.guard_q_factor)
        eval_envs = min(t.eval_episodes, cfg.env.num_envs)
        evaluator = Evaluator(lambda: make_vector_env(cfg.env, eval_envs, max_worker_restarts=None), t.eval_episodes,
                              self.logger, self.checkpointer, guard_cfg, q_limit, baseline)
        return Parts(collector, learner, evaluator, self.checkpointer, self.logger, self.device, tuple(cfg.obs.actor),
                     command)

    def close(self) -> None:
        self.logger.close()
        self.env.close()


def replay_buffer(cfg: Config, space, agent: Agent, action_dim: int, capacity: int, num_envs: int,
                  seed: int) -> ReplayBuffer:
    """A buffer of the agent's replay keys, n-step and discount (the online replay, the demos)."""
    return ReplayBuffer(capacity=capacity, num_envs=num_envs,
                        obs_shapes={k: (space[k].shape, space[k].dtype) for k in agent.replay_keys},
                        action_dim=action_dim, n_step=agent.n_step, gamma=agent.discount,
                        frame_stack=cfg.env.frame_stack, seed=seed)


def build_core(cfg: Config, run_dir: Path, resume: bool, extra_metadata: Mapping[str, Any] | None = None) -> Core:
    """Device, threads, seeds, training envs, agent (``train.init_from`` on a new run), replay, identity, metrics."""
    t = cfg.train
    device = resolve_device(t.device)
    torch.set_num_threads(t.torch_threads or auto_threads(cfg))
    torch.manual_seed(t.seed)
    rng = np.random.default_rng(t.seed)
    # No restart limit inside the vector envs: the trainer keeps it, so it can still save their states.
    env = make_vector_env(cfg.env, training=True, max_worker_restarts=None)
    try:
        space = env.single_observation_space
        shapes = {k: space[k].shape for k in sorted(set(cfg.obs.actor) | set(cfg.obs.critic))}
        action_dim = int(env.single_action_space.shape[0])
        agent = make_agent(cfg.agent, shapes, action_dim, tuple(cfg.obs.actor), tuple(cfg.obs.critic), device,
                           seed=t.seed, amp=t.amp)
        if t.init_from and not resume:
            init_actor_from(agent, t.init_from, t.init_checkpoint, shapes)
        arch = architecture(cfg.agent.name, agent.state_dict(),
                            {"actor": cfg.obs.actor, "critic": cfg.obs.critic, "shapes": shapes}, action_dim)
        checkpointer = Checkpointer(cfg, run_dir, arch, {k: space[k].shape for k in agent.replay_keys}, action_dim,
                                    device, resume, extra_metadata)
        replay = replay_buffer(cfg, space, agent, action_dim, cfg.replay.capacity, cfg.env.num_envs, t.seed)
        return Core(cfg, Path(run_dir), device, env, agent, rng, action_dim, replay, checkpointer,
                    MetricsLogger(Path(run_dir)))
    except BaseException:
        env.close()  # no orphaned worker processes when a run cannot start
        raise


def _demos(core: Core) -> ReplayBuffer | None:
    """The demo buffer: read back from the run folder, or collected now (``liftrl.train.demos``)."""
    cfg, t = core.cfg, core.cfg.train
    if not t.demos:
        return None
    demos = core.new_buffer(demo_data.demo_capacity(t.demos, cfg.env.max_episode_steps, cfg.env.control_hz), 1,
                            t.seed + 1)

    def collect() -> demo_data.DemoStats:
        env = make_env(cfg.env, training=True)
        try:
            return demo_data.collect(env, t.demos, demos, core.agent.replay_keys, t.bootstrap_on_success,
                                     run_seed=t.seed)
        finally:
            env.close()

    if not (core.run_dir / demo_data.DEMO_FILE).is_file():  # said first: the collection is a wait of seconds
        print(f"liftrl: run folder {core.run_dir}: collecting {t.demos} scripted demonstration episodes before "
              f"training (once per run, kept in {demo_data.DEMO_FILE})", flush=True)
    stats = demo_data.load_or_collect(demos, core.run_dir, collect)
    if stats is not None:
        core.logger.log(0, "demos", stats.as_dict())
        print(f"liftrl: {stats.successes}/{stats.episodes} scripted demonstrations succeeded; "
              f"{stats.transitions} transitions in {core.run_dir / demo_data.DEMO_FILE}", flush=True)
    return demos


def online_parts(cfg: Config, run_dir: Path, resume: bool = False) -> Parts:
    """Online RL's parts: explore (random warm-up, then the agent), update on the agent's cadence."""
    core = build_core(cfg, run_dir, resume)
    try:
        acting = Explore(core.agent, cfg.obs.actor, cfg.train.seed_steps, cfg.env.num_envs, core.action_dim)
        learner = OnlineLearner(core.agent, core.replay, lambda: _demos(core), cfg.replay.demo_fraction,
                                cfg.train.seed_steps)
        return core.assemble(acting, learner, "train")
    except BaseException:
        core.close()
        raise


def build_trainer(cfg: Config, run_dir: Path, resume: bool = False, stop: StopRequest | None = None,
                  on_eval: Callable[[EvalEvent], None] | None = None) -> Trainer:
    """The online RL trainer of ``run_dir``: new, or continued from ``latest.pt`` with ``resume``."""
    return Trainer(cfg, online_parts(cfg, Path(run_dir), resume), resume=resume, stop=stop, on_eval=on_eval)


ONLINE = ResumeRules(RESUME_OVERRIDABLE, lambda cfg, run_dir, resume, stop: build_trainer(cfg, run_dir, resume, stop))


def train(config_path: str | None, overrides: list[str], run_root: str | None = None,
          after: AfterTraining | None = None) -> Path:
    """Start a new run: resolve the config, save it, train, and leave a complete run folder.

    SIGINT / SIGTERM stop it cleanly (snapshot at the current step, then return); see ``train.signals``.
    """
    cfg = load_config(config_path, overrides)
    run_dir = new_run_dir(run_root or cfg.train.run_dir, cfg.agent.name)
    save_config(cfg, run_dir / CONFIG_FILE)
    run_new(run_dir, lambda stop: build_trainer(cfg, run_dir, stop=stop), config_path or "built-in defaults",
            overrides, after)
    return run_dir


def resume(run_dir: str | os.PathLike, overrides: list[str] | None = None, after: AfterTraining | None = None) -> Path:
    """Continue a run from ``snapshots/latest.pt``; only ``RESUME_OVERRIDABLE`` settings may change."""
    return resume_run(run_dir, overrides, ONLINE, after)
