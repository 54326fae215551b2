"""tools/gen_docs.py: the config reference pairs every field with its own comment and default, and the
results pages mention every file in bench/results (so no figure needs copying into prose by hand)."""

import dataclasses
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_docs():
    return _load("gen_docs", ROOT / "tools" / "gen_docs.py")


def test_config_reference_has_every_key_with_its_default_and_comment(gen_docs):
    from liftrl import config as cfg
    from liftrl.agents.config import AGENT_CONFIGS

    page = gen_docs.config_reference()
    classes = [(f"{name}.", cfg.SECTIONS[name]) for name in cfg.SECTIONS]
    classes += [("agent.", klass) for klass in AGENT_CONFIGS.values()]
    for prefix, klass in classes:
        for f in dataclasses.fields(klass):
            assert f"`{prefix}{f.name}`" in page, f"{prefix}{f.name} missing from the config reference"
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| `")}
    # A default and a comment from sim/options.py (inherited by EnvConfig), from config.py and an agent.
    assert "| `50` |" in rows["`env.control_hz`"] and "real arm's control rate" in rows["`env.control_hz`"]
    assert "`null`" in rows["`env.num_workers`"] and "in the training process" in rows["`env.num_workers`"]
    assert "`0.005`" in rows["`agent.critic_target_tau`"]  # SAC's; DrQ-v2's 0.01 row comes first
    assert "`0.01`" in page


def test_each_field_gets_the_comment_right_above_it_and_no_other(gen_docs, tmp_path, monkeypatch):
    source = textwrap.dedent('''
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Base:
            # first line of a
            # second line of a
            a: int = 1

            b: str = "x"  # inline comment of b


        @dataclass(frozen=True)
        class Child(Base):
            # c's comment
            c: tuple[float, ...] = (0.5, 1.0)
            d: bool = False
        ''')
    (tmp_path / "gd_sample.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import gd_sample

    fields = {f.name: f for f in gen_docs.class_fields(gd_sample.Child)}
    assert list(fields) == ["a", "b", "c", "d"]
    assert fields["a"].comment == "first line of a second line of a"
    assert fields["b"].comment == "inline comment of b"
    assert fields["c"].comment == "c's comment" and fields["c"].default == "[0.5, 1]"
    assert fields["d"].comment == "" and fields["d"].default == "false"
    assert fields["c"].type == "tuple[float, ...]"


def test_results_pages_mention_every_results_file(gen_docs, tmp_path):
    written = gen_docs.generate(tmp_path)
    results = (tmp_path / "results.md").read_text()
    tables = (tmp_path / "bench-tables.md").read_text()
    jsons = sorted(RESULTS.rglob("*.json"))
    assert jsons, "bench/results has no JSON to render"
    for path in jsons:
        assert f"## {path.relative_to(RESULTS).as_posix()}" in results, f"{path.name} not on the results page"
    for path in RESULTS.rglob("*.md"):
        assert f"## {path.relative_to(RESULTS).as_posix()}" in tables, f"{path.name} not on the bench tables page"
    # A figure from a JSON reaches the page through the generator (the teacher sweep's best step).
    best = json.loads((RESULTS / "sweep_teacher.json").read_text())["groups"][0]["best"]["step"]
    assert f"best step {best}:" in results
    for png in RESULTS.glob("*.png"):
        if png.with_suffix(".json").exists():
            assert (tmp_path / "figures" / png.name).read_bytes() == png.read_bytes()
    assert tmp_path / "reference" / "config.md" in written


def test_unreadable_results_file_is_named(gen_docs, tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(gen_docs.GenDocsError, match="broken.json"):
        gen_docs.results_page(tmp_path)
    assert gen_docs.main(["--docs", str(tmp_path / "out"), "--results", str(tmp_path)]) == 2
