"""One deterministic episode in this process, optionally filmed: the end-of-training video and
``liftrl eval`` both run episodes through here, so a video and its table row are the same episode.

A video has one frame per observation the policy received: the reset frame plus one per step,
``length + 1`` in all. Each shows the wrist view the policy sees (the newest frame of its
``pixels`` stack; a state-only policy sees no image, so its video shows the raw wrist camera)
beside the third-person view, with the step, reward, cube height, grasp and hold count on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from liftrl.train.evaluate import EpisodeResult

VIDEO_HEIGHT = 360

Policy = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def frame_lines(info: Mapping, reward: float, total: float, label: str = "") -> list[str]:
    """The numbers that explain a frame, as text lines."""
    lines = [label] if label else []
    return lines + [
        f"step {int(info['step'])}  reward {reward:+.2f}  return {total:.1f}",
        f"cube z {float(info['cube_pos'][2]):.3f} m  grasp {int(bool(info['is_grasping']))}  "
        f"hold {int(info['hold_count'])}/{int(info['hold_steps'])}" + ("  SUCCESS" if info["is_success"] else ""),
    ]


def _wrist_view(env, obs: Mapping[str, np.ndarray]) -> np.ndarray:
    from liftrl.report.video import newest_frame

    return newest_frame(obs["pixels"]) if "pixels" in obs else env.unwrapped.render_wrist()


def run_episode(env, policy: Policy, seed: int, video_path: str | Path | None = None, label: str = "",
                height: int = VIDEO_HEIGHT) -> EpisodeResult:
    """Reset ``env`` (a ``LiftCubeEnv``) with ``seed``, act with ``policy`` until the episode ends.

    ``policy`` takes a batch of one observation dict and returns a batch of one action, the
    same call the vector-env evaluation makes. With ``video_path`` the episode is written as MP4;
    the env must then have ``render_mode="rgb_array"``.
    """
    obs, info = env.reset(seed=seed)
    writer = None
    if video_path is not None:
        if getattr(env, "render_mode", None) != "rgb_array":
            raise ValueError("filming an episode needs an env made with render_mode='rgb_array'")
        from liftrl.report.video import Mp4Writer

        writer = Mp4Writer(video_path, fps=env.metadata["render_fps"])
    total, reward = 0.0, 0.0
    length, max_hold = 0, 0
    max_z = float(info["cube_pos"][2])
    done = False
    try:
        while True:
            if writer is not None:
                from liftrl.report.video import annotate, side_by_side

                frame = side_by_side([_wrist_view(env, obs), env.render()], height=height)
                writer.append(annotate(frame, frame_lines(info, reward, total, label)))
            if done:
                break
            action = np.asarray(policy({k: v[None] for k, v in obs.items()}), dtype=np.float32)[0]
            obs, reward, term, trunc, info = env.step(action)
            reward = float(reward)
            total += reward
            length += 1
            max_z = max(max_z, float(info["cube_pos"][2]))
            max_hold = max(max_hold, int(info["hold_count"]))
            done = bool(term or trunc)
    finally:
        if writer is not None:
            writer.close()
    return EpisodeResult(seed=int(seed), reward=total, success=bool(info["is_success"]), length=length,
                         max_cube_z=max_z, max_hold=max_hold, final_hold=int(info["hold_count"]))
