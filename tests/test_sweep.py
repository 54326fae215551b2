"""``liftrl sweep`` on Ray Tune and ``liftrl compare SWEEP_DIR``.

The Ray tests share one local Ray (2 CPUs, started once, shut down after) and a 2-trial sweep of
the tiny SAC config. The kill-and-recover test SIGKILLs a trial's worker process twice: Tune
restarts it once (FailureConfig), the second death ends the sweep with the trial errored, and
``--resume`` finishes it; its metrics must equal an uninterrupted trial's row for row. The
parsing, PBT file-side and aggregation tests need no Ray and always run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from liftrl.cli import build_parser
from liftrl.config import load_config
from liftrl.report import sweep as agg
from liftrl.sweep import pbt
from liftrl.sweep.spec import (SEED_KEY, SweepError, build_spec, load_spec, parse_grid, parse_search, save_spec,
                               trial_name)
from liftrl.train.scoring import wilson_lower_bound
from liftrl.train.metrics import TIMING_KEYS, read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny_sac.yaml"
# Exact resume needs the replay buffer in the snapshot.
OVERRIDES = ["train.total_env_steps=400", "train.eval_every=100", "train.snapshot_every=100",
             "train.video_episodes=0", "replay.save_with_snapshot=true"]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Tune is the [sweep] extra (pip install 'liftrl[sweep]'); .ci/run installs it")


def cli(*argv) -> int:
    args = build_parser().parse_args([str(a) for a in argv])
    return args.func(args)


def comparable(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in read_metrics(path)]


def assert_same_rows(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys(), x["step"]
        for k in x:
            if isinstance(x[k], float):
                assert x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-6), (x["step"], k)
            else:
                assert x[k] == y[k], (x["step"], k)


# ---------------------------------------------------------------------------------- Ray sweeps
@pytest.fixture(scope="module")
def local_ray():
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # CI has no network to report to
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def two_seeds(local_ray, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweeps")
    assert cli("sweep", TINY, *OVERRIDES, "--seeds", 2, "--cpus-per-trial", 1, "--runs", root, "--name", "e2e") == 0
    return root / "sweeps" / "e2e"


@pytest.mark.slow
@needs_ray
def test_two_trial_sweep_leaves_ordinary_run_folders_and_reports_each_eval_to_tune(two_seeds):
    spec = load_spec(two_seeds)
    assert spec.seeds == (0, 1) and spec.num_trials == 2
    trials = sorted(p for p in two_seeds.iterdir() if (p / "sweep_trial.json").is_file())
    assert [t.name for t in trials] == ["000_seed=0", "001_seed=1"]
    for seed, run in enumerate(trials):
        cfg = load_config(str(run / "config.yaml"))
        assert cfg.train.seed == seed and cfg.train.total_env_steps == 400 and cfg.train.torch_threads == 1
        assert (run / "snapshots" / "latest.pt").is_file() and (run / "snapshots" / "best.pt").is_file()
        assert any((run / "tb").iterdir())
        evals = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "eval"]
        assert [r["step"] for r in evals] == [100, 200, 300, 400]
        # Tune received each evaluation, with the figures the run logged.
        results = [json.loads(line) for line in (two_seeds / "tune" / run.name / "result.json").read_text().splitlines()]
        assert [r["env_steps"] for r in results] == [100, 200, 300, 400]
        assert [r["reward_mean"] for r in results] == pytest.approx([r["eval/reward_mean"] for r in evals])
        record = json.loads((run / "sweep_trial.json").read_text())
        assert record["params"] == {SEED_KEY: seed} and [a["start"] for a in record["attempts"]] == ["fresh"]
    seed0 = comparable(trials[0] / "metrics.jsonl")
    assert seed0 != comparable(trials[1] / "metrics.jsonl")  # the seeds really differ


def _kill_twice(run_dir: Path, done: threading.Event, killed: list) -> None:
    """SIGKILL the trial's worker whenever it has logged past its latest snapshot; twice, once per attempt."""
    while not done.is_set() and len(killed) < 2:
        time.sleep(0.05)
        try:
            record = json.loads((run_dir / "sweep_trial.json").read_text())
            rows = read_metrics(run_dir / "metrics.jsonl")
        except (OSError, ValueError):
            continue
        attempts = record["attempts"]
        if len(attempts) != len(killed) + 1:
            continue
        snaps = [int(p.stem.split("_")[1]) for p in (run_dir / "snapshots").glob("step_*.pt")]
        latest = max(snaps, default=None)
        ahead = [r["step"] for r in rows if r["kind"] == "train" and latest is not None and r["step"] > latest]
        if ahead and max(ahead) < 400:
            pid = attempts[-1]["pid"]
            os.kill(pid, signal.SIGKILL)
            while Path(f"/proc/{pid}").exists() and _alive(pid):
                time.sleep(0.01)
            # Read the newest snapshot once the process is gone: a save may have landed between the
            # read above and the kill, and the retry resumes from whatever is on disk.
            latest_ino = (run_dir / "snapshots" / "latest.pt").stat().st_ino
            resumes_from = [int(p.stem.split("_")[1]) for p in (run_dir / "snapshots").glob("step_*.pt")
                            if p.stat().st_ino == latest_ino]
            killed.append((pid, resumes_from[0]))


def _alive(pid: int) -> bool:
    """False once ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@needs_ray
def test_killed_trial_is_restarted_by_tune_then_resume_finishes_it_exactly(two_seeds, tmp_path):
    from liftrl.sweep.runner import resume_sweep, run_sweep

    base = load_config(str(TINY), OVERRIDES)
    spec = build_spec("kill", base, seeds=1, grid=[], search=[], max_failures=1)
    sweep_dir = tmp_path / "kill"
    run_dir = sweep_dir / "000_seed=0"
    done, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_twice, args=(run_dir, done, killed), daemon=True)
    watcher.start()
    try:
        first = run_sweep(spec, sweep_dir, verbose=0)
        # Killed once: Tune restarted it from its own snapshot; killed again: out of retries.
        assert len(killed) == 2 and [o.status for o in first] == ["ERROR"]
        second = resume_sweep(sweep_dir, verbose=0)
    finally:
        done.set()
        watcher.join()
    assert [o.status for o in second] == ["OK"] and second[0].env_steps == 400
    attempts = json.loads((run_dir / "sweep_trial.json").read_text())["attempts"]
    assert [a["start"] for a in attempts] == ["fresh", "resume", "resume"]
    assert [a["env_steps"] for a in attempts[1:]] == [step for _, step in killed]
    assert len({a["pid"] for a in attempts}) == 3
    rows = read_metrics(run_dir / "metrics.jsonl")
    for kind, every in (("train", 50), ("eval", 100)):
        assert [r["step"] for r in rows if r["kind"] == kind] == list(range(every, 401, every))  # no gap, no repeat
    assert_same_rows(comparable(run_dir / "metrics.jsonl"), comparable(two_seeds / "000_seed=0" / "metrics.jsonl"))


@needs_ray
@pytest.mark.slow
def test_an_address_nobody_listens_on_is_refused_at_once():
    import socket

    from liftrl.sweep.runner import check_address

    with socket.socket() as s:  # a loopback port that was free a moment ago, now closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match="no Ray cluster reachable"):
        check_address(f"127.0.0.1:{port}", timeout_s=1.0)
    with pytest.raises(ValueError, match="HOST:PORT"):
        check_address("headnode")


@needs_ray
@pytest.mark.slow
def test_compare_aggregates_a_real_sweep_over_its_seeds(two_seeds, tmp_path, capsys):
    out = tmp_path / "agg.png"
    assert cli("compare", two_seeds, "--out", out) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert [g["group"] for g in data["groups"]] == ["all seeds"]
    group = data["groups"][0]
    assert group["trials"] == ["000_seed=0", "001_seed=1"]
    rewards = {}
    for name in group["trials"]:
        for r in read_metrics(two_seeds / name / "metrics.jsonl"):
            if r["kind"] == "eval":
                rewards.setdefault(r["step"], []).append(r["eval/reward_mean"])
    for point in group["curve"]:
        a, b = rewards[point["step"]]
        assert point["reward"]["mean"] == pytest.approx((a + b) / 2)
        assert point["reward"]["ci95"] == pytest.approx(12.706 * abs(a - b) / 2)  # t(1) * sd / sqrt(2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## At each group's best, ranked" in capsys.readouterr().out


# ---------------------------------------------------------------------------------- no Ray needed
def test_sweep_options_are_checked_before_ray_starts():
    base = load_config(str(TINY))
    assert parse_grid("agent.lr=1e-4,3e-4") == ("agent.lr", (1e-4, 3e-4))
    assert parse_search("agent.lr=loguniform(1e-4,1e-3)").args == (1e-4, 1e-3)
    spec = build_spec("s", base, seeds=3, grid=["agent.batch_size=32,64"], search=["agent.lr=uniform(0.001,0.002)"],
                      samples=2)
    assert spec.num_trials == 12 and spec.keys == (SEED_KEY, "agent.batch_size", "agent.lr")
    assert spec.config["train"]["progress"] is False and spec.config["train"]["torch_threads"] == 1
    cases = [
        (dict(grid=["agent.bach_size=1,2"]), "agent.batch_size"),  # the closest valid key is named
        (dict(grid=["train.seed=1,2"]), "--seeds"),
        (dict(grid=["agent.batch_size=abc"]), "agent.batch_size"),
        (dict(search=["agent.lr=gauss(1,2)"]), "KIND"),
        (dict(search=["agent.lr=loguniform(0,1)"]), "low > 0"),
        (dict(scheduler="pbt"), "keys to perturb"),
        (dict(scheduler="pbt", grid=["agent.hidden_dim=32,64"]), "cannot change"),
        (dict(grid=["agent.lr=1e-3"], perturb=["agent.lr"]), "--scheduler pbt"),
        (dict(samples=3), "--search"),
    ]
    for kwargs, message in cases:
        with pytest.raises(SweepError, match=message):
            build_spec("s", base, seeds=1, **{"grid": [], "search": [], **kwargs})
    pbt_spec = build_spec("p", base, seeds=1, grid=["agent.lr=1e-3,2e-3"], search=[], scheduler="pbt")
    assert pbt_spec.perturb == ("agent.lr",) and pbt_spec.config["train"]["snapshot_every"] == base.train.eval_every
    assert trial_name(3, {SEED_KEY: 1, "agent.lr": 0.0003}) == "003_seed=1_lr=0.0003"


@pytest.mark.slow
def test_pbt_exploit_copies_the_strong_snapshot_and_logs_in_both_folders(tmp_path):
    from liftrl.train.loop import train

    strong = train(str(TINY), ["train.total_env_steps=100", "train.eval_every=100", "train.snapshot_every=100",
                               "train.video_episodes=0", "train.progress=false", "replay.save_with_snapshot=true"],
                   run_root=str(tmp_path / "runs"))
    sweep_dir = strong.parent
    weak = sweep_dir / "weak"
    pointer = pbt.Pointer(trial=strong.name, snapshot="step_000000100.pt", env_steps=100)
    copy = pbt.clone_snapshot(sweep_dir, pointer, weak, {"agent.lr": (0.001, 0.0012)})
    assert copy.read_bytes() == (strong / "snapshots" / "step_000000100.pt").read_bytes()
    assert os.path.samefile(weak / "snapshots" / "latest.pt", copy)
    assert (weak / "snapshots" / "replay_000000100.npz").is_file()
    there = [json.loads(x) for x in (weak / "pbt.jsonl").read_text().splitlines()]
    here = [json.loads(x) for x in (strong / "pbt.jsonl").read_text().splitlines()]
    assert there[0]["event"] == "exploit" and there[0]["from"] == strong.name
    assert here[0]["event"] == "cloned" and here[0]["to"] == "weak"
    assert there[0]["changed"] == here[0]["changed"] == {"agent.lr": [0.001, 0.0012]}
    with pytest.raises(SweepError, match="is gone"):
        pbt.clone_snapshot(sweep_dir, pbt.Pointer(strong.name, "step_000000999.pt", 999), weak, {})
    # The weak trial resumes from the copy with the perturbed lr in its restored optimisers.
    from liftrl.config import config_to_dict
    from liftrl.sweep.spec import with_params
    from liftrl.train.loop import build_trainer

    pbt.save_trial_config(weak, with_params(config_to_dict(load_config(str(strong / "config.yaml"))),
                                            {"agent.lr": 0.0012}))
    trainer = build_trainer(load_config(str(weak / "config.yaml")), weak, resume=True)
    def lrs():
        return {g["lr"] for opt in vars(trainer.agent).values() if isinstance(opt, torch.optim.Optimizer)
                for g in opt.param_groups}

    try:
        assert trainer.env_steps == 100
        assert lrs() == {0.001}  # a restored optimiser keeps the lr it was saved with...
        assert pbt.apply_learning_rate(trainer.agent, 0.0012) == 3  # SAC: actor, critic, temperature
        assert lrs() == {0.0012}  # ...so the exploit writes the perturbed one into it
    finally:
        trainer.close()


def _synthetic_sweep(root: Path, success: dict[tuple[float, int], list[float]]) -> Path:
    """A sweep folder written by hand: ``success[(lr, seed)]`` = success rates at steps 100, 200, 300."""
    base = load_config(str(TINY))
    spec = build_spec("syn", base, seeds=3, grid=["agent.lr=0.001,0.002"], search=[])
    sweep_dir = root / "syn"
    save_spec(spec, sweep_dir)
    for i, ((lr, seed), rates) in enumerate(sorted(success.items())):
        run = sweep_dir / trial_name(i, {SEED_KEY: seed, "agent.lr": lr})
        run.mkdir()
        (run / "config.yaml").write_text(yaml.safe_dump({"env": {"num_envs": 2}}))
        (run / "sweep_trial.json").write_text(json.dumps({"params": {SEED_KEY: seed, "agent.lr": lr}}))
        rows = [{"step": 100 * (k + 1), "kind": "eval", "eval/episodes": 10, "eval/successes": round(10 * s),
                 "eval/success_rate": s, "eval/success_lcb": wilson_lower_bound(round(10 * s), 10),
                 "eval/reward_mean": 100 * s, "eval/reward_std": 1.0, "eval/max_cube_z_mean": 0.05,
                 "eval/max_cube_z_max": 0.1, "eval/hold_mean": 3.0, "eval/length_mean": 50.0}
                for k, s in enumerate(rates)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return sweep_dir


def test_aggregation_groups_seeds_with_t_intervals_steps_to_90_and_ranking(tmp_path, capsys):
    sweep_dir = _synthetic_sweep(tmp_path, {
        (0.001, 0): [0.2, 0.5, 0.6], (0.001, 1): [0.4, 0.7, 0.8], (0.001, 2): [0.3, 0.6, 0.7],
        (0.002, 0): [0.5, 0.9, 1.0], (0.002, 1): [0.6, 1.0, 0.9], (0.002, 2): [0.4, 0.8, 0.9],
    })
    spec, trials = agg.open_sweep(sweep_dir)
    summaries = agg.ranked([agg.summarize_group(g) for g in agg.group_trials(trials)])
    assert [s.group.label for s in summaries] == ["agent.lr=0.002", "agent.lr=0.001"]
    top, low = summaries
    # lr=0.002 at 200: 0.9, 1.0, 0.8 -> mean 0.9, sd 0.1, CI = 4.303 * 0.1 / sqrt(3)
    at200 = top.curve[1]
    assert at200.success.mean == pytest.approx(0.9) and at200.success.half == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    # Best = the step with the highest mean: 300 (0.933) beats 200 (0.9).
    assert top.best.step == 300 and top.best.success.mean == pytest.approx(2.8 / 3)
    # Steps to 90%: seeds reach it at 200, 200, 300 -> mean 233.3; the other group never does.
    assert top.reached == 3 and top.steps_to_target.mean == pytest.approx(700 / 3)
    assert low.reached == 0 and low.best.step == 300 and low.best.success.mean == pytest.approx(0.7)
    out = tmp_path / "c.png"
    assert cli("compare", sweep_dir, "--out", out, "--steps", "200") == 0
    md = out.with_suffix(".md").read_text()
    steps_table = md.split("## At matching steps")[1].split("##")[0]
    assert "| 200 " in steps_table and "| 100 " not in steps_table
    assert "| 1    | agent.lr=0.002 | 3     | 300" in md and "not reached (0/3)" in md and "233 ± " in md
    assert json.loads(out.with_suffix(".json").read_text())["groups"][0]["steps_to_target"]["reached"] == 3
    with pytest.raises(ValueError, match="on its own"):
        cli("compare", sweep_dir, trials[0].run.path, "--out", out)


@pytest.mark.slow
def test_help_and_sweep_reading_import_neither_ray_nor_torch():
    import subprocess
    import sys

    code = ("import sys; from liftrl.cli import build_parser; build_parser(); "
            "from liftrl.report import sweep_compare; from liftrl.sweep import spec; "
            "print([m for m in ('ray', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_t_interval_table_matches_hand_values():
    assert agg.t95(1) == 12.706 and agg.t95(2) == 4.303 and agg.t95(11) == 2.228 and agg.t95(500) == 1.960
    ci = agg.mean_ci([1.0, 3.0])
    assert ci.mean == 2.0 and ci.half == pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2))
    one = agg.mean_ci([0.5])
    assert one.n == 1 and math.isnan(one.half) and one.text() == "0.50"
