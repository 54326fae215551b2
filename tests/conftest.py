"""Suite-wide settings: offscreen rendering on the CPU, one thread per process (2-core CI)."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# LeRobot (installed by scripts/setup.sh for tests/test_lerobot_*.py) imports torchvision, which has no
# CPU build for torch 2.13: a test-only shim stands in where it is missing (tests/fakes/shims/README.md).
from fakes import use_shims  # noqa: E402

use_shims()
