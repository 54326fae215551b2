"""Env workers that die or go silent: named, restarted with fresh episodes, and never a hang."""

import os
import re
import signal
import time

import numpy as np
import pytest
from cli_run import TINY, WAIT_S, env_worker_pids, run_folder, start_cli, wait_for_rows

from liftrl.sim.vector import LiftCubeVectorEnv, WorkerError, WorkerRestarted
from liftrl.common.seeds import eval_seeds
from liftrl.train import episodes
from liftrl.run.snapshot import read_metadata
from liftrl.train.metrics import read_metrics

# Worker processes killed and stopped mid-run, real CLI runs: the slow tier.
pytestmark = pytest.mark.slow

KW = dict(curriculum_stage=3, observations=("state",), max_episode_steps=20)
ZERO = np.zeros((4, 4), dtype=np.float32)


def test_killed_worker_is_named_and_restarted_with_fresh_episodes():
    env = LiftCubeVectorEnv(num_envs=4, num_workers=2, max_worker_restarts=1, **KW)
    try:
        env.reset(seed=0)
        env.step(ZERO)
        pid = env._workers[1].proc.pid
        os.kill(pid, signal.SIGKILL)
        with pytest.warns(WorkerRestarted, match=rf"env worker 1 \(envs 2-3, pid {pid}\) died while vector step 2: "
                                                 r"killed by SIGKILL"):
            obs, rew, term, trunc, info = env.step(ZERO)
        assert info["worker_restarted"].tolist() == [False, False, True, True]
        assert env.restarts == 1
        assert rew[2:].tolist() == [0.0, 0.0] and not (term | trunc).any()
        assert info["step"].tolist() == [2, 2, 0, 0]  # envs 2-3 began new episodes on the new worker
        assert len(env.call("get_state")) == 4
        obs, *_ , info = env.step(ZERO)
        assert "worker_restarted" not in info
        os.kill(env._workers[0].proc.pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match=r"env worker 0 .* killed by SIGKILL \(restart limit 1 reached\)"):
            env.step(ZERO)
    finally:
        env.close()


def test_stopped_worker_times_out_by_name_instead_of_hanging():
    env = LiftCubeVectorEnv(num_envs=4, num_workers=2, worker_timeout_s=2, max_worker_restarts=0, **KW)
    stopped = env._workers[0].proc
    try:
        env.reset(seed=0)
        os.kill(stopped.pid, signal.SIGSTOP)
        with pytest.raises(WorkerError, match=rf"env worker 0 \(envs 0-1, pid {stopped.pid}\) did not answer "
                                              r"within 2 s while vector step 1"):
            env.step(ZERO)
        stopped.join(timeout=10)
        assert stopped.exitcode == -signal.SIGKILL  # killed, not left stopped
    finally:
        env.close()


def test_evaluation_reruns_a_batch_cut_by_a_restart():
    """Deterministic episodes: the rerun after a restart gives exactly the undisturbed results."""
    seeds = eval_seeds(2)
    policy = lambda obs: np.full((2, 4), 0.3, dtype=np.float32)  # noqa: E731
    env = LiftCubeVectorEnv(num_envs=2, num_workers=2, max_worker_restarts=1, **KW)
    try:
        clean = episodes.run_episodes(env, policy, seeds)
        killed = []

        def kill_once(record):
            if not killed and record.info["step"] == 5:
                killed.append(env._workers[1].proc.pid)
                os.kill(killed[0], signal.SIGKILL)
                time.sleep(0.2)

        with pytest.warns(WorkerRestarted):
            again = episodes.run_episodes(env, policy, seeds, on_step=kill_once)
        assert killed and env.restarts == 1
        assert again == clean
    finally:
        env.close()


# ---------------------------------------------------------------------------------- through the trainer
def _train_until_rows(tmp_path, *overrides: str):
    proc = start_cli("train", TINY, "env.num_workers=2", "train.log_every=20", "train.eval_every=1000000",
                     "train.snapshot_every=1000000", "train.video_episodes=0", *overrides, "--runs", str(tmp_path))
    run = run_folder(tmp_path, proc)
    wait_for_rows(proc, run, 2)
    return proc, run


def test_training_survives_a_killed_worker(tmp_path):
    proc, run = _train_until_rows(tmp_path, "train.total_env_steps=1000")
    victim = env_worker_pids(proc.pid)[1]
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert re.search(rf"env worker 1 \(env 1, pid {victim}\) died while vector step \d+: killed by SIGKILL; "
                     r"restarting it", err), err
    rows = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]
    assert rows[-1]["step"] == 1000 and rows[-1]["progress/worker_restarts"] == 1
    assert rows[0]["progress/worker_restarts"] == 0
    assert "env workers restarted: 1" in out


def test_stopped_worker_past_the_limit_stops_the_run_with_a_snapshot(tmp_path):
    proc, run = _train_until_rows(tmp_path, "train.total_env_steps=1000000", "env.worker_timeout_s=3",
                                  "env.max_worker_restarts=0")
    victim = env_worker_pids(proc.pid)[0]
    os.kill(victim, signal.SIGSTOP)
    out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 1
    m = re.search(rf"stopped at step (\d+) \(snapshot saved\): env workers failed 1 times, more than "
                  rf"env.max_worker_restarts=0; last: env worker 0 \(env 0, pid {victim}\) did not answer within 3 s "
                  rf"while vector step \d+ \(stopped or hung; it was killed\)\. Resume with: liftrl train --resume ",
                  err)
    assert m, err
    assert "Traceback" not in err
    assert read_metadata(run / "snapshots" / "latest.pt")["env_steps"] == int(m.group(1))


def test_liftrl_eval_replaces_dead_and_stopped_workers_and_reruns_their_episodes(tmp_path):
    from liftrl.report.evaluation import evaluate_checkpoint
    from liftrl.run.checkpoints import resolve_checkpoints
    from liftrl.run.folder import open_run
    from liftrl.train.loop import train

    run = open_run(train(TINY, ["train.progress=false", "train.total_env_steps=100", "train.eval_every=100",
                                "train.video_episodes=0"], run_root=str(tmp_path)))
    (ckpt,) = resolve_checkpoints(run, "latest")
    clean, out = evaluate_checkpoint(run, ckpt, episodes=8, video=False, workers=2)
    killed: list[int] = []
    stopped: list[int] = []

    def fault(i, result):
        """The first pool loses a worker (SIGKILL); in the pool that replaces it (after the first
        warning), one worker stops (SIGSTOP)."""
        if not killed:
            killed.append(env_worker_pids(os.getpid())[0])
            os.kill(killed[0], signal.SIGKILL)
        elif not stopped and any("(restart 1)" in str(w.message) for w in warned):
            stopped.append(env_worker_pids(os.getpid())[0])
            os.kill(stopped[0], signal.SIGSTOP)

    with pytest.warns(UserWarning) as warned:
        again, again_out = evaluate_checkpoint(run, ckpt, episodes=8, video=False, workers=2, on_episode=fault,
                                               overrides=["env.worker_timeout_s=20"])
    messages = [str(w.message) for w in warned if "episode" in str(w.message)]
    assert re.match(r"episode \d+ \(seed \d+\) was unfinished when an evaluation worker died; starting new workers "
                    r"for the \d+ episodes not done \(restart 1\)", messages[0]), messages
    # The stopped worker times out only if it still had an episode to run when it was stopped; which
    # worker holds the remaining episodes depends on scheduling, so the timeout is checked when it
    # fired (test_stopped_worker_times_out_by_name_instead_of_hanging pins the timeout itself).
    if len(messages) > 1:
        assert re.match(r"episode \d+ \(seed \d+\) did not finish within 20 s \(env.worker_timeout_s\): an evaluation "
                        r"worker is stopped or hung, and the workers were killed; starting new workers for the \d+ "
                        r"episodes not done \(restart 2\)", messages[1]), messages
    assert stopped and again.episodes == clean.episodes  # deterministic episodes: the reruns give the same table
    assert again_out == out  # a worker timeout is not a change of the test: same folder
