"""Helpers for tests that run the real ``liftrl`` CLI in a subprocess and act on it mid-run."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liftrl.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny_sac.yaml")
WAIT_S = 300  # generous for a loaded 2-core machine; a hang fails the test instead of blocking the suite


def start_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "liftrl.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _until(what: str, ready, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (status {proc.returncode}) before {what}:\n{out}\n{err}")
        found = ready()
        if found:
            return found
        time.sleep(0.2)
    if proc is not None:
        proc.kill()
    pytest.fail(f"no {what} within {WAIT_S} s")


def run_folder(root: Path, proc: subprocess.Popen) -> Path:
    """The one run folder under ``root``, once it has started logging."""
    found = _until("run folder", lambda: list(Path(root).glob("*/*/metrics.jsonl")), proc)
    return found[0].parent


def wait_for_rows(proc: subprocess.Popen, run: Path, rows: int) -> None:
    metrics = run / "metrics.jsonl"
    _until(f"{rows} metrics rows", lambda: metrics.is_file() and len(read_metrics(metrics)) >= rows, proc)


def env_worker_pids(pid: int) -> list[int]:
    """Child processes of ``pid`` that are multiprocessing spawn workers (not its resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    out = []
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            out.append(child)
    return sorted(out)
