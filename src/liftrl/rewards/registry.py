"""Reward versions by name, each with a fingerprint of what the name computes.

A version's name means the same thing forever, so that runs trained under it stay comparable. The
fingerprint enforces that: it hashes the version's constants and the source of its code, and a run
records it next to the name. If someone edits a registered version later, :func:`check_fingerprint`
warns when the old run is read back instead of letting two different rewards share one name.

Adding a version (never edit a registered one; write a new one):

1. Copy the closest version file, e.g. ``v19.py`` -> ``v20.py``. Set ``NAME = "v20"``, keep every
   number as an UPPERCASE module constant (they are all fingerprinted), and change the rules in its
   ``reward(info)``. Report all terms of ``TERMS``.
2. Add one line to ``_BUILTIN`` below: ``RewardVersion("v20", v20.reward, "<why it exists>")``
   (and import the module next to the others).
3. Add its golden rows to ``tests/test_rewards.py``, worked out by hand from the formula.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import re
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liftrl.rewards import sparse, v11, v19, v20
from liftrl.rewards.base import TERMS, RewardResult, read_step

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CONSTANT_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_PLAIN = (bool, int, float, str, type(None))


class UnknownRewardError(KeyError):
    """A KeyError that says which names exist, since a typo here silently means no training."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.known = known
        close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.5)
        hint = ""
        if close:
            hint = f"; did you mean {next(k for k in known if k.lower() == close[0])!r}?"
        self.message = f"unknown reward version {name!r}; known versions: {', '.join(known)}{hint}"

    def __str__(self) -> str:
        return self.message


class DuplicateRewardError(ValueError):
    """Two definitions under one name would make the name ambiguous across runs."""


class RewardVersionChangedWarning(UserWarning):
    """A run was recorded under a definition that its version name no longer computes."""


@dataclass(frozen=True)
class RewardVersion:
    """A named, pure reward function plus the definition its fingerprint is computed from.

    ``definition`` is built from the live module each time, not stored, so the fingerprint always
    describes what ``fn`` would compute right now (a patched constant shows up).
    """

    name: str
    fn: Callable[[Mapping[str, Any]], RewardResult] = field(repr=False)
    description: str = ""
    # The largest |reward| one env tick can pay, where the version guarantees one (None: unbounded,
    # as v11's and v19's uncapped ramps). Lets a trainer bound Q (``liftrl.train.guard``).
    step_bound: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"reward version name must be a plain identifier like 'v20', got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"reward version {self.name!r}: fn must be callable")
        # Catches a copied module whose NAME was not updated: its errors would name the wrong version.
        module_name = getattr(sys.modules.get(self.fn.__module__), "NAME", self.name)
        if module_name != self.name:
            raise ValueError(f"reward version {self.name!r} registered with {self.fn.__module__}, whose NAME is {module_name!r}")

    def __call__(self, info: Mapping[str, Any]) -> RewardResult:
        return self.fn(info)

    @property
    def definition(self) -> dict[str, Any]:
        """Canonical content of the version: every constant, and the exact source of its code.

        Covers the module's UPPERCASE constants, the source of ``fn`` and of any other function in
        its module, and the shared code every version relies on (info parsing, term summation).
        Source is hashed verbatim: an edited comment also changes the fingerprint, which is the
        conservative side; a registered version's file is not meant to be edited at all.
        The description is left out: it is prose about the version, not part of what it computes.
        """
        module = sys.modules[self.fn.__module__]
        constants = {}
        for key, value in sorted(vars(module).items()):
            if _CONSTANT_RE.fullmatch(key):
                constants[key] = _plain(value, f"{module.__name__}.{key}")
        helpers = {
            name: _source(obj)
            for name, obj in sorted(vars(module).items())
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and obj is not self.fn
        }
        return {
            "name": self.name,
            "terms": list(TERMS),
            "constants": constants,
            "fn": _source(self.fn),
            "helpers": helpers,
            "shared": {
                "read_step": _source(read_step),
                "RewardResult": _source(RewardResult),
            },
        }

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.definition, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _source(obj: Any) -> str:
    lines = textwrap.dedent(inspect.getsource(obj)).replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _plain(value: Any, where: str) -> Any:
    """A JSON-stable copy of a constant; refuses types whose text form could hide a change."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        return [_plain(v, where) for v in value]
    raise TypeError(f"constant {where} of type {type(value).__name__} cannot be fingerprinted; use a number, str or tuple")


_REGISTRY: dict[str, RewardVersion] = {}


def register(version: RewardVersion) -> RewardVersion:
    if version.name in _REGISTRY:
        raise DuplicateRewardError(f"reward version {version.name!r} is already registered; a new rule needs a new name")
    _REGISTRY[version.name] = version
    return version


# The built-in versions. Adding one is one line here (see the module docstring).
_BUILTIN = (
    RewardVersion("v11", v11.reward, "dense lift reward made for state-based SAC; never pays for holding"),
    RewardVersion("v19", v19.reward, "dense lift-and-hold reward made for pixel DrQ-v2; pays per held step"),
    RewardVersion("sparse", sparse.reward, "1 on success, else 0: the unshaped baseline", step_bound=1.0),
    RewardVersion("v20", v20.reward, "bounded, grasp-gated lift-and-hold reward made for the state teacher "
                  "at the real arm's rate", step_bound=max(v20.STEP_MAX, -v20.STEP_MIN)),
)
for _version in _BUILTIN:
    register(_version)


def known_versions() -> list[str]:
    return sorted(_REGISTRY)


def get_reward(name: str) -> RewardVersion:
    if not isinstance(name, str):
        raise TypeError(f"reward version name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownRewardError(name, known_versions()) from None


def fingerprint(name: str) -> str:
    """First 16 hex digits of the sha256 of the version's definition; record it with every run."""
    return get_reward(name).fingerprint


def check_fingerprint(name: str, recorded_fingerprint: str) -> None:
    """Warn when a run's recorded fingerprint is not what ``name`` computes today.

    A warning, not an error, so old runs can still be read; but their returns are not comparable
    with new runs under the same name, and the message says so.
    """
    current = fingerprint(name)
    if recorded_fingerprint != current:
        warnings.warn(
            f"REWARD VERSION CHANGED: {name!r} was recorded with fingerprint {recorded_fingerprint!r} but its "
            f"current definition has fingerprint {current!r}; returns and success curves of that run are not "
            f"comparable with runs made under today's {name!r}",
            RewardVersionChangedWarning,
            stacklevel=2,
        )
