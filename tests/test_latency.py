"""The control-rate wrapper renders only the frames the policy's stack uses."""

import numpy as np

from liftrl.obs.pipeline import preprocess_frame
from liftrl.sim.env import LiftCubeEnv
from liftrl.sim.latency import ControlRateWrapper


def _counting(env: LiftCubeEnv) -> list:
    calls = []
    render = env.render_wrist

    def counted():
        calls.append(env._t)  # the tick whose frame is rendered
        return render()

    env.render_wrist = counted
    return calls


def test_one_render_per_control_period_at_15hz():
    env = ControlRateWrapper(LiftCubeEnv(curriculum_stage=3, observations=("pixels", "state"), image_size=32),
                             control_hz=15.0, latency_ms=100.0)
    env.reset(seed=3)
    calls = _counting(env.unwrapped)
    rng = np.random.default_rng(0)
    ticks = []
    for k in range(6):
        before = len(calls)
        obs, _, _, _, info = env.step(rng.uniform(-1, 1, 4))
        ticks.append(env.ticks_in_period(k))
        assert len(calls) - before == 1  # 3 or 4 ticks, one frame
        assert calls[-1] == info["step"]  # the period's last tick
        # and it is that tick's frame, as the policy would have seen it had every tick been rendered
        np.testing.assert_array_equal(obs["pixels"][-3:], preprocess_frame(env.unwrapped.render_wrist(),
                                                                             env.unwrapped.camera_spec))
    assert ticks == [3, 3, 4, 3, 3, 4] and len(calls) == 6 + 6  # + the 6 reference renders above
    env.close()


def test_an_episode_ending_mid_period_observes_its_last_tick():
    env = ControlRateWrapper(LiftCubeEnv(curriculum_stage=3, observations=("pixels",), image_size=32,
                                         max_episode_steps=5), control_hz=15.0)
    env.reset(seed=1)
    calls = _counting(env.unwrapped)
    env.step(np.zeros(4))
    _, _, term, trunc, info = env.step(np.zeros(4))  # the 3-tick period is cut at tick 5
    assert trunc and not term and info["step"] == 5 and calls == [3, 5]
    env.close()
