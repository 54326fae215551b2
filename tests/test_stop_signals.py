"""Ctrl-C and SIGTERM stop a real ``liftrl train`` cleanly: snapshot at the current step, exit 0, exact resume."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import ROOT, TINY, WAIT_S, run_folder, start_cli, wait_for_rows

from liftrl.run.snapshot import read_metadata
from liftrl.train.loop import resume
from liftrl.train.metrics import read_metrics

# Signals sent to the real CLI in a subprocess, then resumes: the slow tier.
pytestmark = pytest.mark.slow

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_at_the_current_step_and_resume_continues(tmp_path, signum):
    # Snapshots and evals far apart: only the signal can have saved the step the run stopped at.
    proc = start_cli("train", TINY, "train.total_env_steps=1000000", "train.log_every=20",
                     "train.snapshot_every=1000000", "train.eval_every=1000000", "train.video_episodes=0",
                     "replay.save_with_snapshot=true", "--runs", str(tmp_path))
    run = run_folder(tmp_path, proc)
    wait_for_rows(proc, run, 3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    m = re.search(r"^stopped at step (\d+); resume with: liftrl train --resume (\S+)$", out, re.M)
    assert m, out
    step = int(m.group(1))
    assert Path(m.group(2)) == run
    assert read_metadata(run / "snapshots" / "latest.pt")["env_steps"] == step
    assert (run / "snapshots" / f"replay_{step:09d}.npz").is_file()  # the buffer went with it
    logged = [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]
    assert logged[-1] <= step

    resume(run, [f"train.total_env_steps={step + 100}"])
    rows = [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]
    # Every log period once, in order, with no gap across the stop.
    assert rows == list(range(20, step + 101, 20))


def test_second_interrupt_exits_at_once(tmp_path):
    """The first signal only asks; the second ends the process (status 130) while the first is pending."""
    code = ("import time\nfrom liftrl.train.signals import StopRequest\n"
            "stop = StopRequest()\n"
            "with stop.installed():\n"
            "    print('ready', flush=True)\n"
            "    while True:\n"
            "        time.sleep(0.05)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None  # asked, not killed
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130
    assert "SIGINT received" in err and "exiting now without saving" in err
    assert "Traceback" not in err
