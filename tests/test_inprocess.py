"""In-process envs are the worker path bit for bit; infos are Gymnasium's layout; null picks a path."""

import numpy as np
import pytest
from gymnasium.vector import VectorEnv

from liftrl.sim.envblock import batch_infos, concat_infos
from liftrl.sim.inprocess import InProcessVectorEnv, choose_workers
from liftrl.sim.vector import LiftCubeVectorEnv, make_vector_env

KW = dict(curriculum_stage=3, curriculum_mix=(0.0, 0.25, 0.25, 0.5, 0.0), observations=("pixels", "state", "privileged"),
          image_size=32, max_episode_steps=4, reward="v11")


def assert_same(a, b, where="infos"):
    """Equal structure, dtypes and values, recursively (object arrays of dicts included)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(sorted(a)) == list(sorted(b)), (where, sorted(a), sorted(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, (where, a, b)
        if a.dtype == object:
            for x, y in zip(a, b):
                assert_same(x, y, where)
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def _gym_batched(infos, finals):
    """What the workers built before: Gymnasium's own ``_add_info``, env by env."""
    holder = VectorEnv()
    holder.num_envs = len(infos)
    out = {}
    for i, (info, final) in enumerate(zip(infos, finals)):
        out = holder._add_info(out, info, i)
        if final is not None:
            out = holder._add_info(out, final, i)
    return out


def test_batch_infos_is_gymnasiums_layout():
    from liftrl.sim.factory import build_env

    envs = [build_env(**{**KW, "observations": ("state",)}) for _ in range(3)]
    _, reset_info = envs[0].reset(seed=1)
    infos, finals = [], []
    for i, env in enumerate(envs[1:], start=1):
        env.reset(seed=1 + i)
        obs, _, _, _, info = env.step(np.full(4, 0.3))
        infos.append(info)
        finals.append({"final_obs": obs, "final_info": info} if i == 2 else None)
    rows, fin = [reset_info, *infos], [None, *finals]
    assert_same(batch_infos(rows, fin), _gym_batched(rows, fin))
    odd = [{"flag": np.bool_(True), "f32": np.float32(1.5), "n": 3, "s": "a", "d": {"x": 1.0}},
           {"flag": np.bool_(False), "f32": np.float32(2.5), "n": 4, "s": "b"}, {"n": 5, "d": {"x": 2.0, "y": 1}}]
    assert_same(batch_infos(odd), _gym_batched(odd, [None] * 3))
    whole = batch_infos(rows, fin)
    assert_same(concat_infos([batch_infos(rows[:2], fin[:2]), batch_infos(rows[2:], fin[2:])], [2, 1]), whole)
    assert_same(concat_infos([batch_infos(rows[:1], fin[:1]), batch_infos(rows[1:], fin[1:])], [1, 2]), whole)
    for env in envs:
        env.close()


def _trace(venv, actions):
    steps = []
    for a in actions:
        steps.append(venv.step(a))
    return steps


@pytest.mark.slow
def test_in_process_steps_exactly_like_the_workers():
    """Same seeds, resets, auto-resets, final observations, infos and exact-resume state, bit for bit."""
    rng = np.random.default_rng(3)
    actions = rng.uniform(-1, 1, size=(14, 3, 4)).astype(np.float32)
    inproc = make_vector_env(3, num_workers=0, **KW)
    workers = make_vector_env(3, num_workers=2, **KW)
    try:
        assert isinstance(inproc, InProcessVectorEnv) and isinstance(workers, LiftCubeVectorEnv)
        assert "in-process" in inproc.placement
        assert_same(inproc.reset(seed=7), workers.reset(seed=7), "reset")
        a_steps, b_steps = _trace(inproc, actions[:9]), _trace(workers, actions[:9])
        assert any(s[2].any() or s[3].any() for s in a_steps), "the trace must cross an auto-reset"
        for t, (a, b) in enumerate(zip(a_steps, b_steps)):
            assert_same(a, b, f"step {t}")
        # Exact resume across the two paths: each continues the other's saved episodes.
        states = inproc.call("get_state")
        assert_same(states, workers.call("get_state"), "get_state")
        resumed = make_vector_env(3, num_workers=1, **KW)
        resumed.reset(seed=0)
        resumed.call_each("set_state", [(s,) for s in states])
        inproc2 = make_vector_env(3, num_workers=0, **KW)
        inproc2.reset(seed=0)
        inproc2.call_each("set_state", [(s,) for s in workers.call("get_state")])
        rest = actions[9:]
        reference = _trace(inproc, rest)
        for other in (_trace(resumed, rest), _trace(inproc2, rest), _trace(workers, rest)):
            for t, (a, b) in enumerate(zip(reference, other)):
                assert_same(a, b, f"resumed step {t}")
        resumed.close()
        inproc2.close()
    finally:
        inproc.close()
        workers.close()


def test_null_picks_the_faster_path_and_says_why():
    assert choose_workers(1, ("state", "privileged"), None, cores=2)[0] == 0
    assert choose_workers(16, ("state",), None, cores=2)[0] == 2
    assert choose_workers(16, ("pixels", "state"), None, cores=2)[0] == 2
    assert choose_workers(2, ("pixels", "state"), None, cores=2)[0] == 2
    workers, why = choose_workers(16, ("pixels", "state"), None, cores=1)
    assert workers == 0 and "one usable core" in why
    assert choose_workers(16, ("pixels",), 0, cores=8) == (0, "in-process (env.num_workers=0)")
    assert choose_workers(4, ("state",), 3, cores=2)[0] == 3
    with pytest.raises(ValueError, match="num_workers must be in 0..num_envs"):
        choose_workers(2, ("state",), 5)


def test_torch_threads_leave_a_core_when_envs_run_in_process(monkeypatch):
    """In-process envs still leave one core free: two OpenMP threads on a busy 2-core machine made the
    quickstart's updates about ten times slower."""
    from pathlib import Path

    from liftrl.config import load_config
    from liftrl.train import loop

    quickstart = str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")  # 4 state-only envs
    monkeypatch.setattr(loop, "usable_cores", lambda: 2)  # the affinity mask, as taskset narrows it
    assert loop.auto_threads(load_config(quickstart, ["env.num_workers=0"])) == 1
    assert loop.auto_threads(load_config(quickstart, ["env.num_workers=2"])) == 1
    monkeypatch.setattr(loop, "usable_cores", lambda: 8)
    assert loop.auto_threads(load_config(quickstart, ["env.num_workers=0"])) == 7
    assert loop.auto_threads(load_config(quickstart, ["env.num_workers=2"])) == 6
