"""``liftrl compare SWEEP_DIR``: the sweep's groups as Markdown tables, a PNG and a JSON aggregate.

The statistics are ``liftrl.report.sweep``'s; this module only lays them out. The JSON holds every
figure of the tables (and the curves) so a README or a bench script quotes numbers, not pixels.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

from liftrl.report.plots import RATE_LIM, Page, Panel, Series, render
from liftrl.report.sweep import (SUCCESS_TARGET, CurvePoint, GroupSummary, MeanCI, common_steps, group_trials,
                                 open_sweep, ranked, summarize_group)
from liftrl.report.tables import _markdown
from liftrl.run.checkpoints import format_step


def _steps_text(s: GroupSummary) -> str:
    n = len(s.group.trials)
    if not s.reached:
        return f"not reached (0/{n})"
    return f"{s.steps_to_target.text('.0f')} ({s.reached}/{n})"


def format_groups(summaries: Sequence[GroupSummary]) -> str:
    rows = [[s.group.label, str(len(s.group.trials)), ", ".join(t.name for t in s.group.trials)] for s in summaries]
    return _markdown(["group", "seeds", "trials"], rows)


def format_steps_table(summaries: Sequence[GroupSummary], rows: list[list[CurvePoint]]) -> str:
    """Rows = steps every group evaluated; per group: success and reward, mean ± 95% CI over seeds."""
    header = ["env steps"]
    for s in summaries:
        header += [f"{s.group.label} success", f"{s.group.label} reward"]
    body = []
    for points in rows:
        cells = [format_step(points[0].step)]
        for p in points:
            cells += [p.success.text(".2f"), p.reward.text(".1f")]
        body.append(cells)
    return _markdown(header, body)


def format_best_table(summaries: Sequence[GroupSummary]) -> str:
    """One row per group in rank order: its best step and the figures there, and steps to 90%."""
    header = ["rank", "group", "seeds", "best at (env steps)", "success", "reward", "max cube z (m)",
              f"env steps to {SUCCESS_TARGET:.0%} success"]
    rows = []
    for i, s in enumerate(summaries, 1):
        b = s.best
        rows.append([str(i), s.group.label, str(len(s.group.trials)),
                     format_step(b.step) if b else "no evals yet", b.success.text(".2f") if b else "-",
                     b.reward.text(".1f") if b else "-", b.max_z.text(".3f") if b else "-", _steps_text(s)])
    return _markdown(header, rows)


def sweep_panels(name: str, summaries: Sequence[GroupSummary]) -> Page:
    """Mean curves with a shaded 95% interval over seeds, one line per group."""
    def series(s: GroupSummary, attr: str) -> Series:
        pts = [(c.step, getattr(c, attr)) for c in s.curve if not math.isnan(getattr(c, attr).mean)]
        half = tuple(0.0 if math.isnan(m.half) else m.half for _, m in pts)
        label = f"{s.group.label} (n={len(s.group.trials)})"
        return Series(label, tuple(x for x, _ in pts), tuple(m.mean for _, m in pts), half, "o-")

    return Page(
        title=f"Sweep {name}: mean over seeds, shaded 95% interval",
        panels=(Panel("eval success rate", tuple(series(s, "success") for s in summaries), "success rate",
                      empty_text="no evaluations yet", ylim=RATE_LIM),
                Panel("eval mean reward", tuple(series(s, "reward") for s in summaries), "return",
                      empty_text="no evaluations yet"),
                Panel("eval max cube height", tuple(series(s, "max_z") for s in summaries), "m",
                      empty_text="no evaluations yet")),
        columns=3)


def _ci_json(m: MeanCI) -> dict:
    return {"mean": None if math.isnan(m.mean) else m.mean, "ci95": None if math.isnan(m.half) else m.half, "n": m.n}


def aggregate_json(name: str, summaries: Sequence[GroupSummary]) -> dict:
    groups = []
    for rank, s in enumerate(summaries, 1):
        groups.append({
            "rank": rank, "group": s.group.label, "params": {k: v for k, v in s.group.params},
            "trials": [t.name for t in s.group.trials],
            "best": None if s.best is None else {"step": s.best.step, "success": _ci_json(s.best.success),
                                                 "reward": _ci_json(s.best.reward), "max_cube_z": _ci_json(s.best.max_z)},
            "steps_to_target": {"target": SUCCESS_TARGET, "reached": s.reached, **_ci_json(s.steps_to_target)},
            "curve": [{"step": c.step, "success": _ci_json(c.success), "reward": _ci_json(c.reward)} for c in s.curve],
        })
    return {"sweep": name, "interval": "95% Student t over seeds", "groups": groups}


def compare_sweep(path: str | os.PathLike, out: str | os.PathLike | None = None,
                  steps: Sequence[int] | None = None) -> tuple[str, Path]:
    """Tables (printed and ``.md``), ``.json`` and the PNG of a sweep folder; returns (text, png)."""
    spec, trials = open_sweep(path)
    summaries = ranked([summarize_group(g) for g in group_trials(trials)])
    rows = common_steps(summaries)
    if steps:
        tol = max(t.run.num_envs for t in trials)
        rows = [r for r in rows if any(w <= r[0].step < w + tol for w in steps)]
    waiting = [t.name for t in trials if t.history is None]
    lines = [f"# Sweep {spec.name}: {len(trials)} trials in {len(summaries)} groups "
             f"(seeds {', '.join(map(str, spec.seeds))}; scheduler {spec.scheduler})", "",
             "Figures are the mean over a group's seeds ± the half-width of a 95% interval (Student t).", "",
             "## Groups", "", format_groups(summaries)]
    if waiting:
        lines += ["", "Not logging yet: " + ", ".join(waiting)]
    lines += ["", "## At matching steps", ""]
    lines.append(format_steps_table(summaries, rows) if rows else "No eval step common to every group yet.")
    lines += ["", "## At each group's best, ranked", "", format_best_table(summaries)]
    text = "\n".join(lines)
    png = Path(out) if out else Path(path) / "compare.png"
    render(sweep_panels(spec.name, summaries), png)
    png.with_suffix(".md").write_text(text + "\n", encoding="utf-8")
    tmp = png.with_name(png.stem + ".json.tmp")
    tmp.write_text(json.dumps(aggregate_json(spec.name, summaries), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, png.with_suffix(".json"))
    return text, png
