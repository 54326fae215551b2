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

# LeRobot 0.4.4 for tests/test_lerobot_*.py, which run liftrl against LeRobot's real SO-101 follower,
# Feetech bus and OpenCV camera. LeRobot's own pins (torch<2.11, opencv<4.13, numpy<2.3) would replace
# ours, so it goes in with --no-deps, plus exactly the light packages that importing the follower, the
# bus and the camera needs (found by trying the imports; with --no-deps none of them can move torch,
# numpy or OpenCV, as `pip install --dry-run` of this line shows). Two imports the follower never uses are
# covered otherwise: feetech-servo-sdk (scservo_sdk) is replaced by the tests' register-level fake
# servos, and torchvision (no CPU build for torch 2.13 on PyPI) by a test-only shim,
# tests/fakes/shims/README.md.
python -m pip install -q --no-deps "lerobot==0.4.4" \
    "draccus==0.10.0" "mergedeep==1.3.4" "pyyaml-include==1.4.1" "toml==0.10.2" "typing-inspect==0.9.0" \
    "mypy-extensions==1.1.0" "pyserial==3.5" "deepdiff==8.6.1" "orderly-set==5.5.0" "huggingface-hub==0.35.3" \
    "accelerate==1.10.1" "safetensors==0.6.2" "psutil==7.1.0" "datasets==4.1.1" "multiprocess==0.70.16" \
    "dill==0.3.8" "xxhash==3.5.0" "av==15.1.0" "einops==0.8.1"
