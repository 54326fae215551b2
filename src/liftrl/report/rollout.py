"""Episodes on film: the ``on_frame`` hook that turns ``liftrl.train.episodes.run_episode`` into an
MP4, used by ``liftrl eval``, the end-of-training video and the scripted demo, so a video and its
table row are the same episode.

A video has one frame per observation the policy received: the reset frame plus one per step,
``length + 1`` in all. Each shows the wrist view the policy sees (the newest frame of its
``pixels`` stack; a state-only policy sees no image, so its video shows the raw wrist camera)
beside the third-person view, with the step, reward, cube height, grasp and hold count on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from liftrl.common.seeds import eval_seeds
from liftrl.report.video import Mp4Writer, annotate, newest_frame, side_by_side
from liftrl.common.types import Policy
from liftrl.train.episodes import EpisodeResult, run_episode

VIDEO_HEIGHT = 360
FINAL_VIDEO_DIR = "eval_final"


def frame_lines(info: Mapping, reward: float, total: float, label: str = "") -> list[str]:
    """The numbers that explain a frame, as text lines."""
    lines = [label] if label else []
    return lines + [
        f"step {int(info['step'])}  reward {reward:+.2f}  return {total:.1f}",
        f"cube z {float(info['cube_pos'][2]):.3f} m  grasp {int(bool(info['is_grasping']))}  "
        f"hold {int(info['hold_count'])}/{int(info['hold_steps'])}" + ("  SUCCESS" if info["is_success"] else ""),
    ]


class EpisodeFilm:
    """An ``on_frame`` hook writing each frame of one episode to ``path``; close it (or use ``with``)."""

    def __init__(self, env, path: str | Path, label: str = "", height: int = VIDEO_HEIGHT):
        if getattr(env, "render_mode", None) != "rgb_array":
            raise ValueError("filming an episode needs an env made with render_mode='rgb_array'")
        self.env = env
        self.label = label
        self.height = height
        self.writer = Mp4Writer(path, fps=env.metadata["render_fps"])

    def _wrist_view(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return newest_frame(obs["pixels"]) if "pixels" in obs else self.env.unwrapped.render_wrist()

    def __call__(self, obs: Mapping[str, np.ndarray], info: Mapping[str, Any], reward: float, total: float) -> None:
        frame = side_by_side([self._wrist_view(obs), self.env.render()], height=self.height)
        self.writer.append(annotate(frame, frame_lines(info, reward, total, self.label)))

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "EpisodeFilm":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def play_episode(env, policy: Policy, seed: int, video_path: str | Path | None = None, label: str = "",
                 height: int = VIDEO_HEIGHT, reads_info: bool = False) -> EpisodeResult:
    """One episode through the runner, written as MP4 when ``video_path`` is given (the env must then
    have ``render_mode="rgb_array"``)."""
    if video_path is None:
        return run_episode(env, policy, seed, reads_info=reads_info)
    with EpisodeFilm(env, video_path, label, height) as film:
        return run_episode(env, policy, seed, on_frame=film, reads_info=reads_info)


def end_of_training_video(trainer) -> list[Path]:
    """``train.video_episodes`` deterministic episodes of the run's *best* snapshot (the one ``eval`` and
    ``export`` pick by default) on evaluation seeds, filmed as ``liftrl eval`` films them, into
    ``RUN/eval_final/best_step_<N>_seed_<S>.mp4``; the ``after`` callback of ``liftrl train``. It loads
    the best weights into the trainer's agent, so it runs once training is over. A run without a
    best snapshot films its last policy (``last_step_...``)."""
    from liftrl.run.envs import make_env

    episodes = trainer.cfg.train.video_episodes
    if not episodes:
        return []
    step, which = trainer.load_best()
    out = trainer.run_dir / FINAL_VIDEO_DIR
    out.mkdir(exist_ok=True)
    for old in out.glob("*.mp4"):  # the folder films one policy, not a mix of sessions
        old.unlink()
    env = make_env(trainer.cfg.env, render_mode="rgb_array")
    paths = []
    try:
        for seed in eval_seeds(episodes):
            path = out / f"{which}_step_{step:09d}_seed_{seed}.mp4"
            play_episode(env, trainer.eval_policy, seed, video_path=path, label=f"{which} snapshot, step {step}")
            paths.append(path)
    finally:
        env.close()
    return paths
