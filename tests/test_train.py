"""Training end to end at tiny size: run folders, exact resume, refusal of bad input."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from liftrl.run.snapshot import load_snapshot
from liftrl.report.rollout import end_of_training_video
from liftrl.train.loop import resume, train
from liftrl.train.metrics import TIMING_KEYS, read_metrics

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _check_run_folder(run: Path):
    assert (run / "config.yaml").is_file()
    snaps = run / "snapshots"
    assert (snaps / "latest.pt").is_file() and (snaps / "best.pt").is_file()
    assert any(p.name.startswith("step_") for p in snaps.iterdir())
    rows = read_metrics(run / "metrics.jsonl")
    kinds = {r["kind"] for r in rows}
    assert {"train", "eval"} <= kinds
    train_rows = [r for r in rows if r["kind"] == "train"]
    # diagnostics are logged from the start: losses, Q statistics, gradient norms, timing
    keys = set().union(*train_rows)
    for key in ("train/critic_loss", "train/actor_loss", "train/q1_mean", "train/critic_grad_norm",
                "time/env_steps_per_s", "time/updates_per_s"):
        assert key in keys, key
    assert any(k.startswith("reward_terms/") for k in keys)
    evals = [r for r in rows if r["kind"] == "eval"]
    assert all(0.0 <= r["eval/success_rate"] <= 1.0 for r in evals)
    assert list((run / "tb").iterdir())  # TensorBoard events
    assert list((run / "eval_final").glob("*.mp4"))


@pytest.mark.slow
@pytest.mark.parametrize("config", ["tiny_sac.yaml", "tiny_drqv2.yaml"])
def test_short_run_writes_complete_run_folder(tmp_path, config):
    run = train(str(CONFIGS / config), ["train.progress=false"], run_root=str(tmp_path), after=end_of_training_video)
    assert run.parent.name in ("sac", "drqv2")
    _check_run_folder(run)
    state, meta = load_snapshot(run / "snapshots" / "latest.pt")
    assert meta["reward"]["name"] and meta["reward"]["fingerprint"]
    assert meta["env_steps"] >= 300


def _weights(run: Path) -> dict:
    state, meta = load_snapshot(run / "snapshots" / "latest.pt")
    flat = {}

    def walk(prefix, obj):
        if isinstance(obj, torch.Tensor):
            flat[prefix] = obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(f"{prefix}/{i}", v)

    walk("", state["agent"])
    return flat, meta


def _comparable(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["tiny_sac.yaml", "tiny_drqv2.yaml"])
def test_resume_continues_exactly(tmp_path, config):
    """2N steps in one go == N steps + resume + N steps: same weights, same metrics."""
    # log_every does not divide snapshot_every: rows gathered before the snapshot but logged after it
    # must survive the resume too.
    common = ["train.progress=false", "replay.save_with_snapshot=true", "train.snapshot_every=150",
              "train.eval_every=150", "train.log_every=100", "train.video_episodes=0"]
    whole = train(str(CONFIGS / config), common + ["train.total_env_steps=300"], run_root=str(tmp_path / "a"))
    half = train(str(CONFIGS / config), common + ["train.total_env_steps=150"], run_root=str(tmp_path / "b"))
    resume(half, ["train.total_env_steps=300"])

    wa, ma = _weights(whole)
    wb, mb = _weights(half)
    assert ma["env_steps"] == mb["env_steps"] == 300
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-6, atol=1e-6, msg=key)
    ra = _comparable(read_metrics(whole / "metrics.jsonl"))
    rb = _comparable(read_metrics(half / "metrics.jsonl"))
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):
                assert x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-6), (x["step"], k)
            else:
                assert x[k] == y[k], (x["step"], k)


@pytest.mark.slow
def test_resume_refuses_missing_run_and_config_changes(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        resume(tmp_path / "nope")
    run = train(str(CONFIGS / "tiny_sac.yaml"), ["train.progress=false", "train.total_env_steps=100",
                                                 "train.eval_every=100", "train.video_episodes=0"],
                run_root=str(tmp_path))
    with pytest.raises(ValueError, match=r"on resume only these settings may be overridden: .*train.progress.*"
                                         r"got \['agent.lr=0.1'\]"):
        resume(run, ["agent.lr=0.1"])
    # Without the saved buffer a resume continues everything else and says the buffer starts empty.
    assert not list((run / "snapshots").glob("replay_*"))
    with pytest.warns(UserWarning, match="empty replay buffer"):
        resume(run, ["train.total_env_steps=150", "train.progress=false"])  # cosmetic settings may change
    _, meta = load_snapshot(run / "snapshots" / "latest.pt")
    assert meta["env_steps"] == 150
    assert meta["config"]["train"]["total_env_steps"] == 150  # the new target is saved with the run
    steps = [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) and steps[-1] == 150


@pytest.mark.slow
def test_replay_saved_with_latest_snapshot_only(tmp_path):
    run = train(str(CONFIGS / "tiny_sac.yaml"),
                ["train.progress=false", "train.total_env_steps=100", "train.snapshot_every=50",
                 "train.eval_every=100", "train.video_episodes=0", "replay.save_with_snapshot=true"],
                run_root=str(tmp_path))
    snaps = run / "snapshots"
    assert [p.name for p in snaps.glob("replay_*.npz")] == ["replay_000000100.npz"]
    state, _ = load_snapshot(snaps / "latest.pt")
    assert state["replay_file"] == "replay_000000100.npz"
    assert sorted(p.name for p in snaps.glob("step_*.pt")) == ["step_000000050.pt", "step_000000100.pt"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_failed_start_leaves_no_run_folder(tmp_path):
    with pytest.raises(ValueError, match="CUDA"):
        train(str(CONFIGS / "tiny_sac.yaml"), ["train.device=cuda"], run_root=str(tmp_path))
    assert not list(tmp_path.rglob("config.yaml"))


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    from liftrl.cli import main

    assert main(["train", str(CONFIGS / "tiny_sac.yaml"), "agent.batchsize=3", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'agent.batch_size'" not in err and "did you mean 'agent.batch_size'" in err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert "config.yaml" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert not list(tmp_path.rglob("config.yaml"))


def test_privileged_actor_refused_by_name(tmp_path):
    from liftrl.config import ConfigError

    with pytest.raises(ConfigError, match="privileged"):
        train(str(CONFIGS / "tiny_drqv2.yaml"), ["obs.actor=[pixels,state,privileged]"], run_root=str(tmp_path))


@pytest.mark.slow
def test_training_at_the_real_arms_rate_and_latency(tmp_path):
    """env.control_hz / env.latency_ms reach the trainer's own envs: one agent step spans 3-4 env ticks."""
    from liftrl.config import load_config
    from liftrl.train.loop import build_trainer

    cfg = load_config(str(CONFIGS / "tiny_sac.yaml"), ["train.progress=false", "env.control_hz=15",
                                                       "env.latency_ms=100", "env.num_envs=2"])
    (tmp_path / "snapshots").mkdir()
    trainer = build_trainer(cfg, tmp_path)
    try:
        assert trainer.env.call("control_hz") == (15.0, 15.0)
        assert trainer.env.call("latency_ticks") == (5, 5)  # 100 ms at 50 Hz
        ticks = []
        for _ in range(3):
            *_, infos = trainer.env.step(np.zeros((2, 4), np.float32))
            ticks.append(int(infos["control_ticks"][0]))
        assert ticks == [3, 6, 10]  # 15 Hz on the 50 Hz env: periods of 3, 3, 4 ticks
    finally:
        trainer.close()


@pytest.mark.slow
def test_in_process_envs_train_exactly_like_worker_envs(tmp_path, capsys):
    """env.num_workers=0 (envs in the training process) learns the same weights and metrics as a worker."""
    common = ["train.progress=false", "train.total_env_steps=200", "train.eval_every=200", "train.video_episodes=0"]
    runs = {w: train(str(CONFIGS / "tiny_sac.yaml"), common + [f"env.num_workers={w}"], run_root=str(tmp_path / str(w)))
            for w in (0, 1)}
    assert "training envs: in-process" in capsys.readouterr().out
    (wa, _), (wb, _) = _weights(runs[0]), _weights(runs[1])
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0, msg=key)
    assert _comparable(read_metrics(runs[0] / "metrics.jsonl")) == _comparable(read_metrics(runs[1] / "metrics.jsonl"))


@pytest.mark.slow
def test_tensorboard_drops_the_steps_a_resume_rewinds(tmp_path):
    """A crash after the snapshot at 150 logged up to 300; after the resume TensorBoard shows each step once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from liftrl.run.folder import link_atomic

    run = train(str(CONFIGS / "tiny_sac.yaml"), ["train.progress=false", "train.video_episodes=0",
                                                 "train.snapshot_every=150", "train.log_every=50"],
                run_root=str(tmp_path))
    snaps = run / "snapshots"
    link_atomic(snaps / "step_000000150.pt", snaps / "latest.pt")  # as if it died before the next snapshot
    resume(run)
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("progress/updates")]
    assert steps == [50, 100, 150, 200, 250, 300]
    assert "resumed/text_summary" in acc.Tags()["tensors"]  # the marker TensorBoard shows at step 151


@pytest.mark.slow
def test_console_banner_live_eval_in_the_bar_and_end_summary(tmp_path, capsys):
    from liftrl.cli import main
    from liftrl.train.scoring import EvalSummary

    config = str(CONFIGS / "tiny_sac.yaml")
    assert main(["train", config, "train.progress=true", "--runs", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    (run,) = [p.parent for p in tmp_path.glob("sac/*/config.yaml")]
    assert out.startswith(f"liftrl train: run folder {run}\n  config: {config} with train.progress=true\n")
    assert re.search(r"^  device: cpu, torch threads: \d+, 2 training envs: 1 worker process\(es\) "
                     r"\(env.num_workers=1\)$", out, re.M)
    evals = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "eval"]
    final = evals[-1]
    best = max(evals, key=lambda r: EvalSummary(**{k: r[f"eval/{k}"] for k in EvalSummary.__dataclass_fields__})
               .rank_key() + (-r["step"],))
    assert f"  final eval (step 300): {final['eval/successes']}/2 success, reward {final['eval/reward_mean']:.1f}" in out
    assert (f"  best eval (step {best['step']}): {best['eval/successes']}/2 success, reward "
            f"{best['eval/reward_mean']:.1f} -> {run}/snapshots/best.pt") in out
    video = run / "eval_final" / f"best_step_{best['step']:09d}_seed_1000000000.mp4"
    assert video.is_file() and f"  video: {video}" in out
    assert f"  evaluate: liftrl eval {run} --checkpoints best\n  export:   liftrl export {run}\n" in out
    # The bar's final state shows the evaluation made at the last step, not the one before it.
    last_bar = err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"eval@300 {final['eval/successes']}/2 R={final['eval/reward_mean']:.0f}" in last_bar
