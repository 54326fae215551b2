"""One writer per run: a second train/resume is refused naming the holder; a dead holder's lock is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from cli_run import TINY, WAIT_S, run_folder, start_cli, wait_for_rows

from liftrl.run.lock import LOCK_FILE, RunLock, RunLocked, current_writer
from liftrl.run.snapshot import read_metadata
from liftrl.train.loop import resume


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_second_holder_is_refused_naming_the_first(tmp_path):
    with RunLock(tmp_path):
        record = json.loads((tmp_path / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname() and record["started"]
        with pytest.raises(RunLocked, match=rf"being written by pid {os.getpid()} on {socket.gethostname()}, since "):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists()  # released on exit
    with RunLock(tmp_path):  # and free again
        pass


def test_stale_lock_is_taken_over_with_a_warning_but_not_another_hosts(tmp_path):
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00", "command": "liftrl"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    with pytest.warns(UserWarning, match=rf"taking over a stale lock of pid {stale['pid']} .* no longer running"):
        with RunLock(tmp_path):
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    (tmp_path / LOCK_FILE).write_text(json.dumps({**stale, "host": "elsewhere"}))
    with pytest.raises(RunLocked, match=r"pid \d+ on elsewhere.*cannot tell whether that run still goes"):
        RunLock(tmp_path).acquire()


def test_readers_learn_whether_a_run_is_still_being_written(tmp_path):
    """A summary of a run that goes on lacks its last rows: readers ask current_writer, which names a live
    holder here or one on another host, and not a process that is gone (nor a run never locked)."""
    import importlib
    from pathlib import Path

    bench = str(Path(__file__).resolve().parents[1] / "bench")
    sys.path.insert(0, bench)
    try:
        mark_if_running = importlib.import_module("common").mark_if_running
    finally:
        sys.path.remove(bench)
    assert current_writer(tmp_path) is None
    with RunLock(tmp_path):
        holder = current_writer(tmp_path)
        assert holder is not None and holder.pid == os.getpid()
        summary = {}
        mark_if_running(summary, tmp_path)
        assert summary["still_running"].startswith(f"pid {os.getpid()} on {socket.gethostname()}")
    assert current_writer(tmp_path) is None
    summary = {}
    mark_if_running(summary, tmp_path)
    assert summary == {}
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00", "command": "liftrl"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    assert current_writer(tmp_path) is None
    (tmp_path / LOCK_FILE).write_text(json.dumps({**stale, "host": "elsewhere"}))
    assert current_writer(tmp_path).host == "elsewhere"


@pytest.mark.slow
def test_resume_of_a_run_being_trained_is_refused(tmp_path):
    proc = start_cli("train", TINY, "train.total_env_steps=1000000", "train.log_every=20",
                     "train.snapshot_every=1000000", "train.eval_every=1000000", "train.video_episodes=0",
                     "--runs", str(tmp_path))
    try:
        run = run_folder(tmp_path, proc)
        wait_for_rows(proc, run, 2)
        rows_before = (run / "metrics.jsonl").read_text()
        with pytest.raises(RunLocked, match=rf"being written by pid {proc.pid} on {socket.gethostname()}"):
            resume(run, ["train.total_env_steps=2000000"])
        assert "total_env_steps: 1000000" in (run / "config.yaml").read_text()  # the refused writer wrote nothing
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=WAIT_S)
    finally:
        proc.kill()
    assert proc.returncode == 0 and not (run / LOCK_FILE).exists()
    assert (run / "metrics.jsonl").read_text().startswith(rows_before)
    step = read_metadata(run / "snapshots" / "latest.pt")["env_steps"]
    resume(run, [f"train.total_env_steps={step + 20}"])  # free again once the holder stopped
