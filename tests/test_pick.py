"""The pick stage (issue 23): one start pose for sim and arm, the cube in view anywhere in the pick area,
and a scripted grasp that reaches the whole area at the real arm's rate."""

from __future__ import annotations

import numpy as np
import pytest

from liftrl.sim import start_pose, task, view
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.task import PICK_STAGE, OptionError, TaskConfig


@pytest.fixture(scope="module")
def pick_env():
    env = LiftCubeEnv(curriculum_stage=PICK_STAGE, observations=("state",), render_mode=None)
    yield env
    env.close()


def test_pick_area_is_at_least_20_by_24_cm():
    assert sorted(start_pose.PICK_AREA.size) >= [0.20 - 1e-9, 0.24 - 1e-9]
    assert start_pose.PICK_AREA.x[0] > 0.15  # in front of the arm's base


def test_pick_resets_start_from_the_start_pose_with_any_yaw(pick_env):
    yaws, xy = [], []
    for seed in range(40):
        _, info = pick_env.reset(seed=seed)
        np.testing.assert_allclose(pick_env.data.qpos[pick_env.ids.arm_qpos], start_pose.START_POSE, atol=1e-12)
        np.testing.assert_allclose(info["target"], pick_env.tool_pos(), atol=1e-12)  # the first step is a step
        w, _, _, z = info["cube_quat"]
        yaws.append(2 * np.arctan2(z, w))
        xy.append(info["cube_pos"][:2])
        assert info["curriculum_stage"] == PICK_STAGE
    xy = np.array(xy)
    area = start_pose.PICK_AREA
    assert np.all((xy[:, 0] >= area.x[0]) & (xy[:, 0] <= area.x[1]) & (xy[:, 1] >= area.y[0]) & (xy[:, 1] <= area.y[1]))
    assert np.ptp(xy[:, 0]) > 0.5 * area.size[0] and np.ptp(xy[:, 1]) > 0.5 * area.size[1]
    assert min(yaws) < 0.3 and max(yaws) > np.pi / 2 - 0.3  # any yaw (a cube repeats every 90 degrees)


def test_cube_corners_are_in_the_wrist_image_at_the_first_frame_of_1000_resets(pick_env):
    """Every corner of the randomised cube (size, yaw, camera offset) projects inside the wrist image."""
    m, d, ids = pick_env.model, pick_env.data, pick_env.ids
    margins = []
    for seed in range(1000):
        _, info = pick_env.reset(seed=seed)
        corners = view.box_corners(pick_env.cube_pos(), d.qpos[ids.cube_qpos + 3:ids.cube_qpos + 7],
                                   info["cube_half_size"])
        margins.append(view.view_margin(*view.project(m, d, ids.wrist_camera, corners)))
    assert min(margins) > 0.0, f"{sum(x <= 0 for x in margins)} of 1000 resets show a cube corner outside the image"


def test_projection_matches_the_rendered_frame():
    """The projection is MuJoCo's camera: the cube's centre projects onto its rendered pixels."""
    env = LiftCubeEnv(curriculum_stage=PICK_STAGE, observations=("pixels",), randomize=False, image_size=84)
    try:
        env.reset(seed=4)
        env.model.geom_rgba[env.ids.cube_geom, :3] = (1.0, 0.0, 0.0)
        frame = env.render_wrist().astype(int)
        red = (frame[..., 0] > 120) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
        rows, cols = np.nonzero(red)
        uv, _ = view.project(env.model, env.data, env.ids.wrist_camera, env.cube_pos()[None])
        u, v = uv[0]
        assert red.sum() > 10
        assert abs(cols.mean() / 84 - u) < 0.05 and abs(rows.mean() / 84 - v) < 0.05
    finally:
        env.close()


def test_a_far_corner_outside_the_view_is_detected(pick_env):
    """The check can fail: a point behind the area or off to the side is outside the image."""
    m, d, ids = pick_env.model, pick_env.data, pick_env.ids
    pick_env.reset(seed=0)
    for point in ([0.25, 0.35, 0.0], [0.05, 0.0, 0.0]):
        assert view.view_margin(*view.project(m, d, ids.wrist_camera, np.array([point]))) < 0


def test_the_dry_run_and_the_real_arm_start_from_the_same_pose():
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.sim_robot import SimRobot
    from liftrl.deploy.start_pose import episode_start_pose

    cfg = TaskConfig(curriculum_stage=PICK_STAGE, max_episode_steps=400)
    arm = ArmModel.build()
    goal = episode_start_pose(arm, cfg)  # what `liftrl deploy --robot so101` moves to before each episode
    sim = SimRobot(LiftCubeEnv(curriculum_stage=PICK_STAGE, observations=("state",), render_mode=None),
                   render=False)
    try:
        for seed in (0, 7):
            sim.reset(seed)  # what `liftrl deploy --robot sim` starts each episode from
            np.testing.assert_allclose(sim.read().joints, goal, atol=1e-9)
    finally:
        sim.env.close()
    # The other stages' real-arm start stays the home pose (stage 0's start), as before.
    np.testing.assert_allclose(episode_start_pose(arm, TaskConfig(curriculum_stage=3))[:4],
                               arm.ik.solve(start_pose.HOME_IK_SEED, np.array(TaskConfig().home_tool), iterations=200))


def test_six_value_mix_draws_the_pick_stage_and_five_values_still_work():
    env = LiftCubeEnv(curriculum_stage=PICK_STAGE, curriculum_mix=(0, 0, 0.5, 0, 0, 0.5), observations=("state",),
                      render_mode=None)
    try:
        stages = {env.reset(seed=s)[1]["curriculum_stage"] for s in range(20)}
    finally:
        env.close()
    assert stages == {2, PICK_STAGE}
    TaskConfig(curriculum_mix=(0, 0.5, 0, 0.5, 0))
    with pytest.raises(OptionError, match="curriculum_mix"):
        TaskConfig(curriculum_mix=(0, 0.5, 0, 0.5, 0, 0, 0))
    with pytest.raises(OptionError, match="curriculum_stage"):
        TaskConfig(curriculum_stage=6)
    assert task.STAGE_NAMES[PICK_STAGE].startswith("pick area")


def test_scripted_grasp_from_the_start_pose_at_15_hz():
    """>= 8 of 10 seeded pick-area episodes at the real arm's rate and latency range, hold 150 ticks."""
    from liftrl.scripted import ScriptedGrasp
    from liftrl.sim.factory import build_env

    env = build_env(control_hz=15, latency_ms=(66, 133), curriculum_stage=PICK_STAGE, hold_steps=150,
                   max_episode_steps=400, observations=("state",), reward="v20", render_mode=None)
    wins = 0
    try:
        for seed in range(2000, 2010):
            _, info = env.reset(seed=seed)
            policy, done = ScriptedGrasp.for_env(env), False
            while not done:
                _, _, term, trunc, info = env.step(policy.act(info))
                done = term or trunc
            wins += bool(info["is_success"])
    finally:
        env.close()
    assert wins >= 8, f"scripted grasp from the start pose: {wins}/10"


def test_cube_xy_reset_option_places_the_cube_in_the_pick_stage_only(pick_env):
    _, info = pick_env.reset(seed=3, options={"cube_xy": (0.30, -0.05)})
    np.testing.assert_allclose(info["cube_pos"][:2], [0.30, -0.05], atol=1e-9)
    env = LiftCubeEnv(curriculum_stage=3, observations=("state",), render_mode=None)
    try:
        with pytest.raises(ValueError, match="cube_xy needs the pick stage"):
            env.reset(seed=0, options={"cube_xy": (0.3, 0.0)})
    finally:
        env.close()


def test_state_and_last_actions_at_the_first_frame_say_nothing_of_the_cube():
    """From the start pose the actor's non-image inputs are the same whatever the cube: only pixels can find it."""
    from liftrl.sim.factory import build_env

    env = build_env(control_hz=15, latency_ms=(66, 133), curriculum_stage=PICK_STAGE, max_episode_steps=400,
                   observations=("state", "last_actions"), render_mode=None)
    try:
        firsts = [env.reset(seed=s)[0] for s in range(6)]
        cubes = [env.reset(seed=s)[1]["cube_pos"][:2] for s in range(6)]
    finally:
        env.close()
    assert np.ptp(np.array(cubes), axis=0).min() > 0.02  # the cubes were in different places
    for obs in firsts[1:]:
        np.testing.assert_array_equal(obs["state"], firsts[0]["state"])
        np.testing.assert_array_equal(obs["last_actions"], firsts[0]["last_actions"])


def _turned_cubes(env, count: int, reach: float = 0.40) -> list[int]:
    """Seeds whose pick-stage cube lies within ``reach`` of the base, turned 30-45 deg from the jaws."""
    from liftrl.sim.privileged import yaw

    seeds = []
    for seed in range(3000, 3400):
        _, info = env.reset(seed=seed)
        c = info["cube_pos"]
        rel = np.degrees(yaw(info["cube_quat"]) - np.arctan2(c[1], c[0]))
        if np.hypot(c[0], c[1]) < reach and abs((rel + 45) % 90 - 45) > 30:
            seeds.append(seed)
        if len(seeds) == count:
            return seeds
    raise AssertionError("too few turned cubes in 400 resets")


def _scripted_wins(env, seeds) -> int:
    from liftrl.scripted import ScriptedGrasp

    wins = 0
    for seed in seeds:
        _, info = env.reset(seed=seed)
        policy, done = ScriptedGrasp.for_env(env), False
        while not done:
            _, _, term, trunc, info = env.step(policy.act(info))
            done = term or trunc
        wins += bool(info["is_success"])
    return wins


@pytest.mark.slow
def test_the_wrist_roll_action_grasps_cubes_turned_from_the_jaws():
    """A cube turned 30-45 deg from the jaws is caught by its edges with the roll held; with the
    wrist_roll_action option the scripted grasp turns the jaws face-on first (measured over 150
    episodes: 37/37 against 22/37 within 0.40 m; these 30 seeds: 27 against 18). Same seeds, same
    cubes, both action spaces."""
    from liftrl.sim.factory import build_env

    kw = dict(control_hz=15, latency_ms=(66, 133), curriculum_stage=PICK_STAGE, hold_steps=150,
              max_episode_steps=400, observations=("state",), reward="v20", render_mode=None)
    with_roll, held = build_env(wrist_roll_action=True, **kw), build_env(**kw)
    try:
        seeds = _turned_cubes(held, 30)
        assert with_roll.action_space.shape == (5,) and held.action_space.shape == (4,)
        rolled, fixed = _scripted_wins(with_roll, seeds), _scripted_wins(held, seeds)
    finally:
        with_roll.close()
        held.close()
    assert rolled >= 25, f"with the roll: {rolled}/30"
    assert rolled >= fixed + 5, f"with the roll {rolled}/30, held {fixed}/30"
