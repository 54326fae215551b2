"""Which seeds each kind of episode uses, in one place, so the ranges can never overlap.

Training env ``i`` of a run with ``train.seed = s`` starts from ``s * TRAIN_SEED_STRIDE + i``
(vector envs seed env ``i`` with ``base + i``); ``train.seed`` stays below ``MAX_TRAIN_SEED``, so
every training seed is below 1e9. Evaluation (the train loop's periodic evaluation, its end-of-run
video and ``liftrl eval``) uses seeds from ``EVAL_SEED_BASE`` up, and the deploy dry run from
``DRY_RUN_SEED_BASE`` up: a policy is never scored on the episodes it was trained on, and the dry
run is never scored on the episodes that picked the checkpoint. Scripted demonstrations
(``train.demos``) use seeds from ``DEMO_SEED_BASE`` up, ``TRAIN_SEED_STRIDE`` per run seed, so the
learner never sees a demonstration of an evaluation episode.
"""

from __future__ import annotations

TRAIN_SEED_STRIDE = 10_000
MAX_TRAIN_SEED = 100_000  # MAX_TRAIN_SEED * TRAIN_SEED_STRIDE = EVAL_SEED_BASE
EVAL_SEED_BASE = 1_000_000_000
DRY_RUN_SEED_BASE = 1_500_000_000
DEMO_SEED_BASE = 2_000_000_000  # + MAX_TRAIN_SEED * TRAIN_SEED_STRIDE stays below 2**32


def train_env_seed(seed: int) -> int:
    """The reset seed of a run's first training env (the others follow it)."""
    return seed * TRAIN_SEED_STRIDE


def eval_seeds(n: int, offset: int = 0) -> list[int]:
    """The seeds of ``n`` evaluation episodes: the same ones for every checkpoint of every run."""
    return [EVAL_SEED_BASE + offset + i for i in range(n)]


def demo_seeds(n: int, run_seed: int) -> list[int]:
    """The seeds of a run's ``n`` scripted demonstration episodes (at most ``TRAIN_SEED_STRIDE``)."""
    if not 0 <= n <= TRAIN_SEED_STRIDE:
        raise ValueError(f"a run collects at most {TRAIN_SEED_STRIDE} demonstration episodes, got {n}")
    return [DEMO_SEED_BASE + run_seed * TRAIN_SEED_STRIDE + i for i in range(n)]


def dry_run_seeds(n: int, start: int = DRY_RUN_SEED_BASE) -> list[int]:
    """The seeds of ``n`` dry-run episodes (``start`` moves them, e.g. ``liftrl deploy --seed``)."""
    return [start + i for i in range(n)]
