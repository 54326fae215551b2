"""The stress report's files: ``stress.json`` (every count), ``stress.md`` (tables by group) and a PNG.

Success rates come with 95% Wilson intervals: at 50 episodes a condition's interval is about +-10
points, so a difference smaller than that is not a finding. The weakest conditions are those with
the lowest success outside the image checks; the image checks should be *low* (a policy that
still succeeds on grey frames or another episode's frames is not using its camera).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liftrl.common.files import write_text_atomic
from liftrl.deploy.stress import Baseline, ConditionResult
from liftrl.deploy.stress_suite import GROUPS

IMAGE_CHECK_LIMIT = 0.10  # above this, the policy succeeds without a useful image


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def weakest(results: list[ConditionResult], n: int = 5) -> list[ConditionResult]:
    """The ``n`` conditions with the lowest success rate (then the lowest upper bound), image checks aside."""
    scene = [r for r in results if r.group not in ("image", "baseline") and r.episodes]
    return sorted(scene, key=lambda r: (r.rate, r.interval[1], r.label))[:n]


def to_json(bundle_name: str, base: Baseline, episodes: int, seed: int, results: list[ConditionResult]) -> dict:
    return {
        "bundle": bundle_name, "episodes_per_condition": episodes, "first_seed": seed,
        "baseline_loop": {"rate_hz": base.rate_hz, "latency_ms": base.latency_ms,
                          "camera_noise": base.camera_noise, "camera_gain": base.camera_gain},
        "conditions": [{"group": r.group, "name": r.name, "overrides": _plain(r.overrides), "image": r.image,
                        "successes": r.successes, "episodes": r.episodes, "success_rate": r.rate,
                        "wilson_95": list(r.interval), "safety_stops": r.safety_stops} for r in results],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _overrides_text(r: ConditionResult) -> str:
    parts = [f"image={r.image}"] if r.image else []
    parts += [f"{k}={_plain(v)}" for k, v in r.overrides.items()]
    return ", ".join(parts).replace("|", "/") or "-"


def to_markdown(bundle_name: str, base: Baseline, episodes: int, results: list[ConditionResult]) -> str:
    baseline = next((r for r in results if r.group == "baseline"), None)
    lines = [f"# Stress report: {bundle_name}", "",
             f"{episodes} episodes per condition (the same seeds in each), deploy loop on SimRobot at "
             f"{base.rate_hz:g} Hz with {base.latency_ms:g} ms latency, camera noise {base.camera_noise:g} and "
             f"gain {base.camera_gain:g}. Success with its 95% Wilson interval; the delta is against the baseline.",
             ""]
    for group in GROUPS:
        rows = [r for r in results if r.group == group]
        if not rows:
            continue
        lines += [f"## {group}", "", "| condition | success | 95% interval | vs baseline | safety stops | options |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            lo, hi = r.interval
            delta = "" if baseline is None or r is baseline else f"{100 * (r.rate - baseline.rate):+.0f} pts"
            lines.append(f"| {r.name} | {r.successes}/{r.episodes} ({_pct(r.rate)}) | {_pct(lo)}-{_pct(hi)} | "
                         f"{delta} | {r.safety_stops} | {_overrides_text(r)} |")
        lines.append("")
    lines += ["## Weakest conditions", ""]
    lines += [f"- {r.label}: {r.successes}/{r.episodes} ({_pct(r.rate)})" for r in weakest(results)]
    leaks = [r for r in results if r.group == "image" and r.episodes and r.rate > IMAGE_CHECK_LIMIT]
    if leaks:
        lines += ["", f"Image checks above {_pct(IMAGE_CHECK_LIMIT)} (the policy succeeds without a useful image): "
                  + ", ".join(f"{r.name} {_pct(r.rate)}" for r in leaks)]
    return "\n".join(lines) + "\n"


def plot(results: list[ConditionResult], path: Path, title: str) -> None:
    """Horizontal bars of success per condition with Wilson intervals, one colour per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.episodes]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    colours = plt.get_cmap("tab20")
    y = list(range(len(rows)))[::-1]
    for yi, r in zip(y, rows):
        lo, hi = r.interval
        ax.barh(yi, r.rate, color=colours(GROUPS.index(r.group) % 20) if r.group in GROUPS else "grey")
        ax.plot([lo, hi], [yi, yi], color="black", linewidth=1)
    base = next((r for r in rows if r.group == "baseline"), None)
    if base is not None:
        ax.axvline(base.rate, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([r.label for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("success (95% Wilson interval)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out_dir: str | Path, bundle_name: str, base: Baseline, episodes: int, seed: int,
                 results: list[ConditionResult]) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "stress.json", out / "stress.md", out / "stress.png"]
    write_text_atomic(paths[0], json.dumps(to_json(bundle_name, base, episodes, seed, results), indent=1) + "\n")
    write_text_atomic(paths[1], to_markdown(bundle_name, base, episodes, results))
    plot(results, paths[2], f"stress: {bundle_name}, {episodes} episodes per condition")
    return paths
