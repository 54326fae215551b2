"""Reading run folders, checkpoint names, tables, and the compare/report PNGs from synthetic metrics.

Nothing here trains or simulates: the run folders are written by hand (config.yaml,
metrics.jsonl, snapshot files), so these tests are fast and their numbers are hand-checkable.
"""

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from liftrl.report import history, plots, tables
from liftrl.run import checkpoints, folder
from liftrl.cli import build_parser
from liftrl.train.episodes import EpisodeResult
from liftrl.train.scoring import summarize, wilson_lower_bound

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(*argv: str) -> int:
    """The real ``liftrl`` parser (so the wiring is tested too), without main()'s error printing."""
    args = build_parser().parse_args([str(a) for a in argv])
    return args.func(args)


def make_run(root: Path, name: str, evals: list[tuple[int, int, int, float]], train_steps: list[int],
             num_envs: int = 4, reward: str = "v19", collapse_at: int | None = None) -> Path:
    """A run folder with metrics: ``evals`` = (step, successes, episodes, reward_mean)."""
    run = root / "drqv2" / name
    (run / "snapshots").mkdir(parents=True)
    cfg = {"env": {"num_envs": num_envs, "reward": reward, "hold_steps": 150, "lift_height": 0.08,
                   "curriculum_stage": 3}, "agent": {"name": "drqv2"}, "train": {"eval_every": 100}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for step in train_steps:
        q = 10.0 * step / 1000 if collapse_at is None or step < collapse_at else 1e3 * (step - collapse_at + 1)
        rows.append({"step": step, "kind": "train", "train/critic_loss": 0.5 + q / 100, "train/actor_loss": -q,
                     "train/q1_mean": q, "train/q_min": q - 1, "train/q_max": q + 1, "train/target_q_mean": q,
                     "train/actor_stddev": max(0.1, 1 - step / 1000), "train/critic_grad_norm": 1.0 + q,
                     "train/actor_grad_norm": 0.5, "train/saturated_action_frac": 0.01,
                     "reward_terms/reach": 50.0, "reward_terms/lift": step / 100, "episode/return": 100.0 + step / 10,
                     "episode/length": 200.0, "episode/success": 0.0, "episode/max_cube_z": 0.02,
                     "time/env_steps_per_s": 80.0, "time/updates_per_s": 40.0})
    for step, succ, n, rew in evals:
        rows.append({"step": step, "kind": "eval", "eval/episodes": n, "eval/successes": succ,
                     "eval/success_rate": succ / n, "eval/success_lcb": wilson_lower_bound(succ, n),
                     "eval/reward_mean": rew, "eval/reward_std": rew / 10, "eval/max_cube_z_mean": 0.05,
                     "eval/max_cube_z_max": 0.1, "eval/hold_mean": 3.0, "eval/length_mean": 200.0})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def fake_snapshots(run: Path, steps: list[int], best: int, latest: int) -> None:
    """Distinct bytes per step; best as a hard link, latest as a copy (the loop's fallback)."""
    snaps = run / "snapshots"
    for s in steps:
        (snaps / f"step_{s:09d}.pt").write_bytes(f"snapshot {s}".encode())
    os.link(snaps / f"step_{best:09d}.pt", snaps / "best.pt")
    shutil.copyfile(snaps / f"step_{latest:09d}.pt", snaps / "latest.pt")


# ---------------------------------------------------------------------------------- names and folders
@pytest.mark.parametrize("text,step", [("300", 300), ("100k", 100_000), ("1.5M", 1_500_000), ("2m", 2_000_000),
                                       ("step_000000300", 300), ("0.5k", 500)])
def test_parse_step(text, step):
    assert checkpoints.parse_step(text) == step


@pytest.mark.parametrize("text", ["", "abc", "10x", "1.0001k", "-5", "best_"])
def test_parse_step_refuses_bad_names(text):
    with pytest.raises(folder.RunError, match="checkpoint name|whole number"):
        checkpoints.parse_step(text)


@pytest.mark.parametrize("step,label", [(300, "300"), (100_000, "100k"), (1_500_000, "1.5M"), (100_008, "100008")])
def test_format_step(step, label):
    assert checkpoints.format_step(step) == label


def test_open_run_refuses_missing_and_foreign_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder"):
        folder.open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        folder.open_run(tmp_path / "empty")


def test_resolve_checkpoints_by_name_alias_and_vector_step(tmp_path):
    run_dir = make_run(tmp_path, "a", [], [], num_envs=4)
    fake_snapshots(run_dir, [102, 204, 300], best=204, latest=300)
    run = folder.open_run(run_dir)
    got = checkpoints.resolve_checkpoints(run, "best,latest,100")
    # 100 -> the snapshot the loop saved on crossing 100 with 4 envs (102); best/latest by file identity
    assert [(c.step, c.labels) for c in got] == [(102, ("100",)), (204, ("best",)), (300, ("latest",))]
    assert got[1].path.name == "step_000000204.pt"
    merged = checkpoints.resolve_checkpoints(run, "all,best")
    assert [c.step for c in merged] == [102, 204, 300] and merged[1].labels == ("204", "best")
    with pytest.raises(FileNotFoundError, match=r"no snapshot at step 250.*available: 102, 204, 300"):
        checkpoints.resolve_checkpoints(run, "250")
    with pytest.raises(FileNotFoundError, match="no snapshot at step 104"):
        checkpoints.resolve_checkpoints(run, "104")  # 102 is before 104: not the snapshot of crossing 104
    with pytest.raises(folder.RunError, match="not a checkpoint name"):
        checkpoints.resolve_checkpoints(run, "bestest")
    (run_dir / "snapshots" / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="best.pt"):
        checkpoints.resolve_checkpoints(run, "best")


def test_read_history_missing_torn_and_ranked(tmp_path):
    run_dir = make_run(tmp_path, "a", [(100, 1, 2, 900.0), (200, 18, 20, 500.0), (300, 0, 20, 4.0)], [50, 150])
    run = folder.open_run(run_dir)
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 400, "kind": "ev')  # a crash mid-write
    h = history.read_history(run)
    assert [p.step for p in h.evals] == [100, 200, 300]
    # 1 of 2 (and a higher reward) must not beat 18 of 20: best is ranked by the success lower bound
    assert h.best().step == 200
    assert h.series("train/q1_mean") == ([50, 150], [0.5, 1.5])
    run.metrics_path.unlink()
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        history.read_history(run)


# ---------------------------------------------------------------------------------- tables
def _episodes():
    return [EpisodeResult(seed=1_000_000_000 + i, reward=r, success=s, length=n, max_cube_z=z, max_hold=h,
                          final_hold=h if s else 0)
            for i, (r, s, n, z, h) in enumerate([(865.75, True, 120, 0.175, 150), (681.91, False, 200, 0.172, 40),
                                                 (4.26, False, 200, 0.013, 0), (483.77, True, 160, 0.144, 150)])]


def test_eval_files_match_a_recomputation_from_episode_rows(tmp_path):
    eps = _episodes()
    record = tables.EvalRecord(run="r", checkpoint="500k", step=500_000, settings={"hold_steps": 150},
                               summary=summarize(eps), episodes=tuple(eps),
                               videos=tuple(f"ep{i}.mp4" for i in range(len(eps))))
    paths = tables.write_eval_files(tmp_path, record)
    import csv

    with open(paths["episodes_csv"]) as f:
        rows = list(csv.DictReader(f))
    with open(paths["summary_csv"]) as f:
        (summary,) = list(csv.DictReader(f))
    doc = json.loads(paths["json"].read_text())
    reward = np.array([float(r["reward"]) for r in rows])
    z = np.array([float(r["max_cube_z"]) for r in rows])
    succ = [r["success"] == "True" for r in rows]
    assert float(summary["reward_mean"]) == pytest.approx(reward.mean())
    assert float(summary["reward_std"]) == pytest.approx(reward.std())
    assert float(summary["max_cube_z_mean"]) == pytest.approx(z.mean())
    assert float(summary["max_cube_z_max"]) == pytest.approx(z.max())
    assert float(summary["success_rate"]) == pytest.approx(sum(succ) / len(succ)) == 0.5
    assert float(summary["hold_mean"]) == pytest.approx(np.mean([int(r["max_hold"]) for r in rows]))
    assert float(summary["length_mean"]) == pytest.approx(np.mean([int(r["length"]) for r in rows]))
    assert doc["summary"]["reward_mean"] == pytest.approx(reward.mean())
    assert [e["video"] for e in doc["episodes"]] == ["ep0.mp4", "ep1.mp4", "ep2.mp4", "ep3.mp4"]
    text = tables.format_summary_table([record])
    assert "| 500k " in text and "508.92 ± 321.16" in text and "50% (2/4)" in text and "0.126 m" in text


def _point(step, succ=0, n=10, reward=1.0):
    return history.EvalPoint(step, succ / n, succ, n, wilson_lower_bound(succ, n), reward, 0.0, 0.05, 0.1, 0.0, 200.0)


def test_match_steps_lines_up_evals_a_vector_step_apart():
    a = [_point(100), _point(200), _point(300)]
    b = [_point(104), _point(208)]
    matched = tables.match_steps([a, b], tolerance=16)
    assert [[p.step for p in row] for row in matched] == [[100, 104], [200, 208]]
    assert tables.match_steps([a, b], tolerance=1) == []
    assert tables.match_steps([a, []], tolerance=16) == []


# ---------------------------------------------------------------------------------- compare and report
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.slow
def test_compare_writes_tables_and_curves_and_handles_a_run_without_evals(tmp_path, capsys):
    v11 = make_run(tmp_path, "v11", [(100, 0, 5, 16.2), (200, 0, 5, 16.0), (300, 0, 5, 3.0)], [50, 150, 250],
                   reward="v11")
    v19 = make_run(tmp_path, "v19", [(100, 0, 5, 342.9), (200, 2, 5, 655.7), (300, 0, 5, 4.3)], [50, 150, 250])
    fresh = make_run(tmp_path, "fresh", [], [50])
    out = tmp_path / "out" / "cmp.png"
    assert cli("compare", v11, v19, fresh, "--labels", "v11,v19,new", "--out", out) == 0
    w, h = _png_size(out)
    assert w > 800 and h > 200
    md = out.with_suffix(".md").read_text()
    printed = capsys.readouterr().out
    assert md.strip() in printed
    assert "- new: no evals yet" in md
    steps_table = md.split("## At matching steps")[1].split("##")[0]
    assert "| env steps | v11 reward" in steps_table and "new reward" not in steps_table and "| 300 " in steps_table
    assert "new (no evals yet)" in md and "v19 @ 200" in md and "655.70 ± 65.57" in md and "40% (2/5)" in md
    assert str(tmp_path) not in md  # kept tables name runs by agent/stamp, never by a path of this machine
    assert f"- v19: {v19.parent.name}/{v19.name} (agent" in md

    out2 = tmp_path / "cmp2.png"
    assert cli("compare", v11, v19, "--out", out2) == 0
    md2 = out2.with_suffix(".md").read_text()
    assert "## At matching steps" in md2
    steps_table = md2.split("## At matching steps")[1].split("##")[0]
    assert steps_table.count("\n| 1") == 1 and "| 200 " in steps_table and "| 300 " in steps_table
    assert cli("compare", v11, v19, "--steps", "200", "--out", out2) == 0
    steps_table = out2.with_suffix(".md").read_text().split("## At matching steps")[1].split("##")[0]
    assert "| 200 " in steps_table and "| 100 " not in steps_table and "| 300 " not in steps_table


@pytest.mark.slow
def test_compare_writes_into_the_first_run_by_default(tmp_path, monkeypatch):
    a = make_run(tmp_path, "a", [(100, 1, 5, 10.0)], [50])
    b = make_run(tmp_path, "b", [(100, 2, 5, 12.0)], [50])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli("compare", a, b) == 0
    assert (a / "compare.png").is_file() and (a / "compare.md").is_file()
    assert not list(elsewhere.iterdir())  # nothing in the current directory


def test_compare_panels_keep_a_run_without_evals_in_the_legend(tmp_path):
    a = history.read_history(folder.open_run(make_run(tmp_path, "a", [(100, 1, 5, 10.0)], [50])))
    b = history.read_history(folder.open_run(make_run(tmp_path, "b", [], [50])))
    page = plots.compare_panels(["a", "b"], [a, b], lift_height=0.08)
    assert [p.title for p in page.panels] == ["eval success rate", "eval mean reward (± std)",
                                              "eval max cube height (episode mean)"]
    for panel in page.panels:
        assert [s.label for s in panel.series] == ["a", "b (no evals yet)"]
        assert panel.series[0].steps == (100,) and panel.series[1].steps == ()
    assert page.panels[1].series[0].spread == (1.0,)


def test_compare_refuses_bad_input(tmp_path):
    a = make_run(tmp_path, "a", [(100, 1, 5, 10.0)], [50])
    with pytest.raises(ValueError, match="at least two runs"):
        cli("compare", a, "--out", tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="no run folder"):
        cli("compare", a, tmp_path / "missing", "--out", tmp_path / "x.png")
    with pytest.raises(ValueError, match="--labels names 1 runs but 2"):
        cli("compare", a, a, "--labels", "one", "--out", tmp_path / "x.png")
    b = make_run(tmp_path, "b", [], [])
    (b / "metrics.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        cli("compare", a, b, "--out", tmp_path / "x.png")


@pytest.mark.slow
def test_report_page_shows_diagnostics_beside_the_collapse(tmp_path, capsys):
    run_dir = make_run(tmp_path, "collapse", [(100, 0, 5, 342.0), (500, 3, 5, 655.0), (800, 0, 5, 4.0)],
                       list(range(50, 900, 50)), collapse_at=600)
    hist = history.read_history(folder.open_run(run_dir))
    page = plots.report_panels("collapse", hist, lift_height=0.08)
    by_title = {p.title: p for p in page.panels}
    assert page.vlines == ((500, "best eval"),)
    q = by_title["Q values"]
    assert {s.label for s in q.series} == {"q1_mean", "q_min", "q_max", "target_q_mean"}
    q1 = next(s for s in q.series if s.label == "q1_mean")
    assert max(q1.values) == q1.values[-1] > 100 * q1.values[10]  # the blow-up after 600 is on the page
    assert {s.label for s in by_title["reward terms (per-episode sums)"].series} == {"reach", "lift"}
    assert by_title["gradient norms"].log_y and len(by_title["gradient norms"].series) == 2
    assert by_title["exploration: stddev / temperature / entropy"].series[0].label == "actor_stddev"
    assert cli("report", run_dir) == 0
    w, h = _png_size(run_dir / "report.png")
    assert w > 1000 and h > 1000
    out = capsys.readouterr().out
    assert "best @ 500" in out and "last @ 800" in out


@pytest.mark.slow
def test_report_of_a_run_with_no_evals_yet(tmp_path, capsys):
    run_dir = make_run(tmp_path, "young", [], [50, 100])
    page = plots.report_panels("young", history.read_history(folder.open_run(run_dir)))
    success = page.panels[0]
    assert success.empty_text == "no evaluations yet"
    assert [s.label for s in success.series] == ["training episodes"]
    assert page.vlines == ()
    out = tmp_path / "young.png"
    assert cli("report", run_dir, "--out", out) == 0
    assert _png_size(out)[0] > 1000
    assert "no evaluations yet" in capsys.readouterr().out
    (run_dir / "metrics.jsonl").write_text("")  # started, nothing logged yet
    assert cli("report", run_dir, "--out", out) == 0


def test_report_leaves_out_what_was_not_logged_and_keeps_the_best_marker_inside_the_frame(tmp_path):
    """A run whose best eval is its last: the marker sits inside the x range, not on the border;
    a run that logs no Q values, losses or exploration gets no empty panels for them."""
    run_dir = make_run(tmp_path, "rising", [(100, 0, 5, 10.0), (200, 5, 5, 60.0)], [100, 200])
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in rows:  # a run that logs only its episodes and throughput
        for key in [k for k in r if k.startswith(("train/", "reward_terms/"))]:
            del r[key]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = plots.report_panels("rising", history.read_history(folder.open_run(run_dir)))
    assert page.vlines == ((200, "best eval"),)
    lo, hi = plots.x_range(page)
    assert lo < 100 and hi > 200  # both ends inside, with a margin
    assert all(p.series for p in page.panels)
    assert [p.title for p in page.panels] == ["success", "return", "max cube height", "episode length", "throughput"]
    assert next(p for p in page.panels if p.title == "episode length").ylabel == "control steps"


def test_report_refuses_missing_run_and_metrics(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder"):
        cli("report", tmp_path / "missing")
    run_dir = make_run(tmp_path, "a", [], [])
    (run_dir / "metrics.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        cli("report", run_dir)


def test_eval_point_fills_a_missing_lower_bound():
    p = history.eval_point({"step": 5, "kind": "eval", "eval/success_rate": 0.5, "eval/reward_mean": 1.0,
                         "eval/episodes": 4})
    assert p.success_lcb == pytest.approx(wilson_lower_bound(2, 4))
    assert math.isnan(p.max_cube_z_max)
    with pytest.raises(folder.RunError, match="lacks eval/success_rate"):
        history.eval_point({"step": 5, "kind": "eval"})
