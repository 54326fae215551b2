"""Stress reports side by side: only comparable reports, and the bar checked per report."""

from __future__ import annotations

import json

import pytest

from liftrl.cli import main
from liftrl.deploy.stress_compare import failures


def _report(folder, successes, seed=1500000000, episodes=10, bundle="b"):
    names = [("baseline", "baseline"), ("image", "grey frames"), ("table", "busy cloth")]
    conditions = [{"group": g, "name": n, "successes": s, "episodes": episodes, "overrides": {}, "image": ""}
                  for (g, n), s in zip(names, successes)]
    folder.mkdir(parents=True)
    (folder / "stress.json").write_text(json.dumps({"bundle": bundle, "first_seed": seed,
                                                    "episodes_per_condition": episodes, "conditions": conditions}))
    return folder


def test_side_by_side_names_each_reports_misses(tmp_path, capsys):
    before = _report(tmp_path / "before", [10, 6, 3], bundle="student")
    after = _report(tmp_path / "after", [9, 1, 9], bundle="student_wide")
    assert main(["stress-compare", f"before={before}", f"after={after}", "--out", str(tmp_path / "cmp")]) == 0
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| table | busy cloth | 3/10 (30%) | 9/10 (90%) |" in md
    assert "**after**: meets the bar." in md
    assert "image/grey frames 6/10 (image check above 10%)" in md and "table/busy cloth 3/10 (below 80%)" in md
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    assert "before: 2 condition(s) below the bar" in capsys.readouterr().out


def test_failures_apply_the_bar_by_group():
    report = {"conditions": [{"group": "baseline", "name": "baseline", "successes": 8, "episodes": 10},
                             {"group": "image", "name": "grey", "successes": 1, "episodes": 10},
                             {"group": "cube", "name": "black", "successes": 8, "episodes": 10}]}
    assert failures(report) == ["baseline/baseline 8/10 (baseline below 90%)"]


@pytest.mark.parametrize("change, match", [({"seed": 7}, "first_seed"), ({"episodes": 20}, "episodes_per_condition")])
def test_reports_of_other_seeds_or_sizes_are_refused(tmp_path, capsys, change, match):
    a = _report(tmp_path / "a", [10, 0, 9])
    b = _report(tmp_path / "b", [10, 0, 9], **change)
    assert main(["stress-compare", f"a={a}", f"b={b}", "--out", str(tmp_path / "cmp")]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "cmp" / "compare.md").exists()


def test_bad_inputs_are_named(tmp_path, capsys):
    a = _report(tmp_path / "a", [10, 0, 9])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "stress.json").write_text("{not json")
    cases = [([f"b={tmp_path / 'junk'}"], "junk/stress.json: not valid JSON"),
             ([f"b={tmp_path}"], "not a `liftrl stress` report"),
             ([str(a)], "LABEL=FOLDER"),
             ([], "at least two")]
    for extra, message in cases:
        assert main(["stress-compare", f"a={a}", *extra, "--out", str(tmp_path / "cmp")]) == 2
        assert message in capsys.readouterr().err
