"""DAgger rounds over the train loop's pieces: ``liftrl distill TEACHER_RUN [CONFIG] [key=value ...]``.

A distillation run is a train-loop run whose agent is the pixel student, with three changes:
- acting: each env at each step is driven by the teacher with probability beta (a schedule of the
  round) and by the student otherwise, while the teacher labels the step with its deterministic
  action computed from the same step's observation (``privileged`` / ``state``);
- storing: the replay buffer (frames stored once) keeps the *label* as the step's action, so it is
  the aggregated DAgger dataset; it is saved with every snapshot, since it is the training data;
- learning: after each round's ``steps_per_round`` env steps, ``updates_per_round`` regression steps.
Everything else is the train loop's: vector env workers collecting in parallel, run folder
``runs/distill/<stamp>/``, snapshots, ``metrics.jsonl``, TensorBoard, evaluation on the usual
seeds with best by the Wilson bound, exact resume, and the end-of-run video (the CLI's ``after``
callback, as for ``liftrl train``). The teacher is
evaluated once, at the start, on the same seeds (``kind: teacher`` row), as the line to reach.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from liftrl.common.seeds import eval_seeds
from liftrl.config import Config, load_config, save_config
from liftrl.distill.dagger import beta_schedule, choose_driver, mix, round_of
from liftrl.distill.teacher import Teacher, load_teacher, resolve_snapshot
from liftrl.obs.keys import OBSERVATION_KEYS
from liftrl.replay.buffer import ReplayBuffer
from liftrl.run.folder import CONFIG_FILE, LATEST, SNAPSHOT_DIR, new_run_dir
from liftrl.train.episodes import run_episodes
from liftrl.train.loop import AfterTraining, Trainer, _crossed, run_new, run_session, session_banner, writer_session
from liftrl.train.scoring import EvalSummary, summarize
from liftrl.train.signals import StopRequest

RUN_KIND = "distill"


def resolve_config(cfg: Config, teacher: Teacher) -> Config:
    """The run's complete config: teacher snapshot named, env computing what the teacher reads,
    and the train loop's step counts derived from the rounds."""
    rounds_cfg = cfg.distill
    wanted = set(cfg.obs.actor) | set(teacher.actor_keys)
    if cfg.agent.aux_cube_weight > 0:
        wanted.add("privileged")
    observations = tuple(k for k in OBSERVATION_KEYS if k in wanted)
    missing = sorted(wanted - set(observations))
    if missing:
        raise ValueError(f"the teacher reads {missing}, which this env cannot provide")
    train = dataclasses.replace(
        cfg.train, seed_steps=0, total_env_steps=rounds_cfg.rounds * rounds_cfg.steps_per_round, log_every=rounds_cfg.steps_per_round,
        eval_every=rounds_cfg.steps_per_round * rounds_cfg.eval_every_rounds, snapshot_every=rounds_cfg.steps_per_round)
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, observations=observations), train=train,
                               distill=dataclasses.replace(rounds_cfg, teacher_snapshot=teacher.snapshot))


class Distiller(Trainer):
    """The train loop with DAgger's acting, storing and learning (see the module docstring)."""

    COMMAND = "distill"

    def __init__(self, cfg: Config, run_dir: Path, teacher: Teacher, resume: bool = False,
                 stop: StopRequest | None = None):
        self.teacher = teacher
        self.beta = beta_schedule(cfg.distill.beta_schedule)
        self.teacher_eval: dict | None = None
        self.round_counts = {"teacher_steps": 0, "steps": 0}
        self._labels: np.ndarray | None = None
        super().__init__(cfg, run_dir, resume=resume, stop=stop)
        self._check_teacher_inputs()

    def _check_teacher_inputs(self) -> None:
        space = self.env.single_observation_space
        for key, shape in self.teacher.shapes.items():
            if key not in space.spaces or tuple(space[key].shape) != tuple(shape):
                got = tuple(space[key].shape) if key in space.spaces else "absent"
                raise ValueError(f"the teacher reads {key!r} of shape {shape}, this env gives {got}")

    # ------------------------------------------------------------------ the train loop's hooks
    def _make_replay(self) -> ReplayBuffer:
        """The DAgger dataset: the student's inputs (and aux target), labels as actions; n-step unused."""
        self.obs_keys = self.agent.needs
        space, cfg = self.env.single_observation_space, self.cfg
        return ReplayBuffer(
            capacity=cfg.replay.capacity, num_envs=self.num_envs,
            obs_shapes={k: (space[k].shape, space[k].dtype) for k in self.obs_keys},
            action_dim=self.action_dim, n_step=1, gamma=1.0, frame_stack=cfg.env.frame_stack, seed=cfg.train.seed)

    def current_beta(self) -> float:
        return self.beta(round_of(self.env_steps, self.cfg.distill.steps_per_round))

    def _act(self) -> np.ndarray:
        self._labels = self.teacher.act(self.obs)
        beta = self.current_beta()
        drives = choose_driver(beta, self.num_envs, self.rng)
        self.round_counts["teacher_steps"] += int(drives.sum())
        self.round_counts["steps"] += self.num_envs
        if drives.all():
            return self._labels.copy()
        student = np.asarray(self.agent.act({k: self.obs[k] for k in self.cfg.obs.actor}, self.env_steps,
                                            eval_mode=False), dtype=np.float32)
        return mix(self._labels, student, drives)

    def _replay_actions(self, actions: np.ndarray) -> np.ndarray:
        return self._labels

    def _update(self) -> int:
        rounds_cfg = self.cfg.distill
        if not _crossed(self.env_steps - self.num_envs, self.env_steps, rounds_cfg.steps_per_round):
            return 0
        finished = round_of(self.env_steps - self.num_envs, rounds_cfg.steps_per_round)
        extra = {"round": finished, "beta": self.beta(finished), "labelled_frames": self.env_steps,
                 "teacher_drove_frac": self.round_counts["teacher_steps"] / max(self.round_counts["steps"], 1)}
        self.round_counts = {"teacher_steps": 0, "steps": 0}
        for _ in range(rounds_cfg.updates_per_round):
            row = self.agent.update(self.replay.sample(self.cfg.agent.batch_size), self.env_steps)
            self._pending_updates.append({**row, **extra})
            self.updates += 1
        return rounds_cfg.updates_per_round

    # ------------------------------------------------------------------ snapshots
    def _state(self) -> dict:
        return {**super()._state(), "distill": {"teacher_eval": self.teacher_eval, "round_counts": self.round_counts}}

    def _metadata(self, kind: str) -> dict:
        return {**super()._metadata(kind), "teacher": self.teacher.describe()}

    def _restore(self) -> dict:
        state = super()._restore()
        self.teacher_eval = state["distill"]["teacher_eval"]
        self.round_counts = dict(state["distill"]["round_counts"])
        return state

    # ------------------------------------------------------------------ evaluation
    def evaluate_teacher(self) -> EvalSummary:
        """The teacher on the student's evaluation seeds and env: the line the student should reach."""
        if self.eval_env is None:
            self.eval_env = self._make_eval_env()
        rows = run_episodes(self.eval_env, self.teacher.act, eval_seeds(self.cfg.train.eval_episodes))
        summary = summarize(rows)
        self.teacher_eval = summary.as_dict()
        self.logger.log(self.env_steps, "teacher", {f"teacher/{k}": v for k, v in summary.as_dict().items()})
        return summary

    def run(self) -> Path:
        if self.teacher_eval is None:
            summary = self.evaluate_teacher()
            print(f"liftrl distill: teacher {self.teacher.run} ({self.teacher.snapshot}) succeeds "
                  f"{summary.successes}/{summary.episodes} on the evaluation seeds", flush=True)
        return super().run()


# ---------------------------------------------------------------------------------------------- entry points
def distill(teacher_run: str | os.PathLike, config_path: str | None, overrides: list[str],
            run_root: str | None = None, after: AfterTraining | None = None) -> Path:
    """Start a distillation run from ``teacher_run``; returns the run folder (``after`` as ``train``'s)."""
    # Stored resolved: a path relative to where distill ran would break `--resume` from anywhere else.
    cfg = load_config(config_path, [*overrides, f"distill.teacher={Path(teacher_run).resolve()}"])
    if cfg.distill is None:
        raise ValueError(f"{config_path or 'the built-in defaults'} is not a student config: it needs agent.name: "
                         f"student and a distill section (see configs/student.yaml)")
    snapshot = resolve_snapshot(cfg.distill.teacher, cfg.distill.teacher_checkpoint)
    teacher = load_teacher(cfg.distill.teacher, snapshot.name)
    cfg = resolve_config(cfg, teacher)
    _warn_rate(cfg, teacher)
    run_dir = new_run_dir(run_root or cfg.train.run_dir, RUN_KIND)
    save_config(cfg, run_dir / CONFIG_FILE)
    # As `liftrl train`: one writer, a clean stop on SIGINT/SIGTERM, no half-made folder left behind.
    run_new(run_dir, lambda stop: Distiller(cfg, run_dir, teacher, stop=stop), config_path or "built-in defaults",
            [*overrides, f"distill.teacher={cfg.distill.teacher}"], after)
    return run_dir


def resume_distill(run_dir: str | os.PathLike, overrides: list[str] | None = None,
                   after: AfterTraining | None = None) -> Path:
    """Continue a distillation run exactly; only ``distill.rounds`` and ``train.max_minutes`` may change."""
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}: not a liftrl run folder")
    overrides = list(overrides or [])
    bad = [o for o in overrides if not o.startswith(("distill.rounds=", "train.max_minutes="))]
    if bad:
        raise ValueError(f"on resume only distill.rounds and train.max_minutes may be overridden, got {bad}")
    with writer_session(run_dir) as stop:  # one writer: a second resume is refused before it reads or writes
        if not (run_dir / SNAPSHOT_DIR / LATEST).is_file():
            raise FileNotFoundError(f"{run_dir} is not a distillation run with a snapshot to resume from")
        cfg = load_config(str(config_file), overrides)
        if cfg.distill is None or not cfg.distill.teacher_snapshot:
            raise ValueError(f"{config_file} is not a resolved distillation config (no distill.teacher_snapshot)")
        teacher = load_teacher(cfg.distill.teacher, cfg.distill.teacher_snapshot)
        cfg = resolve_config(cfg, teacher)
        if overrides:
            save_config(cfg, config_file)
        distiller = Distiller(cfg, run_dir, teacher, resume=True, stop=stop)
        run_session(distiller, session_banner(distiller, str(config_file), overrides,
                                              resumed_from=f"{run_dir / SNAPSHOT_DIR / LATEST} "
                                                           f"(step {distiller.env_steps})"), after)
    return run_dir


def _latency_text(latency) -> str:
    """``100`` -> ``100 ms``; a per-episode range ``[66, 133]`` -> ``66-133 ms``."""
    if isinstance(latency, (list, tuple)):
        return "-".join(f"{float(v):g}" for v in latency) + " ms"
    return f"{float(latency):g} ms"


def _warn_rate(cfg: Config, teacher: Teacher) -> None:
    env = teacher.config.get("env", {})
    theirs = f"{float(env.get('control_hz', 50.0)):g} Hz / {_latency_text(env.get('latency_ms', 0.0))}"
    ours = f"{cfg.env.control_hz:g} Hz / {_latency_text(cfg.env.latency_ms)}"
    if theirs != ours:
        warnings.warn(f"the teacher was trained at {theirs} and the student runs at {ours}: its labels may not "
                      f"succeed here (the teacher's evaluation row shows how it does)", stacklevel=2)
