"""Start, resume and summarise a sweep on Ray Tune (local by default, a cluster with ``address``).

Tune does the scheduling, placement, restarts (``FailureConfig``), ASHA and PBT; this module only
translates a ``SweepSpec`` into Tune's terms. Tune's experiment state goes to ``<sweep>/tune``
and every trial's run folder to ``<sweep>/<trial name>``: on a cluster the sweep folder must be
on storage every node mounts at the same path (NFS or similar), because trials write their run
folders there directly and a restarted trial may land on another node.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

from liftrl.sweep.spec import TUNE_DIR, Search, SweepSpec, load_spec, save_spec, trial_name
from liftrl.sweep.trial import run_trial


@dataclass(frozen=True)
class TrialOutcome:
    name: str
    status: str
    env_steps: int | None
    metric: float | None
    error: str | None


def _domain(s: Search):
    if s.kind == "choice":
        return tune.choice(list(s.args))
    return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[s.kind](*s.args)


def param_space(spec: SweepSpec) -> dict[str, Any]:
    space: dict[str, Any] = {"train.seed": tune.grid_search(list(spec.seeds))}
    for key, values in spec.grid:
        space[key] = tune.grid_search(list(values))
    for s in spec.search:
        space[s.key] = _domain(s)
    return space


def make_scheduler(spec: SweepSpec):
    """Tune's own schedulers; ``env_steps`` is the clock so trials of any speed compare fairly."""
    if spec.scheduler == "asha":
        return ASHAScheduler(time_attr="env_steps", metric=spec.metric, mode="max", max_t=spec.total_env_steps,
                             grace_period=spec.eval_every, reduction_factor=3)
    if spec.scheduler == "pbt":
        mutations: dict[str, Any] = {}
        for key, values in spec.grid:
            if key in spec.perturb:
                mutations[key] = list(values)
        for s in spec.search:
            if s.key in spec.perturb:
                mutations[s.key] = list(s.args) if s.kind == "choice" else _domain(s)
        return PopulationBasedTraining(time_attr="env_steps", metric=spec.metric, mode="max",
                                       perturbation_interval=spec.eval_every, hyperparam_mutations=mutations)
    return FIFOScheduler()


def _name_trial(trial) -> str:
    index = int(trial.trial_id.rsplit("_", 1)[-1]) if "_" in trial.trial_id else 0
    keys = [k for k in trial.config if "." in k]
    return trial_name(index, {k: trial.config[k] for k in keys})


def _trainable(spec: SweepSpec, sweep_dir: Path):
    fn = tune.with_parameters(run_trial, spec=spec, sweep_dir=str(sweep_dir))
    return tune.with_resources(fn, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})


def _run_config(spec: SweepSpec, sweep_dir: Path, verbose: int) -> tune.RunConfig:
    return tune.RunConfig(
        name=TUNE_DIR, storage_path=str(sweep_dir), verbose=verbose,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # Only pointers: the snapshots themselves stay in the run folders. PBT needs the last few.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=4),
    )


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a ``HOST:PORT`` nobody listens on: Ray 2.60 would retry connecting to it for ever."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address {address!r}: expected auto or HOST:PORT (the head node's GCS port, 6379 by default)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ValueError(f"no Ray cluster reachable at --address {address} ({exc.strerror or exc}); start one with "
                         "`ray start --head` (and `ray start --address=HEAD:6379` on the other nodes)") from None


def _init_ray(address: str | None) -> bool:
    """Connect (``address``) or start Ray here; True when this call started it (so it shuts it down)."""
    if ray.is_initialized():
        return False
    if address:
        check_address(address)
        try:
            ray.init(address=address)
        except ConnectionError as exc:  # "auto" with no cluster running on this machine
            raise ValueError(f"--address {address}: {exc}") from None
    else:
        ray.init(include_dashboard=False)
    return True


def run_sweep(spec: SweepSpec, sweep_dir: str | os.PathLike, address: str | None = None,
              verbose: int = 1) -> list[TrialOutcome]:
    """Run every trial of ``spec`` to the end (or to ASHA's stop) and return their outcomes."""
    sweep_dir = Path(sweep_dir).resolve()
    if (sweep_dir / TUNE_DIR).exists():
        raise FileExistsError(f"{sweep_dir} already holds a sweep: continue it with --resume {sweep_dir}")
    save_spec(spec, sweep_dir)
    started = _init_ray(address)
    try:
        tuner = tune.Tuner(
            _trainable(spec, sweep_dir), param_space=param_space(spec),
            tune_config=tune.TuneConfig(num_samples=spec.samples, scheduler=make_scheduler(spec),
                                        trial_name_creator=_name_trial, trial_dirname_creator=_name_trial),
            run_config=_run_config(spec, sweep_dir, verbose))
        return outcomes(tuner.fit(), spec, sweep_dir)
    finally:
        if started:
            ray.shutdown()


def resume_sweep(sweep_dir: str | os.PathLike, address: str | None = None, verbose: int = 1) -> list[TrialOutcome]:
    """Continue an interrupted sweep: finished trials stay, the others continue from their snapshots."""
    sweep_dir = Path(sweep_dir).resolve()
    spec = load_spec(sweep_dir)
    started = _init_ray(address)
    try:
        path = str(sweep_dir / TUNE_DIR)
        if not tune.Tuner.can_restore(path):
            raise FileNotFoundError(f"{sweep_dir} has no Tune experiment state in {TUNE_DIR}/ to resume")
        tuner = tune.Tuner.restore(path, trainable=_trainable(spec, sweep_dir), resume_errored=True)
        return outcomes(tuner.fit(), spec, sweep_dir)
    finally:
        if started:
            ray.shutdown()


def outcomes(results, spec: SweepSpec, sweep_dir: Path) -> list[TrialOutcome]:
    """Each trial's end: OK (ran to the end), STOPPED (ASHA stopped it early), ERROR (out of
    restarts) or UNFINISHED (the sweep was interrupted: ``--resume`` continues it).

    Errors come from the results Tune returns; the other states from its saved experiment state
    (in 2.60 that file could still show an errored trial as pending, so it is not used for errors).
    """
    status = {Path(t.path).name: t.status for t in tune.ExperimentAnalysis(str(sweep_dir / TUNE_DIR)).trials}
    out = []
    for r in results:
        name = Path(r.path).name
        last = r.metrics or {}
        if r.error:
            state = "ERROR"
        elif status.get(name) == "TERMINATED":
            state = "OK" if last.get("final") else "STOPPED"
        else:
            state = "UNFINISHED"
        out.append(TrialOutcome(name=name, status=state, env_steps=last.get("env_steps"),
                                metric=last.get(spec.metric),
                                error=str(r.error).splitlines()[0][:200] if r.error else None))
    return sorted(out, key=lambda o: o.name)
