"""Replay buffer: n-step targets, rebuilt frame stacks, ring overwrite, memory, files, bad input.

Expected values are written by hand or computed from a reference that records exactly what was
added (the env's own ``FrameStack`` builds the pixel stacks), never from the buffer's own code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liftrl.obs.pipeline import FrameStack
from liftrl.replay import ReplayBuffer

torch.set_num_threads(1)

STATE_ONLY = {"state": ((2,), np.float32)}


def state_buffer(n_step=3, gamma=0.5, capacity=100, num_envs=1, seed=0):
    return ReplayBuffer(capacity, num_envs, STATE_ONLY, action_dim=1, n_step=n_step, gamma=gamma,
                        frame_stack=1, seed=seed)


def add_state_episode(buf, ids, rewards, end):
    """One env: observations with state[0] = id; ``end`` is 'term', 'trunc' or None for the last step."""
    for i, r in enumerate(rewards):
        last = i == len(rewards) - 1
        buf.add({"state": np.array([[ids[i], 0]], np.float32)}, np.zeros((1, 1), np.float32), np.array([r]),
                {"state": np.array([[ids[i + 1], 0]], np.float32)},
                np.array([last and end == "term"]), np.array([last and end == "trunc"]))


def table(buf, draws=4000, key="state"):
    """Every distinct sampled transition: obs id -> (n-step reward, discount, next obs id)."""
    b = buf.sample(draws)
    out = {}
    for i in range(draws):
        row = (round(float(b["reward"][i]), 5), round(float(b["discount"][i]), 6), float(b["next_obs"][key][i][0]))
        prev = out.setdefault(float(b["obs"][key][i][0]), row)
        assert prev == row
    return out


# ---------------------------------------------------------------------------------------------- n-step


def test_nstep_targets_termination_truncation_and_running_episode():
    buf = state_buffer(n_step=3, gamma=0.5)
    add_state_episode(buf, [0, 1, 2, 3, 4], [1, 2, 3, 4], "term")  # A: terminates after 4 steps, final obs 4
    add_state_episode(buf, [10, 11, 12], [10, 20], "trunc")  # B: time limit after 2 steps, final obs 12
    add_state_episode(buf, [20, 21, 22, 23, 24, 25], [1, 1, 1, 1, 1], None)  # C: still running
    got = table(buf)
    assert got == {
        0: (2.75, 0.125, 3),  # 1 + .5*2 + .25*3, full window, bootstrap gamma^3 from obs 3
        1: (4.5, 0.0, 4),  # 2 + .5*3 + .25*4, window closed by termination: no bootstrap
        2: (5.0, 0.0, 4),  # 3 + .5*4
        3: (4.0, 0.0, 4),
        10: (20.0, 0.25, 12),  # 10 + .5*20, truncation: bootstrap gamma^2 from the true final obs 12
        11: (20.0, 0.5, 12),
        20: (1.75, 0.125, 23),  # C's windows never reach back into B
        21: (1.75, 0.125, 24),
        22: (1.75, 0.125, 25),
        # 23 and 24 wait: their windows are incomplete while C runs
    }
    assert len(buf) == 9

    # C ends by termination two steps later: the waiting windows close without bootstrap.
    add_state_episode(buf, [25, 26, 27], [2, 4], "term")
    got = table(buf)
    assert got[23] == (2.0, 0.125, 26)  # 1 + .5*1 + .25*2
    assert got[24] == (1.0 + 0.5 * 2 + 0.25 * 4, 0.0, 27)
    assert got[25] == (4.0, 0.0, 27)  # 2 + .5*4
    assert got[26] == (4.0, 0.0, 27)
    assert len(buf) == 13


def test_nstep_one_step_and_both_flags_mean_termination():
    buf = state_buffer(n_step=1, gamma=0.9)
    buf.add({"state": np.array([[0, 0]], np.float32)}, np.zeros((1, 1), np.float32), np.array([1.5]),
            {"state": np.array([[1, 0]], np.float32)}, np.array([True]), np.array([True]))
    add_state_episode(buf, [5, 6, 7], [2.0, 3.0], "trunc")
    got = table(buf, draws=500)
    assert got == {0: (1.5, 0.0, 1), 5: (2.0, 0.9, 6), 6: (3.0, 0.9, 7)}


def test_nstep_streams_of_interleaved_envs_never_mix():
    buf = state_buffer(n_step=2, gamma=0.5, num_envs=2)
    # env 0: rewards 1, 2, 4 then truncation; env 1: rewards 100, 200 then termination, then a new episode
    rows = [  # (obs ids, next ids, rewards, term, trunc)
        ([0, 50], [1, 51], [1, 100], [False, False], [False, False]),
        ([1, 51], [2, 52], [2, 200], [False, True], [False, False]),
        ([2, 60], [3, 61], [4, 300], [False, False], [True, False]),
    ]
    for ids, nxt, r, te, tr in rows:
        buf.add({"state": np.array([[i, 0] for i in ids], np.float32)}, np.zeros((2, 1), np.float32), np.array(r),
                {"state": np.array([[i, 0] for i in nxt], np.float32)}, np.array(te), np.array(tr))
    assert table(buf) == {
        0: (2.0, 0.25, 2),  # 1 + .5*2
        1: (4.0, 0.25, 3),  # 2 + .5*4, truncation at the last step of the window
        2: (4.0, 0.5, 3),
        50: (200.0, 0.0, 52),  # 100 + .5*200, terminated
        51: (200.0, 0.0, 52),
        # 60: its window (300, ...) is incomplete
    }


# ---------------------------------------------------------------------------------------------- frame stacks


def frame(value, size=4):
    return np.full((3, size, size), value, np.uint8)


def test_frame_stacks_rebuilt_at_episode_start_literal():
    buf = ReplayBuffer(100, 1, {"pixels": ((9, 4, 4), np.uint8), "state": ((1,), np.float32)}, action_dim=1,
                       n_step=1, gamma=0.9, frame_stack=3, seed=0)

    def run(first, n, end):
        stack = FrameStack(3)
        obs = stack.reset(frame(first))
        for i in range(1, n + 1):
            nxt = stack.push(frame(first + i))
            buf.add({"pixels": obs[None], "state": np.array([[first + i - 1]], np.float32)},
                    np.zeros((1, 1), np.float32), np.array([0.0]),
                    {"pixels": nxt[None], "state": np.array([[first + i]], np.float32)},
                    np.array([i == n and end]), np.array([False]))
            obs = nxt

    run(10, 3, True)
    run(20, 2, False)
    b = buf.sample(300)
    seen = {}
    for i in range(300):
        frames = lambda p: tuple(int(p[3 * j, 0, 0]) for j in range(3))  # noqa: E731
        seen[int(b["obs"]["state"][i][0])] = (frames(b["obs"]["pixels"][i]), frames(b["next_obs"]["pixels"][i]))
    assert seen == {
        10: ((10, 10, 10), (10, 10, 11)),
        11: ((10, 10, 11), (10, 11, 12)),
        12: ((10, 11, 12), (11, 12, 13)),
        20: ((20, 20, 20), (20, 20, 21)),  # nothing of episode 10..13 leaks into the new stack
        21: ((20, 20, 21), (20, 21, 22)),
    }


def test_stream_starting_mid_episode_keeps_the_given_stack():
    """A run resumed without its buffer hands over a mid-episode stack with distinct frames."""
    for first in ([1, 2, 3], [1, 1, 2], [1, 2, 1]):
        buf = ReplayBuffer(50, 1, {"pixels": ((9, 4, 4), np.uint8)}, action_dim=1, n_step=1, gamma=0.9,
                           frame_stack=3, seed=0)
        obs = np.concatenate([frame(v) for v in first])[None]
        nxt = np.concatenate([frame(v) for v in [*first[1:], 9]])[None]
        buf.add({"pixels": obs}, np.zeros((1, 1), np.float32), np.array([1.0]), {"pixels": nxt},
                np.array([False]), np.array([True]))
        assert len(buf) == 1
        b = buf.sample(3)
        assert np.array_equal(b["obs"]["pixels"], np.repeat(obs, 3, axis=0))
        assert np.array_equal(b["next_obs"]["pixels"], np.repeat(nxt, 3, axis=0))


class ScriptedEnvs:
    """Envs with random episode lengths and endings; records every transition and the slot model.

    The slot model is the documented layout: per env, every episode's first observation takes a
    slot and every step one more; a ring keeps the last ``capacity // num_envs`` slots. A transition
    is sampleable when its n-step window is complete or closed by an episode end, and every slot
    its obs stack needs is still in the ring.
    """

    def __init__(self, num_envs, frame_stack, n_step, gamma, size, seed, max_len=12):
        self.rng = np.random.default_rng(seed)
        self.E, self.k, self.n, self.gamma = num_envs, frame_stack, n_step, gamma
        self.size, self.max_len = size, max_len
        self.next_id = 1
        self.stacks = [FrameStack(frame_stack) for _ in range(num_envs)]
        self.records = {}  # obs id -> dict(obs, next_obs, action, env, episode, step, slot)
        self.episodes = [[] for _ in range(num_envs)]  # per env: dicts(ids, rewards, next obs, end)
        self.slots = [0] * num_envs
        self.obs = [self._reset(e) for e in range(num_envs)]

    def _frame(self):
        return self.rng.integers(0, 256, (3, self.size, self.size), dtype=np.uint8)

    def _new_id(self):
        self.next_id += 1
        return self.next_id

    def _reset(self, e):
        pixels = self.stacks[e].reset(self._frame())
        ep = {"ids": [], "rewards": [], "next": [], "end": None, "length": int(self.rng.integers(1, self.max_len))}
        self.episodes[e].append(ep)
        return {"pixels": pixels, "state": np.array([self._new_id(), e, 0], np.float32),
                "privileged": self.rng.normal(size=2).astype(np.float32)}

    def step(self, buf):
        obs = {k: np.stack([o[k] for o in self.obs]) for k in self.obs[0]}
        actions = self.rng.uniform(-1, 1, (self.E, 2)).astype(np.float32)
        rewards = self.rng.normal(size=self.E)
        term, trunc = np.zeros(self.E, bool), np.zeros(self.E, bool)
        nxt_rows = []
        for e in range(self.E):
            ep = self.episodes[e][-1]
            t = len(ep["rewards"])
            nxt = {"pixels": self.stacks[e].push(self._frame()),
                   "state": np.array([self._new_id(), e, t + 1], np.float32),
                   "privileged": self.rng.normal(size=2).astype(np.float32)}
            nxt_rows.append(nxt)
            oid = float(self.obs[e]["state"][0])
            if t == 0:
                self.slots[e] += 1  # the episode's first observation is stored with its first step
            self.records[oid] = {"obs": self.obs[e], "next_obs": nxt, "action": actions[e], "env": e, "ep": ep, "t": t,
                                 "slot": self.slots[e] - 1}
            ep["ids"].append(oid)
            ep["rewards"].append(float(rewards[e]))
            self.slots[e] += 1
            ep["next"].append(nxt)
            if t + 1 == ep["length"]:
                ending = self.rng.choice(["term", "trunc"])
                term[e], trunc[e] = ending == "term", ending == "trunc"
                ep["end"] = ending
        next_obs = {k: np.stack([o[k] for o in nxt_rows]) for k in nxt_rows[0]}
        buf.add(obs, actions, rewards, next_obs, term, trunc)
        for e in range(self.E):
            self.obs[e] = self._reset(e) if term[e] or trunc[e] else nxt_rows[e]

    def expected(self, oid):
        """(n-step reward, discount, next obs) of a recorded transition, from its episode's list."""
        rec = self.records[oid]
        ep, t = rec["ep"], rec["t"]
        done = len(ep["rewards"])
        m = min(self.n, done - t)
        reward = sum(self.gamma**j * ep["rewards"][t + j] for j in range(m))
        closed = ep["end"] is not None and t + m == done
        discount = 0.0 if closed and ep["end"] == "term" else self.gamma**m
        return reward, discount, ep["next"][t + m - 1]

    def sampleable(self, slots_per_env):
        out = set()
        for oid, rec in self.records.items():
            ep, t = rec["ep"], rec["t"]
            complete = t + self.n <= len(ep["rewards"]) or ep["end"] is not None
            oldest_needed = rec["slot"] - min(self.k - 1, t)
            if complete and oldest_needed >= self.slots[rec["env"]] - slots_per_env:
                out.add(oid)
        return out


def check_against_reference(buf, envs, draws):
    b = buf.sample(draws)
    seen = set()
    for i in range(draws):
        oid = float(b["obs"]["state"][i][0])
        rec = envs.records[oid]
        reward, discount, nxt = envs.expected(oid)
        assert np.array_equal(b["obs"]["pixels"][i], rec["obs"]["pixels"]), f"obs stack of {oid}"
        assert np.array_equal(b["next_obs"]["pixels"][i], nxt["pixels"]), f"next obs stack of {oid}"
        for key in ("state", "privileged"):
            assert np.array_equal(b["obs"][key][i], rec["obs"][key])
            assert np.array_equal(b["next_obs"][key][i], nxt[key])
        assert np.array_equal(b["action"][i], rec["action"])
        assert b["reward"][i] == pytest.approx(reward, rel=1e-5, abs=1e-5)
        assert b["discount"][i] == pytest.approx(discount, rel=1e-6)
        seen.add(oid)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("num_envs,capacity,n_step", [(3, 3 * 14, 3), (4, 4 * 40, 2), (1, 9, 1), (2, 2 * 6, 3)])
def test_sampled_batches_equal_what_was_added_across_episodes_and_wraparound(num_envs, capacity, n_step):
    k = 3
    specs = {"pixels": ((3 * k, 5, 5), np.uint8), "state": ((3,), np.float32), "privileged": ((2,), np.float32)}
    buf = ReplayBuffer(capacity, num_envs, specs, action_dim=2, n_step=n_step, gamma=0.8, frame_stack=k, seed=3)
    envs = ScriptedEnvs(num_envs, k, n_step, 0.8, size=5, seed=num_envs)
    L = capacity // num_envs
    checked = 0
    for step in range(1, 6 * L + 1):
        envs.step(buf)
        if step % 11 == 0 or step == 6 * L:
            want = envs.sampleable(L)
            assert len(buf) == len(want)
            seen = check_against_reference(buf, envs, draws=max(15 * len(want), 1))
            assert seen == want  # every sampleable transition shows up; nothing overwritten or incomplete does
            checked += 1
    assert checked >= 4
    assert envs.slots[0] > 3 * L  # the ring wrapped several times


# ---------------------------------------------------------------------------------------------- memory


def stored_bytes(obj) -> int:
    """Sum of nbytes of every numpy array the object holds (attributes and dict values)."""
    total = 0
    for value in vars(obj).values():
        items = value.values() if isinstance(value, dict) else [value]
        total += sum(v.nbytes for v in items if isinstance(v, np.ndarray))
    return total


def test_memory_per_pixel_transition_close_to_one_frame_plus_state():
    S, k, state_dim, capacity, E = 84, 3, 18, 1200, 4
    specs = {"pixels": ((3 * k, S, S), np.uint8), "state": ((state_dim,), np.float32),
             "privileged": ((3,), np.float32)}
    buf = ReplayBuffer(capacity, E, specs, action_dim=4, n_step=3, gamma=0.99, frame_stack=k, seed=0)
    budget = 1.2 * (3 * S * S + 4 * state_dim)
    assert stored_bytes(buf) / capacity <= budget
    assert stored_bytes(buf) == buf.nbytes

    # ... and, full and sampled from (caches built), that memory really holds ~capacity transitions.
    rng = np.random.default_rng(0)
    stacks = [FrameStack(k) for _ in range(E)]
    obs = np.stack([s.reset(rng.integers(0, 256, (3, S, S), dtype=np.uint8)) for s in stacks])
    for t in range(capacity // E + 10):
        nxt = np.stack([s.push(np.full((3, S, S), (t * E + e) % 256, np.uint8)) for e, s in enumerate(stacks)])
        done = np.full(E, (t + 1) % 100 == 0)
        state = np.full((E, state_dim), t, np.float32)
        buf.add({"pixels": obs, "state": state, "privileged": np.zeros((E, 3), np.float32)},
                np.zeros((E, 4), np.float32), np.ones(E),
                {"pixels": nxt, "state": state + 1, "privileged": np.zeros((E, 3), np.float32)},
                np.zeros(E, bool), done)
        obs = np.stack([s.reset(nxt[e, -3:]) for e, s in enumerate(stacks)]) if done[0] else nxt
    assert len(buf) >= 0.95 * capacity
    assert buf.sample(8)["obs"]["pixels"].shape == (8, 3 * k, S, S)
    assert stored_bytes(buf) / capacity <= budget
    assert stored_bytes(buf) == buf.nbytes


# ---------------------------------------------------------------------------------------------- files and RNG


def filled_buffer(seed=0, capacity=3 * 14, steps=60):
    specs = {"pixels": ((9, 5, 5), np.uint8), "state": ((3,), np.float32), "privileged": ((2,), np.float32)}
    buf = ReplayBuffer(capacity, 3, specs, action_dim=2, n_step=3, gamma=0.8, frame_stack=3, seed=seed)
    envs = ScriptedEnvs(3, 3, 3, 0.8, size=5, seed=11)
    for _ in range(steps):
        envs.step(buf)
    return buf, envs, specs


def assert_same_batch(a, b):
    for part in ("obs", "next_obs"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert np.array_equal(a[part][key], b[part][key])
    for key in ("action", "reward", "discount"):
        assert np.array_equal(a[key], b[key])


class Tee:
    """Feeds the same steps to several buffers."""

    def __init__(self, *buffers):
        self.buffers = buffers

    def add(self, *args):
        for b in self.buffers:
            b.add(*args)


def test_save_load_round_trip_samples_identically(tmp_path):
    buf, envs, specs = filled_buffer()
    path = tmp_path / "replay.npz"
    path.write_bytes(b"an older file that save must replace")
    state = json.loads(json.dumps(buf.rng_state()))  # what a snapshot stores
    buf.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.npz"]  # no temp file left behind

    other = ReplayBuffer(3 * 14, 3, specs, action_dim=2, n_step=3, gamma=0.8, frame_stack=3, seed=999)
    other.load(path)
    other.set_rng_state(state)
    assert len(other) == len(buf) > 0
    assert other.adds == buf.adds == 60
    assert_same_batch(buf.sample(64), other.sample(64))
    # Both continue the same env streams (add checks that obs continues the stored next obs) and still agree.
    for _ in range(25):
        envs.step(Tee(buf, other))
    assert len(other) == len(buf)
    assert_same_batch(buf.sample(64), other.sample(64))
    check_against_reference(other, envs, draws=200)


def test_empty_buffer_round_trip(tmp_path):
    buf = state_buffer()
    buf.save(tmp_path / "r.npz")
    other = state_buffer(seed=4)
    other.load(tmp_path / "r.npz")
    assert len(other) == 0
    add_state_episode(other, [0, 1], [1.0], "term")
    assert table(other, draws=10) == {0: (1.0, 0.0, 1)}


@pytest.mark.parametrize("change,named", [
    (dict(capacity=3 * 15), "capacity"),
    (dict(num_envs=2, capacity=2 * 21), "num_envs"),
    (dict(obs_shapes={"pixels": ((9, 6, 6), np.uint8), "state": ((3,), np.float32),
                      "privileged": ((2,), np.float32)}), "obs"),
    (dict(obs_shapes={"pixels": ((9, 5, 5), np.uint8), "state": ((3,), np.float32)}), "obs"),
    (dict(frame_stack=1, obs_shapes={"pixels": ((9, 5, 5), np.uint8), "state": ((3,), np.float32),
                                     "privileged": ((2,), np.float32)}), "frame_stack"),
    (dict(action_dim=3), "action_dim"),
    (dict(n_step=2), "n_step"),
])
def test_load_refuses_a_different_layout(tmp_path, change, named):
    buf, _, specs = filled_buffer()
    buf.save(tmp_path / "r.npz")
    kwargs = dict(capacity=3 * 14, num_envs=3, obs_shapes=specs, action_dim=2, n_step=3, gamma=0.8, frame_stack=3,
                  seed=0)
    kwargs.update(change)
    other = ReplayBuffer(**kwargs)
    with pytest.raises(ValueError, match=named):
        other.load(tmp_path / "r.npz")
    assert len(other) == 0


def test_load_refuses_damaged_or_foreign_files(tmp_path):
    buf, _, specs = filled_buffer()
    good = tmp_path / "r.npz"
    buf.save(good)
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("not a replay file")
    np.savez(tmp_path / "foreign.npz", meta=np.array(json.dumps({"format": "something else"})))
    np.savez(tmp_path / "nometa.npz", x=np.zeros(3))
    target = ReplayBuffer(3 * 14, 3, specs, action_dim=2, n_step=3, gamma=0.8, frame_stack=3, seed=0)
    for name, named in [("cut.npz", "not a readable"), ("text.npz", "not a readable"),
                        ("foreign.npz", "not a liftrl replay file"), ("nometa.npz", "not a readable")]:
        with pytest.raises(ValueError, match=named):
            target.load(tmp_path / name)
    assert len(target) == 0
    with pytest.raises(FileNotFoundError):
        target.load(tmp_path / "missing.npz")


def test_sampling_is_seeded_and_resumable():
    a, _, _ = filled_buffer(seed=1)
    b, _, _ = filled_buffer(seed=1)
    c, _, _ = filled_buffer(seed=2)
    assert_same_batch(a.sample(32), b.sample(32))
    assert not np.array_equal(a.sample(32)["action"], c.sample(32)["action"])
    state = a.rng_state()
    first = a.sample(16)
    a.sample(16)
    a.set_rng_state(state)
    assert_same_batch(first, a.sample(16))
    with pytest.raises(ValueError, match="rng state"):
        a.set_rng_state({"bit_generator": "MT19937", "state": {}})
    with pytest.raises(ValueError, match="rng state"):
        a.set_rng_state({"bit_generator": "PCG64", "state": "garbage"})


# ---------------------------------------------------------------------------------------------- bad input

PIX = {"pixels": ((6, 4, 4), np.uint8), "state": ((2,), np.float32)}


def pix_step(E=2):
    f = lambda v: np.full((E, 3, 4, 4), v, np.uint8)  # noqa: E731
    obs = {"pixels": np.concatenate([f(1), f(1)], axis=1), "state": np.zeros((E, 2), np.float32)}
    nxt = {"pixels": np.concatenate([f(1), f(2)], axis=1), "state": np.ones((E, 2), np.float32)}
    return obs, np.zeros((E, 3), np.float32), np.zeros(E), nxt, np.zeros(E, bool), np.zeros(E, bool)


def pix_buffer():
    return ReplayBuffer(40, 2, PIX, action_dim=3, n_step=2, gamma=0.9, frame_stack=2, seed=0)


def _with(args, i, value):
    args = list(args)
    args[i] = value
    return args


@pytest.mark.parametrize("mutate,named", [
    (lambda a: _with(a, 0, {"pixels": a[0]["pixels"]}), "missing \\['state'\\]"),
    (lambda a: _with(a, 3, {**a[3], "privileged": np.zeros((2, 3), np.float32)}), "unexpected \\['privileged'\\]"),
    (lambda a: _with(a, 0, {**a[0], "state": np.zeros((2, 3), np.float32)}), "obs\\['state'\\] has shape"),
    (lambda a: _with(a, 0, {**a[0], "state": np.zeros((2, 2), np.float64)}), "dtype float64"),
    (lambda a: _with(a, 3, {**a[3], "pixels": a[3]["pixels"].astype(np.float32)}), "next_obs\\['pixels'\\] has dtype"),
    (lambda a: _with(a, 0, {**a[0], "pixels": a[0]["pixels"][:1]}), "num_envs first"),
    (lambda a: _with(a, 1, np.zeros((2, 4), np.float32)), "actions has shape"),
    (lambda a: _with(a, 1, np.full((2, 3), np.nan, np.float32)), "actions has non-finite"),
    (lambda a: _with(a, 2, np.zeros(3)), "rewards has shape"),
    (lambda a: _with(a, 2, np.array(["a", "b"])), "rewards must be numeric"),
    (lambda a: _with(a, 4, np.zeros(2)), "term must be a bool"),
    (lambda a: _with(a, 5, np.zeros((2, 1), bool)), "trunc has shape"),
    (lambda a: _with(a, 3, {**a[3], "pixels": np.full((2, 6, 4, 4), 5, np.uint8)}),
     "not obs\\['pixels'\\] shifted"),  # the auto-reset obs (a new first frame, repeated) passed as next obs
    (lambda a: _with(a, 0, [1, 2]), "obs must be a dict"),
])
def test_bad_add_is_refused_and_changes_nothing(mutate, named):
    buf = pix_buffer()
    with pytest.raises(ValueError, match=named):
        buf.add(*mutate(pix_step()))
    assert not buf._written.any()
    buf.add(*pix_step())  # the buffer still works


def test_obs_that_does_not_continue_the_previous_step_is_refused():
    buf = pix_buffer()
    buf.add(*pix_step())
    obs, a, r, nxt, te, tr = pix_step()
    with pytest.raises(ValueError, match="obs of env 0 is not the stored next_obs of its previous step"):
        buf.add(obs, a, r, nxt, te, tr)  # repeats the first step instead of continuing from next_obs


@pytest.mark.parametrize("kwargs,named", [
    (dict(capacity=0), "capacity"),
    (dict(capacity=2 * 3 + 1), "at least 4"),  # n_step 2 + frame_stack 2 > 3 slots per env
    (dict(num_envs=1.5), "num_envs"),
    (dict(gamma=1.5), "gamma"),
    (dict(n_step=0), "n_step"),
    (dict(obs_shapes={}), "obs_shapes"),
    (dict(obs_shapes={"pixels": ((6, 4, 4), np.float32)}), "uint8"),
    (dict(obs_shapes={"pixels": ((5, 4, 4), np.uint8)}), "divisible"),
    (dict(obs_shapes={"state": (2, np.float32)}), "obs_shapes\\['state'\\]"),
    (dict(seed="x"), "seed"),
])
def test_bad_construction_is_refused(kwargs, named):
    args = dict(capacity=40, num_envs=2, obs_shapes=PIX, action_dim=3, n_step=2, gamma=0.9, frame_stack=2, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=named):
        ReplayBuffer(**args)


def test_sampling_too_early_or_with_a_bad_batch_size_is_refused():
    buf = state_buffer(n_step=3)
    with pytest.raises(ValueError, match="no transition"):
        buf.sample(4)
    add_state_episode(buf, [0, 1, 2], [1, 1], None)  # two steps: no complete 3-step window yet
    assert len(buf) == 0
    with pytest.raises(ValueError, match="no transition"):
        buf.sample(4)
    add_state_episode(buf, [2, 3], [1], None)
    assert len(buf) == 1
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(0)


# ---------------------------------------------------------------------------------------------- with the real env


@pytest.mark.slow
def test_stacks_and_final_obs_from_the_real_vector_env():
    """Stored the way the train loop stores them, sampled batches equal what the env produced, byte for byte."""
    from liftrl.sim.vector import make_vector_env

    E, k, gamma = 2, 3, 0.9
    env = make_vector_env(E, num_workers=1, curriculum_stage=3, max_episode_steps=5, image_size=32, frame_stack=k,
                          observations=("pixels", "state", "privileged"), reward="v19")
    try:
        space = env.single_observation_space
        keys = ("pixels", "privileged", "state")
        buf = ReplayBuffer(E * 40, E, {key: (space[key].shape, space[key].dtype) for key in keys},
                           action_dim=env.single_action_space.shape[0], n_step=2, gamma=gamma, frame_stack=k, seed=0)
        rng = np.random.default_rng(0)

        def ident(o, i):
            return o["state"][i].tobytes() + o["privileged"][i].tobytes()

        pixels_of = {}  # every observation the env produced (incl. final ones) -> its pixel stack
        step_from = {}  # obs -> (reward, next obs, how the step ended)
        obs, _ = env.reset(seed=7)
        for _ in range(14):
            actions = rng.uniform(-1, 1, (E, buf.action_dim)).astype(np.float32)
            next_obs, rewards, term, trunc, infos = env.step(actions)
            true_next = {key: next_obs[key].copy() for key in keys}
            for i in np.flatnonzero(term | trunc):
                for key in keys:
                    true_next[key][i] = infos["final_obs"][i][key]
            buf.add({key: obs[key] for key in keys}, actions, rewards, true_next, term, trunc)  # as the loop does
            for i in range(E):
                for o in (obs, true_next):
                    assert np.array_equal(pixels_of.setdefault(ident(o, i), o["pixels"][i].copy()), o["pixels"][i])
                end = "term" if term[i] else "trunc" if trunc[i] else None
                step_from[ident(obs, i)] = (float(rewards[i]), ident(true_next, i), end)
            obs = next_obs
        assert sum(v[2] is not None for v in step_from.values()) >= 4  # several episode boundaries
        b = buf.sample(400)
        for i in range(400):
            r0, nxt, end = step_from[ident(b["obs"], i)]
            if end is None:
                r1, nxt, end2 = step_from[nxt]
                reward, discount = r0 + gamma * r1, 0.0 if end2 == "term" else gamma**2
            else:
                reward, discount = r0, 0.0 if end == "term" else gamma
            assert np.array_equal(b["obs"]["pixels"][i], pixels_of[ident(b["obs"], i)])
            assert ident(b["next_obs"], i) == nxt
            assert np.array_equal(b["next_obs"]["pixels"][i], pixels_of[nxt])
            assert b["reward"][i] == pytest.approx(reward, rel=1e-5, abs=1e-5)
            assert b["discount"][i] == pytest.approx(discount)
    finally:
        env.close()
