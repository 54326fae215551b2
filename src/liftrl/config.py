"""A run's configuration: typed frozen dataclasses, read from YAML plus dotted command-line overrides.

Why so strict: a misspelt key that is silently ignored trains the wrong thing for hours, and a
pixel policy that quietly reads the cube position in simulation cannot work on the real arm (the
user shipped one once). So an unknown key is an error naming the closest valid key, a value of
the wrong type is an error naming the key and both types, and an actor given ``privileged`` is
refused unless the config opts out by name (``obs.allow_privileged_actor: true``).

The agent section is the agent's own config dataclass (``liftrl.agents.config``), picked by
``agent.name``. The resolved config (every default filled in) is saved in each run folder, and
loading that file gives back an equal ``Config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import yaml

from liftrl.agents.config import AGENT_CONFIGS, AUX_CUBE_FRAMES, DrQV2Config, SACConfig, StudentConfig
from liftrl.sim.options import EnvOptions
from liftrl.sim.task import OptionError
from liftrl.common.schedules import parse_schedule
from liftrl.common.seeds import MAX_TRAIN_SEED, TRAIN_SEED_STRIDE
from liftrl.obs.keys import OBSERVATION_KEYS, REAL_ARM_KEYS, SIM_ONLY_KEYS



class ConfigError(ValueError):
    """A config that cannot be run as written; the message names the key and what was expected."""


@dataclass(frozen=True)
class EnvConfig(EnvOptions):
    """The simulated task (every option, default and check is ``liftrl.sim.options.EnvOptions``'s) and
    how many copies of it run in parallel."""

    # What the env computes; empty -> the union of obs.actor and obs.critic.
    observations: tuple[str, ...] = ()
    num_envs: int = 16
    # Worker processes stepping the envs; 0 -> in the training process; None -> the faster of the
    # two for this config (in-process for state-only and few envs, else one per core), printed at start.
    num_workers: int | None = None
    # A worker that dies or does not answer within worker_timeout_s seconds is killed and restarted
    # (its envs begin new episodes), at most max_worker_restarts times per run, training and
    # evaluation workers together; one fault more stops the run with a snapshot.
    worker_timeout_s: float = 120.0
    max_worker_restarts: int = 3


# EnvConfig keys about how the envs run (how many, in which processes, how faults are handled),
# not about what one env is: they never reach an env's options.
VECTOR_ENV_KEYS = ("num_envs", "num_workers", "worker_timeout_s", "max_worker_restarts")


@dataclass(frozen=True)
class ObsConfig:
    """Observation roles: what the actor reads and what the critic reads."""

    # Observation keys the actor reads (what the real arm has: pixels, state, last_actions) and the
    # critic reads (it may also read privileged, the simulation-only cube state).
    actor: tuple[str, ...] = ("pixels", "state")
    critic: tuple[str, ...] = ("pixels", "state", "privileged")
    # The opt-out, by name, for an actor that reads simulation-only keys: such a policy cannot run
    # on the real arm. Meant for simulation-only studies.
    allow_privileged_actor: bool = False


@dataclass(frozen=True)
class ReplayConfig:
    # Transitions kept (a ring per env; each camera frame stored once).
    capacity: int = 500_000
    # Save the whole buffer next to each snapshot (large: a camera frame per pixel transition) so a
    # resume continues exactly; without it a resumed run refills the buffer from scratch.
    save_with_snapshot: bool = False
    # Share of every update batch drawn from the scripted demonstrations (train.demos), RLPD-style.
    demo_fraction: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    # The run's seed (below MAX_TRAIN_SEED); training env i resets from seed * TRAIN_SEED_STRIDE + i
    # (liftrl.common.seeds); evaluation seeds never depend on it.
    seed: int = 0
    # auto -> cuda when torch sees a GPU, else cpu; or cpu, cuda, cuda:N.
    device: str = "auto"
    # bfloat16 autocast for the pixel agents (DrQ-v2's update and acting, the student's update) on
    # CUDA and on CPUs with native bfloat16 (AVX512-BF16 or AMX); ignored with a warning elsewhere
    # and by SAC. Weights, optimiser state and losses stay float32 (liftrl.agents.precision).
    amp: bool = False
    # Torch CPU threads; 0 -> auto: the cores the env worker processes leave free (at least 1),
    # because on a small CPU torch's threads and the simulator processes otherwise fight.
    torch_threads: int = 0
    # Runs are written to run_dir/<agent>/<YYYYMMDD_HHMMSS>/.
    run_dir: str = "runs"
    # Uniform random actions before learning starts (counted over all envs).
    seed_steps: int = 4000
    # Counts in env steps over all envs: when to stop, log a metrics row, evaluate (eval_episodes
    # deterministic episodes on the evaluation seeds) and save a snapshot.
    total_env_steps: int = 1_000_000
    log_every: int = 1000
    eval_every: int = 20_000
    snapshot_every: int = 50_000
    eval_episodes: int = 20
    # Deterministic evaluation episodes written as MP4 at the end of training (0: none).
    video_episodes: int = 1
    # A progress bar whose postfix shows the latest evaluation.
    progress: bool = True
    # Wall-clock budget in minutes (0: none). When it runs out the run evaluates, snapshots and
    # stops as if it had reached total_env_steps; `--resume` continues it later.
    max_minutes: float = 0.0
    # Start the agent's actor (encoder + actor for drqv2) from another run's snapshot, e.g. a
    # distilled student (`liftrl distill`) before RL fine-tuning; "" -> fresh weights.
    init_from: str = ""
    init_checkpoint: str = "best"
    # Scripted demonstration episodes collected before training at the run's own rate and latency;
    # the successful ones form a separate buffer (RUN/demos.npz) sampled by replay.demo_fraction.
    demos: int = 0
    # Store a success ending as a truncation (bootstrap) rather than a termination: the task ends
    # there, the state is not terminal (liftrl.train.demos.replay_end_flags says why it matters).
    bootstrap_on_success: bool = False
    # Collapse guard (liftrl.train.guard): after each evaluation, restore the best snapshot's agent
    # (weights, targets, optimisers; replay kept) when the success lower bound fell more than
    # guard_lcb_drop below the best's, or Q / critic loss left the bound the reward version and
    # gamma imply (times guard_q_factor) or became non-finite. At most guard_max_restores times per
    # run; each restore multiplies the learning rates by guard_lr_scale.
    guard: bool = True
    guard_lcb_drop: float = 0.35
    guard_q_factor: float = 2.0
    guard_max_restores: int = 3
    guard_lr_scale: float = 1.0


@dataclass(frozen=True)
class DistillConfig:
    """DAgger from a privileged teacher run (``liftrl distill``); see ``liftrl.distill``."""

    # The teacher's run folder and checkpoint (best, latest or a step); `liftrl distill TEACHER_RUN`
    # fills `teacher`. The resolved config also names the exact snapshot file it used.
    teacher: str = ""
    teacher_checkpoint: str = "best"
    teacher_snapshot: str = ""
    # DAgger rounds: each collects, labels, aggregates and regresses once.
    rounds: int = 10
    # Env steps collected per round (over all envs): every one is labelled by the teacher.
    steps_per_round: int = 2000
    # Regression steps on the aggregated buffer after each round's collection.
    updates_per_round: int = 500
    # Torch threads for each round's regression steps (0: every usable core). The env workers wait
    # while the student learns, so the updates need not leave them a core as acting does
    # (train.torch_threads); on 2 cores a 64 px update took 40 ms on two threads against 63 ms on
    # one (bench/results/student_update.txt). Acting goes back to train.torch_threads after each round.
    # The float sums depend on the thread count: for runs equal bit for bit across machines with
    # different core counts, set a number.
    update_threads: int = 0
    # Probability that the teacher drives a step, per env and step, as a schedule of the round
    # number (the first round is 0): the student soon drives and the teacher only labels.
    beta_schedule: str = "linear(1.0,0.0,3)"
    # Evaluate the student (and once, at the start, the teacher) every this many rounds.
    eval_every_rounds: int = 1
    # Moved-cube views (liftrl.distill.cube_views): after each round, this many arm states from the
    # dataset (with the cube resting on the table) are rendered again with the cube moved, in a fresh
    # random scene, and labelled by the teacher. The same joints then come with different cubes and
    # labels, so only the image can say where the cube is. Needs a teacher that reads privileged and
    # agent.aux_cube_weight > 0 (the dataset then keeps the cube). 0: off.
    moved_cube_views: int = 0
    # How far a view moves the cube on the table from where it was in that row (uniform over a disc, m).
    moved_cube_shift_m: float = 0.04
    # The share of each of the round's regression batches drawn from its views (the rest from the rollouts).
    moved_cube_batch_fraction: float = 0.5


AgentConfig = Union[DrQV2Config, SACConfig, StudentConfig]


@dataclass(frozen=True)
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    obs: ObsConfig = field(default_factory=ObsConfig)
    agent: AgentConfig = field(default_factory=DrQV2Config)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # Only distillation runs have this section (agent.name=student); None elsewhere.
    distill: DistillConfig | None = None


SECTIONS: dict[str, type] = {"env": EnvConfig, "obs": ObsConfig, "replay": ReplayConfig, "train": TrainConfig,
                             "distill": DistillConfig}
SECTION_ORDER = ("env", "obs", "agent", "replay", "train", "distill")
DEFAULT_AGENT = "drqv2"


# ---------------------------------------------------------------------------------------------- types
def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _given_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


_NOT_COERCIBLE = object()


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as type ``tp``, or ``_NOT_COERCIBLE``. Only lossless conversions: int -> float, number -> str,
    list -> tuple, integral float -> int."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            out = _coerce(value, arg)
            if out is not _NOT_COERCIBLE:
                return out
        return _NOT_COERCIBLE
    if tp is type(None):
        return None if value is None else _NOT_COERCIBLE
    if tp is bool:
        return value if isinstance(value, bool) else _NOT_COERCIBLE
    if tp is int:
        if isinstance(value, bool):
            return _NOT_COERCIBLE
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _NOT_COERCIBLE
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _NOT_COERCIBLE
        return float(value)
    if tp is str:
        # A number where text is expected keeps its spelling as text (e.g. stddev_schedule=0.2).
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) else _NOT_COERCIBLE
    if origin is tuple:
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if not isinstance(value, (list, tuple)):
            return _NOT_COERCIBLE
        items = [_coerce(v, item) for v in value]
        return _NOT_COERCIBLE if any(v is _NOT_COERCIBLE for v in items) else tuple(items)
    raise TypeError(f"config field type {tp!r} is not supported")  # a programming error, not user input


def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _all_keys(agent_name: str | None = None) -> list[str]:
    keys = [f"{s}.{k}" for s, cls in SECTIONS.items() for k in _fields(cls)]
    names = [agent_name] if agent_name in AGENT_CONFIGS else list(AGENT_CONFIGS)
    for name in names:
        keys += [f"agent.{k}" for k in _fields(AGENT_CONFIGS[name]) if f"agent.{k}" not in keys]
    return keys


def _unknown(key: str, valid: list[str], where: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if not close:  # a misspelt last part under the right section still deserves a hint
        tail = key.rsplit(".", 1)[-1]
        by_tail = {v.rsplit(".", 1)[-1]: v for v in valid}
        close = [by_tail[m] for m in difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.6)]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{where}{hint}")


def _build(cls: type, raw: Mapping[str, Any], section: str, agent_name: str | None = None) -> Any:
    fields = _fields(cls)
    values = {}
    for key, value in raw.items():
        dotted = f"{section}.{key}"
        if key not in fields:
            raise _unknown(dotted, _all_keys(agent_name))
        out = _coerce(value, fields[key])
        if out is _NOT_COERCIBLE:
            raise ConfigError(f"config key {dotted!r} expects {_type_name(fields[key])}, "
                              f"got {_given_name(value)} {value!r}")
        values[key] = out
    try:
        return cls(**values)
    except OptionError as exc:  # an env option's own check (liftrl.sim.options), named by its key
        raise ConfigError(f"config key '{section}.{exc.key}': {exc}") from None


# ---------------------------------------------------------------------------------------------- checks
_POSITIVE_INTS = {
    "env": ("num_envs",),
    "replay": ("capacity",),
    "train": ("log_every", "eval_every", "snapshot_every", "eval_episodes"),
}
_POSITIVE_AGENT_INTS = ("batch_size", "n_step", "update_every_steps", "updates_per_step", "hidden_dim",
                        "diagnostics_every")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _check_agent(agent: AgentConfig) -> AgentConfig:
    """The agent section's own rules: they need nothing from the rest of the config."""
    for name in _POSITIVE_AGENT_INTS:
        if hasattr(agent, name) and getattr(agent, name) < 1:
            raise ConfigError(f"config key 'agent.{name}' must be >= 1, got {getattr(agent, name)}")
    if not agent.lr > 0.0:
        raise ConfigError(f"config key 'agent.lr' must be > 0, got {agent.lr}")
    if not getattr(agent, "reward_scale", 1.0) > 0.0:  # the student has no reward, n-step or critic
        raise ConfigError(f"config key 'agent.reward_scale' must be > 0, got {agent.reward_scale}")
    if not 0.0 < getattr(agent, "gamma", 1.0) <= 1.0:
        raise ConfigError(f"config key 'agent.gamma' must be in (0, 1], got {agent.gamma}")
    if not getattr(agent, "aux_cube_weight", 0.0) >= 0.0:
        raise ConfigError(f"config key 'agent.aux_cube_weight' must be >= 0, got {agent.aux_cube_weight}")
    if getattr(agent, "aux_feeds_actor", False) and not agent.aux_cube_weight > 0:
        raise ConfigError("config key 'agent.aux_feeds_actor' needs agent.aux_cube_weight > 0: the actor would read "
                          "a cube guess that nothing trains")
    if getattr(agent, "aux_cube_frame", "world") not in AUX_CUBE_FRAMES:
        raise ConfigError(f"config key 'agent.aux_cube_frame' must be one of {list(AUX_CUBE_FRAMES)}, "
                          f"got {agent.aux_cube_frame!r}")
    if getattr(agent, "aux_cube_frame", "world") != "world" and not agent.aux_cube_weight > 0:
        raise ConfigError("config key 'agent.aux_cube_frame' needs agent.aux_cube_weight > 0: it sets the axes of a "
                          "cube guess that nothing trains")
    if getattr(agent, "encoder_keypoints", 0) < 0:
        raise ConfigError(f"config key 'agent.encoder_keypoints' must be 0 (DrQ-v2's flattened map) or a number of "
                          f"keypoints, got {agent.encoder_keypoints}")
    if agent.name == "drqv2":
        try:
            parse_schedule(agent.stddev_schedule)
        except ValueError as exc:
            raise ConfigError(f"config key 'agent.stddev_schedule': {exc}") from None
    return agent


def _check_counts(cfg: Config) -> None:
    """Counts, budgets, seeds and the device: each a rule about one key."""
    for section, names in _POSITIVE_INTS.items():
        part = getattr(cfg, section)
        for name in names:
            if getattr(part, name) < 1:
                raise ConfigError(f"config key '{section}.{name}' must be >= 1, got {getattr(part, name)}")
    if cfg.env.num_workers is not None and cfg.env.num_workers < 0:
        raise ConfigError(f"config key 'env.num_workers' must be >= 0 (0: in the training process) or null "
                          f"(the faster path for the config), got {cfg.env.num_workers}")
    if not cfg.env.worker_timeout_s > 0:
        raise ConfigError(f"config key 'env.worker_timeout_s' must be > 0 seconds, got {cfg.env.worker_timeout_s}")
    if cfg.env.max_worker_restarts < 0:
        raise ConfigError(f"config key 'env.max_worker_restarts' must be >= 0, got {cfg.env.max_worker_restarts}")
    train = cfg.train
    if not train.max_minutes >= 0:
        raise ConfigError(f"config key 'train.max_minutes' must be >= 0 (0: no budget), got {train.max_minutes}")
    for name in ("seed", "seed_steps", "total_env_steps", "video_episodes", "torch_threads"):
        if getattr(train, name) < 0:
            raise ConfigError(f"config key 'train.{name}' must be >= 0, got {getattr(train, name)}")
    if train.seed >= MAX_TRAIN_SEED:
        raise ConfigError(f"config key 'train.seed' must be < {MAX_TRAIN_SEED}, got {train.seed}: training envs "
                          f"are seeded from seed * {TRAIN_SEED_STRIDE} upward and must stay below the evaluation seeds")
    if not _DEVICE_RE.match(train.device):
        raise ConfigError(f"config key 'train.device' must be auto, cpu, cuda or cuda:N, got {train.device!r}")


def _check_roles(cfg: Config) -> None:
    """What the actor and critic read: known keys, no leak of simulation-only keys, fit for the agent."""
    for role in ("actor", "critic"):
        keys = getattr(cfg.obs, role)
        for key in keys:
            if key not in OBSERVATION_KEYS:
                raise _unknown_value(f"obs.{role}", key, list(OBSERVATION_KEYS))
        if len(set(keys)) != len(keys):
            raise ConfigError(f"config key 'obs.{role}' lists a key twice: {list(keys)}")
        if not keys and not (role == "critic" and cfg.agent.name == "student"):
            raise ConfigError(f"config key 'obs.{role}' is empty: the {role} must read at least one observation")
    leaked = [k for k in cfg.obs.actor if k in SIM_ONLY_KEYS]
    if leaked and not cfg.obs.allow_privileged_actor:
        raise ConfigError(
            f"obs.actor reads {leaked} (privileged: known only in simulation), so the policy could never run on "
            f"the real arm, which provides only {list(REAL_ARM_KEYS)}; give the privileged keys to obs.critic, "
            f"or set obs.allow_privileged_actor=true for a simulation-only study"
        )
    for role in ("actor", "critic"):
        keys = list(getattr(cfg.obs, role))
        if cfg.agent.name == "drqv2" and "pixels" not in keys:
            raise ConfigError(f"the drqv2 agent learns from pixels: obs.{role} must include 'pixels', got {keys}")
        if cfg.agent.name == "sac" and "pixels" in keys:
            raise ConfigError(f"the sac agent learns from low-dimensional keys only: remove 'pixels' from "
                              f"obs.{role} or use agent.name=drqv2")


def _fill_observations(cfg: Config) -> Config:
    """``env.observations`` empty -> the union of the roles; given -> it must provide what they read."""
    needed = [k for k in OBSERVATION_KEYS if k in cfg.obs.actor or k in cfg.obs.critic]
    if not cfg.env.observations:
        return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, observations=tuple(needed)))
    missing = [k for k in needed if k not in cfg.env.observations]
    if missing:
        raise ConfigError(f"obs.actor/obs.critic read {missing}, which env.observations "
                          f"{list(cfg.env.observations)} does not provide (leave env.observations empty "
                          f"to use the union of the two roles)")
    return cfg


def _check(cfg: Config) -> Config:
    """Rules that span fields (each env option checks itself, see ``liftrl.sim.options``); returns
    ``cfg`` with ``env.observations`` filled in."""
    _check_counts(cfg)
    _check_agent(cfg.agent)
    _check_student(cfg)  # before the general rules: the student's refusals are more specific
    _check_roles(cfg)
    _check_teacher_options(cfg)
    return _fill_observations(cfg)


def _check_student(cfg: Config) -> None:
    """A distilled student is meant for the real arm: no opt-out lets it read simulation-only keys."""
    student = cfg.agent.name == "student"
    if student != (cfg.distill is not None):
        raise ConfigError("a 'distill' section goes with agent.name=student and nothing else: the student learns "
                          "from a teacher with `liftrl distill TEACHER_RUN`, every other agent with `liftrl train`")
    if not student:
        return
    leaked = [k for k in cfg.obs.actor if k in SIM_ONLY_KEYS]
    if leaked:
        raise ConfigError(f"obs.actor reads {leaked}: the student must run on the real arm, which provides only "
                          f"{list(REAL_ARM_KEYS)}; only its teacher reads privileged keys "
                          f"(obs.allow_privileged_actor does not apply to the student)")
    if "pixels" not in cfg.obs.actor:
        raise ConfigError(f"the student learns from pixels: obs.actor must include 'pixels', got {list(cfg.obs.actor)}")
    if cfg.obs.critic:
        raise ConfigError(f"the student has no critic: set obs.critic=[] (got {list(cfg.obs.critic)}); its labels "
                          f"come from the teacher, and agent.aux_cube_weight > 0 adds the cube position as a target")
    distill_cfg = cfg.distill
    for name in ("rounds", "steps_per_round", "updates_per_round", "eval_every_rounds"):
        if getattr(distill_cfg, name) < 1:
            raise ConfigError(f"config key 'distill.{name}' must be >= 1, got {getattr(distill_cfg, name)}")
    if isinstance(distill_cfg.update_threads, bool) or not (isinstance(distill_cfg.update_threads, int)
                                                            and distill_cfg.update_threads >= 0):
        raise ConfigError(f"config key 'distill.update_threads' must be an integer >= 0 (0: every usable core), "
                          f"got {distill_cfg.update_threads!r}")
    _check_moved_cube(cfg)
    error = cfg.env.privileged_cube_error_m
    if error:
        raise ConfigError(f"config key 'env.privileged_cube_error_m' is {error} in a student's config: the "
                          f"teacher's labels and the cube target read the env's privileged cube, which must be "
                          f"the true one (set it on the teacher's run only)")
    try:
        beta = parse_schedule(distill_cfg.beta_schedule)
    except ValueError as exc:
        raise ConfigError(f"config key 'distill.beta_schedule': {exc}") from None
    if not all(0.0 <= beta(round_index) <= 1.0 for round_index in range(distill_cfg.rounds)):
        raise ConfigError(f"config key 'distill.beta_schedule' must stay in [0, 1] (a probability), "
                          f"got {distill_cfg.beta_schedule!r}")


def _check_moved_cube(cfg: Config) -> None:
    """``distill.moved_cube_*`` in range; whether the teacher and the dataset allow views is checked at start."""
    distill_cfg = cfg.distill
    views, shift, fraction = (distill_cfg.moved_cube_views, distill_cfg.moved_cube_shift_m,
                              distill_cfg.moved_cube_batch_fraction)
    if views < 0:
        raise ConfigError(f"config key 'distill.moved_cube_views' must be >= 0 (0: off), got {views}")
    if not 0.0 < shift <= 0.2:
        raise ConfigError(f"config key 'distill.moved_cube_shift_m' must be in (0, 0.2] m, got {shift}")
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"config key 'distill.moved_cube_batch_fraction' must be in (0, 1): the rest of each "
                          f"batch comes from the rollouts, got {fraction}")
    if views and round(cfg.agent.batch_size * fraction) < 1:
        raise ConfigError(f"config key 'distill.moved_cube_batch_fraction' {fraction} of agent.batch_size "
                          f"{cfg.agent.batch_size} is no row: raise one of them")


def _check_teacher_options(cfg: Config) -> None:
    """Demos, the collapse guard and the SAC options against collapse."""
    t, r = cfg.train, cfg.replay
    if t.demos < 0:
        raise ConfigError(f"config key 'train.demos' must be >= 0, got {t.demos}")
    if not 0.0 <= r.demo_fraction <= 1.0:
        raise ConfigError(f"config key 'replay.demo_fraction' must be in [0, 1], got {r.demo_fraction}")
    if (t.demos > 0) != (r.demo_fraction > 0):
        raise ConfigError(f"train.demos={t.demos} and replay.demo_fraction={r.demo_fraction} must be set together: "
                          f"demos that no batch samples, or a demo share with no demos, is a config mistake")
    if not 0.0 < t.guard_lcb_drop <= 1.0:
        raise ConfigError(f"config key 'train.guard_lcb_drop' must be in (0, 1], got {t.guard_lcb_drop}")
    if not t.guard_q_factor >= 1.0:
        raise ConfigError(f"config key 'train.guard_q_factor' must be >= 1, got {t.guard_q_factor}")
    if t.guard_max_restores < 0:
        raise ConfigError(f"config key 'train.guard_max_restores' must be >= 0, got {t.guard_max_restores}")
    if not 0.0 < t.guard_lr_scale <= 1.0:
        raise ConfigError(f"config key 'train.guard_lr_scale' must be in (0, 1], got {t.guard_lr_scale}")
    for name in ("alpha_min", "grad_clip"):
        if hasattr(cfg.agent, name) and not getattr(cfg.agent, name) >= 0.0:
            raise ConfigError(f"config key 'agent.{name}' must be >= 0 (0: off), got {getattr(cfg.agent, name)}")


def _unknown_value(key: str, value: str, choices: list[str]) -> ConfigError:
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"config key {key!r}: unknown value {value!r}, choose from {choices}{hint}")


# ---------------------------------------------------------------------------------------------- building
def config_from_dict(raw: Mapping[str, Any]) -> Config:
    """A checked ``Config`` from nested plain values (as read from YAML)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a config is a mapping of sections {list(SECTION_ORDER)}, got {_given_name(raw)}")
    agent_raw = raw.get("agent") or {}
    if not isinstance(agent_raw, Mapping):
        raise ConfigError(f"config section 'agent' must be a mapping, got {_given_name(agent_raw)}")
    agent_name = agent_raw.get("name", DEFAULT_AGENT)
    if agent_name not in AGENT_CONFIGS:
        raise _unknown_value("agent.name", agent_name, sorted(AGENT_CONFIGS))
    parts: dict[str, Any] = {}
    for section, value in raw.items():
        if section not in SECTION_ORDER:
            close = difflib.get_close_matches(str(section), SECTION_ORDER, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config section {section!r}{hint} (sections: {list(SECTION_ORDER)})")
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"config section {section!r} must be a mapping of keys, got {_given_name(value)}")
        cls = AGENT_CONFIGS[agent_name] if section == "agent" else SECTIONS[section]
        parts[section] = _build(cls, value, section, agent_name)
    if "agent" not in parts:
        parts["agent"] = AGENT_CONFIGS[agent_name]()
    return _check(Config(**parts))


def agent_config_from_dict(raw: Mapping[str, Any]) -> AgentConfig:
    """The checked agent section alone (e.g. from a snapshot's metadata), picked by ``raw["name"]``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config section 'agent' must be a mapping, got {_given_name(raw)}")
    name = raw.get("name", DEFAULT_AGENT)
    if name not in AGENT_CONFIGS:
        raise _unknown_value("agent.name", name, sorted(AGENT_CONFIGS))
    return _check_agent(_build(AGENT_CONFIGS[name], raw, "agent", name))


def env_config_from_dict(raw: Mapping[str, Any]) -> EnvConfig:
    """The env section alone (e.g. from a snapshot's metadata), each option checked by its own rule."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config section 'env' must be a mapping, got {_given_name(raw)}")
    return _build(EnvConfig, raw, "env")


def env_with(env: EnvConfig, values: Mapping[str, Any]) -> EnvConfig:
    """``env`` with some options replaced, each checked as if read from a config (``env.KEY`` named on error)."""
    raw = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(env).items()}
    unknown = sorted(set(values) - set(raw))
    if unknown:
        raise _unknown(f"env.{unknown[0]}", [f"env.{k}" for k in raw])
    return env_config_from_dict({**raw, **dict(values)})


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> (["a", "b"], value parsed as a YAML scalar or flow list)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, _, value_text = text.partition("=")
    path = key.strip().split(".")
    if len(path) != 2 or not all(path):
        raise ConfigError(f"override {text!r}: the key must be section.key (e.g. agent.batch_size), got {key!r}")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({exc.problem})") from None
    return path, value


def apply_overrides(raw: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = {k: dict(v or {}) if isinstance(v, Mapping) else v for k, v in (raw or {}).items()}
    for text in overrides:
        (section, key), value = parse_override(text)
        if section not in SECTION_ORDER:
            agent_name = (out.get("agent") or {}).get("name", DEFAULT_AGENT)
            raise _unknown(f"{section}.{key}", _all_keys(agent_name))
        part = out.setdefault(section, {})
        if not isinstance(part, dict):
            raise ConfigError(f"config section {section!r} must be a mapping of keys, got {_given_name(part)}")
        part[key] = value
    return out


# What a key absent from a *saved* run's config.yaml meant when that run was written: a run folder's
# config.yaml holds every field, so a missing one is a field added since, and its new default may
# change what the run does. Resume, eval and sweep trials read saved configs with these filled in.
SAVED_RUN_DEFAULTS: dict[str, dict[str, Any]] = {
    "env": {"command_lead_rad": []},  # runs before the env's lead cap trained without one
}


def _fill_saved_run(raw: Mapping) -> dict:
    out = dict(raw)
    for section, defaults in SAVED_RUN_DEFAULTS.items():
        if isinstance(out.get(section), Mapping):
            out[section] = {**defaults, **out[section]}
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                saved_run: bool = False) -> Config:
    """The config in ``path`` (YAML; None -> built-in defaults) with ``overrides`` applied, checked.

    ``saved_run``: ``path`` is a run folder's config.yaml; keys it lacks read as ``SAVED_RUN_DEFAULTS``."""
    raw: Any = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: a config is a mapping of sections {list(SECTION_ORDER)}, "
                              f"got {_given_name(raw)}")
    if saved_run:
        raw = _fill_saved_run(raw)
    try:
        return config_from_dict(apply_overrides(raw, list(overrides or [])))
    except ConfigError as exc:
        where = f" (in {path})" if path is not None else ""
        raise ConfigError(f"{exc}{where}") from None


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Nested plain values (lists, not tuples) in section order: YAML- and JSON-ready."""
    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {section: {k: plain(v) for k, v in dataclasses.asdict(getattr(cfg, section)).items()}
            for section in SECTION_ORDER if getattr(cfg, section) is not None}


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config (every default filled in) as YAML that ``load_config`` reads back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Resolved liftrl config: every key, defaults filled in. Load it with liftrl.config.load_config.\n"
    text += yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
