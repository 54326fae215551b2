"""``liftrl eval`` on tiny trained runs: table files, videos that decode, refusals of bad input.

Two tiny runs (SAC from state, DrQ-v2 from 32x32 pixels) are trained once per module with
15-step episodes so every evaluation here takes seconds.
"""

import csv
import json
import re
import shutil
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from liftrl.report import evaluation
from liftrl.run import checkpoints, folder, policy
from liftrl.cli import build_parser
from liftrl.run.snapshot import SnapshotError, load_snapshot, save_snapshot
from liftrl.report.rollout import end_of_training_video
from liftrl.train.loop import train
from liftrl.train.metrics import read_metrics

# Every test here reads a run trained by a module fixture (tiny SAC and DrQ-v2): the slow tier.
pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EPISODE_STEPS = 15


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _train(root: Path, config: str, video_episodes: int) -> Path:
    torch.set_num_threads(1)
    return train(str(CONFIGS / config), ["train.progress=false", f"env.max_episode_steps={EPISODE_STEPS}",
                                         f"train.video_episodes={video_episodes}"], run_root=str(root),
                 after=end_of_training_video)


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("sac"), "tiny_sac.yaml", video_episodes=1)


@pytest.fixture(scope="module")
def drq_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("drq"), "tiny_drqv2.yaml", video_episodes=0)


def cli(*argv) -> int:
    """The real ``liftrl`` parser (so the wiring is tested too), without main()'s error printing."""
    args = build_parser().parse_args([str(a) for a in argv])
    return args.func(args)


def _frames(path: Path) -> list[np.ndarray]:
    reader = imageio.get_reader(str(path))
    try:
        return [f for f in reader]
    finally:
        reader.close()


def _csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_eval_writes_tables_and_one_decodable_video_per_episode(drq_run, capsys):
    assert cli("eval", drq_run, "--checkpoints", "latest", "--episodes", "2", "--workers", "1", "--verbose") == 0
    out = drq_run / "eval_300"
    episodes = _csv(out / "episodes.csv")
    (summary,) = _csv(out / "summary.csv")
    doc = json.loads((out / "eval.json").read_text())
    assert len(episodes) == 2 and summary["checkpoint"] == "latest" and int(summary["step"]) == 300
    assert doc["settings"]["seeds"] == [int(e["seed"]) for e in episodes]
    assert all(int(e["seed"]) >= 1_000_000_000 for e in episodes)  # evaluation seeds, not training ones
    videos = sorted(out.glob("*.mp4"))
    assert [v.name for v in videos] == [e["video"] for e in episodes]
    for row, video in zip(episodes, videos):
        frames = _frames(video)
        assert len(frames) == int(row["length"]) + 1  # the reset frame plus one per step
        # wrist view upscaled to 360x360 beside the 640x480 scene view scaled to 360 high
        assert frames[0].shape == (360, 360 + 480, 3)
    printed = capsys.readouterr().out
    assert "| latest     | 300" in printed and "episode_001_seed_1000000000.mp4" in printed
    # one numbering: the progress line, the table row and the video name of the first episode all say 1
    assert "episode 1/2 seed 1000000000" in printed
    assert re.search(r"^\| 1 +\| 1000000000 ", printed, re.M)


def test_video_shows_the_pixels_the_policy_sees(drq_run):
    """The left panel of the first frame is the newest frame of the reset observation, upscaled."""
    from liftrl.config import load_config
    from liftrl.run.envs import make_env

    out = drq_run / "eval_300"
    if not (out / "episodes.csv").is_file():
        cli("eval", drq_run, "--checkpoints", "latest", "--episodes", "1", "--workers", "1")
    row = _csv(out / "episodes.csv")[0]
    first = _frames(out / row["video"])[0].astype(float)
    env = make_env(load_config(drq_run / "config.yaml").env)
    obs, _ = env.reset(seed=int(row["seed"]))
    other, _ = env.reset(seed=int(row["seed"]) + 12345)
    env.close()

    below_text = slice(100, 330)  # under the text band, away from the scaling's last row
    ours = first[below_text, 20:330]
    import cv2

    want = cv2.resize(obs["pixels"][-3:].transpose(1, 2, 0), (360, 360), interpolation=cv2.INTER_NEAREST)
    wrong = cv2.resize(other["pixels"][-3:].transpose(1, 2, 0), (360, 360), interpolation=cv2.INTER_NEAREST)
    err = np.abs(ours - want[below_text, 20:330]).mean()
    assert err < 8.0
    if not np.array_equal(want, wrong):
        assert err < np.abs(ours - wrong[below_text, 20:330]).mean()


def test_table_figures_match_a_recomputation_from_the_episode_rows(drq_run):
    out = drq_run / "eval_300"
    if not (out / "episodes.csv").is_file():
        cli("eval", drq_run, "--checkpoints", "latest", "--episodes", "2", "--workers", "1")
    rows = _csv(out / "episodes.csv")
    (s,) = _csv(out / "summary.csv")
    doc = json.loads((out / "eval.json").read_text())
    reward = np.array([float(r["reward"]) for r in rows])
    z = np.array([float(r["max_cube_z"]) for r in rows])
    success = np.array([r["success"] == "True" for r in rows])
    expect = {"episodes": len(rows), "successes": success.sum(), "success_rate": success.mean(),
              "reward_mean": reward.mean(), "reward_std": reward.std(), "max_cube_z_mean": z.mean(),
              "max_cube_z_max": z.max(), "hold_mean": np.mean([int(r["max_hold"]) for r in rows]),
              "length_mean": np.mean([int(r["length"]) for r in rows])}
    for key, value in expect.items():
        assert float(s[key]) == pytest.approx(float(value)), key
        assert doc["summary"][key] == pytest.approx(float(value)), key
    assert [e["reward"] for e in doc["episodes"]] == pytest.approx(reward.tolist())


def test_eval_reproduces_the_training_time_evaluation(sac_run):
    """Same snapshot, same seeds, same env: the table equals the eval row the train loop logged."""
    logged = [r for r in read_metrics(sac_run / "metrics.jsonl") if r["kind"] == "eval" and r["step"] == 300][-1]
    run = folder.open_run(sac_run)
    (ckpt,) = checkpoints.resolve_checkpoints(run, "300")
    record, out = evaluation.evaluate_checkpoint(run, ckpt, episodes=int(logged["eval/episodes"]), video=False,
                                                 workers=1)
    assert out == sac_run / "eval_300" and not list(out.glob("*.mp4"))
    s = record.summary
    assert s.reward_mean == pytest.approx(logged["eval/reward_mean"], rel=1e-4, abs=1e-4)
    assert s.max_cube_z_mean == pytest.approx(logged["eval/max_cube_z_mean"], rel=1e-4, abs=1e-5)
    assert s.success_rate == logged["eval/success_rate"] and s.length_mean == logged["eval/length_mean"]


def test_worker_processes_give_the_same_episodes_and_overrides_get_their_own_folder(sac_run):
    run = folder.open_run(sac_run)
    (ckpt,) = checkpoints.resolve_checkpoints(run, "best")
    one, out_one = evaluation.evaluate_checkpoint(run, ckpt, episodes=3, video=False, workers=1,
                                                  overrides=["env.hold_steps=5"])
    two, out_two = evaluation.evaluate_checkpoint(run, ckpt, episodes=3, video=True, workers=2,
                                                  overrides=["env.hold_steps=5"])
    assert out_one == out_two == sac_run / f"eval_{ckpt.step}_hold_steps5"
    assert [e.seed for e in two.episodes] == [e.seed for e in one.episodes]
    for a, b in zip(one.episodes, two.episodes):
        assert b.reward == pytest.approx(a.reward, rel=1e-5) and b.length == a.length and b.success == a.success
    assert two.settings["hold_steps"] == 5
    for e, video in zip(two.episodes, two.videos):
        assert len(_frames(out_two / video)) == e.length + 1


def test_only_real_changes_of_the_test_rename_the_output_folder(sac_run):
    run = folder.open_run(sac_run)
    same = evaluation.eval_config(run, ["env.hold_steps=10"])  # tiny_sac already holds 10
    assert evaluation.changed_env(run, same) == {}
    assert evaluation.out_dir_name(300, {}) == "eval_300"
    other = evaluation.eval_config(run, ["env.hold_steps=150", "env.curriculum_stage=0"])
    changed = evaluation.changed_env(run, other)
    assert changed == {"hold_steps": 150, "curriculum_stage": 0}
    assert evaluation.out_dir_name(300, changed) == "eval_300_curriculum_stage0_hold_steps150"


def test_end_of_training_video_is_filmed_like_eval(sac_run):
    """The train loop's video films the best snapshot through the same recorder: one frame per observation."""
    run = folder.open_run(sac_run)
    (ckpt,) = checkpoints.resolve_checkpoints(run, "best")
    record, _ = evaluation.evaluate_checkpoint(run, ckpt, episodes=1, video=False, workers=1)
    (video,) = sorted((sac_run / "eval_final").glob("*.mp4"))
    assert video.name == f"best_step_{ckpt.step:09d}_seed_{record.episodes[0].seed}.mp4"
    frames = _frames(video)
    assert len(frames) == record.episodes[0].length + 1
    assert frames[0].shape == (360, 360 + 480, 3)


# ---------------------------------------------------------------------------------- refusals
def test_checkpoint_with_other_observations_is_refused(drq_run):
    with pytest.raises(policy.IncompatibleCheckpoint, match=r"'pixels' was \(9, 32, 32\).*\(9, 48, 48\)"):
        cli("eval", drq_run, "env.image_size=48", "--checkpoints", "latest", "--episodes", "1", "--no-video")
    with pytest.raises(policy.IncompatibleCheckpoint, match=r"\(3, 32, 32\) here"):
        cli("eval", drq_run, "env.frame_stack=1", "--checkpoints", "latest", "--episodes", "1", "--no-video")
    # hold steps are a change of the test, not of what the policy sees: accepted
    assert not list(drq_run.glob("eval_*_image_size48"))


def test_check_compatible_names_each_difference(sac_run):
    from liftrl.sim.env import LiftCubeEnv

    _, meta = load_snapshot(sac_run / "snapshots" / "latest.pt")
    env = LiftCubeEnv(observations=("state", "privileged"), render_mode=None)
    try:
        policy.check_compatible(meta, env.observation_space, env.action_space)  # the real pair passes
        bad = json.loads(json.dumps(meta))
        bad["observations"]["shapes"]["state"] = [17]
        with pytest.raises(policy.IncompatibleCheckpoint, match=r"'state' was \(17,\) in training but is \(18,\)"):
            policy.check_compatible(bad, env.observation_space, env.action_space)
        bad = json.loads(json.dumps(meta))
        bad["action_dim"] = 3
        with pytest.raises(policy.IncompatibleCheckpoint, match="3-D actions but this env takes 4-D"):
            policy.check_compatible(bad, env.observation_space, env.action_space)
        bad = json.loads(json.dumps(meta))
        bad["observations"]["actor"] = ["pixels", "state"]
        with pytest.raises(policy.IncompatibleCheckpoint, match=r"reads \['pixels'\], which this env does not"):
            policy.check_compatible(bad, env.observation_space, env.action_space)
    finally:
        env.close()


def test_bad_runs_checkpoints_and_overrides_are_refused(sac_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder"):
        cli("eval", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"no snapshot at step 1000000 \(1M\); available: 150, 300"):
        cli("eval", sac_run, "--checkpoints", "1M", "--episodes", "1")
    with pytest.raises(folder.RunError, match="only env.* keys"):
        cli("eval", sac_run, "agent.lr=0.1", "--checkpoints", "latest", "--episodes", "1")
    with pytest.raises(SystemExit):
        cli("eval", sac_run, "--episodes", "0")

    copy = tmp_path / "sac" / "copy"
    shutil.copytree(sac_run, copy, ignore=shutil.ignore_patterns("eval_*", "tb"))
    (copy / "snapshots" / "step_000000450.pt").write_bytes(b"not a snapshot at all")
    with pytest.raises(SnapshotError, match="not a torch.save archive"):
        cli("eval", copy, "--checkpoints", "450", "--episodes", "1", "--no-video")
    save_snapshot(copy / "snapshots" / "step_000000600.pt", {"w": torch.zeros(2)}, {"format": "something-else"})
    with pytest.raises(folder.RunError, match="not of a training run"):
        cli("eval", copy, "--checkpoints", "600", "--episodes", "1", "--no-video")
    state, meta = load_snapshot(copy / "snapshots" / "latest.pt")
    state["agent"]["actor"] = {k: v[..., :1] for k, v in state["agent"]["actor"].items()}
    save_snapshot(copy / "snapshots" / "step_000000750.pt", state, meta)
    # resized weights: refused by the run's identity check, naming the tensors, before any agent is built
    with pytest.raises(folder.RunError, match=r"its network differs from this run's \(actor\.net\.0\.bias: \[1\] in "
                                              r"the snapshot, \[32\] in the run"):
        cli("eval", copy, "--checkpoints", "750", "--episodes", "1", "--no-video")
    assert not list(copy.glob("eval_*"))  # nothing half-written for refused checkpoints
