"""Run the ``liftrl`` CLI in a fresh process over the fake servos and camera (for tests that send signals).

    python tests/fakes/launch.py SCENARIO.json deploy BUNDLE --robot so101 ...

SCENARIO.json: ``port``; ``calibration`` (a LeRobot calibration file whose numbers the servos'
EEPROM holds, as after a calibration); ``actual`` (encoder positions); ``mark_file`` and
``mark_after_reads`` (the file is created after that many position reads, so the test knows the
episode is running); ``state_file`` (the servos' registers and write logs, written at exit).
"""

from __future__ import annotations

import atexit
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `fakes`

from fakes import feetech, rig  # noqa: E402


def _dump(arm: feetech.FakeArm, path: str) -> None:
    state = {i: {"torque": s.get("Torque_Enable"), "goal": s.get("Goal_Position"), "present": s.present(),
                 "writes": [list(w) for w in s.writes]} for i, s in arm.servos.items()}
    Path(path).write_text(json.dumps(state))


def main() -> int:
    scenario = json.loads(Path(sys.argv[1]).read_text())
    rig.use_fakes()
    arm = feetech.plug(scenario["port"], scenario.get("actual"))
    rig.load_registers(arm, Path(scenario["calibration"]))
    if scenario.get("mark_file"):
        arm.mark = (scenario["mark_file"], arm.sync_reads + int(scenario["mark_after_reads"]))
    atexit.register(_dump, arm, scenario["state_file"])
    from liftrl.cli import main as liftrl_main

    return liftrl_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
