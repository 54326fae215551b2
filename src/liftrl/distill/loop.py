"""DAgger rounds over the train loop's parts: ``liftrl distill TEACHER_RUN [CONFIG] [key=value ...]``.

A distillation run is the train loop's ``Trainer`` over DAgger's own collector acting and learner
(``dagger_parts``), with the shared core, evaluator and checkpointer; the agent is the pixel student:
- acting: each env at each step is driven by the teacher with probability beta (a schedule of the
  round) and by the student otherwise, while the teacher labels the step with its deterministic
  action computed from the same step's observation (``privileged`` / ``state``);
- storing: the replay buffer (frames stored once) keeps the *label* as the step's action, so it is
  the aggregated DAgger dataset; it is saved with every snapshot, since it is the training data;
- learning: after each round's ``steps_per_round`` env steps, ``updates_per_round`` regression steps,
  with part of each batch moved-cube views when ``distill.moved_cube_views`` is on (``cube_views``).
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
import torch

from liftrl.config import Config, load_config, save_config
from liftrl.distill.cube_views import ViewMaker, ViewRenderer, ViewSettings
from liftrl.distill.dagger import beta_schedule, choose_driver, mix, round_of
from liftrl.distill.teacher import Teacher, load_teacher, resolve_snapshot
from liftrl.obs.keys import OBSERVATION_KEYS
from liftrl.replay.buffer import ReplayBuffer
from liftrl.run.folder import CONFIG_FILE, new_run_dir
from liftrl.sim.inprocess import usable_cores
from liftrl.train.evaluator import Baseline
from liftrl.train.guard import CriticWatch
from liftrl.train.loop import build_core
from liftrl.train.session import AfterTraining, ResumeRules, resume_run, run_new
from liftrl.train.signals import StopRequest
from liftrl.train.trainer import Parts, Trainer, crossed

RUN_KIND = "distill"


def resolve_config(cfg: Config, teacher: Teacher) -> Config:
    """The run's complete config: teacher snapshot named, env computing what the teacher reads,
    and the train loop's step counts derived from the rounds."""
    rounds_cfg = cfg.distill
    wanted = set(cfg.obs.actor) | set(teacher.actor_keys)
    if cfg.agent.aux_cube_weight > 0:
        wanted |= {"privileged", "state"}  # the aux target: the cube from the tool point
    observations = tuple(k for k in OBSERVATION_KEYS if k in wanted)
    missing = sorted(wanted - set(observations))
    if missing:
        raise ValueError(f"the teacher reads {missing}, which this env cannot provide")
    train = dataclasses.replace(
        cfg.train, seed_steps=0, total_env_steps=rounds_cfg.rounds * rounds_cfg.steps_per_round, log_every=rounds_cfg.steps_per_round,
        eval_every=rounds_cfg.steps_per_round * rounds_cfg.eval_every_rounds, snapshot_every=rounds_cfg.steps_per_round)
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, observations=observations), train=train,
                               distill=dataclasses.replace(rounds_cfg, teacher_snapshot=teacher.snapshot))


class DaggerActing:
    """DAgger's acting: the teacher labels every step; each env is driven by the teacher with
    probability beta (the round's), by the student otherwise; the replay keeps the labels."""

    def __init__(self, agent, teacher: Teacher, cfg: Config):
        self.agent = agent
        self.teacher = teacher
        self.actor_keys = tuple(cfg.obs.actor)
        self.beta = beta_schedule(cfg.distill.beta_schedule)
        self.steps_per_round = cfg.distill.steps_per_round
        self.round_counts = {"teacher_steps": 0, "steps": 0}
        self.labels: np.ndarray | None = None  # the teacher's actions for the latest step's observations

    def act(self, obs, env_steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self.labels = self.teacher.act(obs)
        drives = choose_driver(self.beta(round_of(env_steps, self.steps_per_round)), len(self.labels), rng)
        self.round_counts["teacher_steps"] += int(drives.sum())
        self.round_counts["steps"] += len(self.labels)
        if drives.all():
            return self.labels.copy(), self.labels
        student = np.asarray(self.agent.act({k: obs[k] for k in self.actor_keys}, env_steps, eval_mode=False),
                             dtype=np.float32)
        return mix(self.labels, student, drives), self.labels

    def state(self) -> dict:
        return {"distill": {"round_counts": dict(self.round_counts)}}

    def load(self, state) -> None:
        self.round_counts = dict(state["distill"]["round_counts"])


class DaggerLearner:
    """DAgger's learning: after each round's ``steps_per_round`` env steps, ``updates_per_round``
    regression steps on the aggregated dataset, each row marked with the round it followed."""

    def __init__(self, agent, replay: ReplayBuffer, acting: DaggerActing, steps_per_round: int,
                 updates_per_round: int, update_threads: int = 0, views: ViewMaker | None = None):
        self.agent = agent
        self.views = views  # moved-cube views (distill.moved_cube_views), or None
        self.update_threads = update_threads or usable_cores()
        self.replay = replay
        self.acting = acting
        self.steps_per_round = steps_per_round
        self.updates_per_round = updates_per_round
        self.updates = 0
        self.pending: list[dict] = []
        self.watch = CriticWatch()  # a student has no critic: the guard checks its evaluations only

    def start(self) -> None:
        """Nothing to prepare: the aggregated dataset grows from the rollouts themselves."""

    def after_step(self, env_steps: int, num_envs: int) -> int:
        if not crossed(env_steps - num_envs, env_steps, self.steps_per_round):
            return 0
        finished = round_of(env_steps - num_envs, self.steps_per_round)
        counts = self.acting.round_counts
        extra = {"round": finished, "beta": self.acting.beta(finished), "labelled_frames": env_steps,
                 "teacher_drove_frac": counts["teacher_steps"] / max(counts["steps"], 1)}
        self.acting.round_counts = {"teacher_steps": 0, "steps": 0}
        if self.views is not None:
            extra["moved_cube_views"] = self.views.new_round(finished, self.replay)
        acting_threads = torch.get_num_threads()
        torch.set_num_threads(self.update_threads)  # the workers wait: the updates may take every core
        try:
            for _ in range(self.updates_per_round):
                batch = (self.views.batch(self.replay, self.agent.batch_size) if self.views is not None
                         else self.replay.sample(self.agent.batch_size))
                row = self.agent.update(batch, env_steps)
                self.pending.append({**row, **extra})
                self.updates += 1
        finally:
            torch.set_num_threads(acting_threads)
        return self.updates_per_round

    def close(self) -> None:
        if self.views is not None:
            self.views.close()

    def state(self) -> dict:
        return {"agent": self.agent.state_dict(), "counters": {"updates": self.updates},
                "rng": {"replay": self.replay.rng_state()}, "pending": {"updates": list(self.pending)}}

    def load(self, state) -> None:
        self.agent.load_state_dict(state["agent"])
        self.updates = int(state["counters"]["updates"])
        self.replay.set_rng_state(state["rng"]["replay"])
        self.pending = list(state["pending"]["updates"])


def _check_teacher_inputs(space, action_space, teacher: Teacher) -> None:
    """The env gives what the teacher reads, and takes actions of the teacher's size (4, or 5 with a roll)."""
    dim = int(teacher.policy.meta["action_dim"])
    if tuple(action_space.shape) != (dim,):
        raise ValueError(f"the teacher acts with {dim}-D actions, this env takes {tuple(action_space.shape)}: "
                         f"set env.wrist_roll_action to {dim == 5} as the teacher's run did")
    for key, shape in teacher.shapes.items():
        if key not in space.spaces or tuple(space[key].shape) != tuple(shape):
            got = tuple(space[key].shape) if key in space.spaces else "absent"
            raise ValueError(f"the teacher reads {key!r} of shape {shape}, this env gives {got}")


def dagger_parts(cfg: Config, run_dir: Path, teacher: Teacher, resume: bool = False) -> Parts:
    """DAgger's parts: the shared core, DAgger's acting and learner, the teacher as the evaluator's baseline."""
    if cfg.train.demos:
        raise ValueError(f"train.demos={cfg.train.demos}: scripted demonstrations are for online RL; "
                         f"liftrl distill learns from the teacher's labels (set train.demos=0)")
    core = build_core(cfg, run_dir, resume, {"teacher": teacher.describe()})
    try:
        _check_teacher_inputs(core.env.single_observation_space, core.env.single_action_space, teacher)
        acting = DaggerActing(core.agent, teacher, cfg)
        learner = DaggerLearner(core.agent, core.replay, acting, cfg.distill.steps_per_round,
                                cfg.distill.updates_per_round, cfg.distill.update_threads,
                                _view_maker(cfg, teacher, core.agent.replay_keys))
        baseline = Baseline("teacher", teacher.act, "distill", lambda summary: (
            f"liftrl distill: teacher {teacher.run} ({teacher.snapshot}) succeeds "
            f"{summary.successes}/{summary.episodes} on the evaluation seeds"))
        return core.assemble(acting, learner, "distill", baseline)
    except BaseException:
        core.close()
        raise


def _view_maker(cfg: Config, teacher: Teacher, replay_keys: tuple[str, ...]) -> ViewMaker | None:
    """The moved-cube views of ``distill.moved_cube_views`` (None when 0): they need a teacher that reads
    the cube, or moving it would not change its label."""
    d = cfg.distill
    if not d.moved_cube_views:
        return None
    if "privileged" not in teacher.actor_keys:
        raise ValueError(f"distill.moved_cube_views={d.moved_cube_views} needs a teacher that reads 'privileged' "
                         f"(the cube it labels from); teacher {teacher.run} reads {list(teacher.actor_keys)}")
    missing = sorted((set(teacher.actor_keys) | {"state", "privileged"}) - set(replay_keys))
    if missing:
        raise ValueError(f"distill.moved_cube_views={d.moved_cube_views}: the dataset does not keep {missing}, which "
                         f"a view's label and cube need (the replay keeps the student's keys, and 'state' and "
                         f"'privileged' with agent.aux_cube_weight > 0)")
    settings = ViewSettings(d.moved_cube_views, d.moved_cube_shift_m, d.moved_cube_batch_fraction,
                            cfg.env.frame_stack, 1.0 / cfg.env.control_hz)
    return ViewMaker(ViewRenderer(cfg.env, settings), teacher.act, replay_keys, cfg.train.seed)


def build_distiller(cfg: Config, run_dir: Path, teacher: Teacher | None = None, resume: bool = False,
                    stop: StopRequest | None = None) -> Trainer:
    """The distillation trainer of ``run_dir`` (``cfg`` resolved); the teacher is read from ``cfg`` if not given."""
    teacher = teacher or load_teacher(cfg.distill.teacher, cfg.distill.teacher_snapshot)
    return Trainer(cfg, dagger_parts(cfg, Path(run_dir), teacher, resume), resume=resume, stop=stop)


def _prepare_resume(cfg: Config, config_file: Path) -> Config:
    """A saved distillation config completed again from its teacher (which must still be there)."""
    if cfg.distill is None or not cfg.distill.teacher_snapshot:
        raise ValueError(f"{config_file} is not a resolved distillation config (no distill.teacher_snapshot)")
    return resolve_config(cfg, load_teacher(cfg.distill.teacher, cfg.distill.teacher_snapshot))


DAGGER = ResumeRules(("distill.rounds", "train.max_minutes"),
                     lambda cfg, run_dir, resume, stop: build_distiller(cfg, run_dir, resume=resume, stop=stop),
                     _prepare_resume)


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
    run_new(run_dir, lambda stop: build_distiller(cfg, run_dir, teacher, stop=stop),
            config_path or "built-in defaults", [*overrides, f"distill.teacher={cfg.distill.teacher}"], after)
    return run_dir


def resume_distill(run_dir: str | os.PathLike, overrides: list[str] | None = None,
                   after: AfterTraining | None = None) -> Path:
    """Continue a distillation run exactly; only ``distill.rounds`` and ``train.max_minutes`` may change."""
    return resume_run(run_dir, overrides, DAGGER, after)


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
