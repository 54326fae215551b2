#!/usr/bin/env bash
# Create .venv and install liftrl with its test tools, the [sweep] extra (Ray Tune), so the sweep
# tests run in CI, and the [docs] extra (mkdocs), so CI builds the documentation site. torch is pinned first to the CPU build
# that pip finds locally (2.13.0): an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test,sweep,docs]"
