"""The shared camera pipeline: exact output on a synthetic camera frame, frame order, bad input.

The expected arrays are computed here step by step from the documented recipe (crop, area
resize as block means, RGB, channel-first), not by calling the code under test.
"""

import numpy as np
import pytest

from liftrl.obs.pipeline import CameraSpec, FrameStack, preprocess_frame
from liftrl.sim.env import LiftCubeEnv


def _synthetic_camera_frame() -> np.ndarray:
    """640x480 RGB with a distinct value per pixel and per channel, and marked borders to crop."""
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w]
    frame = np.stack([(x * 7 + y) % 256, (y * 3 + x // 5) % 256, (x + y * 11) % 256], axis=-1).astype(np.uint8)
    frame[:, :80] = 255  # the 80 columns each side that a centre crop must drop
    frame[:, -80:] = 255
    return frame


def test_real_camera_frame_to_policy_image_exactly():
    frame = _synthetic_camera_frame()
    # 1. centre crop 640x480 -> 480x480: columns 80..559
    crop = frame[:, 80:560].astype(np.float64)
    # 2. area resize 480 -> 84 is not an integer factor; build it as OpenCV's area rule does:
    #    each output pixel averages the input area it covers, weighting partial pixels.
    scale = 480 / 84
    weights = np.zeros((84, 480))
    for o in range(84):
        lo, hi = o * scale, (o + 1) * scale
        for i in range(int(np.floor(lo)), int(np.ceil(hi))):
            weights[o, i] = min(hi, i + 1) - max(lo, i)
    weights /= weights.sum(axis=1, keepdims=True)
    resized = np.einsum("oi,ijc->ojc", weights, crop)
    resized = np.einsum("pj,ojc->opc", weights, resized)
    expected = np.clip(np.rint(resized), 0, 255).astype(np.uint8).transpose(2, 0, 1)  # 4. channel-first

    out = preprocess_frame(frame, CameraSpec(size=84))
    assert out.shape == (3, 84, 84) and out.dtype == np.uint8
    # OpenCV's area resize works in fixed point: allow one grey level, and nothing systematic.
    diff = out.astype(int) - expected.astype(int)
    assert np.abs(diff).max() <= 1
    assert abs(diff.mean()) < 0.05
    # The white borders were cropped away, not squeezed in.
    assert not np.all(out[:, :, 0] == 255)


def test_integer_factor_resize_is_the_block_mean():
    frame = _synthetic_camera_frame()
    spec = CameraSpec(size=80)  # 480 / 80 = 6: area resize is exactly the 6x6 block mean
    crop = frame[:, 80:560].astype(np.float64)
    blocks = crop.reshape(80, 6, 80, 6, 3).mean(axis=(1, 3))
    expected = np.rint(blocks).astype(np.uint8).transpose(2, 0, 1)
    np.testing.assert_allclose(preprocess_frame(frame, spec), expected, atol=1)


def test_bgr_source_becomes_rgb():
    frame = _synthetic_camera_frame()
    rgb = preprocess_frame(frame, CameraSpec(size=84))
    bgr = preprocess_frame(np.ascontiguousarray(frame[..., ::-1]), CameraSpec(size=84, channel_order="bgr"))
    np.testing.assert_array_equal(rgb, bgr)


def test_square_frame_of_the_target_size_passes_unchanged():
    frame = np.random.default_rng(0).integers(0, 256, size=(84, 84, 3), dtype=np.uint8)
    np.testing.assert_array_equal(preprocess_frame(frame, CameraSpec(84)), frame.transpose(2, 0, 1))


def test_frame_stack_is_oldest_first_and_filled_at_reset():
    stack = FrameStack(3)
    frames = [np.full((3, 4, 4), v, dtype=np.uint8) for v in (10, 20, 30, 40)]
    first = stack.reset(frames[0])
    assert first.shape == (9, 4, 4)
    assert [int(first[c, 0, 0]) for c in (0, 3, 6)] == [10, 10, 10]
    stack.push(frames[1])
    stack.push(frames[2])
    out = stack.push(frames[3])
    assert [int(out[c, 0, 0]) for c in (0, 3, 6)] == [20, 30, 40]  # oldest first, newest last


def test_env_pixels_are_the_pipeline_applied_to_the_wrist_render():
    """The env has no preprocessing of its own: its pixels equal the shared pipeline's output."""
    env = LiftCubeEnv(observations=("pixels",), image_size=84)
    try:
        obs, _ = env.reset(seed=3)
        raw = env.render_wrist()
        expected = preprocess_frame(raw, CameraSpec(84))
        np.testing.assert_array_equal(obs["pixels"][-3:], expected)
        np.testing.assert_array_equal(obs["pixels"][:3], expected)  # reset fills the stack
        obs2, *_ = env.step(np.array([0.5, 0.0, 0.0, 1.0]))
        np.testing.assert_array_equal(obs2["pixels"][:6], obs["pixels"][3:])  # frames shift by one
        np.testing.assert_array_equal(obs2["pixels"][-3:], preprocess_frame(env.render_wrist(), CameraSpec(84)))
    finally:
        env.close()


@pytest.mark.parametrize("frame, message", [
    (np.zeros((480, 640), np.uint8), "HxWx3"),
    (np.zeros((480, 640, 4), np.uint8), "HxWx3"),
    (np.zeros((480, 640, 3), np.float32), "uint8"),
    (np.zeros((0, 640, 3), np.uint8), "HxWx3"),
])
def test_bad_camera_frames_are_refused(frame, message):
    with pytest.raises(ValueError, match=message):
        preprocess_frame(frame, CameraSpec(84))


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0}, "size"), ({"crop": "stretch"}, "crop"), ({"interpolation": "cubic"}, "interpolation"),
    ({"channel_order": "gbr"}, "channel_order"),
])
def test_bad_camera_specs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CameraSpec(**kwargs)


def test_frame_stack_refuses_misuse():
    stack = FrameStack(3)
    with pytest.raises(RuntimeError, match="before reset"):
        stack.push(np.zeros((3, 4, 4), np.uint8))
    stack.reset(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        stack.push(np.zeros((3, 5, 5), np.uint8))
    with pytest.raises(ValueError, match="frame stack size"):
        FrameStack(0)
