"""Reward versions: pure functions of a step info, selected by a name that never changes meaning.

Import-light on purpose (numpy only), so evaluation and reporting can read rewards and check a
run's recorded fingerprint without MuJoCo or torch. See ``registry`` for how to add a version.
"""

from liftrl.rewards.base import (
    REQUIRED_INFO_KEYS,
    TERMS,
    MissingInfoKeyError,
    RewardResult,
    episode_term_sums,
)
from liftrl.rewards.registry import (
    DuplicateRewardError,
    RewardVersion,
    RewardVersionChangedWarning,
    UnknownRewardError,
    check_fingerprint,
    fingerprint,
    get_reward,
    known_versions,
    register,
)

__all__ = [
    "REQUIRED_INFO_KEYS",
    "TERMS",
    "DuplicateRewardError",
    "MissingInfoKeyError",
    "RewardResult",
    "RewardVersion",
    "RewardVersionChangedWarning",
    "UnknownRewardError",
    "check_fingerprint",
    "episode_term_sums",
    "fingerprint",
    "get_reward",
    "known_versions",
    "register",
]
