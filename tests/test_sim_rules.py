"""The task's rules as tables: grasp, lift, hold and success, and the gripper/workspace mapping."""

import numpy as np
import pytest

from liftrl.sim import task


@pytest.mark.parametrize(
    "gripper_q, fixed, moving, expected",
    [
        (0.30, True, True, True),
        (0.30, True, False, False),  # one pad alone pushes
        (0.30, False, True, False),
        (0.50, True, True, False),  # jaw too open: touching, not closed on it
        (0.449, True, True, True),
    ],
)
def test_is_grasping(gripper_q, fixed, moving, expected):
    assert task.is_grasping(gripper_q, fixed, moving, grasp_max=0.45) is expected


def test_hold_counts_consecutive_lifted_steps_and_resets_on_drop():
    lifted = [True, True, True, False, True, True]
    counts, c = [], 0
    for flag in lifted:
        c = task.next_hold_count(flag, c)
        counts.append(c)
    assert counts == [1, 2, 3, 0, 1, 2]


def test_lifted_needs_grasp_and_height():
    assert task.is_lifted(True, 0.081, 0.08)
    assert not task.is_lifted(True, 0.08, 0.08)  # strictly above
    assert not task.is_lifted(False, 0.2, 0.08)  # thrown, not held


def test_success_at_hold_steps_exactly():
    assert not task.is_success(149, 150)
    assert task.is_success(150, 150)


def test_gripper_command_spans_control_range():
    assert task.gripper_command(-1.0, -0.2, 1.8) == pytest.approx(-0.2)
    assert task.gripper_command(1.0, -0.2, 1.8) == pytest.approx(1.8)
    assert task.gripper_command(0.0, -0.2, 1.8) == pytest.approx(0.8)
    assert task.gripper_command(5.0, -0.2, 1.8) == pytest.approx(1.8)


def test_workspace_clamp():
    cfg = task.TaskConfig()
    out = task.clamp_target(np.array([0.0, 0.5, -1.0]), cfg)
    np.testing.assert_allclose(out, [0.1, 0.3, 0.01])


def test_unknown_stage_names_the_stages():
    with pytest.raises(ValueError, match="curriculum_stage 7.*0: home"):
        task.TaskConfig(curriculum_stage=7)


@pytest.mark.parametrize("stage", task.STAGES)
def test_stage_starts_are_reproducible_and_in_range(stage):
    cfg = task.TaskConfig()
    a = task.sample_stage_start(stage, np.random.default_rng(3), cfg, 0.015, None)
    b = task.sample_stage_start(stage, np.random.default_rng(3), cfg, 0.015, None)
    np.testing.assert_array_equal(a.tool, b.tool)
    np.testing.assert_array_equal(a.cube_xy, b.cube_xy)
    if stage == 0:
        assert np.all(np.abs(a.cube_xy - [0.40, -0.10]) <= 0.03)
    else:
        assert np.all(np.abs(a.cube_xy - [0.25, 0.0]) <= 0.02)
    if stage == 4:
        d = np.linalg.norm(a.tool - np.array([*a.cube_xy, 0.015]))
        assert 0.08 <= d <= 0.12
    assert a.held == (stage in (1, 2))


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_an_offset_moves_the_cube_from_the_jaws_unless_they_hold_it(stage):
    """The stress report's "cube 3 cm further": at stages 3 and 4 the jaws start where the cube was
    placed, so the cube starts 3 cm from them; a held cube (1, 2) moves with the jaws. Same draws."""
    cfg = task.TaskConfig()
    plain = task.sample_stage_start(stage, np.random.default_rng(5), cfg, 0.015, None)
    moved = task.sample_stage_start(stage, np.random.default_rng(5), cfg, 0.015, None, (0.03, -0.01))
    np.testing.assert_allclose(moved.cube_xy - plain.cube_xy, [0.03, -0.01], atol=1e-12)
    tool_shift = moved.tool[:2] - plain.tool[:2]
    np.testing.assert_allclose(tool_shift, [0.03, -0.01] if stage in (1, 2) else [0.0, 0.0], atol=1e-12)
