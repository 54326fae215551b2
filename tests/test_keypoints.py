"""The student's keypoint encoder head and its aux target: what the pick-area student finds the cube with."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from liftrl.agents.config import DrQV2Config, StudentConfig
from liftrl.agents.drqv2 import DrQV2Agent
from liftrl.agents.networks import Encoder, SpatialSoftmax
from liftrl.agents.student import AUX_SCALE, StudentAgent, aux_target, cube_from_guess
from liftrl.deploy.policy import BundlePolicy, actor_arch, actor_weights

PICK = str(Path(__file__).resolve().parents[1] / "configs" / "student_pick.yaml")
SHAPES = {"pixels": (9, 32, 32), "state": (18,), "last_actions": (8,)}
KEYS = ("pixels", "state", "last_actions")


def test_a_keypoint_is_the_position_of_its_maps_peak():
    head = SpatialSoftmax(channels=2, keypoints=2)
    with torch.no_grad():
        head.maps.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
        head.maps.bias.zero_()
        head.log_temperature.fill_(-4.0)  # a sharp softmax: the expectation sits on the peak
    maps = torch.zeros(1, 2, 5, 9)
    maps[0, 0, 1, 6] = 10.0  # row 1 of 5, column 6 of 9
    maps[0, 1, 4, 0] = 10.0  # bottom-left corner
    x0, y0, x1, y1 = head(maps)[0].tolist()
    assert (x0, y0) == pytest.approx((np.linspace(-1, 1, 9)[6], np.linspace(-1, 1, 5)[1]), abs=1e-3)
    assert (x1, y1) == pytest.approx((-1.0, 1.0), abs=1e-3)


def test_the_keypoint_encoder_gives_two_values_per_keypoint_and_refuses_a_negative_count():
    enc = Encoder((9, 64, 64), channels=8, layers=4, keypoints=12)
    assert enc.repr_dim == 24
    out = enc(torch.randint(0, 256, (3, 9, 64, 64), dtype=torch.uint8))
    assert out.shape == (3, 24) and out.abs().max() <= 1.0
    with pytest.raises(ValueError, match="keypoints"):
        Encoder((9, 64, 64), keypoints=-1)


def test_a_negative_keypoint_count_is_refused_at_config_load():
    from liftrl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="agent.encoder_keypoints"):
        load_config(PICK, ["agent.encoder_keypoints=-2"])
    assert load_config(PICK, []).agent.encoder_keypoints == 32


def _batch(rng, n=16):
    obs = {"pixels": rng.integers(0, 256, (n, *SHAPES["pixels"]), dtype=np.uint8),
           "state": rng.normal(size=(n, 18)).astype(np.float32),
           "last_actions": rng.uniform(-1, 1, (n, 8)).astype(np.float32),
           "privileged": rng.normal(scale=0.1, size=(n, 11)).astype(np.float32)}  # metres, as a pick area's
    return {"obs": obs, "action": rng.uniform(-0.8, 0.8, (n, 4)).astype(np.float32)}


def test_a_keypoint_student_exports_to_the_same_actions_and_hands_its_weights_to_drqv2():
    cfg = StudentConfig(encoder_channels=8, encoder_keypoints=6, feature_dim=8, hidden_dim=32)
    student = StudentAgent(cfg, SHAPES, 4, KEYS, seed=0)
    batch = _batch(np.random.default_rng(0))
    student.update(batch, 0)
    arch = actor_arch("student", dataclasses.asdict(cfg), KEYS, SHAPES, 4)
    assert arch["encoder_keypoints"] == 6
    policy = BundlePolicy(arch, actor_weights("student", student.state_dict()))
    np.testing.assert_allclose(policy(batch["obs"]), student.act(batch["obs"], 0, eval_mode=True), atol=1e-6)
    # An older bundle's record has no key: it is DrQ-v2's flat map, and these weights do not fit it.
    with pytest.raises(ValueError, match="encoder"):
        BundlePolicy({k: v for k, v in arch.items() if k != "encoder_keypoints"},
                     actor_weights("student", student.state_dict()))
    drq = DrQV2Agent(DrQV2Config(encoder_channels=8, encoder_keypoints=6, feature_dim=8, hidden_dim=32),
                     SHAPES, 4, KEYS, KEYS, "cpu")
    drq.load_actor_weights(student.state_dict())
    flat = DrQV2Agent(DrQV2Config(encoder_channels=8, feature_dim=8, hidden_dim=32), SHAPES, 4, KEYS, KEYS, "cpu")
    with pytest.raises(ValueError, match="encoder_keypoints"):
        flat.load_actor_weights(student.state_dict())


def test_the_aux_target_is_the_cube_seen_from_the_tool_point():
    """What the wrist camera shows is where the cube is from the tool, not where it is on the table:
    the same cube position with the tool moved gives a different target, and the tool over the cube 0."""
    obs = {"privileged": torch.tensor([[0.30, 0.05, 0.015] + [0.0] * 8] * 2),
           "state": torch.zeros(2, 18)}
    obs["state"][1, 12:15] = torch.tensor([0.30, 0.05, 0.015])
    target = aux_target(obs)
    torch.testing.assert_close(target[0], torch.tensor([0.30, 0.05, 0.015]) * AUX_SCALE)
    torch.testing.assert_close(target[1], torch.zeros(3))


def test_euler_to_matrix_undoes_the_states_orientation_triple_even_at_gimbal_lock():
    """The gripper-axis target rotates by the matrix rebuilt from ``state``'s roll, pitch, yaw: it must be
    the matrix the env measured, also with the gripper pointing straight down (pitch +-90 deg)."""
    import mujoco

    from liftrl.agents.student import euler_to_matrix
    from liftrl.sim.ik import rotation_to_euler

    rng = np.random.default_rng(0)
    quats = [*rng.normal(size=(200, 4)), [np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0], [np.cos(np.pi / 4), 0, -np.sin(np.pi / 4), 0]]
    mats = []
    for q in quats:
        m = np.zeros(9)
        mujoco.mju_quat2Mat(m, np.asarray(q) / np.linalg.norm(q))
        mats.append(m.reshape(3, 3))
    euler = torch.tensor(np.array([rotation_to_euler(m) for m in mats]), dtype=torch.float64)
    np.testing.assert_allclose(euler_to_matrix(euler).numpy(), np.array(mats), atol=1e-9)


def test_the_gripper_axis_target_is_the_cube_in_the_end_effectors_frame():
    """On a real env observation, ``aux_cube_frame="gripper"`` is R^T (cube - tool) with R the end
    effector's orientation as MuJoCo has it; turning the arm changes the world target, not the other
    when the cube turns with it."""
    from liftrl.sim.factory import build_env
    from liftrl.sim.options import EnvOptions
    from liftrl.sim.task import PICK_STAGE

    env = build_env(EnvOptions(curriculum_stage=PICK_STAGE, image_size=16, observations=("state", "privileged")))
    try:
        obs, info = env.reset(seed=3)
        base = env.unwrapped
        rot = base.data.site_xmat[base.ids.ee_site].reshape(3, 3)
        batch = {k: torch.as_tensor(np.asarray(obs[k], dtype=np.float32)[None]) for k in ("privileged", "state")}
        expected = rot.T @ (np.asarray(info["cube_pos"]) - np.asarray(info["tool_pos"])) * AUX_SCALE
        np.testing.assert_allclose(aux_target(batch, "gripper")[0].numpy(), expected, atol=2e-4)
        world = aux_target(batch, "world")[0].numpy()
        np.testing.assert_allclose(world, (np.asarray(info["cube_pos"]) - np.asarray(info["tool_pos"])) * AUX_SCALE,
                                   atol=2e-4)
    finally:
        env.close()
    # The whole scene turned 90 deg about the vertical (arm and cube): the world target turns, the gripper's does not.
    turn = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = {"state": batch["state"].clone(), "privileged": batch["privileged"].clone()}
    turned["state"][:, 12:15] = batch["state"][:, 12:15] @ turn.T
    turned["privileged"][:, :3] = batch["privileged"][:, :3] @ turn.T
    turned["state"][:, 17] += np.pi / 2
    torch.testing.assert_close(aux_target(turned, "gripper"), aux_target(batch, "gripper"), atol=1e-4, rtol=0)
    torch.testing.assert_close(aux_target(turned, "world"), aux_target(batch, "world") @ turn.T, atol=1e-4, rtol=0)
    assert not torch.allclose(aux_target(turned, "world"), aux_target(batch, "world"), atol=1e-2)
    # A guess maps back to the cube centre it stands for (the teacher-on-guess bench feeds it as privileged's).
    for frame in ("world", "gripper"):
        for obs_ in (batch, turned):
            back = cube_from_guess(obs_["state"], aux_target(obs_, frame), frame)
            torch.testing.assert_close(back, obs_["privileged"][:, :3], atol=1e-5, rtol=0)
    wrong = cube_from_guess(turned["state"], aux_target(turned, "gripper"), "world")
    assert not torch.allclose(wrong, turned["privileged"][:, :3], atol=1e-3)


@pytest.mark.parametrize("feeds", [False, True], ids=["training-only head", "head the actor reads"])
def test_the_aux_head_learns_where_a_square_is_and_needs_both_keys_in_replay(feeds):
    """Images with a bright square where the 'cube' is: the aux head learns its offset from the image,
    as a separate head or as the encoder's own (``aux_feeds_actor``)."""
    cfg = StudentConfig(encoder_channels=8, encoder_keypoints=4, feature_dim=8, hidden_dim=32, aux_cube_weight=1.0,
                        lr=3e-3, augment_pad=0, aux_feeds_actor=feeds)
    student = StudentAgent(cfg, {"pixels": SHAPES["pixels"]}, 4, ("pixels",), seed=0)
    assert (student.aux is None) == feeds and (student.encoder.cube is not None) == feeds
    assert set(student.replay_keys) == {"pixels", "privileged", "state"}
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(2, 26, 32), rng.integers(2, 26, 32)
    pixels = np.zeros((32, *SHAPES["pixels"]), dtype=np.uint8)
    for i, (r, c) in enumerate(zip(rows, cols)):
        pixels[i, :, r:r + 4, c:c + 4] = 255
    privileged = np.zeros((32, 11), dtype=np.float32)
    privileged[:, 0], privileged[:, 1] = (cols - 14) / 100, (rows - 14) / 100  # +-12 cm
    batch = {"obs": {"pixels": pixels, "privileged": privileged, "state": np.zeros((32, 18), np.float32)},
             "action": np.zeros((32, 4), np.float32)}
    first = student.update(batch, 0)
    for _ in range(300):
        last = student.update(batch, 0)
    assert last["aux_loss"] < 0.1 * first["aux_loss"]


@pytest.mark.parametrize("frame", ["world", "gripper"])
def test_the_update_regresses_the_guess_on_the_configured_axes(frame):
    """The aux loss ``update`` reports is the guess's error against ``aux_target`` in
    ``agent.aux_cube_frame``'s axes, not the other's (the arm turned, so the two differ)."""
    cfg = StudentConfig(encoder_channels=8, encoder_keypoints=4, feature_dim=8, hidden_dim=32, aux_cube_weight=1.0,
                        augment_pad=0, aux_cube_frame=frame)
    student = StudentAgent(cfg, {"pixels": SHAPES["pixels"]}, 4, ("pixels",), seed=0)
    rng = np.random.default_rng(4)
    state = np.zeros((8, 18), np.float32)
    state[:, 12:15] = rng.uniform(-0.1, 0.1, (8, 3))
    state[:, 15:18] = rng.uniform(-1.5, 1.5, (8, 3))  # a turned, tilted end effector
    privileged = np.zeros((8, 11), np.float32)
    privileged[:, :3] = state[:, 12:15] + rng.uniform(-0.1, 0.1, (8, 3))
    obs = {"pixels": rng.integers(0, 255, (8, *SHAPES["pixels"]), dtype=np.uint8), "privileged": privileged,
           "state": state}
    tensors = {k: torch.as_tensor(v) for k, v in obs.items()}
    with torch.no_grad():  # a constant guess far from both targets: the two frames' errors then differ
        student.aux[-1].weight.zero_()
        student.aux[-1].bias.copy_(torch.tensor([5.0, -3.0, 2.0]))
        guess = student._cube_guess(student.encoder(tensors["pixels"].float()))
    expected = {f: float(torch.nn.functional.mse_loss(guess, aux_target(tensors, f))) for f in ("world", "gripper")}
    assert abs(expected["world"] - expected["gripper"]) > 0.5
    reported = student.update({"obs": obs, "action": np.zeros((8, 4), np.float32)}, 0)["aux_loss"]
    assert reported == pytest.approx(expected[frame], rel=1e-5)


def _feeding_student(seed=0):
    cfg = StudentConfig(encoder_channels=8, encoder_keypoints=6, feature_dim=8, hidden_dim=32, aux_cube_weight=1.0,
                        aux_feeds_actor=True)
    return cfg, StudentAgent(cfg, SHAPES, 4, KEYS, seed=seed)


def test_the_actor_reads_the_cube_guess_which_comes_from_pixels_only():
    """With ``aux_feeds_actor`` the guess is a feature: changing only the guess head's output changes
    the action; the guess is computed from the image alone (the encoder sees no state or last
    actions), so the image checks stay meaningful, and it moves when the image does."""
    _, student = _feeding_student()
    obs = _batch(np.random.default_rng(3), n=4)["obs"]
    pixels = torch.as_tensor(obs["pixels"])
    features = student.encoder(pixels)
    assert features.shape[1] == 12 + 3 and student.encoder.repr_dim == 15
    guess = student.encoder.cube_guess(features)
    torch.testing.assert_close(guess, student.encoder.cube(features[:, :12]))
    before = student.act(obs, 0, eval_mode=True)
    with torch.no_grad():
        student.encoder.cube[-1].bias.add_(5.0)  # another guess, the same keypoints
    assert np.abs(student.act(obs, 0, eval_mode=True) - before).max() > 1e-3
    with torch.no_grad():
        again = student.encoder.cube_guess(student.encoder(pixels))
        moved = student.encoder.cube_guess(student.encoder(torch.as_tensor(255 - obs["pixels"])))
    torch.testing.assert_close(again, guess + 5.0)
    assert (moved - again).abs().max() > 1e-4


def test_a_student_reading_its_guess_exports_with_the_head_and_keeps_it_from_drqv2():
    cfg, student = _feeding_student()
    batch = _batch(np.random.default_rng(0))
    student.update(batch, 0)
    arch = actor_arch("student", dataclasses.asdict(cfg), KEYS, SHAPES, 4)
    assert arch["encoder_cube_head"] == 32
    weights = actor_weights("student", student.state_dict())
    assert any(k.startswith("encoder.cube.") for k in weights)
    np.testing.assert_allclose(BundlePolicy(arch, weights)(batch["obs"]), student.act(batch["obs"], 0, eval_mode=True),
                               atol=1e-6)
    # A record without the key (every bundle before the head) is an encoder without one: these weights do not fit.
    with pytest.raises(ValueError, match="encoder"):
        BundlePolicy({k: v for k, v in arch.items() if k != "encoder_cube_head"}, weights)
    drq = DrQV2Agent(DrQV2Config(encoder_channels=8, encoder_keypoints=6, feature_dim=8, hidden_dim=32),
                     SHAPES, 4, KEYS, KEYS, "cpu")
    with pytest.raises(ValueError, match="aux_feeds_actor"):
        drq.load_actor_weights(student.state_dict())
    # The training-only head is no part of the actor: its record has no head.
    plain = dataclasses.replace(cfg, aux_feeds_actor=False)
    assert actor_arch("student", dataclasses.asdict(plain), KEYS, SHAPES, 4)["encoder_cube_head"] == 0


def test_reading_a_guess_that_nothing_trains_is_refused_at_config_load():
    from liftrl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="agent.aux_feeds_actor"):
        load_config(PICK, ["agent.aux_feeds_actor=true", "agent.aux_cube_weight=0"])
    assert load_config(PICK, ["agent.aux_feeds_actor=true"]).agent.aux_feeds_actor is True


def test_a_cube_guess_frame_that_is_unknown_or_untrained_is_refused_at_config_load():
    from liftrl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="agent.aux_cube_frame.*'camera'"):
        load_config(PICK, ["agent.aux_cube_frame=camera"])
    assert load_config(PICK, ["agent.aux_cube_frame=gripper"]).agent.aux_cube_frame == "gripper"
    with pytest.raises(ConfigError, match="agent.aux_cube_frame.*aux_cube_weight > 0"):
        load_config(PICK, ["agent.aux_cube_frame=gripper", "agent.aux_cube_weight=0"])
