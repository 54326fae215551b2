"""PNG pages from metrics: learning curves of several runs, and one run's diagnostics page.

The diagnostics page depends on the run's kind: an RL run's causes are Q values, losses and
exploration; a distillation's are the action error to the teacher's labels, beta and the share of
steps the teacher drove, against the teacher's own success as a line to reach, on an axis of
labelled frames. Panels with nothing logged are left out.

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
EVAL_EMPTY = "no evaluations yet"
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
    xlabel: str = "env steps"


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
def _outcome_panels(h: History, lift_height: float | None) -> tuple[Panel, ...]:
    """Success, return and cube height: evaluations (and training episodes where logged), the teacher's line."""
    ev, teacher = h.evals, h.teacher
    hl = ((lift_height, "lift height"),) if lift_height else ()

    def line(attr: str, text: str) -> tuple[tuple[float, str], ...]:
        value = getattr(teacher, attr) if teacher is not None else math.nan
        return () if math.isnan(value) else ((value, text.format(value)),)

    return (
        Panel("success", _present((_eval_series("eval success rate", ev, "success_rate"),
                                   _eval_series("eval success lower bound", ev, "success_lcb", style="--"),
                                   _train_series(h, "episode/success", "training episodes"))),
              "rate", hlines=line("success_rate", "teacher {:.0%}"), empty_text=EVAL_EMPTY, ylim=RATE_LIM),
        Panel("return", _present((_eval_series("eval mean (± std)", ev, "reward_mean", "reward_std"),
                                  _train_series(h, "episode/return", "training episodes"))),
              "return", hlines=line("reward_mean", "teacher {:.1f}"), empty_text=EVAL_EMPTY),
        Panel("max cube height", _present((_eval_series("eval mean", ev, "max_cube_z_mean"),
                                           _eval_series("eval max", ev, "max_cube_z_max", style="^:"),
                                           _train_series(h, "episode/max_cube_z", "training episodes"))),
              "m", hlines=hl + line("max_cube_z_mean", "teacher mean {:.3f} m"), empty_text=EVAL_EMPTY),
    )


def _common_panels(h: History, keys: set[str]) -> tuple[Panel, ...]:
    grad_keys = sorted(k for k in keys if k.startswith("train/") and k.endswith("grad_norm"))
    return (
        Panel("gradient norms", _present(_train_series(h, k) for k in grad_keys), log_y=True),
        Panel("episode length", _present((_train_series(h, "episode/length", "training episodes"),
                                          _eval_series("eval mean", h.evals, "length_mean"))), "control steps"),
        Panel("throughput", _present((_train_series(h, "time/env_steps_per_s", "env steps/s"),
                                      _train_series(h, "time/updates_per_s", "updates/s"))), "per second"),
    )


def _rl_panels(h: History, keys: set[str]) -> tuple[Panel, ...]:
    """An RL run's possible causes: Q values, losses, exploration, reward terms, saturation."""
    term_keys = sorted(k for k in keys if k.startswith("reward_terms/"))
    return (
        Panel("Q values", _present(_train_series(h, k) for k in Q_KEYS if k in keys), "Q"),
        Panel("critic loss", _present((_train_series(h, "train/critic_loss"),)), log_y=True),
        Panel("actor loss", _present((_train_series(h, "train/actor_loss"), _train_series(h, "train/alpha_loss")))),
        Panel("exploration: stddev / temperature / entropy",
              _present(_train_series(h, k) for k in EXPLORATION_KEYS if k in keys)),
        Panel("reward terms (per-episode sums)", _present(_train_series(h, k) for k in term_keys)),
        Panel("saturated actions (|a| > 0.99)", _present((_train_series(h, "train/saturated_action_frac"),)),
              "fraction"),
    )


def _distill_panels(h: History) -> tuple[Panel, ...]:
    """A distillation's own figures: how far the student is from the teacher's labels, and who drove."""
    return (
        Panel("action error to the teacher's labels", _present((
            _train_series(h, "train/action_mse", "mean squared error"),
            _train_series(h, "train/action_abs_error", "mean absolute error"))), "error (action units)", log_y=True),
        Panel("beta and the share the teacher drove", _present((
            _train_series(h, "train/beta", "beta (teacher's probability)", style="o-"),
            _train_series(h, "train/teacher_drove_frac", "teacher drove (share of steps)", style="x--"))),
              "fraction", ylim=RATE_LIM),
        Panel("student loss", _present((_train_series(h, "train/loss", "loss"),
                                        _train_series(h, "train/aux_loss", "auxiliary cube loss"))), log_y=True),
    )


def report_panels(name: str, history: History, lift_height: float | None = None, subtitle: str = "",
                  kind: str = "rl") -> Page:
    """The run's outcome curves above its diagnostics, by run ``kind`` ("rl" or "distill").

    A panel with nothing logged is left out rather than drawn empty; a distillation's x axis is
    its labelled frames (one per env step), and its teacher's evaluation is a line on the outcome panels.
    """
    h = history
    keys = h.keys()
    causes = _distill_panels(h) if kind == "distill" else _rl_panels(h, keys)
    panels = tuple(p for p in (*_outcome_panels(h, lift_height), *causes, *_common_panels(h, keys)) if p.series)
    if not panels:
        panels = (Panel("nothing logged yet", (), empty_text="no training rows or evaluations yet"),)
    best = h.best()
    vlines = ((best.step, "best eval"),) if best else ()
    vlines += tuple((int(g["step"]), f"guard restore to {g.get('guard/restored_from', '?')}") for g in h.guards)
    title = f"{name}" + (f" — {subtitle}" if subtitle else "")
    xlabel = "labelled frames (env steps)" if kind == "distill" else "env steps"
    return Page(title=title, panels=panels, columns=3, vlines=vlines, xlabel=xlabel)


def x_range(page: Page, margin: float = 0.04) -> tuple[float, float] | None:
    """One step range for every panel, widened by ``margin`` of it on each side so that a marker at
    the first or last step (the best eval is often the last) is drawn inside the frame, not on it."""
    steps = [x for p in page.panels for s in p.series for x in s.steps] + [x for x, _ in page.vlines]
    if not steps:
        return None
    lo, hi = min(steps), max(steps)
    pad = margin * (hi - lo) if hi > lo else max(1.0, margin * abs(hi))
    return lo - pad, hi + pad


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
    xlim = x_range(page)
    for ax, panel in zip(axes.flat, page.panels):
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(page.xlabel, fontsize=8)
        if panel.ylabel:
            ax.set_ylabel(panel.ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        drawn = 0
        for s in panel.series:
            if not s.steps:
                ax.plot([], [], s.style, label=s.label)  # keeps the run in the legend
                continue
            lone = {"marker": "o"} if len(s.steps) == 1 else {}  # a line of one point draws nothing
            (line,) = ax.plot(s.steps, s.values, s.style, label=s.label, markersize=3, linewidth=1.2, **lone)
            if s.spread is not None:
                lo = [v - d for v, d in zip(s.values, s.spread)]
                hi = [v + d for v, d in zip(s.values, s.spread)]
                ax.fill_between(s.steps, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            drawn += 1
        if panel.log_y and drawn and all(v > 0 for s in panel.series for v in s.values):
            ax.set_yscale("log")
        for y, label in panel.hlines:
            teacher = label.startswith("teacher")
            ax.axhline(y, color="tab:purple" if teacher else "grey", linestyle="-." if teacher else ":",
                       linewidth=1.2 if teacher else 1, label=label)
        for x, label in page.vlines:
            guard = label.startswith("guard")
            ax.axvline(x, color="tab:red" if guard else "tab:green", linestyle=":" if guard else "--",
                       linewidth=1.2, alpha=0.8, label=label, zorder=5)
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
