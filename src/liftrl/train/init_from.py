"""``train.init_from=RUN``: start an agent's actor from another run's snapshot.

The use it exists for: a pixel student distilled on a CPU (``liftrl distill``) hands its encoder and
actor to DrQ-v2 for RL fine-tuning on a GPU, so the critic learns around a policy that already
works instead of from random actions. Only the actor's weights move (the critic, targets and
optimisers start fresh); the two runs must agree on what the actor reads and on every layer size,
else this refuses naming the difference, before any training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from liftrl.run.checkpoints import resolve_checkpoint
from liftrl.run.snapshot import is_run_snapshot, load_snapshot


def init_actor_from(agent: Any, run_dir: str, checkpoint: str, obs_shapes: Mapping[str, Sequence[int]]) -> Path:
    """Load the actor (encoder + actor) of ``run_dir``'s ``checkpoint`` into ``agent``; returns the file."""
    if not hasattr(agent, "load_actor_weights"):
        raise ValueError(f"train.init_from: the {type(agent).__name__} cannot start from another run's actor "
                         f"(supported: drqv2, e.g. from a distilled student)")
    path = resolve_checkpoint(run_dir, checkpoint).path
    state, meta = load_snapshot(path, map_location="cpu")
    if not is_run_snapshot(meta) or "agent" not in state:
        raise ValueError(f"train.init_from: {path} is not a liftrl run snapshot")
    theirs = meta.get("observations", {})
    mine = set(agent.actor_keys)
    if set(theirs.get("actor", ())) != mine:
        raise ValueError(f"train.init_from: {path}'s actor reads {sorted(theirs.get('actor', ()))}, this agent's "
                         f"actor reads {sorted(mine)}: set obs.actor to match")
    shapes = theirs.get("shapes", {})
    for key in sorted(mine):
        if tuple(shapes.get(key, ())) != tuple(obs_shapes[key]):
            raise ValueError(f"train.init_from: observation {key!r} was {tuple(shapes.get(key, ()))} in {path} "
                             f"and is {tuple(obs_shapes[key])} here (env.image_size / env.frame_stack must match)")
    agent.load_actor_weights(state["agent"])
    return path
