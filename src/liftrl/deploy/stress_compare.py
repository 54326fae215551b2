"""Stress reports side by side: ``liftrl stress-compare before=DIR after=DIR --out DIR``.

Why: the question after a change to training (wider randomisation, a new encoder) is which
conditions it fixed and which it broke, and whether the policy now meets the bar for a real table.
Two reports are comparable only when they ran the same conditions on the same episode seeds, so
that is checked before anything is written. The bar (``Criteria``) is the one issue 25 sets:
baseline >= 90%, every scene condition >= 80%, and both image checks <= 10% (a policy that still
succeeds on grey frames or another episode's frames is not using its camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from liftrl.common.files import read_json, write_text_atomic

REPORT_FILE = "stress.json"


@dataclass(frozen=True)
class Criteria:
    baseline_min: float = 0.90
    condition_min: float = 0.80
    image_max: float = 0.10


def read_report(path: str | Path) -> dict[str, Any]:
    """A report's ``stress.json`` (the folder or the file); ValueError naming the file when it is not one."""
    p = Path(path)
    file = p / REPORT_FILE if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"{p} has no {REPORT_FILE}: not a `liftrl stress` report folder")
    report = read_json(file)  # invalid JSON: a ValueError naming the file
    problem = _shape_problem(report)
    if problem:
        raise ValueError(f"{file} is not a stress report: {problem}")
    return report


def _shape_problem(report: Any) -> str | None:
    if not isinstance(report, dict):
        return "not an object"
    missing = [k for k in ("conditions", "first_seed", "episodes_per_condition") if k not in report]
    if missing:
        return f"no {missing}"
    for c in report["conditions"]:
        lacks = [k for k in ("group", "name", "successes", "episodes") if not isinstance(c, dict) or k not in c]
        if lacks:
            return f"a condition without {lacks}"
    return None


def check_comparable(reports: Mapping[str, dict]) -> None:
    """Refuse reports that ran different conditions, episode counts or seeds, naming the difference."""
    labels = list(reports)
    first = reports[labels[0]]
    names = [(c["group"], c["name"]) for c in first["conditions"]]
    for label in labels[1:]:
        other = reports[label]
        for key in ("first_seed", "episodes_per_condition"):
            if other[key] != first[key]:
                raise ValueError(f"reports {labels[0]!r} and {label!r} differ in {key}: {first[key]} vs {other[key]}; "
                                 f"rerun one with the other's --episodes/--seed")
        theirs = [(c["group"], c["name"]) for c in other["conditions"]]
        if theirs != names:
            missing = sorted(set(names) ^ set(theirs))
            raise ValueError(f"reports {labels[0]!r} and {label!r} ran different conditions: {missing or 'order'}")


def failures(report: dict, criteria: Criteria = Criteria()) -> list[str]:
    """What keeps this report below the bar, one line per condition; empty when it meets it."""
    out = []
    for c in report["conditions"]:
        rate = c["successes"] / c["episodes"] if c["episodes"] else 0.0
        text = f"{c['group']}/{c['name']} {c['successes']}/{c['episodes']}"
        if c["group"] == "baseline" and rate < criteria.baseline_min:
            out.append(f"{text} (baseline below {criteria.baseline_min:.0%})")
        elif c["group"] == "image" and rate > criteria.image_max:
            out.append(f"{text} (image check above {criteria.image_max:.0%})")
        elif c["group"] not in ("baseline", "image") and rate < criteria.condition_min:
            out.append(f"{text} (below {criteria.condition_min:.0%})")
    return out


def _cell(c: dict) -> str:
    rate = c["successes"] / c["episodes"] if c["episodes"] else 0.0
    return f"{c['successes']}/{c['episodes']} ({100 * rate:.0f}%)"


def to_markdown(reports: Mapping[str, dict], criteria: Criteria = Criteria()) -> str:
    """One table, a row per condition and a column per report, then each report's failures."""
    labels = list(reports)
    first = reports[labels[0]]
    lines = ["# Stress reports side by side", "",
             f"{first['episodes_per_condition']} episodes per condition, the same seeds in every report and "
             f"condition (first seed {first['first_seed']}). Reports: "
             + ", ".join(f"{label} = `{reports[label].get('bundle', '?')}`" for label in labels) + ".", "",
             "| group | condition | " + " | ".join(labels) + " |",
             "| --- | --- | " + " | ".join("---" for _ in labels) + " |"]
    for i, c in enumerate(first["conditions"]):
        cells = [_cell(reports[label]["conditions"][i]) for label in labels]
        lines.append(f"| {c['group']} | {c['name']} | " + " | ".join(cells) + " |")
    lines += ["", f"The bar: baseline >= {criteria.baseline_min:.0%}, every other condition >= "
                  f"{criteria.condition_min:.0%}, image checks <= {criteria.image_max:.0%}.", ""]
    for label in labels:
        missed = failures(reports[label], criteria)
        lines.append(f"- **{label}**: " + ("meets the bar." if not missed else
                                           f"{len(missed)} condition(s) miss it: " + "; ".join(missed)))
    return "\n".join(lines) + "\n"


def plot(reports: Mapping[str, dict], path: Path) -> None:
    """Grouped horizontal bars: one bar per report for each condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(reports)
    conditions = reports[labels[0]]["conditions"]
    n, k = len(conditions), len(labels)
    fig, ax = plt.subplots(figsize=(8, 0.3 * n * max(1, k / 2) + 1.2))
    height = 0.8 / k
    for j, label in enumerate(labels):
        rows = reports[label]["conditions"]
        ys = [n - 1 - i + (k - 1 - j - (k - 1) / 2) * height for i in range(n)]
        ax.barh(ys, [r["successes"] / max(r["episodes"], 1) for r in rows], height=height, label=label)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"{c['group']}: {c['name']}" for c in conditions][::-1], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("success")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare(labelled: Mapping[str, str | Path], out_dir: str | Path) -> list[Path]:
    """Read, check and write ``compare.md`` and ``compare.png`` for ``{label: report folder}``."""
    if len(labelled) < 2:
        raise ValueError(f"compare needs at least two reports, got {len(labelled)}")
    reports = {label: read_report(path) for label, path in labelled.items()}
    check_comparable(reports)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.md", out / "compare.png"]
    write_text_atomic(paths[0], to_markdown(reports))
    plot(reports, paths[1])
    return paths
