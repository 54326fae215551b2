"""Episodes on film: the ``on_frame`` hook that turns ``liftrl.train.episodes.run_episode`` into an
MP4, used by ``liftrl eval``, the end-of-training video and the scripted demo, so a video and its
table row are the same episode.

Videos play at real time: the file is encoded at the env's tick rate (50 fps, one frame per 20 ms
of physics) and each observation the policy received is shown for the ticks its control step
took, so at 50 Hz a video has one frame per observation (the reset frame plus one per step,
``length + 1``) and at 15 Hz each frame repeats for the 3 or 4 ticks of its period (``ticks + 1``
frames in all). A video's duration is the episode's physical duration plus the reset frame.
Each frame shows the wrist view the policy sees (the newest frame of its ``pixels`` stack; a
state-only policy sees no image, so its video shows the raw wrist camera) beside the third-person
view, with the episode time, tick and control step, reward, cube height, grasp and hold count on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from liftrl.common.seeds import eval_seeds
from liftrl.common.units import PHYSICS_STEPS_PER_CONTROL
from liftrl.report.video import Mp4Writer, annotate, newest_frame, side_by_side
from liftrl.common.types import Policy
from liftrl.train.episodes import EpisodeResult, run_episode

VIDEO_HEIGHT = 360
FINAL_VIDEO_DIR = "eval_final"


def frame_lines(info: Mapping, reward: float, total: float, label: str = "", control_step: int | None = None,
                tick_s: float | None = None) -> list[str]:
    """The numbers that explain a frame, as text lines: time (``tick_s`` per env tick), tick and control step."""
    lines = [label] if label else []
    tick = int(info["step"])  # the env counts ticks (20 ms), whatever the control rate
    clock = f"t {tick * tick_s:.2f} s  tick {tick}" if tick_s is not None else f"tick {tick}"
    step = f"  step {control_step}" if control_step is not None else ""
    return lines + [
        f"{clock}{step}  reward {reward:+.2f}  return {total:.1f}",
        f"cube z {float(info['cube_pos'][2]):.3f} m  grasp {int(bool(info['is_grasping']))}  "
        f"hold {int(info['hold_count'])}/{int(info['hold_steps'])} ticks" + ("  SUCCESS" if info["is_success"] else ""),
    ]


class EpisodeFilm:
    """An ``on_frame`` hook writing each frame of one episode to ``path`` at real time; close it (or use ``with``).

    The MP4 runs at the env's tick rate; a frame is written once per tick its control step took
    (``info["step"]`` counts ticks), so a 15 Hz episode plays as long as it lasted.
    """

    def __init__(self, env, path: str | Path, label: str = "", height: int = VIDEO_HEIGHT):
        if getattr(env, "render_mode", None) != "rgb_array":
            raise ValueError("filming an episode needs an env made with render_mode='rgb_array'")
        self.env = env
        self.label = label
        self.height = height
        base = env.unwrapped
        self.tick_s = float(base.model.opt.timestep) * PHYSICS_STEPS_PER_CONTROL
        self.writer = Mp4Writer(path, fps=1.0 / self.tick_s)
        self._tick: int | None = None
        self._control_step = 0

    def _wrist_view(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        return newest_frame(obs["pixels"]) if "pixels" in obs else self.env.unwrapped.render_wrist()

    def __call__(self, obs: Mapping[str, np.ndarray], info: Mapping[str, Any], reward: float, total: float) -> None:
        tick = int(info["step"])
        repeat = 1 if self._tick is None else tick - self._tick  # the reset frame once; a step's for its ticks
        self._control_step = 0 if self._tick is None else self._control_step + 1
        self._tick = tick
        frame = side_by_side([self._wrist_view(obs), self.env.render()], height=self.height)
        frame = annotate(frame, frame_lines(info, reward, total, self.label, self._control_step, self.tick_s))
        for _ in range(max(repeat, 1)):
            self.writer.append(frame)

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
