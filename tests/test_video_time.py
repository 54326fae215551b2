"""Evaluation videos play at real time: an MP4's duration is the episode's physical duration, at any control rate."""

import imageio.v2 as imageio
import numpy as np
import pytest

from liftrl.common.units import CONTROL_PERIOD_S
from liftrl.config import EnvConfig
from liftrl.report.rollout import EpisodeFilm
from liftrl.run.envs import make_env
from liftrl.train.episodes import run_episode


def _read(path):
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        fps = float(reader.get_meta_data()["fps"])
        frames = [f for f in reader]
    finally:
        reader.close()
    return fps, frames


@pytest.mark.parametrize("control_hz", [15.0, 50.0])
def test_video_duration_is_the_episodes_physical_duration_within_one_frame(tmp_path, control_hz):
    env = make_env(EnvConfig(curriculum_stage=3, max_episode_steps=40, observations=("pixels", "state"), image_size=16,
                             control_hz=control_hz, reward="v19"), render_mode="rgb_array")
    ticks, steps = [], []
    path = tmp_path / "episode.mp4"
    try:
        with EpisodeFilm(env, path) as film:
            result = run_episode(env, lambda obs: np.zeros((1, 4), np.float32), seed=3, on_frame=film,
                                 on_step=lambda record: (ticks.append(int(record.info["step"])), steps.append(1)))
    finally:
        env.close()
    physical_s = ticks[-1] * CONTROL_PERIOD_S  # 40 ticks of 20 ms
    fps, frames = _read(path)
    assert physical_s == pytest.approx(0.8) and result.length == len(steps)
    assert abs(len(frames) / fps - physical_s) <= 1 / fps + 1e-9
    if control_hz == 15.0:
        assert result.length == 12  # 12 control steps of 3 or 4 ticks: each frame shown for its period's ticks
        assert len(frames) == ticks[-1] + 1
