"""Generate the docs pages that must never be copied by hand: the config reference and the results.

Why generated: a figure or a default copied into prose goes stale silently (one docstring figure
was ten times too high). So:

- ``docs/reference/config.md`` is read from the config dataclasses' *source*: each field with its
  type, its default and the comment lines written just above it (``ast`` finds the fields,
  ``tokenize`` the comments). A field the parser misses and the dataclass has (or the reverse) is
  an error, not a silently shorter page.
- ``docs/results.md`` tabulates every ``bench/results/**/*.json`` file, each under its own path,
  and ``docs/figures/`` gets a copy of each result PNG the page shows beside its JSON;
  ``docs/bench-tables.md`` shows the markdown tables the benches wrote there, verbatim.

Run ``python tools/gen_docs.py`` (or just ``mkdocs build``: ``tools/mkdocs_hooks.py`` calls it
before every build). Files are rewritten only when their text changes, so ``mkdocs serve`` does
not loop. The outputs are build products (ignored by git).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import json
import sys
import tokenize
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


class GenDocsError(RuntimeError):
    """A source or results file the generator cannot read faithfully; the message names it."""


# --------------------------------------------------------------------------------------- config
@dataclasses.dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    default: str
    comment: str


def _comment_lines(source: str) -> tuple[dict[int, str], set[int]]:
    """Comment text by line number, and the set of lines that hold only a comment."""
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    return comments, {line for line in comments if line not in code_lines}


def _preceding_comment(line: int, comments: dict[int, str], comment_only: set[int]) -> str:
    """The block of comment-only lines right above ``line`` plus a comment at its end, as one text."""
    block = []
    k = line - 1
    while k in comment_only:
        block.append(comments[k])
        k -= 1
    text = " ".join(reversed(block))
    if line in comments and line not in comment_only:
        text = f"{text} {comments[line]}".strip()
    return text


def _format_value(value: Any) -> str:
    """A default as it would be written in a YAML config."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def _field_default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _format_value(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        made = f.default_factory()  # type: ignore[misc]
        return "(section)" if dataclasses.is_dataclass(made) else _format_value(made)
    return "(required)"


def _class_node(cls: type) -> tuple[ast.ClassDef, str, Path]:
    path = Path(sys.modules[cls.__module__].__file__)
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node, source, path
    raise GenDocsError(f"{path}: class {cls.__name__} not found in its module's source")


def class_fields(cls: type) -> list[FieldDoc]:
    """Every dataclass field of ``cls`` (base classes' first, as dataclasses order them), with its comment."""
    parsed: dict[str, tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        node, source, _ = _class_node(klass)
        comments, comment_only = _comment_lines(source)
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                parsed[stmt.target.id] = (ast.unparse(stmt.annotation),
                                          _preceding_comment(stmt.lineno, comments, comment_only))
    fields = dataclasses.fields(cls)
    missing = sorted({f.name for f in fields} ^ set(parsed))
    if missing:
        raise GenDocsError(f"{cls.__module__}.{cls.__name__}: fields {missing} differ between the source "
                           f"and the dataclass")
    return [FieldDoc(f.name, parsed[f.name][0], _field_default(f), parsed[f.name][1]) for f in fields]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _class_section(title: str, prefix: str, cls: type) -> list[str]:
    doc = " ".join((cls.__doc__ or "").split()) if cls.__dict__.get("__doc__") else ""
    _, _, path = _class_node(cls)
    lines = [f"## {title}", "", f"`{cls.__module__}.{cls.__name__}` (`{path.relative_to(ROOT)}`)", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| key | type | default | what |", "| --- | --- | --- | --- |"]
    for f in class_fields(cls):
        lines.append(f"| `{prefix}{f.name}` | `{_cell(f.type)}` | `{_cell(f.default)}` | {_cell(f.comment)} |")
    return lines + [""]


def config_reference() -> str:
    """The whole config reference page, from ``liftrl.config``'s sections and the agents' configs."""
    from liftrl import config as cfg  # imported here: the results half needs no liftrl

    lines = ["# Config reference", "",
             "<!-- generated by tools/gen_docs.py from the config dataclasses' source: do not edit -->", "",
             "Every key a run's YAML config or a `key=value` override accepts, with its default and the comment",
             "written above it in the source. A config is sections `env`, `obs`, `agent`, `replay`, `train`",
             "(and `distill` for `liftrl distill`); the `agent` section's keys depend on `agent.name`.",
             "Schedules (`stddev_schedule`, `beta_schedule`) are `0.2`, `const(x)`, `linear(start,end,steps)`",
             "or `step_linear(start,mid,d1,end,d2)`. All step counts are env steps summed over envs.", ""]
    for name in cfg.SECTION_ORDER:
        if name == "agent":
            for agent, klass in cfg.AGENT_CONFIGS.items():
                lines += _class_section(f"agent (agent.name: {agent})", "agent.", klass)
        else:
            lines += _class_section(name, f"{name}.", cfg.SECTIONS[name])
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- results
def _num(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return _format_value(value)
    if isinstance(value, float):
        if ("success" in key and "successes" not in key) and 0 <= value <= 1:
            return f"{100 * value:.1f}%".replace(".0%", "%")
        if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_num(key, v) for v in value)
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k} {_num(k if 'success' in k else f'{key}.{k}', v)}" for k, v in value.items())
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _table(rows: list[dict], skip: Iterable[str] = ()) -> list[str]:
    """A markdown table of a list of flat-ish dicts (nested lists are left out; see the JSON)."""
    skip = set(skip)
    cols: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in cols and k not in skip and not (isinstance(v, list) and v and isinstance(v[0], dict)):
                cols.append(k)
    out = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for row in rows:
        out.append("| " + " | ".join(_cell(_num(c, row.get(c, ""))) if c in row else "" for c in cols) + " |")
    return out + [""]


def _scalars(data: dict, skip: Iterable[str] = ()) -> list[str]:
    """Bullets for the top-level keys that are not tables."""
    skip = set(skip)
    out = []
    for k, v in data.items():
        if k in skip or (isinstance(v, list) and v and isinstance(v[0], dict)):
            continue
        text = _num(k, v)
        if k in ("command", "overrides") or (isinstance(v, str) and ("=" in v or "/" in v) and len(v) < 200):
            text = f"`{text}`" if text else text
        out.append(f"- {k}: {_cell(text)}")
    return out + [""]


def _stat(d: dict) -> str:
    key = "success" if d.get("mean") is not None and 0 <= d["mean"] <= 1 else "value"
    ci = d.get("ci95")
    interval = "" if ci is None or ci != ci else f" ± {_num(key, ci)}"
    return f"{_num(key, d['mean'])}{interval}"


def _sweep(data: dict) -> list[str]:
    out = [f"- interval: {data.get('interval', '')}", ""]
    for g in data["groups"]:
        best = g["best"]
        out += [f"**Group {g['rank']}: {g['group']}** (trials {', '.join(g['trials'])})", "",
                f"- best step {best['step']}: success {_stat(best['success'])}, reward {_stat(best['reward'])}",
                f"- steps to {_num('success', g['steps_to_target']['target'])} success: "
                f"{_stat(g['steps_to_target']) if g['steps_to_target'].get('mean') is not None else 'not reached'}"
                f" ({g['steps_to_target']['reached']} of {g['steps_to_target']['n']} seeds reached it)", "",
                "| step | success (mean ± 95% CI) | eval reward (mean ± 95% CI) |", "| --- | --- | --- |"]
        out += [f"| {p['step']} | {_stat(p['success'])} | {_stat(p['reward'])} |" for p in g["curve"]]
        out.append("")
    return out


def _calibration(data: dict) -> list[str]:
    ref = data["reference"]
    out = _scalars(data, skip=("cells", "joint_errors", "gripper_errors", "reference"))
    out[-1:] = [f"- plain `--robot sim` reference: {ref['successes']}/{ref['episodes']}, "
                f"{ref['safety_stops']} safety stops", ""]
    out += ["| joint zero error (deg) | gripper stop error (units) | without per-arm file | with per-arm file |",
            "| --- | --- | --- | --- |"]
    cells = {(c["joint_error_deg"], c["gripper_error_units"], c["per_arm_file"]): c for c in data["cells"]}

    def show(c: dict | None) -> str:
        if c is None:
            return "-"
        stops = f", {c['safety_stops']} safety stops" if c["safety_stops"] else ""
        return f"{c['successes']}/{c['episodes']} ({100 * c['successes'] / c['episodes']:.0f}%){stops}"

    for j in data["joint_errors"]:
        for gr in data["gripper_errors"]:
            out.append(f"| {j:g} | {gr:g} | {show(cells.get((j, gr, False)))} | {show(cells.get((j, gr, True)))} |")
    return out + [""]


def _per_seed(data: dict) -> list[str]:
    seeds = data["per_seed"]
    out = _scalars(data, skip=("per_seed",))
    out += _table(seeds, skip=("proof", "config", "overrides", "note", "run", "curve", "guard_restores"))
    steps = sorted({p["step"] for s in seeds for p in s.get("curve", [])})
    if steps:
        out += ["Evaluation success by env step:", "",
                "| step | " + " | ".join(f"seed {s.get('seed', i)}" for i, s in enumerate(seeds)) + " |",
                "|" + " --- |" * (len(seeds) + 1)]
        for step in steps:
            vals = [next((_num("success_rate", p["success_rate"]) for p in s.get("curve", []) if p["step"] == step),
                         "") for s in seeds]
            out.append(f"| {step} | " + " | ".join(vals) + " |")
        out.append("")
    notes = [f"- seed {s.get('seed')}: {s['note']}" for s in seeds if s.get("note")]
    return out + (notes + [""] if notes else [])


def render_result(data: Any) -> list[str]:
    """One results JSON as markdown: a table for each list of records, bullets for the rest."""
    if not isinstance(data, dict):
        return ["```json", json.dumps(data, indent=1)[:4000], "```", ""]
    if "groups" in data:
        return _sweep(data)
    if "cells" in data and "reference" in data:
        return _calibration(data)
    if "per_seed" in data:
        return _per_seed(data)
    out = _scalars(data)
    for k, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            out += [f"{k}:", ""] + _table(v)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.0f}"


def _students_summary(found: list[tuple[str, dict]]) -> list[str]:
    """One row per DAgger student result: its curve in one cell, its best, its dry run."""
    rows = [(n, d) for n, d in found if d.get("curve") and "labelled_frames" in d["curve"][0]]
    out = ["## Summary: DAgger students", "",
           "One row per `bench/learn.py student*` result (20 evaluation episodes per round unless the file",
           "says otherwise); the dry run lists each run's successes as `successes/episodes`.", "",
           "| file | teacher (snapshot, success) | success per round (%) | best | dry run | wall (min) |",
           "| --- | --- | --- | --- | --- | --- |"]
    for name, d in rows:
        t = d.get("teacher", {})
        teacher = f"{t.get('snapshot', '')}, {_num('success', t.get('success_rate'))}" if t else ""
        best = d.get("best", {})
        best_txt = f"{_num('success', best.get('success_rate'))} at {best.get('labelled_frames')} frames" if best else ""
        dry = "; ".join(f"{r['run']}{' + camera noise' if r.get('camera_noise') else ''}: "
                        f"{r['successes']}/{r['episodes']}" for r in d.get("dry_run", []))
        curve = ", ".join(_pct(p["success_rate"]) for p in d["curve"])
        out.append(f"| `{name}` | {_cell(teacher)} | {curve} | {best_txt} | {_cell(dry)} | {d.get('wall_minutes', '')} |")
    return out + [""]


def _proofs_summary(found: list[tuple[str, dict]]) -> list[str]:
    """One row per RL learning result (single run or per seed): goal, first step at it, best, last."""
    out = ["## Summary: RL learning runs", "",
           "One row per run of `bench/learn.py` (a multi-seed file gives one row per seed).", "",
           "| file | seed | env steps | goal | first step at goal | best (step) | last | wall (min) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, d in found:
        runs = d.get("per_seed") or ([d] if d.get("curve") and "step" in d["curve"][0] else [])
        for r in runs:
            goal = _num("success", r["goal_success"]) if r.get("goal_success") is not None else ""
            goal += f" by {r['goal_steps']}" if goal and r.get("goal_steps") else ""
            best = r.get("best") or max(r.get("curve", []), key=lambda p: p["success_rate"], default=None)
            best_txt = f"{_num('success', best['success_rate'])} ({best['step']})" if best else ""
            last = r.get("last") or (r["curve"][-1] if r.get("curve") else None)
            last_txt = f"{_num('success', last['success_rate'])} ({last['step']})" if last else ""
            out.append(f"| `{name}` | {r.get('seed', '')} | {r.get('env_steps', '')} | {goal} | "
                       f"{r.get('first_step_at_goal') or '-'} | {best_txt} | {last_txt} | {r.get('wall_minutes', '')} |")
    return out + [""]


def _result_files(results: Path) -> list[Path]:
    return sorted(results.rglob("*.json"))


def results_page(results: Path = RESULTS) -> tuple[str, list[Path]]:
    """The results page and the PNGs it shows (each beside the JSON of the same name)."""
    files = _result_files(results)
    lines = ["# Results", "",
             "<!-- generated by tools/gen_docs.py from bench/results/**/*.json: do not edit -->", "",
             f"Every JSON file in `bench/results/` ({len(files)} files), rendered as written by the bench",
             "that made it (`python bench/learn.py`, `bench/sweep_overhead.py`, `liftrl compare`,",
             "`bench/calibration_sensitivity.py`). Success rates are shown as percentages; the prose pages",
             "explain what each run was and cite these files. Text outputs (`*.txt`, `*.md`) of the other",
             "benches stay in `bench/results/` and are cited by the page that discusses them.", ""]
    found = []
    for path in files:
        try:
            found.append((path.relative_to(results).as_posix(), json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError) as e:
            raise GenDocsError(f"{path}: not readable JSON ({e})") from e
    lines += _proofs_summary([(n, d) for n, d in found if isinstance(d, dict)])
    lines += _students_summary([(n, d) for n, d in found if isinstance(d, dict)])
    figures = []
    for path, (_, data) in zip(files, found):
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        lines += [f"## {path.relative_to(results).as_posix()}", "", f"File: `{rel.as_posix()}`", ""]
        lines += render_result(data)
        png = path.with_suffix(".png")
        if png.exists():
            name = png.relative_to(results).as_posix().replace("/", "__")
            figures.append(png)
            lines += [f"![{png.name}](figures/{name})", ""]
    return "\n".join(lines), figures


def bench_tables_page(results: Path = RESULTS) -> str:
    """Every markdown table a bench or ``liftrl compare`` wrote into ``bench/results``, verbatim."""
    files = sorted(results.rglob("*.md"))
    lines = ["# Bench tables", "",
             "<!-- generated by tools/gen_docs.py from bench/results/**/*.md: do not edit -->", "",
             f"The markdown tables the benches and `liftrl compare` wrote into `bench/results/` ({len(files)} files),",
             "shown as written; their headings are moved down two levels.", ""]
    for path in files:
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        lines += [f"## {path.relative_to(results).as_posix()}", "", f"File: `{rel.as_posix()}`", ""]
        for line in path.read_text().splitlines():
            lines.append("##" + line if line.startswith("#") else line)
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ write
def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def generate(docs: Path, results: Path = RESULTS) -> list[Path]:
    """Write the generated pages under ``docs``; returns every file written or kept."""
    written = []
    page, figures = results_page(results)
    pages = ((docs / "reference" / "config.md", config_reference()), (docs / "results.md", page),
             (docs / "bench-tables.md", bench_tables_page(results)))
    for target, text in pages:
        _write_if_changed(target, (text.rstrip() + "\n").encode())
        written.append(target)
    for png in figures:
        target = docs / "figures" / png.relative_to(results).as_posix().replace("/", "__")
        _write_if_changed(target, png.read_bytes())
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="the docs folder to write into")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results folder to read")
    args = parser.parse_args(argv)
    try:
        written = generate(args.docs, args.results)
    except GenDocsError as e:
        print(f"gen_docs: {e}", file=sys.stderr)
        return 2
    print(f"gen_docs: {len(written)} files under {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
