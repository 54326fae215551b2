"""No package imports a package above it: the layers of ``shared/DESIGN.md``, checked on the source.

Every ``import`` in ``src/liftrl`` counts, those inside functions included (a lazy import is still
a dependency). The layer table below is the one place the order is written; a package that does
not exist yet (distill, sweep) is listed so its imports are checked the day it appears.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "liftrl"

# Lower never imports higher; equal layers may import each other unless FORBIDDEN says otherwise.
LAYERS: dict[str, float] = {
    "common": 1, "obs": 1, "rewards": 1,   # pure helpers, preprocessing, reward functions
    "sim": 1.5, "scripted": 1.5, "": 1.5,  # the simulator (and the package root, which registers its env)
    "agents": 2, "replay": 2,
    "config": 2.5,                         # reads the agents' configs and the sim's env options
    "run": 3,
    "train": 4, "distill": 4.5, "sweep": 4.5,
    "report": 5, "deploy": 5,
    "cli": 6,
}
FORBIDDEN = {
    ("agents", "sim"): "agents see observation dicts, never the simulator",
    ("report", "deploy"): "report and deploy read runs through run/, neither imports the other",
    ("deploy", "report"): "report and deploy read runs through run/, neither imports the other",
}
NO_TORCH = ("common", "obs", "rewards", "sim", "scripted")  # the simulator side runs without torch


def _package(module: str) -> str:
    """``liftrl.sim.env`` -> ``sim``; ``liftrl`` -> ``""``; ``liftrl.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
    return out


def _violations() -> list[str]:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        importer = _package(_module_name(path))
        if importer not in LAYERS:
            problems.append(f"{path.relative_to(SRC.parent)}: package {importer!r} is not in the layer table")
            continue
        for line, module in _imports(path):
            where = f"{path.relative_to(SRC.parent)}:{line}"
            if module.split(".")[0] == "torch" and importer in NO_TORCH:
                problems.append(f"{where}: {importer} imports torch")
            if module.split(".")[0] != "liftrl":
                continue
            imported = _package(module)
            if imported not in LAYERS:
                problems.append(f"{where}: imports {module}, whose package {imported!r} is not in the layer table")
            elif LAYERS[imported] > LAYERS[importer]:
                problems.append(f"{where}: {importer} (layer {LAYERS[importer]:g}) imports {module} "
                                f"(layer {LAYERS[imported]:g})")
            elif (importer, imported) in FORBIDDEN:
                problems.append(f"{where}: {importer} imports {module}: {FORBIDDEN[(importer, imported)]}")
    return problems


def test_no_package_imports_a_package_above_it():
    assert _violations() == []


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The walker itself works: a train module importing report, and agents importing sim, are caught."""
    fake = tmp_path / "liftrl"
    (fake / "train").mkdir(parents=True)
    (fake / "agents").mkdir()
    (fake / "train" / "loop.py").write_text("def f():\n    from liftrl.report.video import Mp4Writer\n")
    (fake / "agents" / "x.py").write_text("from ..sim import env\nimport torch\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    found = _violations()
    assert any("train (layer 4) imports liftrl.report.video (layer 5)" in p for p in found), found
    assert any("agents imports liftrl.sim: agents see observation dicts" in p for p in found), found
    assert len(found) == 2


@pytest.mark.parametrize("package", sorted(p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"))
def test_every_package_has_a_layer(package):
    if (SRC / package / "__init__.py").exists() or any((SRC / package).glob("*.py")):
        assert package in LAYERS
