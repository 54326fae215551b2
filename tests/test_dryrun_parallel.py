"""The dry run over worker processes: the same episodes and outcomes as one process, episode by episode.

Also the generic runner under it (``liftrl.sim.parallel``): results in task order whatever the
finishing order, a job's own error raised as it was, and the progress callback once per task.
"""

import functools
import re

import pytest

from liftrl.deploy.bundle import export_run, load_bundle
from liftrl.deploy.dryrun import RowSpec, run_rows
from liftrl.deploy.sim_robot import CameraNoise
from liftrl.sim.parallel import run_episodes_parallel
from test_deploy_cli import call, tiny_run  # tests/ is on sys.path (a top-level `tests` package of draccus, installed with LeRobot, shadows `tests.`)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    # Stage 1 (the cube starts in the closed gripper) with a 5-tick hold: an untrained policy holds
    # on some seeds and drops the cube on others, so the episodes' outcomes differ.
    run = tiny_run(tmp_path_factory.mktemp("run"), env={"curriculum_stage": 1, "max_episode_steps": 20})
    return load_bundle(export_run(run, "latest"))


@pytest.mark.slow
def test_parallel_dry_run_equals_the_serial_one_episode_by_episode(bundle):
    rows = [RowSpec("env", "env", 50.0, 0.0),
            RowSpec("deploy", "deploy", 15.0, 100.0, CameraNoise(std=4.0, gain=0.2))]
    seeds = [7, 8, 9, 10, 11]
    seen = []
    serial = run_rows(bundle, rows, seeds, workers=1)
    parallel = run_rows(bundle, rows, seeds, workers=2, progress=lambda r, k, o: seen.append((r, k, o.seed)))
    assert sorted(seen) == [(r, k, seeds[k]) for r in range(2) for k in range(5)]
    for one, two in zip(serial, parallel):
        assert [o.seed for o in two.outcomes] == seeds
        assert two.outcomes == one.outcomes  # success, steps, seconds, where the cube ended, stop reason
        assert (two.successes, two.safety_stops, two.episodes) == (one.successes, one.safety_stops, 5)
    # the episodes are told apart (each seed puts the cube elsewhere), so a mix-up would show
    assert len({o.cube_end for o in serial[0].outcomes}) == len(seeds)
    assert serial[1].outcomes[0].steps >= 1 and serial[1].outcomes[0].seconds > 0


@pytest.mark.slow
def test_deploy_cli_workers_and_verbose_lines(bundle, capsys):
    assert call(["deploy", str(bundle.path), "--robot", "sim", "--episodes", "2", "--rate", "15", "--latency-ms",
                 "100", "--workers", "2", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "2 worker processes" in out
    lines = re.findall(r"row (\d) \((env|deploy), [\d.]+ Hz, [\d.]+ ms\) episode (\d)/2 seed (\d+): "
                       r"(success|failure), \d+ control steps, [\d.]+ s", out)
    assert sorted((r, k) for r, _, k, _, _ in lines) == [(r, k) for r in "123" for k in "12"]
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        call(["deploy", str(bundle.path), "--robot", "sim", "--workers", "0"])


class _Square:
    """A job whose tasks finish out of order (later tasks are quicker)."""

    def __init__(self, offset: int):
        self.offset = offset

    def __call__(self, task: int) -> int:
        import time

        if task < 0:
            raise ValueError(f"negative task {task}")
        time.sleep(0.05 * (6 - task))
        return task * task + self.offset


@pytest.mark.slow
def test_runner_keeps_task_order_and_raises_a_jobs_error_as_it_was():
    done = []
    assert run_episodes_parallel(functools.partial(_Square, 1), range(6), 2, lambda i, r: done.append(i)) == \
        [t * t + 1 for t in range(6)]
    assert sorted(done) == list(range(6))
    assert run_episodes_parallel(functools.partial(_Square, 1), range(3), 1) == [1, 2, 5]
    with pytest.raises(ValueError, match="negative task -1"):
        run_episodes_parallel(functools.partial(_Square, 0), [1, -1, 2], 2)


def test_progress_bar_shows_the_running_success_of_each_row(capsys):
    from liftrl.common.progress import SuccessBar

    with SuccessBar(3, verbose=True, disable=True) as bar:
        bar.add(True, "row 1", line="first")
        bar.add(False, "row 1")
        bar.add(True, "row 2", line="third")
        assert bar.postfix() == "row 1 1/2 | row 2 1/1"
    assert capsys.readouterr().out.split() == ["first", "third"]  # per-episode lines only when given
