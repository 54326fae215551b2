"""The pure parts of DAgger (Ross et al. 2011): who drives each step, and how that decays by round.

Round ``i`` rolls out the mixture ``beta_i * teacher + (1 - beta_i) * student``: each env at each
step is driven by the teacher with probability ``beta_i``, by the student otherwise. Every visited
step is labelled with the teacher's action whoever drove, so as beta falls to 0 the data come from
the states the student itself reaches, which is what a policy that learnt only from the teacher's
own states (behaviour cloning) never sees.
"""

from __future__ import annotations

import numpy as np

from liftrl.common.schedules import parse_schedule


def round_of(env_steps: int, steps_per_round: int) -> int:
    """The round (0-based) that the step after ``env_steps`` collected steps belongs to."""
    if steps_per_round < 1:
        raise ValueError(f"steps_per_round must be >= 1, got {steps_per_round}")
    return int(env_steps) // int(steps_per_round)


def beta_schedule(text: str):
    """``round -> beta`` from a schedule string (``liftrl.common.schedules``), checked to be a probability."""
    schedule = parse_schedule(text)

    def beta(round_index: int) -> float:
        value = float(schedule(round_index))
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"beta schedule {text!r} gives {value} at round {round_index}, outside [0, 1]")
        return value

    return beta


def choose_driver(beta: float, num_envs: int, rng: np.random.Generator) -> np.ndarray:
    """(num_envs,) bool: True where the teacher drives this step (probability ``beta`` each)."""
    return rng.random(num_envs) < beta


def mix(teacher: np.ndarray, student: np.ndarray, teacher_drives: np.ndarray) -> np.ndarray:
    """Row-wise the teacher's action where it drives, the student's elsewhere."""
    return np.where(teacher_drives[:, None], teacher, student).astype(np.float32)
