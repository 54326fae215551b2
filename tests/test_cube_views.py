"""Moved-cube views (distill.moved_cube_views): rows chosen, cube moved, image changed, labels on the moved cube,
batches mixed, the same views on a resume, bad settings refused."""

from pathlib import Path

import numpy as np
import pytest

from liftrl.config import ConfigError, load_config
from liftrl.distill.cube_views import (
    CubeViews, ViewMaker, ViewRenderer, ViewSettings, make_views, moved_cube, resting,
)
from liftrl.distill.loop import _view_maker
from liftrl.replay.buffer import ReplayBuffer
from liftrl.sim.privileged import PRIVILEGED_DIM

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STUDENT = str(CONFIGS / "student.yaml")
KEYS = ("last_actions", "pixels", "privileged", "state")


def _priv(x=0.3, y=0.0, z=0.015, half=0.015, v=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([x, y, z, half, 1, 0, 0, 0, *v], np.float32)


def test_only_rows_with_the_cube_resting_on_the_table_are_used():
    rows = np.stack([_priv(), _priv(z=0.05), _priv(v=(0.1, 0, 0)), _priv(z=0.018)])
    assert resting(rows).tolist() == [True, False, False, True]


def test_a_moved_cube_lies_within_the_shift_and_covers_it():
    rng = np.random.default_rng(0)
    moves = np.array([moved_cube(np.array([0.3, 0.1]), 0.04, rng)[0] for _ in range(2000)]) - [0.3, 0.1]
    dist = np.linalg.norm(moves, axis=1)
    assert dist.max() <= 0.04 and dist.mean() > 0.025  # uniform over the disc: mean radius 2/3 of it
    assert (moves[:, 0] > 0).mean() == pytest.approx(0.5, abs=0.05)


@pytest.fixture(scope="module")
def renderer():
    # No camera noise here, so that a frame's change is the scene's (the views pass the env's noise on as it is).
    cfg = load_config(STUDENT, ["env.observations=[pixels,state,privileged,last_actions]", "env.image_size=32",
                                "env.camera_noise=0", "env.camera_gain=0"])
    r = ViewRenderer(cfg.env, ViewSettings(views=8, shift_m=0.04, batch_fraction=0.5, frame_stack=3,
                                           control_dt=1 / 15))
    yield r
    r.close()


def _arm_state(renderer, moving: bool) -> np.ndarray:
    """The env's own state after a reset of stage 3 (the cube under the open jaws), joints moving or not."""
    env = renderer.env
    env.reset(seed=3)
    state = env._state().copy()
    state[6:12] = [0.3, -0.4, 0.4, 0.2, 0.0, 0.0] if moving else 0.0
    return state


def test_a_view_shows_the_moved_cube_where_its_privileged_says(renderer):
    state = _arm_state(renderer, moving=False)
    src = np.array([0.28, 0.0])
    renderer.new_scene(5)
    a = renderer.render(state, src, np.random.default_rng(1))
    renderer.new_scene(5)  # the same scene: only the cube's placement differs
    b = renderer.render(state, src, np.random.default_rng(2))
    assert a is not None and b is not None
    (pa, ca), (pb, cb) = a, b
    assert pa.shape == (9, 32, 32) and pa.dtype == np.uint8 and ca.shape == (PRIVILEGED_DIM,)
    half = ca[3]
    assert ca[2] == pytest.approx(half) and np.linalg.norm(ca[:2] - src) <= 0.04 + 1e-6
    assert not np.allclose(ca[:2], cb[:2])
    assert np.abs(pa.astype(int) - pb.astype(int)).mean() > 1.0  # the image says the cube moved
    # With the joints still the stack is one pose three times.
    np.testing.assert_array_equal(pa[:3], pa[6:])


def test_a_moving_arm_gives_a_stack_of_earlier_poses(renderer):
    state = _arm_state(renderer, moving=True)
    renderer.new_scene(5)
    pixels, _ = renderer.render(state, np.array([0.28, 0.0]), np.random.default_rng(1))
    still = _arm_state(renderer, moving=False)
    renderer.new_scene(5)
    pixels_still, _ = renderer.render(still, np.array([0.28, 0.0]), np.random.default_rng(1))
    assert np.abs(pixels[:3].astype(int) - pixels[6:].astype(int)).mean() > 2.0
    np.testing.assert_array_equal(pixels_still[:3], pixels_still[6:])
    np.testing.assert_array_equal(pixels[6:], pixels_still[6:])  # the newest frame is the state's own pose


def test_labels_are_the_teachers_on_the_moved_cube_and_held_cubes_are_skipped(renderer):
    state = _arm_state(renderer, moving=False)
    rows = {"state": np.stack([state] * 4), "last_actions": np.zeros((4, 15), np.float32),
            "privileged": np.stack([_priv(0.28, 0.0), _priv(0.28, 0.0, z=0.08), _priv(0.3, 0.02), _priv(0.26, -0.02)])}
    seen = {}

    def teacher(obs):  # a teacher whose action is the cube it is shown
        seen.update(obs)
        return obs["privileged"][:, :4].copy()

    views = make_views(renderer, rows, teacher, np.random.default_rng(0))
    assert len(views) == 3  # the lifted cube (row 1) is not moved
    np.testing.assert_array_equal(views.labels, views.obs["privileged"][:, :4])
    assert set(seen) == set(KEYS) and seen["pixels"].shape == (3, 9, 32, 32)
    moved = np.linalg.norm(views.obs["privileged"][:, :2] - rows["privileged"][[0, 2, 3], :2], axis=1)
    assert (moved > 0).all() and (moved <= 0.04 + 1e-6).all()
    np.testing.assert_array_equal(views.obs["state"], rows["state"][[0, 2, 3]])


def _replay(n=60) -> ReplayBuffer:
    shapes = {"pixels": ((9, 32, 32), np.uint8), "state": ((18,), np.float32),
              "privileged": ((PRIVILEGED_DIM,), np.float32), "last_actions": ((15,), np.float32)}
    buf = ReplayBuffer(400, 1, shapes, 5, n_step=1, gamma=1.0, frame_stack=3, seed=0)
    rng = np.random.default_rng(0)

    frames = [rng.integers(0, 255, (1, 3, 32, 32), dtype=np.uint8) for _ in range(n + 3)]

    def obs(t):  # the stack of frames t-2, t-1, t, as an env's frame stack shifts
        return {"pixels": np.concatenate(frames[t:t + 3], 1),
                "state": rng.normal(size=(1, 18)).astype(np.float32) * 0.1,
                "privileged": _priv(rng.uniform(0.25, 0.35), rng.uniform(-0.05, 0.05))[None],
                "last_actions": np.zeros((1, 15), np.float32)}
    o = obs(0)
    for t in range(n):
        nxt = obs(t + 1)
        buf.add(o, np.full((1, 5), 0.5, np.float32), np.zeros(1), nxt, np.zeros(1, bool), np.zeros(1, bool))
        o = nxt
    return buf


def _maker(renderer, seed=0):
    return ViewMaker(renderer, lambda obs: np.full((len(obs["state"]), 5), -0.5, np.float32), KEYS, seed)


def test_a_round_makes_the_same_views_again_so_a_resume_needs_no_file(renderer):
    replay = _replay()
    one, two = _maker(renderer), _maker(renderer)
    assert one.new_round(4, replay) == two.new_round(4, replay) > 0
    for key in KEYS:
        np.testing.assert_array_equal(one.views.obs[key], two.views.obs[key])
    other = _maker(renderer)
    other.new_round(5, replay)
    assert not np.array_equal(other.views.obs["privileged"], one.views.obs["privileged"])


def test_a_batch_mixes_views_and_rollouts_by_the_fraction(renderer):
    replay = _replay()
    maker = _maker(renderer)
    assert maker.batch(replay, 16)["action"].shape == (16, 5)  # no views yet: rollouts only
    maker.new_round(0, replay)
    batch = maker.batch(replay, 16)
    labels = batch["action"][:, 0]
    assert (labels == 0.5).sum() == 8 and (labels == -0.5).sum() == 8  # rollouts' labels, then the views'
    assert all(batch["obs"][k].shape[0] == 16 for k in KEYS)


def test_views_of_no_resting_cube_are_none(renderer):
    rows = {"state": np.zeros((2, 18), np.float32), "privileged": np.stack([_priv(z=0.1)] * 2),
            "last_actions": np.zeros((2, 15), np.float32)}
    assert make_views(renderer, rows, lambda obs: obs["state"][:, :5], np.random.default_rng(0)) is None


@pytest.mark.parametrize("override, message", [
    ("distill.moved_cube_views=-1", "moved_cube_views"),
    ("distill.moved_cube_shift_m=0", "moved_cube_shift_m"),
    ("distill.moved_cube_shift_m=0.5", "moved_cube_shift_m"),
    ("distill.moved_cube_batch_fraction=1.0", "moved_cube_batch_fraction"),
    ("distill.moved_cube_batch_fraction=0", "moved_cube_batch_fraction"),
])
def test_bad_view_settings_are_refused_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(STUDENT, [override])


def test_a_teacher_that_does_not_read_the_cube_is_refused():
    cfg = load_config(STUDENT, ["distill.moved_cube_views=10"])

    class StateTeacher:
        actor_keys = ("state",)
        run = "runs/sac/x"

    with pytest.raises(ValueError, match="needs a teacher that reads 'privileged'"):
        _view_maker(cfg, StateTeacher(), KEYS)

    class CubeTeacher:
        actor_keys = ("state", "privileged", "last_actions")
        run = "runs/sac/y"

    with pytest.raises(ValueError, match=r"does not keep \['last_actions', 'privileged'\]"):
        _view_maker(cfg, CubeTeacher(), ("pixels", "state"))
    assert _view_maker(load_config(STUDENT), StateTeacher(), KEYS) is None


def test_cube_views_sample_whole_rows():
    views = CubeViews({"state": np.arange(6, dtype=np.float32)[:, None]}, np.arange(6, dtype=np.float32)[:, None])
    obs, labels = views.sample(50, np.random.default_rng(0))
    np.testing.assert_array_equal(obs["state"], labels)


def test_source_rows_come_from_the_callers_generator_and_leave_the_batches_draws_alone():
    a, b, untouched = _replay(), _replay(), _replay()
    rows = a.sample_vectors(7, np.random.default_rng(3))
    assert set(rows) == {"last_actions", "privileged", "state"} and rows["state"].shape == (7, 18)
    np.testing.assert_array_equal(rows["state"], b.sample_vectors(7, np.random.default_rng(3))["state"])
    b = untouched  # never asked for source rows: its batches must be a's
    np.testing.assert_array_equal(a.sample(5)["action"], b.sample(5)["action"])
    np.testing.assert_array_equal(a.sample(5)["obs"]["state"], b.sample(5)["obs"]["state"])
