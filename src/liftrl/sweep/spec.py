"""What a sweep is, on disk and in memory: the base config, the seeds, the grid, the search space.

A sweep folder (``runs/sweeps/<name>/``) holds ``sweep.json`` (this spec, enough to rebuild and
resume the sweep), one ordinary run folder per trial (``config.yaml``, ``snapshots/``,
``metrics.jsonl``, ``tb/``, plus ``sweep_trial.json``: which trial, which parameters, which
attempts) and Ray Tune's own experiment state in ``tune/``.

Nothing here imports Ray, and torch only where a config is built: ``liftrl compare`` reads sweep
folders with this module alone, ``liftrl --help`` stays instant, and a bad ``--grid`` or
``--search`` is refused before Ray starts (it takes seconds to start).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from liftrl.common.files import write_json_atomic as common_write_json_atomic

if TYPE_CHECKING:
    from liftrl.config import Config

SWEEP_FILE = "sweep.json"
TRIAL_FILE = "sweep_trial.json"
PBT_LOG = "pbt.jsonl"
TUNE_DIR = "tune"
SEED_KEY = "train.seed"
SCHEDULERS = ("none", "asha", "pbt")
# What Tune ranks trials by (ASHA stops, PBT clones): evaluation figures where higher is better.
METRICS = ("success_rate", "success_lcb", "reward_mean", "hold_mean", "max_cube_z_mean")
SEARCH_KINDS = ("uniform", "loguniform", "randint", "choice")
# Keys a PBT exploit may change on a trial that continues from another trial's snapshot: each is
# read afresh by the loop or the agent after the restore (``agent.lr`` is written into the
# restored optimisers). Shapes, discounting and the env are fixed by the snapshot and the buffer.
PERTURBABLE = ("agent.lr", "agent.batch_size", "agent.reward_scale", "agent.critic_target_tau",
               "agent.updates_per_step", "agent.update_every_steps", "agent.actor_update_every",
               "agent.stddev_clip", "agent.stddev_schedule")
_SEARCH_RE = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$")


class SweepError(ValueError):
    """A sweep that cannot be run as asked; the message names the option and the problem."""


@dataclass(frozen=True)
class Search:
    """One randomly sampled key: ``agent.lr=loguniform(1e-4,1e-3)``."""

    key: str
    kind: str
    args: tuple[Any, ...]

    def text(self) -> str:
        return f"{self.key}={self.kind}({','.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class SweepSpec:
    """A sweep, resolved: every trial's config is ``config`` with its parameters set."""

    name: str
    config: dict = field(repr=False)
    seeds: tuple[int, ...]
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    search: tuple[Search, ...] = ()
    samples: int = 1
    scheduler: str = "none"
    metric: str = "success_rate"
    perturb: tuple[str, ...] = ()
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 3

    @property
    def keys(self) -> tuple[str, ...]:
        """The parameters that tell trials apart: the seed, then grid keys, then searched keys."""
        return (SEED_KEY, *(k for k, _ in self.grid), *(s.key for s in self.search))

    @property
    def num_trials(self) -> int:
        return len(self.seeds) * math.prod(len(v) for _, v in self.grid) * self.samples

    @property
    def eval_every(self) -> int:
        return int(self.config["train"]["eval_every"])

    @property
    def total_env_steps(self) -> int:
        return int(self.config["train"]["total_env_steps"])


def parse_value(text: str) -> Any:
    """A value as a YAML scalar, the way ``key=value`` overrides read it (``1e-3`` -> 0.001)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SweepError(f"{text!r} is not a valid value") from None
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d*\.?\d+[eE][-+]?\d+", value):
        return float(value)  # YAML 1.1 reads '1e-3' (no dot) as a string
    return value


def _split_key(text: str, option: str) -> tuple[str, str]:
    if "=" not in text:
        raise SweepError(f"{option} {text!r}: expected section.key=...")
    key, _, rest = text.partition("=")
    key = key.strip()
    if len(key.split(".")) != 2 or not all(key.split(".")):
        raise SweepError(f"{option} {text!r}: the key must be section.key (e.g. agent.lr), got {key!r}")
    if key == SEED_KEY:
        raise SweepError(f"{option} {text!r}: seeds are set with --seeds N, not as a {option} key")
    return key, rest


def parse_grid(text: str) -> tuple[str, tuple[Any, ...]]:
    """``agent.lr=1e-4,3e-4`` -> ("agent.lr", (0.0001, 0.0003))."""
    key, rest = _split_key(text, "--grid")
    values = tuple(parse_value(v.strip()) for v in rest.split(",") if v.strip())
    if not values:
        raise SweepError(f"--grid {text!r}: give at least one value, e.g. {key}=1,2")
    if len(set(map(repr, values))) != len(values):
        raise SweepError(f"--grid {text!r}: a value is listed twice")
    return key, values


def parse_search(text: str) -> Search:
    """``agent.lr=loguniform(1e-4,1e-3)``; kinds: uniform, loguniform, randint (high excluded), choice."""
    key, rest = _split_key(text, "--search")
    m = _SEARCH_RE.match(rest)
    if not m or m.group(1) not in SEARCH_KINDS:
        raise SweepError(f"--search {text!r}: expected {key}=KIND(a,b) with KIND one of {', '.join(SEARCH_KINDS)}")
    kind = m.group(1)
    args = tuple(parse_value(a.strip()) for a in m.group(2).split(",") if a.strip())
    if kind == "choice":
        if not args:
            raise SweepError(f"--search {text!r}: choice needs at least one value")
        return Search(key, kind, args)
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise SweepError(f"--search {text!r}: {kind} takes two numbers (low, high)")
    low, high = args
    if not low < high:
        raise SweepError(f"--search {text!r}: low must be below high")
    if kind == "loguniform" and low <= 0:
        raise SweepError(f"--search {text!r}: loguniform needs low > 0")
    if kind == "randint" and not (isinstance(low, int) and isinstance(high, int)):
        raise SweepError(f"--search {text!r}: randint takes whole numbers")
    return Search(key, kind, (low, high))


def search_example(s: Search) -> Any:
    """A value inside the search space, to check the key and type before any trial runs."""
    if s.kind in ("choice", "randint"):
        return s.args[0]
    if s.kind == "loguniform":
        return math.sqrt(s.args[0] * s.args[1])
    return (s.args[0] + s.args[1]) / 2


def with_params(config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (nested dict) with each dotted parameter set."""
    raw = copy.deepcopy(dict(config))
    for dotted, value in params.items():
        section, key = dotted.split(".")
        raw.setdefault(section, {})[key] = value
    return raw


def trial_config(spec: SweepSpec, params: Mapping[str, Any]) -> Config:
    """The checked config of the trial with these parameters."""
    from liftrl.config import config_from_dict  # imported here: it loads the agents (torch)

    return config_from_dict(with_params(spec.config, params))


def _resource_defaults(raw: dict, cpus: float) -> dict:
    """The loop's "per core" defaults, counted on the trial's ``cpus`` cores instead of the whole node.

    Env workers: as the loop chooses them (in-process for state-only configs with few envs or one
    core, else one per core, at most one per env); torch threads: the cores they leave, at least
    one (as the loop's ``auto_threads``). More torch threads than free cores made SAC updates far
    slower on a loaded 2-core machine (docs/performance.md).
    """
    from liftrl.sim.inprocess import choose_workers  # lazy: reading a sweep folder needs no simulator

    cores = max(1, int(cpus))
    train, env = raw["train"], raw["env"]
    if env.get("num_workers") is None:
        env["num_workers"], _ = choose_workers(int(env["num_envs"]), _observations(raw), None, cores=cores)
    if not train.get("torch_threads"):
        train["torch_threads"] = max(1, cores - int(env["num_workers"]))
    train["progress"] = False  # many trials share one terminal: Tune's table reports progress
    return raw


def _observations(raw: dict) -> tuple[str, ...]:
    """The observation keys a trial's envs produce: ``env.observations``, else the union of the roles.
    Unknown (no roles in the raw config) counts as pixels, so the worker path is kept."""
    listed = raw.get("env", {}).get("observations") or []
    roles = raw.get("obs", {})
    keys = set(listed) | set(roles.get("actor") or []) | set(roles.get("critic") or [])
    return tuple(sorted(keys)) if keys else ("pixels",)


def _check_values(raw: dict, grid: tuple, search: tuple[Search, ...]) -> None:
    """Build the config with every grid value and a value from each search space: a bad key or type
    is refused now, naming it, rather than in every trial after Ray started."""
    from liftrl.config import ConfigError, config_from_dict

    trials = [(k, v) for k, values in grid for v in values] + [(s.key, search_example(s)) for s in search]
    for key, value in trials:
        try:
            config_from_dict(with_params(raw, {key: value}))
        except ConfigError as exc:
            raise SweepError(f"sweep key {key}={value}: {exc}") from None


def build_spec(name: str, base: Config, seeds: int, grid: list[str], search: list[str], samples: int = 1,
               scheduler: str = "none", metric: str = "success_rate", perturb: list[str] | None = None,
               cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, max_failures: int = 3) -> SweepSpec:
    """Check every option against the config and return the spec (nothing runs yet)."""
    from liftrl.config import config_to_dict  # imported here: it loads the agents (torch)

    if seeds < 1:
        raise SweepError(f"--seeds must be >= 1, got {seeds}")
    if samples < 1:
        raise SweepError(f"--samples must be >= 1, got {samples}")
    if scheduler not in SCHEDULERS:
        raise SweepError(f"--scheduler {scheduler!r}: choose one of {', '.join(SCHEDULERS)}")
    if metric not in METRICS:
        raise SweepError(f"--metric {metric!r}: choose one of {', '.join(METRICS)}")
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise SweepError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise SweepError(f"sweep name {name!r}: use letters, digits, '_', '-', '.'")
    grid_items = tuple(parse_grid(g) for g in grid)
    search_items = tuple(parse_search(s) for s in search)
    if samples > 1 and not search_items:
        raise SweepError(f"--samples {samples} draws the --search keys; without --search every sample would repeat "
                         "the same trials (use --seeds for repeats)")
    keys = [k for k, _ in grid_items] + [s.key for s in search_items]
    if len(set(keys)) != len(keys):
        raise SweepError(f"a key is given twice in --grid/--search: {keys}")
    raw = config_to_dict(base)
    if scheduler == "pbt":
        # PBT clones the snapshot saved at an evaluation: every evaluation must save one.
        raw["train"]["snapshot_every"] = raw["train"]["eval_every"]
    raw = _resource_defaults(raw, cpus_per_trial)
    first_seed = int(raw["train"]["seed"])
    _check_values(raw, grid_items, search_items)
    chosen = tuple(perturb) if perturb else (tuple(keys) if scheduler == "pbt" else ())
    _check_perturb(chosen, keys, scheduler)
    return SweepSpec(name=name, config=raw, seeds=tuple(range(first_seed, first_seed + seeds)), grid=grid_items,
                     search=search_items, samples=samples, scheduler=scheduler, metric=metric, perturb=chosen,
                     cpus_per_trial=float(cpus_per_trial), gpus_per_trial=float(gpus_per_trial),
                     max_failures=int(max_failures))


def _check_perturb(perturb: tuple[str, ...], keys: list[str], scheduler: str) -> None:
    if perturb and scheduler != "pbt":
        raise SweepError("--perturb is for --scheduler pbt")
    if scheduler == "pbt" and not perturb:
        raise SweepError("--scheduler pbt needs keys to perturb: give them with --grid or --search "
                         "(e.g. --search agent.lr=loguniform(1e-4,1e-3))")
    for key in perturb:
        if key not in keys:
            raise SweepError(f"--perturb {key}: PBT draws new values from the key's --grid or --search "
                             f"space; give one for {key}")
        if key not in PERTURBABLE:
            raise SweepError(f"--perturb {key}: cannot change on a run that continues from a snapshot; "
                             f"perturbable keys: {', '.join(PERTURBABLE)}")


# ---------------------------------------------------------------------------------------------- files
def save_spec(spec: SweepSpec, sweep_dir: Path) -> Path:
    """Write ``sweep.json`` atomically."""
    path = Path(sweep_dir) / SWEEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(spec), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_spec(sweep_dir: str | os.PathLike) -> SweepSpec:
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{sweep_dir} has no {SWEEP_FILE}: not a liftrl sweep folder")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return SweepSpec(
            name=raw["name"], config=raw["config"], seeds=tuple(raw["seeds"]),
            grid=tuple((k, tuple(v)) for k, v in raw["grid"]),
            search=tuple(Search(s["key"], s["kind"], tuple(s["args"])) for s in raw["search"]),
            samples=int(raw["samples"]), scheduler=raw["scheduler"], metric=raw["metric"],
            perturb=tuple(raw["perturb"]), cpus_per_trial=float(raw["cpus_per_trial"]),
            gpus_per_trial=float(raw["gpus_per_trial"]), max_failures=int(raw["max_failures"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise SweepError(f"{path} is not a readable sweep spec ({type(exc).__name__}: {exc})") from None


def is_sweep_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def read_trial_record(run_dir: str | os.PathLike) -> dict | None:
    """A trial run folder's ``sweep_trial.json`` (None where the folder is not a sweep trial)."""
    path = Path(run_dir) / TRIAL_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path} is not valid JSON ({exc})") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Sweep records: sorted keys, one-space indent (diffable by hand)."""
    common_write_json_atomic(path, data, indent=1, sort_keys=True)


def trial_name(index: int, params: Mapping[str, Any]) -> str:
    """A readable, filesystem-safe, unique name: ``003_seed=1_lr=0.0003``."""
    parts = [f"{index:03d}"]
    for key, value in params.items():
        short = key.split(".")[-1]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{short}={text}")
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", "_".join(parts))
