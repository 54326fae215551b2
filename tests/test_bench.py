"""The benchmark scripts: they run at tiny size and print finite figures, and the learner bench's
minimal updates compute exactly what the agents compute (else its ratio would compare different math).

No timing is asserted: the figures are only checked to exist and be finite positive numbers.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
NUMBER = r"([-+0-9.eE]+|nan|inf)"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def bench_module(name: str):
    """A bench script imported as a module (its sibling ``common`` resolves as when it runs)."""
    import importlib

    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def learner():
    return bench_module("learner")


def run_script(name: str, *args: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    out = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


def positive(text: str) -> float:
    value = float(text)
    assert math.isfinite(value) and value > 0, text
    return value


# ------------------------------------------------------------------------------------ learner.py
@pytest.mark.slow
def test_learner_tiny_prints_rates_and_ratios_last():
    lines = run_script("learner.py", "--tiny", "--device", "cpu", "--threads", "1")
    pattern = re.compile(rf"^(drqv2|sac)\s+fp32\s+agent\s+{NUMBER} updates/s\s+minimal\s+{NUMBER} updates/s"
                         rf"\s+ratio\s+{NUMBER}")
    figures = [pattern.match(line) for line in lines[-2:]]
    assert all(figures), lines[-4:]
    assert [m.group(1) for m in figures] == ["drqv2", "sac"]
    for m in figures:
        agent, minimal, ratio = (positive(m.group(i)) for i in (2, 3, 4))
        assert ratio == pytest.approx(agent / minimal, rel=0.01, abs=2e-3)  # one repeat: the paired ratio
    header = "\n".join(lines[:-2])
    assert "torch" in header and "threads" in header and "machine:" in header


@pytest.mark.slow
def test_learner_rejects_bad_sizes():
    out = subprocess.run([sys.executable, str(BENCH / "learner.py"), "--batch", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--batch must be >= 1" in out.stderr


def _copy_params(src_modules, dst_modules):
    src = [p for m in src_modules for p in m.parameters()]
    dst = [p for m in dst_modules for p in m.parameters()]
    assert [p.shape for p in src] == [p.shape for p in dst]
    with torch.no_grad():
        for s, d in zip(src, dst):
            d.copy_(s)


def _assert_same(a_modules, b_modules, atol):
    a = [p for m in a_modules for p in m.parameters()]
    b = [p for m in b_modules for p in m.parameters()]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


def test_minimal_drqv2_update_is_the_agents_math(learner):
    """Same weights and random numbers in: the same weights out after two updates."""
    from liftrl.agents import DrQV2Agent, DrQV2Config

    cfg = DrQV2Config(feature_dim=16, hidden_dim=32, encoder_channels=8, lr=1e-3)
    shapes = learner.obs_shapes(32, 3)
    dev = torch.device("cpu")
    agent = DrQV2Agent(cfg, shapes, 4, learner.DRQ_ACTOR_KEYS, learner.DRQ_CRITIC_KEYS, dev, seed=3)
    minimal = learner.MinimalDrQ(cfg, shapes["pixels"], 18, 21, dev, amp=False, std=agent.stddev(0),
                                 generator=learner.new_generator(dev, seed=3))
    _copy_params([agent.encoder, agent.actor, agent.critic], [minimal.encoder, minimal.actor, minimal.critic])
    minimal.target.load_state_dict(minimal.critic.state_dict())
    before = [p.clone() for p in minimal.critic.parameters()]
    batch = learner.make_batch(np.random.default_rng(1), 8, 32, 3)
    for _ in range(2):
        agent.update(batch, 0)
        minimal.update(batch)
    assert any(not torch.equal(b, p) for b, p in zip(before, minimal.critic.parameters()))  # it learned
    _assert_same([agent.encoder, agent.actor, agent.critic, agent.critic_target],
                 [minimal.encoder, minimal.actor, minimal.critic, minimal.target], atol=1e-5)


def test_minimal_sac_update_is_the_agents_math(learner):
    from liftrl.agents import SACAgent, SACConfig

    cfg = SACConfig(hidden_dim=32)
    dev = torch.device("cpu")
    agent = SACAgent(cfg, learner.obs_shapes(None, 1), 4, learner.SAC_ACTOR_KEYS, learner.SAC_CRITIC_KEYS, dev,
                     seed=5)
    minimal = learner.MinimalSAC(cfg, 18, 21, dev, generator=learner.new_generator(dev, seed=5))
    _copy_params([agent.actor, agent.critic], [minimal.actor, minimal.critic])
    minimal.target.load_state_dict(minimal.critic.state_dict())
    batch = learner.make_batch(np.random.default_rng(2), 8, None, 1)
    for _ in range(3):
        agent.update(batch, 0)
        minimal.update(batch)
    _assert_same([agent.actor, agent.critic, agent.critic_target], [minimal.actor, minimal.critic, minimal.target],
                 atol=1e-5)
    torch.testing.assert_close(agent.log_alpha, minimal.log_alpha)


# ------------------------------------------------------------------------------------ e2e.py
@pytest.mark.slow
def test_e2e_tiny_prints_throughput_and_shares_last():
    lines = run_script("e2e.py", "--tiny")
    text = "\n".join(lines)
    steps = re.search(rf"^env steps/s end to end:\s+{NUMBER}$", text, re.M)
    updates = re.search(rf"^updates/s end to end:\s+{NUMBER}$", text, re.M)
    assert steps and updates, text[-2000:]
    positive(steps.group(1))
    positive(updates.group(1))  # the timed window starts after updates have started
    shares = dict(re.findall(rf"^share ([a-z .+()]+):\s+{NUMBER}%", text, re.M))
    for part in ("simulation (env.step)", "replay add", "replay sample", "agent update", "agent act",
                 "rendering (estimated)"):
        assert part in shares, (part, shares)
    measured = [float(v) for k, v in shares.items() if k != "rendering (estimated)"]
    assert all(0.0 <= v <= 100.0 for v in measured)
    assert sum(measured) == pytest.approx(100.0, abs=0.5)  # the parts and "other" cover the window
    for part in ("simulation (env.step)", "agent update", "replay sample", "replay add"):
        positive(shares[part])  # each wrapped method was really called inside the timed window
    assert 0.0 < float(shares["rendering (estimated)"]) <= float(shares["simulation (env.step)"])
    assert lines[-1].startswith("share rendering")  # the figures come last


@pytest.mark.slow
def test_e2e_refuses_a_misspelt_override():
    out = subprocess.run([sys.executable, str(BENCH / "e2e.py"), "--tiny", "agent.batch_sise=4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "batch_sise" in out.stderr


# ------------------------------------------------------------------------------------ env_throughput.py
@pytest.mark.slow
def test_env_throughput_imports_its_shared_timer():
    out = subprocess.run([sys.executable, str(BENCH / "env_throughput.py"), "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_rate_counts_calls(learner):
    common = sys.modules["common"]  # bench/common.py, imported by the learner bench

    calls = []
    r = common.rate(lambda: calls.append(1), seconds=0.05, warmup=2)
    assert len(calls) >= 3 and r > 0


@pytest.mark.slow
@pytest.mark.parametrize("proof", ["state_sac", "pixels_gpu"])
def test_learning_proof_script_runs_at_tiny_size(tmp_path, proof):
    """The proof runner trains, reads the run's own metrics and writes the curve and summary."""
    import json

    stem = tmp_path / "curve"
    out = subprocess.run([sys.executable, str(BENCH / "learn.py"), proof, "--tiny", "--runs", str(tmp_path / "runs"),
                          "--out", str(stem)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MUJOCO_GL": "egl"})
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(stem.with_suffix(".json").read_text())
    assert summary["env_steps"] >= 400 and summary["curve"]
    assert all(0.0 <= p["success_rate"] <= 1.0 for p in summary["curve"])
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stdout.strip().splitlines()[-1].startswith(f"{proof}: goal")


@pytest.mark.slow
def test_teacher_proof_runs_several_seeds_and_writes_combined_figures(tmp_path):
    """--seeds 2 trains two seeds one after the other; per-seed and combined JSON/PNG are written."""
    import json

    stem = tmp_path / "teacher"
    out = subprocess.run([sys.executable, str(BENCH / "learn.py"), "teacher", "--tiny", "--seeds", "2", "--runs",
                          str(tmp_path / "runs"), "--out", str(stem)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MUJOCO_GL": "egl"})
    assert out.returncode == 0, out.stderr[-2000:]
    combined = json.loads(stem.with_suffix(".json").read_text())
    assert combined["seeds"] == 2 and [s["seed"] for s in combined["per_seed"]] == [0, 1]
    for seed in (0, 1):
        per_seed = json.loads((tmp_path / f"teacher_seed{seed}.json").read_text())
        assert per_seed["seed"] == seed and per_seed["curve"] and "stayed_above_floor" in per_seed
        assert f"train.seed={seed}" in per_seed["overrides"]
    assert combined["compared_with"] == "learn_state_sac.json"  # the old v11 curve is drawn beside them
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ calibration_sensitivity.py
@pytest.mark.slow
def test_calibration_sensitivity_tiny_writes_its_table(tmp_path):
    from test_deploy_cli import call, tiny_run

    run = tiny_run(tmp_path)
    call(["export", str(run), "--checkpoint", "latest", "--out", str(tmp_path / "b")])
    out = tmp_path / "sens"
    run_script("calibration_sensitivity.py", str(tmp_path / "b"), "--episodes", "1", "--sign-seeds", "1",
               "--joint-errors", "3", "--gripper-errors", "5", "--label", "tiny actor", "--out", str(out))
    import json

    result = json.loads(out.with_suffix(".json").read_text())
    cells = {c["per_arm_file"]: c for c in result["cells"]}
    assert set(cells) == {False, True} and all(c["episodes"] == 1 for c in cells.values())
    assert result["reference"]["episodes"] == 1 and result["bundle"] == "b"
    table = out.with_suffix(".md").read_text()
    assert "Policy: tiny actor" in table and "| 3 | 5 |" in table


# ------------------------------------------------------------------------------------ peer_sb3.py
def test_peer_bench_runs_liftrl_with_the_settings_it_states():
    """The liftrl side of the SB3 comparison loads as a config with the settings both sides share."""
    from liftrl.config import load_config

    peer_sb3 = bench_module("peer_sb3")
    args = peer_sb3.parse_args(["--seed-steps", "500", "--steps", "1000"])
    cfg = load_config(str(ROOT / "configs" / "sac_v11.yaml"), peer_sb3.liftrl_overrides(args))
    agent, env = cfg.agent, cfg.env
    assert (agent.name, agent.batch_size, agent.update_every_steps, agent.updates_per_step) == ("sac", 128, 2, 1)
    assert (agent.hidden_dim, agent.hidden_layers, agent.lr, agent.gamma) == (256, 2, 3e-4, 0.99)
    assert (agent.critic_target_tau, agent.init_temperature, agent.n_step) == (0.005, 0.1, 1)
    assert (env.num_envs, env.reward, env.curriculum_stage, tuple(env.curriculum_mix)) == (1, "v11", 3, peer_sb3.MIX)
    assert set(cfg.obs.critic) == {"state", "privileged"} and cfg.train.torch_threads == 1
    assert (cfg.train.seed_steps, cfg.train.total_env_steps) == (500, 1500)
    marks = [(250 * i, 0.5 * i, 0.25 * i) for i in range(7)]  # steps, wall s, CPU s
    assert peer_sb3.rates(marks, args) == {"random": 500.0, "learning": 500.0, "random_cpu": 1000.0,
                                           "learning_cpu": 1000.0}
    # A slow first update (the row at seed_steps) stays out of the random phase when it can.
    args = peer_sb3.parse_args(["--seed-steps", "1000", "--steps", "1000"])
    marks = [(250 * i, 0.5 * i + (5.0 if i >= 4 else 0.0), 0.25 * i) for i in range(9)]
    assert peer_sb3.rates(marks, args)["random"] == 500.0


def test_peer_bench_two_core_variants_set_placement_and_threads_and_refuse_bad_ones():
    peer_sb3 = bench_module("peer_sb3")
    args = peer_sb3.parse_args(["--cores", "2"])
    assert args.variants == [("0", 1), ("0", 2), ("1", 1)]
    overrides = peer_sb3.liftrl_overrides(args, ("1", 1))
    assert "env.num_workers=1" in overrides and "train.torch_threads=1" in overrides
    assert "train.torch_threads=2" in peer_sb3.liftrl_overrides(args, args.variants[1])
    assert peer_sb3.parse_args([]).variants == [("null", 1)]
    with pytest.raises(SystemExit):
        peer_sb3.parse_args(["--variants", "two:1"])


def test_sweep_overhead_compares_learning_columns_and_names_the_first_difference(tmp_path):
    import json

    sweep_overhead = bench_module("sweep_overhead")
    row = {"step": 100, "kind": "train", "train/critic_loss": 1.0, "time/cpu_s": 3.0, "time/elapsed_s": 4.0}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(row) + "\n")
    b.write_text(json.dumps({**row, "time/cpu_s": 9.0, "time/elapsed_s": 1.0}) + "\n")  # timing only
    assert sweep_overhead.first_difference(sweep_overhead._rows(a), sweep_overhead._rows(b)) is None
    b.write_text(json.dumps({**row, "train/critic_loss": 1.5}) + "\n")
    assert "critic_loss 1.0 against 1.5" in sweep_overhead.first_difference(sweep_overhead._rows(a),
                                                                             sweep_overhead._rows(b))


# ------------------------------------------------------------------------------------ learn.py student_*
@pytest.mark.slow
def test_student_proof_script_runs_at_tiny_size(tmp_path):
    """bench/learn.py student_*: distils from a teacher run, reads the run's metrics, writes curve and summary."""
    import json

    from liftrl.train.loop import train

    teacher = train(str(ROOT / "configs" / "tiny_sac.yaml"),
                    ["train.total_env_steps=60", "train.eval_every=60", "train.snapshot_every=60",
                     "train.eval_episodes=2", "train.video_episodes=0", "train.progress=false"],
                    run_root=str(tmp_path / "teacher"))
    stem = tmp_path / "curve"
    out = subprocess.run([sys.executable, str(BENCH / "learn.py"), "student_stage1", "--teacher", str(teacher),
                          "--tiny", "--runs", str(tmp_path / "runs"), "--out", str(stem), "--dry-run", "1",
                          "train.progress=false", "env.camera_shift_m=0.0"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "MUJOCO_GL": "egl"})
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(stem.with_suffix(".json").read_text())
    assert [p["labelled_frames"] for p in summary["curve"]] == [40, 80] and summary["labelled_frames"] == 80
    assert 0.0 <= summary["teacher"]["success_rate"] <= 1.0 and summary["teacher"]["snapshot"].startswith("step_")
    assert [p["beta"] for p in summary["curve"]] == pytest.approx([1.0, 2 / 3])
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the dry run is in the scene the student trained in, and says so
    assert len(summary["dry_run"]) == 3 and all(r["scene"] == {"camera_shift_m": 0.0} for r in summary["dry_run"])
    assert any(line.startswith("teacher ") for line in out.stdout.splitlines())


# ------------------------------------------------------------------------------------ student_update.py
@pytest.mark.parametrize("native", [True, False])
def test_student_update_tiny_prints_both_precisions_where_amp_applies(monkeypatch, capsys, native):
    from liftrl.agents import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    bench_module("student_update").main(["--tiny"])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.match(rf"^16x16,\s+4 channels: float32\s+{NUMBER} ms(, bfloat16\s+{NUMBER} ms, {NUMBER}x)?$", row)
    assert m, row
    if native:
        fp32, bf16, ratio = positive(m.group(1)), positive(m.group(3)), positive(m.group(4))
        assert ratio == pytest.approx(fp32 / bf16, rel=0.05)  # the times are printed rounded to 0.1 ms
    else:
        assert m.group(2) is None  # amp cannot take effect here: no bfloat16 row is invented


@pytest.mark.slow
def test_dryrun_speed_tiny_times_both_paths_and_compares_their_tables(tmp_path):
    from liftrl.deploy.bundle import export_run
    from test_deploy_cli import tiny_run

    bundle = export_run(tiny_run(tmp_path), "latest")
    out = tmp_path / "speed.txt"
    # --before HEAD: any commit with the deploy CLI will do for the tiny run; the default finds the serial one
    done = subprocess.run([sys.executable, str(BENCH / "dryrun_speed.py"), str(bundle), "--label", "tiny", "--episodes",
                           "1", "--workers", "2", "--before", "HEAD", "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for name in ("before", "after", "after, --workers 1"):
        wall, cpu = re.search(rf"^{name}: {NUMBER} s wall \(.*\), {NUMBER} CPU s", text, re.M).groups()
        assert float(wall) > 0 and float(cpu) > 0
    assert "success counts equal in every row: yes" in text and str(tmp_path) not in text


def test_stress_example_bundles(tmp_path):
    """bench/stress_example.py: the untrained bundle acts from its weights, the hold bundle always holds."""
    from liftrl.deploy.bundle import load_bundle

    example = bench_module("stress_example")
    hold = load_bundle(example.make_bundle("hold", tmp_path))
    untrained = load_bundle(example.make_bundle("untrained", tmp_path))
    rng = np.random.default_rng(0)
    obs = {"pixels": rng.integers(0, 256, size=(2, 6, 32, 32), dtype=np.uint8),
           "state": rng.normal(size=(2, 18)).astype(np.float32)}
    np.testing.assert_allclose(hold.policy(obs), [[0, 0, 0, -0.99991]] * 2, atol=1e-4)
    assert hold.task.curriculum_stage == 1 and untrained.task.curriculum_stage == 3
    assert not np.allclose(untrained.policy(obs)[0], untrained.policy(obs)[1])


def test_teacher_cube_sensitivity_moves_only_the_cube_and_bins_by_distance():
    sens = bench_module("teacher_cube_sensitivity")
    obs = {"privileged": np.arange(2 * 10, dtype=np.float32).reshape(2, 10) / 10, "state": np.zeros((2, 18))}
    moved = sens.shifted(obs, np.array([0.005, -0.005, 0.0], dtype=np.float32))
    np.testing.assert_allclose(moved["privileged"][:, :3] - obs["privileged"][:, :3], [[0.005, -0.005, 0.0]] * 2,
                               atol=1e-7)
    np.testing.assert_array_equal(moved["privileged"][:, 3:], obs["privileged"][:, 3:])
    assert moved["state"] is obs["state"] and not np.shares_memory(moved["privileged"], obs["privileged"])
    rows = [{"distance_cm": d, "shift_change": np.full(4, s), "step_change": None if k == 0 else np.full(4, 2 * s)}
            for k, (d, s) in enumerate([(1.0, 0.1), (1.2, 0.3), (20.0, 0.5)])]
    text, bins = sens.table(rows, 4)
    assert [(b["from_cm"], b["steps"]) for b in bins] == [(0.0, 2), (15.0, 1)]
    assert bins[0]["shift_change"] == [0.2] * 4 and bins[0]["step_change"] == [0.6] * 4  # the first step has none
    assert "| 0-1.5 cm | 2 | 0.200 / 0.600 |" in text and "gripper: shift / step" in text
