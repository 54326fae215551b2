"""Exploration schedules written as short strings in a config, parsed into pure functions of the step.

A schedule lives in the config as text (``linear(1.0,0.1,500000)``) so the resolved YAML of a run
says exactly what it used, and it is a pure function of the env step so a resumed run gets the
same value at the same step without saving any schedule state.

This module imports nothing from the package: agents use it too (DrQ-v2's stddev), and agents must
stay free of the simulator and the train loop.

Accepted forms (spaces allowed, numbers in any Python float syntax):
- ``0.2`` or ``const(0.2)``: the same value at every step;
- ``linear(start, end, duration)``: ``start`` at step 0, straight line to ``end`` at ``duration``,
  ``end`` afterwards (negative steps read as step 0);
- ``step_linear(start, mid, duration1, end, duration2)``: ``linear(start, mid, duration1)`` then
  from ``mid`` to ``end`` over the next ``duration2`` steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

Schedule = Callable[[int], float]

ACCEPTED_FORMS = "a number (0.2), const(x), linear(start,end,duration), step_linear(start,mid,duration1,end,duration2)"

_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$")


@dataclass(frozen=True)
class Const:
    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear:
    start: float
    end: float
    duration: float

    def __call__(self, step: int) -> float:
        frac = min(max(step / self.duration, 0.0), 1.0)
        return self.start + frac * (self.end - self.start)


@dataclass(frozen=True)
class StepLinear:
    first: Linear
    second: Linear

    def __call__(self, step: int) -> float:
        if step <= self.first.duration:
            return self.first(step)
        return self.second(step - self.first.duration)


def _number(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad schedule {whole!r}: {text.strip()!r} is not a number; accepted: {ACCEPTED_FORMS}") from None
    if not math.isfinite(value):
        raise ValueError(f"bad schedule {whole!r}: {text.strip()!r} is not finite; accepted: {ACCEPTED_FORMS}")
    return value


def _duration(value: float, whole: str) -> float:
    if value <= 0:
        raise ValueError(f"bad schedule {whole!r}: duration must be > 0, got {value:g}")
    return value


_ARITY = {"const": 1, "linear": 3, "step_linear": 5}


def parse_schedule(text: str) -> Schedule:
    """The schedule ``text`` describes, as a callable ``step -> float``; ``ValueError`` otherwise."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"bad schedule {text!r}: expected a string or a number; accepted: {ACCEPTED_FORMS}")
    whole = str(text)
    if not isinstance(text, str):
        return Const(_number(whole, whole))
    match = _CALL.match(whole)
    if match is None:
        return Const(_number(whole, whole))
    name, body = match.group(1), match.group(2)
    if name not in _ARITY:
        raise ValueError(f"bad schedule {whole!r}: unknown function {name!r}; accepted: {ACCEPTED_FORMS}")
    parts = body.split(",") if body.strip() else []
    if len(parts) != _ARITY[name]:
        raise ValueError(f"bad schedule {whole!r}: {name} takes {_ARITY[name]} argument(s), got {len(parts)}; "
                         f"accepted: {ACCEPTED_FORMS}")
    args = [_number(p, whole) for p in parts]
    if name == "const":
        return Const(args[0])
    if name == "linear":
        return Linear(args[0], args[1], _duration(args[2], whole))
    start, mid, d1, end, d2 = args
    return StepLinear(Linear(start, mid, _duration(d1, whole)), Linear(mid, end, _duration(d2, whole)))
