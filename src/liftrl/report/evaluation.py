"""``liftrl eval``: a run's snapshot back into a policy, its episodes over worker processes, a table.

The agent is rebuilt by the one policy loader (``liftrl.run.policy``) from the snapshot's own
metadata, and the environment, by the one env factory (``liftrl.run.envs``), from the run's ``config.yaml`` plus
``env.*`` overrides such as a different ``hold_steps``. Before any episode runs, the env's
observations and action space are checked against what the snapshot was trained on, so a
policy is never fed inputs of another shape or meaning.

Episodes run whole inside worker processes (the one runner, ``liftrl.train.episodes.run_episode``), each worker
with its own copy of the policy on the CPU, rather than batched over ``LiftCubeVectorEnv``: a
video needs the third-person render of the final step, which the vector env's same-step
auto-reset replaces with the next episode's first state, and this way every video is exactly the
episode its table row describes. Seeds are ``liftrl.common.seeds.eval_seeds``: disjoint from
training and the same ones the train loop evaluates on, so a table is comparable with the run's eval curve.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from liftrl.common.seeds import eval_seeds
from liftrl.report.tables import EvalRecord, write_eval_files
from liftrl.run.checkpoints import Checkpoint
from liftrl.run.folder import Run, RunError
from liftrl.run.identity import load_checked_snapshot
from liftrl.run.policy import LoadedPolicy, check_compatible, load_policy, policy_from_snapshot
from liftrl.sim.parallel import default_workers
from liftrl.train.episodes import EpisodeResult
from liftrl.train.scoring import summarize

if TYPE_CHECKING:
    from liftrl.config import EnvConfig

VIDEO_PATTERN = "episode_*_seed_*.mp4"


# ---------------------------------------------------------------------------------- settings
def eval_config(run: Run, overrides: Sequence[str]):
    """The run's config with ``env.*`` overrides; other sections describe training, not the test."""
    from liftrl.config import load_config, parse_override

    for text in overrides:
        (section, key), _ = parse_override(text)
        if section != "env":
            raise RunError(f"eval override {text!r}: only env.* keys can change for an evaluation "
                           f"(the agent and its observations come from the snapshot)")
    return load_config(run.path / "config.yaml", list(overrides), saved_run=True)


def changed_env(run: Run, cfg) -> dict[str, Any]:
    """The env settings an evaluation changes relative to the run's own config."""
    from liftrl.config import VECTOR_ENV_KEYS, config_to_dict, load_config

    base = config_to_dict(load_config(run.path / "config.yaml", saved_run=True))["env"]
    # How the envs run (workers, timeouts) is no change of the test: it gets no tagged folder.
    return {k: v for k, v in config_to_dict(cfg)["env"].items() if base.get(k) != v and k not in VECTOR_ENV_KEYS}


def out_dir_name(step: int, changed: Mapping[str, Any]) -> str:
    """``eval_<step>``, plus a tag per changed env setting so a changed test never overwrites the standard one."""
    def text(v):
        return "-".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    tag = "".join(f"_{k}{text(v)}" for k, v in sorted(changed.items()))
    return f"eval_{step}" + re.sub(r"[^A-Za-z0-9_.=-]+", "-", tag)


# ---------------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class EvalEpisode:
    """One episode to evaluate: its seed and, when filmed, the MP4 to write."""

    seed: int
    video: str | None = None

    def __str__(self) -> str:
        return f"seed {self.seed}"


class EvalJob:
    """What one evaluation worker holds: its own env and copy of the policy (``liftrl.sim.parallel``)."""

    def __init__(self, snapshot: str | LoadedPolicy, env: EnvConfig, video: bool, label: str,
                 threads: int | None = None):
        from liftrl.run.envs import make_env

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.policy = snapshot if isinstance(snapshot, LoadedPolicy) else load_policy(snapshot, "cpu")
        self.env = make_env(env, render_mode="rgb_array" if video else None)
        self.label = label

    def __call__(self, episode: EvalEpisode) -> EpisodeResult:
        from liftrl.report.rollout import play_episode

        return play_episode(self.env, self.policy, episode.seed, video_path=episode.video, label=self.label)

    def close(self) -> None:
        self.env.close()


def run_checkpoint_episodes(policy: LoadedPolicy, snapshot: Path, env: EnvConfig, seeds: Sequence[int],
                            videos: Sequence[str | None], label: str, workers: int,
                            on_episode: Callable[[int, EpisodeResult], None] | None = None
                            ) -> list[EpisodeResult]:
    """One episode per seed, spread over ``workers`` spawn processes that each load ``snapshot``
    (``liftrl.sim.parallel``: the same episodes as one process, restarts of lost or hung workers
    up to ``env.max_worker_restarts``). With one worker the episodes run here with the already
    loaded ``policy``."""
    from liftrl.sim.parallel import run_episodes_parallel

    video = any(v is not None for v in videos)
    tasks = [EvalEpisode(int(s), v) for s, v in zip(seeds, videos)]
    workers = max(1, min(workers, len(seeds)))
    make_job = (partial(EvalJob, policy, env, video, label) if workers == 1
                else partial(EvalJob, str(snapshot), env, video, label, 1))
    return run_episodes_parallel(make_job, tasks, workers, on_episode, timeout_s=env.worker_timeout_s,
                                 max_restarts=env.max_worker_restarts, who="evaluation")


# ---------------------------------------------------------------------------------- one checkpoint
def evaluate_checkpoint(run: Run, checkpoint: Checkpoint, episodes: int = 10, video: bool = True,
                        overrides: Sequence[str] = (), workers: int | None = None,
                        on_episode: Callable[[int, EpisodeResult], None] | None = None
                        ) -> tuple[EvalRecord, Path]:
    """Evaluate one snapshot and write its table files (and videos) under ``RUN/eval_<step>/``."""
    from liftrl.rewards import check_fingerprint
    from liftrl.run.envs import make_env

    if not (isinstance(episodes, int) and episodes >= 1):
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    cfg = eval_config(run, overrides)
    # A damaged file, or a snapshot of another run or network, is refused before any work.
    state, meta = load_checked_snapshot(run.path, checkpoint.path, map_location="cpu")
    policy = policy_from_snapshot(state, meta, "cpu", where=str(checkpoint.path))
    probe = make_env(cfg.env, render_mode=None)
    try:
        check_compatible(meta, probe.observation_space, probe.action_space)
    finally:
        probe.close()
    if "reward" in meta and cfg.env.reward == meta["reward"].get("name"):
        check_fingerprint(meta["reward"]["name"], meta["reward"]["fingerprint"])

    changed = changed_env(run, cfg)
    out = run.path / out_dir_name(checkpoint.step, changed)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(VIDEO_PATTERN):  # the folder describes one evaluation, not a mix of two
        old.unlink()
    seeds = eval_seeds(episodes)
    # Episodes count from 1 everywhere a person reads them: progress lines, the table, the video names.
    videos = [str(out / f"episode_{i:03d}_seed_{s}.mp4") if video else None for i, s in enumerate(seeds, start=1)]
    workers = workers or default_workers(episodes)
    label = f"{run.name} @ {checkpoint.label} ({checkpoint.step})"
    rows = run_checkpoint_episodes(policy, checkpoint.path, cfg.env, seeds, videos, label, workers, on_episode)
    settings = {"episodes": episodes, "seeds": seeds, "env_changes": changed, "snapshot": checkpoint.path.name,
                "hold_steps": cfg.env.hold_steps, "max_episode_steps": cfg.env.max_episode_steps,
                "curriculum_stage": cfg.env.curriculum_stage, "reward": cfg.env.reward, "randomize": cfg.env.randomize,
                "deterministic_actions": True}
    record = EvalRecord(run=str(run.path), checkpoint=checkpoint.label, step=checkpoint.step, settings=settings,
                        summary=summarize(rows), episodes=tuple(rows),
                        videos=tuple(os.path.relpath(v, out) if v else None for v in videos))
    write_eval_files(out, record)
    return record, out
