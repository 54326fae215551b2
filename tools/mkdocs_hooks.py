"""mkdocs hook: regenerate the config reference and the results pages before each build.

Listed under ``hooks:`` in ``mkdocs.yml``, so a plain ``mkdocs build --strict`` (as ``.ci/run``
runs it) always shows the dataclasses and ``bench/results`` as they are, never a stale copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_docs  # noqa: E402  (tools/ is not a package)


def on_pre_build(config, **kwargs) -> None:
    gen_docs.generate(Path(config["docs_dir"]))
