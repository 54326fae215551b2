"""Importing a bench/ script as a module, for the tests of its pure parts (bench/ is not a package)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str) -> ModuleType:
    """``bench/<name>.py`` imported with bench/ on sys.path only while it loads (its own imports of
    bench's shared helpers resolve; nothing else sees bench/ afterwards)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
