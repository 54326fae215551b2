"""Test-only stand-ins below LeRobot: fake Feetech servos (``feetech``), a fake USB camera (``camera``), the bench (``rig``)."""

import importlib.util
import sys
from pathlib import Path

SHIMS = Path(__file__).resolve().parent / "shims"


def use_shims() -> None:
    """Put the test-only import shims on the path, behind everything real (tests/fakes/shims/README.md)."""
    if importlib.util.find_spec("torchvision") is None and str(SHIMS) not in sys.path:
        sys.path.append(str(SHIMS))
