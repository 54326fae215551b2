"""liftrl looks for the SO-101 calibration exactly where the installed LeRobot (0.4.4) reads and writes it.

Run in fresh processes: LeRobot fixes its calibration folder from the environment when it is first
imported (``lerobot.utils.constants``), so each environment needs its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lerobot", reason="LeRobot 0.4.x is installed by scripts/setup.sh; .ci/run requires it")

TESTS = Path(__file__).resolve().parent
SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from fakes import feetech, use_shims
use_shims(); feetech.install()
from liftrl.deploy.calibration import lerobot_calibration_dir, lerobot_calibration_root
from liftrl.deploy.so101 import import_so101_follower
cls, cfg = import_so101_follower()
follower = cls(cfg(port="/dev/ttyFAKE0", id="arm9"))  # no calibration_dir: LeRobot's own default
print(json.dumps([str(follower.calibration_dir), str(lerobot_calibration_dir()),
                  str(lerobot_calibration_root() / "robots" / cls.name), cls.name]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("variable", ["HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_LEROBOT_HOME", "HF_LEROBOT_CALIBRATION"])
def test_liftrl_reads_the_folder_the_installed_lerobot_uses(tmp_path, variable):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_LEROBOT_CALIBRATION", "HF_LEROBOT_HOME", "HF_HOME", "XDG_CACHE_HOME")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=os.pathsep.join([str(TESTS.parent / "src"),
                                                                          os.environ.get("PYTHONPATH", "")]))
    env[variable] = str(tmp_path / variable.lower())
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(TESTS))], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lerobot_dir, asked, computed, name = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "so_follower"  # LeRobot 0.4.4 files SO-100/101 calibrations under so_follower/
    assert lerobot_dir == asked == computed and lerobot_dir.startswith(str(tmp_path / variable.lower()))
