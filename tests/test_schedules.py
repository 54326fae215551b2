"""Exploration schedules: values at chosen steps worked out by hand, and refusal of bad strings."""

import pytest

from liftrl.common.schedules import parse_schedule

# (text, step, value) -- each value computed by hand from the schedule's definition.
TABLE = [
    ("0.2", 0, 0.2),
    ("0.2", 10**7, 0.2),
    ("const(0.5)", 123, 0.5),
    (" const( -1.5 ) ", 0, -1.5),
    # the user's DrQ-v2 setting: 1.0 -> 0.1 over 500k steps
    ("linear(1.0,0.1,500000)", 0, 1.0),
    ("linear(1.0,0.1,500000)", 100_000, 0.82),  # 1.0 - 0.9 * 0.2
    ("linear(1.0,0.1,500000)", 250_000, 0.55),  # halfway
    ("linear(1.0,0.1,500000)", 500_000, 0.1),
    ("linear(1.0,0.1,500000)", 2_000_000, 0.1),  # held at the end value
    ("linear(1.0, 0.1, 500000)", -5, 1.0),  # before the start reads as step 0
    ("linear(0,2,4)", 1, 0.5),  # rising schedules work too
    ("linear(1,0.1,5e5)", 250_000, 0.55),  # float syntax for the duration
    # two linear pieces: 1 -> 0.5 over 100 steps, then 0.5 -> 0.1 over 200 more
    ("step_linear(1.0,0.5,100,0.1,200)", 50, 0.75),
    ("step_linear(1.0,0.5,100,0.1,200)", 100, 0.5),
    ("step_linear(1.0,0.5,100,0.1,200)", 200, 0.3),
    ("step_linear(1.0,0.5,100,0.1,200)", 300, 0.1),
    ("step_linear(1.0,0.5,100,0.1,200)", 10_000, 0.1),
]


@pytest.mark.parametrize("text,step,value", TABLE)
def test_values_at_chosen_steps(text, step, value):
    assert parse_schedule(text)(step) == pytest.approx(value, abs=1e-12)


def test_numbers_are_constant_schedules():
    assert parse_schedule(0.3)(999) == 0.3
    assert parse_schedule(2)(0) == 2.0


@pytest.mark.parametrize("text,problem", [
    ("", "not a number"),
    ("fast", "not a number"),
    ("lin(1,0,10)", "unknown function 'lin'"),
    ("linear(1.0,0.1)", "takes 3 argument"),
    ("linear(1.0,0.1,500000,7)", "takes 3 argument"),
    ("linear(1.0,x,10)", "'x' is not a number"),
    ("linear(1.0,0.1,0)", "duration must be > 0"),
    ("linear(1.0,0.1,-10)", "duration must be > 0"),
    ("const()", "takes 1 argument"),
    ("const(nan)", "not finite"),
    ("linear(1.0,0.1,500000", "not a number"),  # missing bracket: not a call at all
    ("step_linear(1,0.5,0,0.1,10)", "duration must be > 0"),
])
def test_bad_strings_name_the_string_and_the_accepted_forms(text, problem):
    with pytest.raises(ValueError) as err:
        parse_schedule(text)
    message = str(err.value)
    assert repr(text) in message
    assert problem in message
    if "duration" not in problem:
        assert "linear(start,end,duration)" in message  # the accepted forms are listed


@pytest.mark.parametrize("value", [None, True, [1.0], {"a": 1}])
def test_non_text_values_are_refused(value):
    with pytest.raises(ValueError, match="expected a string or a number"):
        parse_schedule(value)


def test_schedules_are_pure_functions_of_the_step():
    """A resumed run rebuilds its schedule from the config text: values must not depend on history."""
    used = parse_schedule("linear(1.0,0.1,1000)")
    for step in (900, 10, 1000, 3):
        used(step)
    fresh = parse_schedule("linear(1.0,0.1,1000)")
    assert [used(t) for t in (0, 500, 1000)] == [fresh(t) for t in (0, 500, 1000)]
