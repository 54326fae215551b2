"""PNG pages from metrics: learning curves of several runs, and one run's diagnostics page.

What to draw is decided by pure functions (``compare_panels``, ``report_panels``) that turn
histories into ``Panel`` descriptions; ``render`` only draws them. The diagnostics page puts the
outcome (success, return, cube height) above its possible causes (Q values, losses, exploration,
gradient norms, reward terms) on one shared step axis, with the best evaluation marked on every
panel, so a collapse like the user's (reward 656 at 500k, 4 at 800k) is seen next to whatever
moved with it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from liftrl.report.history import EvalPoint, History

# Train-row keys grouped by panel; anything matching is drawn, so new diagnostics appear by name.
Q_KEYS = ("train/q1_mean", "train/q_min", "train/q_max", "train/target_q_mean", "train/target_q_max")
RATE_LIM = (-0.03, 1.03)
EXPLORATION_KEYS = ("train/actor_stddev", "train/stddev", "train/alpha", "train/temperature", "train/entropy")


@dataclass(frozen=True)
class Series:
    label: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    # Optional +- band (same length as values), e.g. reward std.
    spread: tuple[float, ...] | None = None
    style: str = "-"


@dataclass(frozen=True)
class Panel:
    title: str
    series: tuple[Series, ...]
    ylabel: str = ""
    log_y: bool = False
    hlines: tuple[tuple[float, str], ...] = ()
    empty_text: str = "not logged"
    ylim: tuple[float, float] | None = None


@dataclass(frozen=True)
class Page:
    title: str
    panels: tuple[Panel, ...]
    columns: int = 3
    # Vertical markers drawn on every panel: (step, label).
    vlines: tuple[tuple[int, str], ...] = field(default=())


def _eval_series(label: str, points: Sequence[EvalPoint], attr: str, spread: str | None = None,
                 style: str = "o-") -> Series:
    pts = [p for p in points if not math.isnan(getattr(p, attr))]
    band = None
    if spread is not None:
        band = tuple(0.0 if math.isnan(getattr(p, spread)) else getattr(p, spread) for p in pts)
    return Series(label, tuple(p.step for p in pts), tuple(getattr(p, attr) for p in pts), band, style)


def _train_series(history: History, key: str, label: str | None = None, style: str = "-") -> Series | None:
    xs, ys = history.series(key)
    return Series(label or key.split("/", 1)[-1], tuple(xs), tuple(ys), None, style) if xs else None


def _present(series) -> tuple[Series, ...]:
    return tuple(s for s in series if s is not None and s.steps)


# ---------------------------------------------------------------------------------- compare
def compare_panels(names: Sequence[str], histories: Sequence[History], lift_height: float | None = None) -> Page:
    """Success rate, mean reward (+- std) and mean max cube height against env steps, one line per run."""
    def label(name, h):
        return name if h.evals else f"{name} (no evals yet)"

    success = tuple(_eval_series(label(n, h), h.evals, "success_rate") for n, h in zip(names, histories))
    reward = tuple(_eval_series(label(n, h), h.evals, "reward_mean", "reward_std") for n, h in zip(names, histories))
    height = tuple(_eval_series(label(n, h), h.evals, "max_cube_z_mean") for n, h in zip(names, histories))
    hl = ((lift_height, "lift height"),) if lift_height else ()
    return Page(
        title="Evaluation curves: " + " vs ".join(names),
        panels=(Panel("eval success rate", success, "success rate", empty_text="no evaluations yet", ylim=RATE_LIM),
                Panel("eval mean reward (± std)", reward, "return", empty_text="no evaluations yet"),
                Panel("eval max cube height (episode mean)", height, "m", hlines=hl, empty_text="no evaluations yet")),
        columns=3,
    )


# ---------------------------------------------------------------------------------- one run
def report_panels(name: str, history: History, lift_height: float | None = None, subtitle: str = "") -> Page:
    """The run's outcome curves and training diagnostics, twelve panels on one page."""
    h = history
    keys = h.keys()
    ev = h.evals
    eval_empty = "no evaluations yet"
    hl = ((lift_height, "lift height"),) if lift_height else ()
    grad_keys = sorted(k for k in keys if k.startswith("train/") and k.endswith("grad_norm"))
    term_keys = sorted(k for k in keys if k.startswith("reward_terms/"))
    panels = (
        Panel("success", _present((_eval_series("eval success rate", ev, "success_rate"),
                                   _eval_series("eval success lower bound", ev, "success_lcb", style="--"),
                                   _train_series(h, "episode/success", "training episodes"))),
              "rate", empty_text=eval_empty, ylim=RATE_LIM),
        Panel("return", _present((_eval_series("eval mean (± std)", ev, "reward_mean", "reward_std"),
                                  _train_series(h, "episode/return", "training episodes"))),
              "return", empty_text=eval_empty),
        Panel("max cube height", _present((_eval_series("eval mean", ev, "max_cube_z_mean"),
                                           _eval_series("eval max", ev, "max_cube_z_max", style="^:"),
                                           _train_series(h, "episode/max_cube_z", "training episodes"))),
              "m", hlines=hl, empty_text=eval_empty),
        Panel("Q values", _present(_train_series(h, k) for k in Q_KEYS if k in keys), "Q"),
        Panel("critic loss", _present((_train_series(h, "train/critic_loss"),)), log_y=True),
        Panel("actor loss", _present((_train_series(h, "train/actor_loss"), _train_series(h, "train/alpha_loss")))),
        Panel("exploration: stddev / temperature / entropy",
              _present(_train_series(h, k) for k in EXPLORATION_KEYS if k in keys)),
        Panel("gradient norms", _present(_train_series(h, k) for k in grad_keys), log_y=True),
        Panel("reward terms (per-episode sums)", _present(_train_series(h, k) for k in term_keys)),
        Panel("saturated actions (|a| > 0.99)", _present((_train_series(h, "train/saturated_action_frac"),)),
              "fraction"),
        Panel("episode length", _present((_train_series(h, "episode/length", "training episodes"),
                                          _eval_series("eval mean", ev, "length_mean"))), "steps"),
        Panel("throughput", _present((_train_series(h, "time/env_steps_per_s", "env steps/s"),
                                      _train_series(h, "time/updates_per_s", "updates/s"))), "per second"),
    )
    best = h.best()
    vlines = ((best.step, "best eval"),) if best else ()
    vlines += tuple((int(g["step"]), f"guard restore to {g.get('guard/restored_from', '?')}") for g in h.guards)
    title = f"{name}" + (f" — {subtitle}" if subtitle else "")
    return Page(title=title, panels=panels, columns=3, vlines=vlines)


# ---------------------------------------------------------------------------------- drawing
def render(page: Page, path: str | os.PathLike, panel_size: tuple[float, float] = (5.2, 3.4), dpi: int = 90) -> Path:
    """Draw ``page`` to a PNG (no display needed; pyplot's global state is not touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    cols = max(1, min(page.columns, len(page.panels)))
    rows = math.ceil(len(page.panels) / cols)
    fig = Figure(figsize=(panel_size[0] * cols, panel_size[1] * rows + 0.6), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(page.panels):]:
        ax.set_visible(False)
    # One step range on every panel, so an event lines up vertically across the page.
    steps = [x for p in page.panels for s in p.series for x in s.steps] + [x for x, _ in page.vlines]
    xlim = (min(steps), max(steps)) if steps and min(steps) < max(steps) else None
    for ax, panel in zip(axes.flat, page.panels):
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel("env steps", fontsize=8)
        if panel.ylabel:
            ax.set_ylabel(panel.ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        drawn = 0
        for s in panel.series:
            if not s.steps:
                ax.plot([], [], s.style, label=s.label)  # keeps the run in the legend
                continue
            (line,) = ax.plot(s.steps, s.values, s.style, label=s.label, markersize=3, linewidth=1.2)
            if s.spread is not None:
                lo = [v - d for v, d in zip(s.values, s.spread)]
                hi = [v + d for v, d in zip(s.values, s.spread)]
                ax.fill_between(s.steps, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            drawn += 1
        if panel.log_y and drawn and all(v > 0 for s in panel.series for v in s.values):
            ax.set_yscale("log")
        for y, label in panel.hlines:
            ax.axhline(y, color="grey", linestyle=":", linewidth=1, label=label)
        for x, label in page.vlines:
            guard = label.startswith("guard")
            ax.axvline(x, color="tab:red" if guard else "tab:green", linestyle=":" if guard else "--",
                       linewidth=0.8, alpha=0.7, label=label)
        if xlim is not None:
            ax.set_xlim(*xlim)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        if not drawn:
            ax.text(0.5, 0.5, panel.empty_text, transform=ax.transAxes, ha="center", va="center",
                    fontsize=9, color="grey")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(page.title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path
