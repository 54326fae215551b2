"""The train loop: config in, run folder out. It never knows which agent it runs.

Data flows one way: vector env -> replay -> agent.update -> metrics / snapshots. Everything a
resumed run needs to continue exactly (weights, optimisers, counters, every RNG, and each
environment's mid-episode state) goes into the snapshot, so "resume" means "continue", not
"start again from similar weights".
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from liftrl.agents import make_agent
from liftrl.common.seeds import eval_seeds, train_env_seed
from liftrl.common.units import CONTROL_HZ
from liftrl.config import Config, load_config, save_config
from liftrl.replay.buffer import ReplayBuffer
from liftrl.replay.mixing import sample_mixed
from liftrl.rewards import check_fingerprint, get_reward
from liftrl.run.envs import make_env, make_vector_env, worker_count
from liftrl.run.folder import BEST, CONFIG_FILE, LATEST, SNAPSHOT_DIR, link_atomic, new_run_dir, replay_name, snapshot_name
from liftrl.run.identity import (
    ForeignSnapshot, architecture, architecture_hash, create_run_identity, differences, load_checked_snapshot,
    read_run_identity, snapshot_architecture,
)
from liftrl.run.lock import RunLock
from liftrl.run.snapshot import load_snapshot, read_metadata, run_metadata, save_snapshot
from liftrl.sim.privileged import layout_problem
from liftrl.train import console
from liftrl.sim.inprocess import choose_workers, usable_cores
from liftrl.train import demos as demo_data
from liftrl.train import guard as collapse_guard
from liftrl.train.episodes import EpisodeStats, env_info, run_episodes
from liftrl.train.init_from import init_actor_from
from liftrl.train.metrics import MetricsLogger
from liftrl.train.scoring import EvalSummary, is_better, summarize
from liftrl.train.signals import StopRequest

# Settings a resume may change: how long to go on, and how the run is watched, checked and run on
# this machine. None of them changes what is learned (evaluation acts deterministically and draws
# no training random numbers); every other key describes the learning itself and stays fixed.
RESUME_OVERRIDABLE = (
    "train.total_env_steps", "train.max_minutes", "train.progress", "train.log_every", "train.eval_every",
    "train.eval_episodes", "train.snapshot_every", "train.video_episodes", "train.torch_threads",
    "replay.save_with_snapshot", "env.num_workers", "env.worker_timeout_s", "env.max_worker_restarts",
)


class TrainingStopped(RuntimeError):
    """The run stopped early for a reason that needs a person (e.g. env workers kept failing); it was saved."""


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
    busy machine a second OpenMP thread made SAC updates many times slower (README, "Learner").
    """
    cores = usable_cores()  # the affinity mask: under taskset -c 1 this is 1, not the host's count
    workers, _ = choose_workers(cfg.env.num_envs, cfg.env.observations, worker_count(cfg.env, cfg.env.num_envs))
    return max(1, cores - max(workers, 1))


class EpisodeTracker:
    """The training episodes in flight, one ``EpisodeStats`` per env (cube height counted from 0)."""

    def __init__(self, num_envs: int):
        self.stats = [EpisodeStats() for _ in range(num_envs)]

    def state(self) -> dict:
        keys = list(dict.fromkeys(k for s in self.stats for k in s.terms))
        return {"ret": [s.total for s in self.stats], "length": [s.length for s in self.stats],
                "max_z": [s.max_cube_z for s in self.stats],
                "terms": {k: [s.terms.get(k, 0.0) for s in self.stats] for k in keys}}

    def load(self, state: dict) -> None:
        self.stats = [EpisodeStats(total=float(ret), length=int(length), max_cube_z=float(max_z),
                                   terms={k: float(v[i]) for k, v in state["terms"].items()})
                      for i, (ret, length, max_z) in enumerate(zip(state["ret"], state["length"], state["max_z"]))]

    def finish(self, i: int, final_info: Mapping[str, Any]) -> dict:
        """The finished episode of env ``i`` as a log row; its slot starts the next episode."""
        done, self.stats[i] = self.stats[i], EpisodeStats()
        return {"episode/return": float(done.total), "episode/length": int(done.length),
                "episode/success": float(final_info["is_success"]), "episode/max_cube_z": float(done.max_cube_z),
                **{f"reward_terms/{k}": float(v) for k, v in done.terms.items()}}


@dataclass(frozen=True)
class EvalEvent:
    """What the loop tells an ``on_eval`` hook after each evaluation (and the snapshot decision).

    The hook is how a driver outside the loop (a Ray Tune trial, see ``liftrl.sweep``) follows a
    run without the loop knowing about it: ``snapshot`` is the file saved at this step, if any.
    """

    env_steps: int
    summary: EvalSummary
    snapshot: Path | None
    final: bool


class Trainer:
    COMMAND = "train"  # the liftrl command that continues this kind of run (`liftrl train --resume RUN`)

    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False, stop: StopRequest | None = None,
                 on_eval: Callable[[EvalEvent], None] | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.on_eval = on_eval
        self.device = resolve_device(cfg.train.device)
        self.stop = stop or StopRequest()
        train_cfg = cfg.train
        torch.set_num_threads(train_cfg.torch_threads or auto_threads(cfg))
        torch.manual_seed(train_cfg.seed)
        self.rng = np.random.default_rng(train_cfg.seed)
        self.num_envs = cfg.env.num_envs
        # No restart limit inside the vector envs: the trainer keeps it, so it can still save their states.
        self.env = make_vector_env(cfg.env, training=True, max_worker_restarts=None)
        self.eval_env = None
        self.logger = None
        try:
            self._build(resume)
        except BaseException:
            self.close()  # no orphaned worker processes when a run cannot start
            raise

    @property
    def session_restarts(self) -> int:
        """Env worker restarts in this process, training and evaluation workers together."""
        return self.env.restarts + (self.eval_env.restarts if self.eval_env is not None else 0)

    @property
    def last_fault(self) -> str | None:
        """The latest env worker fault of this session, training or evaluation workers."""
        faults = [(env.fault_time, env.last_fault) for env in (self.env, self.eval_env)
                  if env is not None and env.last_fault is not None]
        return max(faults)[1] if faults else None

    @property
    def worker_restarts(self) -> int:
        """Env worker restarts over the run's whole life (resumes included)."""
        return self._restarts_before + self.session_restarts

    def _build(self, resume: bool) -> None:
        cfg, train_cfg = self.cfg, self.cfg.train
        space = self.env.single_observation_space
        self.obs_keys = tuple(sorted(set(cfg.obs.actor) | set(cfg.obs.critic)))
        obs_shapes = {k: space[k].shape for k in self.obs_keys}
        self.action_dim = int(self.env.single_action_space.shape[0])
        self.agent = make_agent(cfg.agent, obs_shapes, self.action_dim, tuple(cfg.obs.actor), tuple(cfg.obs.critic),
                                self.device, seed=train_cfg.seed, amp=train_cfg.amp)
        if train_cfg.init_from and not resume:
            init_actor_from(self.agent, train_cfg.init_from, train_cfg.init_checkpoint, obs_shapes)
        self.architecture = architecture(cfg.agent.name, self.agent.state_dict(),
                                         {"actor": cfg.obs.actor, "critic": cfg.obs.critic, "shapes": obs_shapes},
                                         self.action_dim)
        self.identity = (read_run_identity(self.run_dir) if resume else None) or self._new_identity(resume)
        self.replay = self._make_replay()
        self.demos: ReplayBuffer | None = None
        self._collect_demos: Callable[[], None] | None = None
        self.guard_cfg = collapse_guard.GuardConfig(train_cfg.guard, train_cfg.guard_lcb_drop, train_cfg.guard_q_factor,
                                                    train_cfg.guard_max_restores, train_cfg.guard_lr_scale)
        # Agents without a TD target (a distilled student) have no gamma: no Q bound, the other checks stay.
        gamma = getattr(cfg.agent, "gamma", None)
        self.q_limit = None if gamma is None else collapse_guard.q_limit(
            get_reward(cfg.env.reward).step_bound, getattr(cfg.agent, "reward_scale", 1.0), gamma,
            math.ceil(CONTROL_HZ / cfg.env.control_hz - 1e-9), train_cfg.guard_q_factor)
        self.watch = collapse_guard.CriticWatch()
        self.restores = 0
        self._started = time.perf_counter()
        self.env_steps = 0
        self.updates = 0
        self.episodes = 0
        self.update_credit = 0.0
        self._restarts_before = 0
        self.best: dict | None = None
        self.last_eval: dict | None = None
        self.tracker = EpisodeTracker(self.num_envs)
        self._pending_episodes: list[dict] = []
        self._pending_updates: list[dict] = []
        self.logger = MetricsLogger(self.run_dir)
        if train_cfg.demos:
            self._load_demos()
        if resume:
            self._restore()
        else:
            self.obs, _ = self.env.reset(seed=train_env_seed(train_cfg.seed))

    def _make_replay(self) -> ReplayBuffer:
        return self._new_buffer(self.cfg.replay.capacity, self.num_envs, self.cfg.train.seed)

    def _new_buffer(self, capacity: int, num_envs: int, seed: int) -> ReplayBuffer:
        space, cfg = self.env.single_observation_space, self.cfg
        return ReplayBuffer(
            capacity=capacity, num_envs=num_envs,
            obs_shapes={k: (space[k].shape, space[k].dtype) for k in self.obs_keys},
            action_dim=self.action_dim, n_step=cfg.agent.n_step, gamma=cfg.agent.gamma,
            frame_stack=cfg.env.frame_stack, seed=seed,
        )

    def _load_demos(self) -> None:
        """The demo buffer: read back from the run folder, or collected now (``liftrl.train.demos``)."""
        cfg, train_cfg = self.cfg, self.cfg.train
        capacity = demo_data.demo_capacity(train_cfg.demos, cfg.env.max_episode_steps, cfg.env.control_hz)
        self.demos = self._new_buffer(capacity, 1, train_cfg.seed + 1)

        def collect() -> demo_data.DemoStats:
            env = make_env(cfg.env, training=True)
            try:
                return demo_data.collect(env, train_cfg.demos, self.demos, self.obs_keys,
                                         train_cfg.bootstrap_on_success, run_seed=train_cfg.seed)
            finally:
                env.close()

        if (self.run_dir / demo_data.DEMO_FILE).is_file():  # a resume reads them back now, before _restore
            demo_data.load_or_collect(self.demos, self.run_dir, collect)
        else:  # collected at the start of run(), after the session's banner: the terminal says what runs first
            self._collect_demos = lambda: self._log_demos(demo_data.load_or_collect(self.demos, self.run_dir, collect))

    def _log_demos(self, stats: demo_data.DemoStats | None) -> None:
        if stats is not None:
            self.logger.log(0, "demos", stats.as_dict())
            print(f"liftrl: {stats.successes}/{stats.episodes} scripted demonstrations succeeded; "
                  f"{stats.transitions} transitions in {self.run_dir / demo_data.DEMO_FILE}", flush=True)

    def _new_identity(self, resume: bool) -> dict:
        if resume:
            warnings.warn(f"{self.run_dir} was made before liftrl recorded run ids: it gets one now, and its "
                          f"earlier snapshots load with a warning", stacklevel=3)
        return create_run_identity(self.run_dir, self.architecture)

    # ------------------------------------------------------------------ snapshots
    def _state(self) -> dict:
        return {
            "agent": self.agent.state_dict(),
            "counters": {"env_steps": self.env_steps, "updates": self.updates, "episodes": self.episodes,
                         "update_credit": self.update_credit, "guard_restores": self.restores,
                         "worker_restarts": self.worker_restarts},
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state(),
                    "replay": self.replay.rng_state(),
                    **({"demos": self.demos.rng_state()} if self.demos is not None else {})},
            "envs": list(self.env.call("get_state")),
            "obs": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.obs.items()},
            "tracker": self.tracker.state(),
            "best": self.best,
            # Rows gathered since the last log line: a snapshot between two log lines must not lose them.
            "pending": {"updates": list(self._pending_updates), "episodes": list(self._pending_episodes)},
        }

    def _metadata(self, kind: str) -> dict:
        shapes = {k: self.env.single_observation_space[k].shape for k in self.obs_keys}
        return {**run_metadata(self.cfg, kind, self.env_steps, shapes, self.action_dim),
                "run_id": self.identity["run_id"], "architecture_hash": architecture_hash(self.architecture)}

    def save(self, best: bool = False) -> Path:
        """Snapshot now: ``step_*.pt``, then ``latest.pt`` (and ``best.pt``) pointed at it.

        With ``replay.save_with_snapshot`` the buffer goes to ``replay_<step>.npz`` *before* the
        snapshot that names it, and older replay files are removed only after ``latest`` moved on,
        so a crash at any point leaves ``latest`` with the buffer it was saved with.
        """
        snaps = self.run_dir / SNAPSHOT_DIR
        path = snaps / snapshot_name(self.env_steps)
        replay_file = None
        if self.cfg.replay.save_with_snapshot:
            replay_file = replay_name(self.env_steps)
            self.replay.save(snaps / replay_file)
        state = self._state()
        state["replay_file"] = replay_file
        save_snapshot(path, state, self._metadata("best" if best else "periodic"))
        link_atomic(path, snaps / LATEST)
        if best:
            link_atomic(path, snaps / BEST)
        for old in snaps.glob("replay_*.npz"):
            if old.name != replay_file:
                old.unlink()
        return path

    def _restore(self) -> dict:
        """Load ``latest.pt`` into everything (refusing another run's or network's); returns its state for
        subclasses' own parts."""
        latest = self.run_dir / SNAPSHOT_DIR / LATEST
        saved = read_metadata(latest).get("observations", {}).get("shapes", {})
        if "privileged" in saved:  # an older observation layout is named as such, before the identity check
            problem = layout_problem(saved["privileged"][0], f"{self.run_dir}")
            if problem:
                raise ValueError(f"cannot resume: {problem}")
        state, meta = load_checked_snapshot(self.run_dir, latest, map_location=self.device)
        changed = differences(snapshot_architecture(state, meta), self.architecture)
        if changed:  # config.yaml was edited since the run began: refused by name, not by a torch traceback
            raise ForeignSnapshot(f"resume refused: {latest} holds another network than {self.run_dir / CONFIG_FILE} "
                                  f"builds ({'; '.join(changed)})")
        check_fingerprint(meta["reward"]["name"], meta["reward"]["fingerprint"])
        self.agent.load_state_dict(state["agent"])
        c = state["counters"]
        self.restores = int(c.get("guard_restores", 0))
        self.env_steps, self.updates, self.episodes = int(c["env_steps"]), int(c["updates"]), int(c["episodes"])
        self.update_credit = float(c["update_credit"])
        self._restarts_before = int(c.get("worker_restarts", 0))  # absent in snapshots made before it existed
        self.rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        replay_file = state.get("replay_file")
        if replay_file and (self.run_dir / SNAPSHOT_DIR / replay_file).is_file():
            self.replay.load(self.run_dir / SNAPSHOT_DIR / replay_file)
        else:
            # Documented behaviour: everything else continues exactly; the buffer refills from the
            # current policy (no second random-action phase) and updates wait for a batch's worth.
            why = (f"{replay_file} is missing" if replay_file
                   else "the run was saved without its replay buffer (replay.save_with_snapshot=false)")
            warnings.warn(f"resuming {self.run_dir} with an empty replay buffer: {why}", stacklevel=2)
        self.replay.set_rng_state(state["rng"]["replay"])
        if self.demos is not None and "demos" in state["rng"]:
            self.demos.set_rng_state(state["rng"]["demos"])
        self.env.reset(seed=0)
        self.env.call_each("set_state", [(s,) for s in state["envs"]])
        self.obs = {k: v.cpu().numpy() for k, v in state["obs"].items()}
        self.tracker.load(state["tracker"])
        self.best = state["best"]
        self._pending_updates = list(state["pending"]["updates"])
        self._pending_episodes = list(state["pending"]["episodes"])
        self.logger.truncate_after(self.env_steps)
        return state

    # ------------------------------------------------------------------ one step of everything
    def _act(self) -> np.ndarray:
        if self.env_steps < self.cfg.train.seed_steps:
            return self.rng.uniform(-1.0, 1.0, size=(self.num_envs, self.action_dim)).astype(np.float32)
        actor_obs = {k: self.obs[k] for k in self.cfg.obs.actor}
        return np.asarray(self.agent.act(actor_obs, self.env_steps, eval_mode=False), dtype=np.float32)

    def _replay_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the buffer stores as the step's action: the executed one (distillation stores labels)."""
        return actions

    def _record_episodes(self, rewards, done, infos, restarted: np.ndarray) -> None:
        final_mask = infos.get("_final_info", np.zeros(self.num_envs, dtype=bool))
        for i in range(self.num_envs):
            if restarted[i]:  # its worker was restarted: the episode in flight is lost, not counted
                self.tracker.stats[i] = EpisodeStats()
                continue
            info = env_info(infos["final_info"], i) if done[i] and final_mask[i] else env_info(infos, i)
            self.tracker.stats[i].add(float(rewards[i]), info)
            if done[i]:
                self._pending_episodes.append(self.tracker.finish(i, info))
                self.episodes += 1

    def _update(self) -> int:
        agent_cfg = self.cfg.agent
        self.update_credit += self.num_envs / agent_cfg.update_every_steps
        rounds = int(self.update_credit)
        self.update_credit -= rounds
        if self.env_steps < self.cfg.train.seed_steps or len(self.replay) < agent_cfg.batch_size:
            return 0
        n = rounds * agent_cfg.updates_per_step
        for _ in range(n):
            batch = sample_mixed(self.replay, self.demos, agent_cfg.batch_size, self.cfg.replay.demo_fraction)
            diagnostics = self.agent.update(batch, self.env_steps)
            if diagnostics:  # an agent may take them from every k-th update only
                self.watch.observe(diagnostics)
                self._pending_updates.append(diagnostics)
            self.updates += 1
        return n

    def step(self) -> int:
        actions = self._act()
        next_obs, rewards, term, trunc, infos = self.env.step(actions)
        done = term | trunc
        true_next = {k: v.copy() for k, v in next_obs.items()}
        for i in np.flatnonzero(done):
            for k in true_next:
                true_next[k][i] = infos["final_obs"][i][k]
        restarted = infos.get("worker_restarted", np.zeros(self.num_envs, dtype=bool))
        success = np.zeros(self.num_envs, dtype=bool)
        if done.any():
            success = np.asarray(infos["final_info"]["is_success"], dtype=bool) & infos["_final_info"]
        store_term, store_trunc = demo_data.replay_end_flags(term, trunc, success, self.cfg.train.bootstrap_on_success)
        self.replay.add({k: self.obs[k] for k in self.obs_keys}, self._replay_actions(actions), rewards,
                        {k: true_next[k] for k in self.obs_keys}, store_term, store_trunc, skip=restarted)
        self._record_episodes(rewards, done, infos, restarted)
        self.obs = next_obs
        self.env_steps += self.num_envs
        return self._update()

    # ------------------------------------------------------------------ logging and evaluation
    def log_train(self, elapsed: float, steps_done: int, updates_done: int) -> None:
        row: dict[str, float] = {}
        if self._pending_updates:
            for key in self._pending_updates[0]:
                row[f"train/{key}"] = float(np.mean([u[key] for u in self._pending_updates]))
        if self._pending_episodes:
            for key in self._pending_episodes[0]:
                row[key] = float(np.mean([e[key] for e in self._pending_episodes]))
            row["episode/count"] = len(self._pending_episodes)
        row["progress/updates"] = self.updates
        row["progress/episodes"] = self.episodes
        row["progress/replay_size"] = len(self.replay)
        row["progress/worker_restarts"] = self.worker_restarts
        row["time/env_steps_per_s"] = steps_done / max(elapsed, 1e-9)
        row["time/updates_per_s"] = updates_done / max(elapsed, 1e-9)
        row["time/elapsed_s"] = time.perf_counter() - self._started  # of this process (resets on resume)
        # CPU seconds of the training process (its threads, not env workers): on a shared machine the
        # steps per CPU second do not move with other processes' load, steps per wall second do.
        row["time/cpu_s"] = time.process_time()
        self.logger.log(self.env_steps, "train", row)
        self._pending_updates.clear()
        self._pending_episodes.clear()

    def eval_policy(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The agent's deterministic actions now: what evaluation (and the end-of-training video) runs."""
        return np.asarray(self.agent.act({k: obs[k] for k in self.cfg.obs.actor}, self.env_steps, eval_mode=True),
                          dtype=np.float32)

    def _make_eval_env(self):
        n = min(self.cfg.train.eval_episodes, self.num_envs)
        return make_vector_env(self.cfg.env, n, max_worker_restarts=None)  # the trainer keeps the limit

    def evaluate(self) -> EvalSummary:
        train_cfg = self.cfg.train
        if self.eval_env is None:
            self.eval_env = self._make_eval_env()
        rows = run_episodes(self.eval_env, self.eval_policy, eval_seeds(train_cfg.eval_episodes))
        summary = summarize(rows)
        self.logger.log(self.env_steps, "eval", {f"eval/{k}": v for k, v in summary.as_dict().items()})
        self.last_eval = {**summary.as_dict(), "env_steps": self.env_steps}
        return summary

    def guard(self, summary: EvalSummary) -> bool:
        """Roll the agent back to ``best.pt`` if ``liftrl.train.guard`` says learning broke; True if it did."""
        reason = collapse_guard.restore_reason(self.guard_cfg, summary.success_lcb, self.best, self.watch,
                                               self.q_limit, self.restores)
        best_path = self.run_dir / SNAPSHOT_DIR / BEST
        if reason is None or not best_path.is_file():
            return False
        state, meta = load_snapshot(best_path, map_location=self.device)
        self.agent.load_state_dict(state["agent"])
        self.restores += 1
        lr = getattr(self.cfg.agent, "lr", None)
        if lr is not None:
            lr *= self.guard_cfg.lr_scale ** self.restores
            collapse_guard.set_learning_rate(self.agent, lr)
        row = {"guard/restores": self.restores, "guard/restored_from": int(meta["env_steps"]), "guard/lr": lr or 0.0,
               "guard/success_lcb": summary.success_lcb, "guard/best_success_lcb": float(self.best["success_lcb"]),
               "guard/q_abs_max": self.watch.q_abs_max, "guard/critic_loss_max": self.watch.loss_max}
        self.logger.log(self.env_steps, "guard", {**row, "guard/reason": reason})
        print(f"liftrl: collapse guard at {self.env_steps} env steps: {reason}; restored the agent of "
              f"{meta['env_steps']} env steps (restore {self.restores}/{self.guard_cfg.max_restores})", flush=True)
        return True

    def load_best(self) -> tuple[int, str]:
        """Put ``best.pt``'s weights into the agent (training is over) and say which policy that is:
        ``(step, "best")``, or ``(env_steps, "last")`` for a run with no best snapshot."""
        best = self.run_dir / SNAPSHOT_DIR / BEST
        if not best.is_file():
            return self.env_steps, "last"
        state, meta = load_snapshot(best, map_location=self.device)
        self.agent.load_state_dict(state["agent"])
        return int(meta["env_steps"]), "best"

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()
        self.env.close()
        if self.eval_env is not None:
            self.eval_env.close()

    # ------------------------------------------------------------------ the loop
    def _progress_bar(self):
        if not self.cfg.train.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.cfg.train.total_env_steps, initial=self.env_steps, unit="step", dynamic_ncols=True)

    def _show(self, bar, steps_per_s: float | None = None) -> None:
        if bar is None:
            return
        if steps_per_s is not None:
            self._rate = steps_per_s
        last = self.last_eval
        bar.set_postfix_str(console.postfix(getattr(self, "_rate", None), last and last["env_steps"], last))

    def _stop_reason(self, deadline: float) -> str | None:
        """Why the loop should stop after this step: None to go on."""
        t = self.cfg.train
        if self.stop.requested:
            return "interrupted"
        if self.session_restarts > self.cfg.env.max_worker_restarts:
            return "workers"
        if self.env_steps >= t.total_env_steps:
            return "finished"
        if time.perf_counter() >= deadline:
            print(f"liftrl: train.max_minutes={t.max_minutes} reached at {self.env_steps} env steps; "
                  "evaluating, saving and stopping (resume continues)", flush=True)
            return "budget"
        return None

    def _after_step(self, before: int, stop: str | None, bar, window: list) -> None:
        """Log, evaluate and snapshot as the step crossed their periods; a stop always snapshots."""
        t = self.cfg.train
        if _crossed(before, self.env_steps, t.log_every):
            now = time.perf_counter()
            self.log_train(now - window[0], window[1], window[2])
            self._show(bar, window[1] / max(now - window[0], 1e-9))
            window[:] = [now, 0, 0]
        improved, summary = False, None
        # A signal or failing workers stop at once; the end of training or of the budget evaluates first.
        if _crossed(before, self.env_steps, t.eval_every) or stop in ("finished", "budget"):
            summary = self.evaluate()
            # The guard goes first: an agent whose critic diverged is rolled back, never made best.
            if not self.guard(summary) and is_better(summary, None if self.best is None else _summary(self.best)):
                self.best = dict(self.last_eval)
                improved = True
            self.watch.reset()
            self._show(bar)  # the bar shows this evaluation now, not at the next log line
        snapshot = None
        if _crossed(before, self.env_steps, t.snapshot_every) or improved or stop is not None:
            snapshot = self.save(best=improved)
        if summary is not None and self.on_eval is not None:
            self.on_eval(EvalEvent(self.env_steps, summary, snapshot, stop is not None))

    def run(self) -> str:
        """Train until done; returns why it stopped: finished, budget, interrupted (a signal) or workers."""
        if self._collect_demos is not None:
            self._collect_demos, collect = None, self._collect_demos
            collect()
        t = self.cfg.train
        bar = self._progress_bar()
        window = [time.perf_counter(), 0, 0]  # since the last log line: start time, env steps, updates
        deadline = time.perf_counter() + 60 * t.max_minutes if t.max_minutes > 0 else float("inf")
        stop = "finished" if self.env_steps >= t.total_env_steps else None
        try:
            while stop is None:
                before = self.env_steps
                window[2] += self.step()
                window[1] += self.env_steps - before
                if bar is not None:
                    bar.update(self.env_steps - before)
                stop = self._stop_reason(deadline)
                self._after_step(before, stop, bar, window)
        finally:
            if bar is not None:
                bar.close()
        return stop


def _crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and after // every > before // every


def _summary(d: dict) -> EvalSummary:
    return EvalSummary(**{k: d[k] for k in EvalSummary.__dataclass_fields__})


# Called with the finished Trainer before it closes; returns the files it wrote (the CLI films the
# end-of-training video this way, so train/ needs nothing from report/).
AfterTraining = Callable[["Trainer"], list[Path]]


@contextlib.contextmanager
def writer_session(run_dir: Path) -> Iterator[StopRequest]:
    """The run's one writer (``RunLock``) and a clean stop on SIGINT/SIGTERM, for as long as it runs.

    Every driver (``train``, ``resume``, ``liftrl distill`` and its ``--resume``) runs its trainer
    inside this, with the yielded ``StopRequest`` passed to the trainer.
    """
    stop = StopRequest()
    with stop.installed(), RunLock(run_dir):
        yield stop


def run_session(trainer: Trainer, banner: console.Banner, after: AfterTraining | None) -> None:
    """Run a constructed trainer to its end and close it, telling the terminal where it is, how it
    ended and what next (inside :func:`writer_session`)."""
    try:
        _report_session(trainer, banner, after)
    finally:
        trainer.close()


def _report_session(trainer: Trainer, banner: console.Banner, after: AfterTraining | None) -> None:
    for line in console.banner_lines(banner):
        print(line, flush=True)
    started = time.perf_counter()
    outcome = trainer.run()
    run_dir = trainer.run_dir
    if outcome == "interrupted":
        print(console.stopped_line(trainer.env_steps, run_dir, trainer.COMMAND), flush=True)
        return
    if outcome == "workers":
        raise TrainingStopped(
            f"stopped at step {trainer.env_steps} (snapshot saved): env workers failed {trainer.session_restarts} "
            f"times, more than env.max_worker_restarts={trainer.cfg.env.max_worker_restarts}; last: "
            f"{trainer.last_fault}. Resume with: {console.resume_hint(run_dir, trainer.COMMAND)}")
    videos = after(trainer) if after is not None else []
    best = run_dir / SNAPSHOT_DIR / BEST
    for line in console.summary_lines(run_dir, trainer.env_steps, time.perf_counter() - started, trainer.last_eval,
                                      trainer.last_eval and trainer.last_eval["env_steps"], trainer.best,
                                      best if best.is_file() else None, videos, trainer.worker_restarts,
                                      trainer.COMMAND):
        print(line, flush=True)


def run_new(run_dir: Path, make: Callable[[StopRequest], "Trainer"], config: str, overrides: list[str],
            after: AfterTraining | None) -> None:
    """A new run folder's whole session: ``make(stop)`` builds its trainer inside :func:`writer_session`,
    then :func:`run_session`. If the trainer cannot be built nothing ran, so the half-made folder goes."""
    with writer_session(run_dir) as stop:
        try:
            trainer = make(stop)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        run_session(trainer, session_banner(trainer, config, overrides), after)


def session_banner(trainer: Trainer, config: str, overrides: list[str], resumed_from: str | None = None) -> console.Banner:
    return console.Banner(run_dir=trainer.run_dir, device=str(trainer.device), torch_threads=torch.get_num_threads(),
                          num_envs=trainer.num_envs, envs=trainer.env.placement, config=config,
                          overrides=tuple(overrides), resumed_from=resumed_from, command=trainer.COMMAND)


def train(config_path: str | None, overrides: list[str], run_root: str | None = None,
          after: AfterTraining | None = None) -> Path:
    """Start a new run: resolve the config, save it, train, and leave a complete run folder.

    SIGINT / SIGTERM stop it cleanly (snapshot at the current step, then return); see ``train.signals``.
    """
    cfg = load_config(config_path, overrides)
    run_dir = new_run_dir(run_root or cfg.train.run_dir, cfg.agent.name)
    save_config(cfg, run_dir / CONFIG_FILE)
    run_new(run_dir, lambda stop: Trainer(cfg, run_dir, stop=stop), config_path or "built-in defaults", overrides,
            after)
    return run_dir


def check_resume_overrides(overrides: list[str]) -> None:
    """Refuse a resume override of anything but ``RESUME_OVERRIDABLE``, listing what may change."""
    bad = [o for o in overrides if o.split("=", 1)[0].strip() not in RESUME_OVERRIDABLE]
    if bad:
        raise ValueError(f"on resume only these settings may be overridden: {', '.join(RESUME_OVERRIDABLE)}; "
                         f"got {bad} (what is learned, env, agent and replay, stays as the run began)")


def resume(run_dir: str | os.PathLike, overrides: list[str] | None = None, after: AfterTraining | None = None) -> Path:
    """Continue a run from ``snapshots/latest.pt``; only ``RESUME_OVERRIDABLE`` settings may change."""
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}: not a liftrl run folder")
    overrides = list(overrides or [])
    check_resume_overrides(overrides)
    with writer_session(run_dir) as stop:  # one writer: a second is refused before it reads or writes
        latest = run_dir / SNAPSHOT_DIR / LATEST
        if not latest.is_file():
            raise FileNotFoundError(f"{run_dir} has no {SNAPSHOT_DIR}/{LATEST} to resume from")
        cfg = load_config(str(config_file), overrides)
        if overrides:
            save_config(cfg, config_file)
        trainer = Trainer(cfg, run_dir, resume=True, stop=stop)
        run_session(trainer, session_banner(trainer, str(config_file), overrides,
                                            resumed_from=f"{latest} (step {trainer.env_steps})"), after)
    return run_dir
