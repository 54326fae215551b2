"""Replay in RAM that stores every camera frame once and rebuilds stacks and n-step targets when sampled.

Why this shape: a pixel transition carries two stacks of ``frame_stack`` frames (obs and next obs)
that overlap in all but one frame, and the next transition repeats them again. Storing the stacks
would cost ``2 * frame_stack`` frames per transition; storing the newest frame of each observation
costs one. So each environment gets its own ring of *slots*; a slot holds one observation (its
newest frame plus the non-pixel vectors such as ``state``) and, once the next step arrives, the
transition that leaves it (action, reward, how it ended). A transition's obs is slot ``s`` and its
next obs slot ``s + 1``, so the episode's final observation (the true one the loop passes, not the
auto-reset one) is stored like any other and the next episode starts in a fresh slot.

Frame stacks are rebuilt from indices: each slot records how many earlier frames of its own stack
are stored before it (``ep_step``, capped at ``frame_stack - 1`` when read), so a slot near the
start of an episode repeats its first frame exactly as the environment did when it reset.

n-step targets are summed at sample time from single-step rewards, per environment: a window of
``n_step`` transitions stops at the first episode end. After a time-limit truncation it bootstraps
from the truncated step's true final obs (discount ``gamma**k``); after a termination the discount
is 0. A transition becomes sampleable once its window is complete or closed by an episode end, so
the newest ``n_step - 1`` transitions of a running episode wait until more steps arrive.

A stream can also start mid-episode (a run resumed without its buffer gets a stack of distinct
frames): the stack's older frames then go into slots that carry no transition. While an episode
runs, each add must continue from the next obs stored by the previous one; data that cannot be
the environment's own sequence (next pixels that are not obs shifted by one frame, as when the
auto-reset obs is passed instead of the final one) is refused before anything is written.

``capacity`` counts slots over all environments (``capacity // num_envs`` per environment). An
episode of T steps uses T + 1 slots (its first observation has no transition leading into it),
so the number of sampleable transitions stays a little below ``capacity``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

PIXELS = "pixels"
FILE_FORMAT = "liftrl.replay"
FILE_VERSION = 1

# What happened on the transition that leaves a slot.
CONTINUES = 0  # the episode goes on: the next slot is the next observation
TERMINATED = 1  # the next slot is the final observation; do not bootstrap
TRUNCATED = 2  # the next slot is the final observation; bootstrap from it
NO_TRANSITION = 3  # nothing leaves this slot (yet): newest, final, or a stack-prefix observation

_EP_STEP_MAX = 255  # ep_step is stored as uint8; only values below frame_stack matter


@dataclass(frozen=True)
class ObsSpec:
    shape: tuple[int, ...]
    dtype: np.dtype


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _parse_obs_shapes(obs_shapes: Mapping[str, Any], frame_stack: int) -> dict[str, ObsSpec]:
    if not isinstance(obs_shapes, Mapping) or not obs_shapes:
        raise ValueError(f"obs_shapes must be a non-empty dict of key -> (shape, dtype), got {obs_shapes!r}")
    specs: dict[str, ObsSpec] = {}
    for key in sorted(obs_shapes):
        entry = obs_shapes[key]
        try:
            shape, dtype = entry
            shape = tuple(int(d) for d in shape)
            dtype = np.dtype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"obs_shapes[{key!r}] must be (shape, dtype), got {entry!r}") from exc
        if any(d < 1 for d in shape):
            raise ValueError(f"obs_shapes[{key!r}] has a non-positive dimension: {shape}")
        if key == PIXELS:
            if dtype != np.uint8 or len(shape) != 3 or shape[0] % frame_stack:
                raise ValueError(
                    f"obs_shapes['pixels'] must be uint8 (channels*frame_stack, H, W) with channels divisible "
                    f"by frame_stack={frame_stack}, got shape {shape} dtype {dtype}")
            if frame_stack > _EP_STEP_MAX + 1:
                raise ValueError(f"frame_stack={frame_stack} is above the supported {_EP_STEP_MAX + 1}")
        specs[key] = ObsSpec(shape, dtype)
    return specs


class ReplayBuffer:
    """Per-environment rings of single observations; see the module docstring for the layout."""

    def __init__(self, capacity: int, num_envs: int, obs_shapes: Mapping[str, Any], action_dim: int,
                 n_step: int, gamma: float, frame_stack: int, seed: int):
        self.capacity = _positive_int("capacity", capacity)
        self.num_envs = _positive_int("num_envs", num_envs)
        self.action_dim = _positive_int("action_dim", action_dim)
        self.n_step = _positive_int("n_step", n_step)
        self.frame_stack = _positive_int("frame_stack", frame_stack)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)) or not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
        self.gamma = float(gamma)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.specs = _parse_obs_shapes(obs_shapes, self.frame_stack)
        self.slots_per_env = self.capacity // self.num_envs
        # One sample reads its stack (frame_stack - 1 slots back), its slot and n_step slots forward.
        need = self.n_step + self.frame_stack
        if self.slots_per_env < need:
            raise ValueError(
                f"capacity={self.capacity} gives {self.slots_per_env} slots per env for num_envs={self.num_envs}; "
                f"n_step={self.n_step} and frame_stack={self.frame_stack} need at least {need} "
                f"(capacity >= {need * self.num_envs})")

        E, L = self.num_envs, self.slots_per_env
        self.vector_keys = tuple(k for k in self.specs if k != PIXELS)
        self._frames: np.ndarray | None = None
        if PIXELS in self.specs:
            c, h, w = self.specs[PIXELS].shape
            self._frames = np.zeros((E, L, c // self.frame_stack, h, w), np.uint8)
        self._vectors = {k: np.zeros((E, L, *self.specs[k].shape), self.specs[k].dtype) for k in self.vector_keys}
        self._action = np.zeros((E, L, self.action_dim), np.float32)
        self._reward = np.zeros((E, L), np.float32)
        self._kind = np.full((E, L), NO_TRANSITION, np.uint8)
        self._ep_step = np.zeros((E, L), np.uint8)
        self._sampleable = np.zeros((E, L), bool)
        # Stream bookkeeping, in absolute slot numbers (slot t lives at ring position t % L).
        self._written = np.zeros(E, np.int64)  # slots ever written per env
        self._open = np.zeros(E, bool)  # the newest slot is an observation the next add continues from
        self._stream_start = np.zeros(E, np.int64)  # first transition slot of the env's current episode
        self._rng = np.random.default_rng(int(seed))
        self._index: np.ndarray | None = None  # flat indices of sampleable slots, rebuilt after adds
        self.adds = 0  # add() calls so far (saved with the buffer): lets a resume check the file is current

    # ------------------------------------------------------------------ size
    def __len__(self) -> int:
        return int(self._sampleable_index().size)

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffer's arrays, caches included (what the memory budget is about)."""
        counters = self._written.nbytes + self._open.nbytes + self._stream_start.nbytes
        cache = 0 if self._index is None else self._index.nbytes
        return sum(a.nbytes for a in self._arrays().values()) + counters + cache

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"action": self._action, "reward": self._reward, "kind": self._kind, "ep_step": self._ep_step,
                  "sampleable": self._sampleable}
        if self._frames is not None:
            arrays["frames"] = self._frames
        arrays.update({f"obs.{k}": v for k, v in self._vectors.items()})
        return arrays

    # ------------------------------------------------------------------ input checks
    def _check_obs(self, name: str, obs: Any) -> dict[str, np.ndarray]:
        if not isinstance(obs, Mapping):
            raise ValueError(f"{name} must be a dict of arrays, got {type(obs).__name__}")
        if set(obs) != set(self.specs):
            missing, extra = sorted(set(self.specs) - set(obs)), sorted(set(obs) - set(self.specs))
            raise ValueError(f"{name} keys {sorted(obs)} do not match the buffer's {sorted(self.specs)} "
                             f"(missing {missing}, unexpected {extra})")
        out = {}
        for key, spec in self.specs.items():
            arr = obs[key]
            if not isinstance(arr, np.ndarray):
                raise ValueError(f"{name}[{key!r}] must be a numpy array, got {type(arr).__name__}")
            want = (self.num_envs, *spec.shape)
            if arr.shape != want:
                raise ValueError(f"{name}[{key!r}] has shape {arr.shape}, expected {want} (num_envs first)")
            if arr.dtype != spec.dtype:
                raise ValueError(f"{name}[{key!r}] has dtype {arr.dtype}, expected {spec.dtype}")
            out[key] = arr
        return out

    def _check_vector(self, name: str, value: Any, shape: tuple[int, ...], kind: str) -> np.ndarray:
        arr = np.asarray(value)
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
        if kind == "bool":
            if arr.dtype != np.bool_:
                raise ValueError(f"{name} must be a bool array, got dtype {arr.dtype}")
            return arr
        if arr.dtype.kind not in "fiu":  # floating or integer (np.issubdtype's answer, at a fraction of its cost)
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            bad = sorted({int(i) for i in np.argwhere(~np.isfinite(arr))[:, 0]})
            raise ValueError(f"{name} has non-finite values for envs {bad}")
        return arr

    def _stack_of(self, pixels_row: np.ndarray) -> np.ndarray:
        """(C*k, H, W) -> (k, C, H, W), oldest first."""
        return pixels_row.reshape(self.frame_stack, -1, *pixels_row.shape[1:])

    def _check_streams(self, obs: dict[str, np.ndarray], next_obs: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """Refuse data that cannot be the environment's own sequence, before anything is written."""
        if self._frames is not None and self.frame_stack > 1:
            c = self._frames.shape[2]
            shifted = np.all(next_obs[PIXELS][:, :-c] == obs[PIXELS][:, c:], axis=(1, 2, 3)) | ~rows
            if not shifted.all():
                raise ValueError(
                    f"next_obs['pixels'] of envs {np.flatnonzero(~shifted).tolist()} is not obs['pixels'] shifted by "
                    f"one frame: next_obs must be the step's true next observation (the final one at an episode "
                    f"end), not the auto-reset one")
        L = self.slots_per_env
        for e in np.flatnonzero(self._open & rows):
            p = (self._written[e] - 1) % L
            same = all(np.array_equal(obs[k][e], self._vectors[k][e, p]) for k in self.vector_keys)
            if self._frames is not None:
                same = same and np.array_equal(self._stack_of(obs[PIXELS][e])[-1], self._frames[e, p])
            if not same:
                raise ValueError(
                    f"obs of env {e} is not the stored next_obs of its previous step, which neither terminated nor "
                    f"truncated: steps must be added in order, one row per env (after load(), the file must come "
                    f"from the same point of the run as the envs; compare ReplayBuffer.adds)")

    # ------------------------------------------------------------------ adding
    def add(self, obs: Mapping[str, np.ndarray], actions: Any, rewards: Any, next_obs: Mapping[str, np.ndarray],
            term: Any, trunc: Any, skip: Any = None) -> None:
        """One step of every env; a refused call (ValueError) leaves the buffer unchanged.

        ``skip`` marks envs whose row is no transition (their env worker was restarted, so next_obs
        begins a new episode): nothing is stored for them and their stream ends where it was; the
        interrupted episode's last ``n_step - 1`` transitions never become sampleable.
        """
        E = self.num_envs
        obs = self._check_obs("obs", obs)
        next_obs = self._check_obs("next_obs", next_obs)
        actions = self._check_vector("actions", actions, (E, self.action_dim), "float")
        rewards = self._check_vector("rewards", rewards, (E,), "float")
        term = self._check_vector("term", term, (E,), "bool")
        trunc = self._check_vector("trunc", trunc, (E,), "bool")
        skip = np.zeros(E, dtype=bool) if skip is None else self._check_vector("skip", skip, (E,), "bool")
        self._check_streams(obs, next_obs, ~skip)

        # Termination wins when both flags are set: the episode really ended, nothing to bootstrap from.
        kinds = np.where(term, TERMINATED, np.where(trunc, TRUNCATED, CONTINUES)).astype(np.uint8)
        L = self.slots_per_env
        for e in range(E):
            if skip[e]:
                self._open[e] = False
                continue
            s = self._start_stream(e, obs) if not self._open[e] else int(self._written[e] - 1)
            p = s % L
            self._action[e, p] = actions[e]
            self._reward[e, p] = rewards[e]
            self._kind[e, p] = kinds[e]
            ep = min(int(self._ep_step[e, p]) + 1, _EP_STEP_MAX)
            frame = self._stack_of(next_obs[PIXELS][e])[-1] if self._frames is not None else None
            self._write_slot(e, frame, {k: next_obs[k][e] for k in self.vector_keys}, ep)
            self._open[e] = kinds[e] == CONTINUES
            self._mark_sampleable(e, s, int(kinds[e]))
        self._index = None
        self.adds += 1

    def _start_stream(self, e: int, obs: dict[str, np.ndarray]) -> int:
        """Store an episode's first observation; returns its absolute slot.

        At a reset the env's stack is copies of one frame, so one slot does. A stream can also start
        mid-episode (a run resumed without its buffer): then the stack's distinct older frames go in
        prefix slots that carry no transition, so the rebuilt stack still equals the given one.
        """
        vectors = {k: obs[k][e] for k in self.vector_keys}
        if self._frames is None:
            s = self._write_slot(e, None, vectors, 0)
        else:
            frames = self._stack_of(obs[PIXELS][e])
            first = 0  # frames[0..first] are copies of frames[0]
            while first + 1 < self.frame_stack and np.array_equal(frames[first + 1], frames[0]):
                first += 1
            for i, f in enumerate(frames[first:-1]):
                self._write_slot(e, f, None, i)
            s = self._write_slot(e, frames[-1], vectors, self.frame_stack - 1 - first)
        self._stream_start[e] = s
        return s

    def _write_slot(self, e: int, frame: np.ndarray | None, vectors: dict[str, np.ndarray] | None, ep_step: int) -> int:
        t = int(self._written[e])
        L = self.slots_per_env
        p = t % L
        if t >= L:
            self._evict(e, t - L)
        if frame is not None:
            self._frames[e, p] = frame
        for k, arr in self._vectors.items():
            arr[e, p] = vectors[k] if vectors is not None else 0
        self._action[e, p] = 0.0
        self._reward[e, p] = 0.0
        self._kind[e, p] = NO_TRANSITION
        self._ep_step[e, p] = ep_step
        self._sampleable[e, p] = False
        self._written[e] = t + 1
        return t

    def _evict(self, e: int, old: int) -> None:
        """Slot ``old`` is about to be overwritten: later slots whose stacks reach back to it go too."""
        L = self.slots_per_env
        self._sampleable[e, old % L] = False
        for back in range(1, self.frame_stack):
            p = (old + back) % L
            if self._ep_step[e, p] >= back:
                self._sampleable[e, p] = False

    def _mark_sampleable(self, e: int, s: int, kind: int) -> None:
        """Transition ``s`` was just written: the windows it completes or closes become sampleable."""
        first = s - self.n_step + 1
        if kind == CONTINUES:
            candidates = range(first, first + 1) if first >= self._stream_start[e] else range(0)
        else:
            candidates = range(max(first, int(self._stream_start[e])), s + 1)
        # Every slot these samples read is still in the ring: the window's next obs was just written
        # and the oldest stack frame is at most n_step + frame_stack - 1 slots older (the constructor's bound).
        for c in candidates:
            self._sampleable[e, c % self.slots_per_env] = True

    # ------------------------------------------------------------------ sampling
    def _sampleable_index(self) -> np.ndarray:
        if self._index is None:
            self._index = np.flatnonzero(self._sampleable.reshape(-1))
        return self._index

    def sample(self, batch_size: int) -> dict[str, Any]:
        """Uniform over sampleable transitions (with replacement), from the buffer's own Generator."""
        batch_size = _positive_int("batch_size", batch_size)
        index = self._sampleable_index()
        if index.size == 0:
            raise ValueError("cannot sample: no transition has a complete n-step window yet (add more steps)")
        flat = index[self._rng.integers(0, index.size, size=batch_size)]
        L = self.slots_per_env
        env, pos = np.divmod(flat, L)
        base = env * L

        window = base[:, None] + (pos[:, None] + np.arange(self.n_step)) % L
        kind = self._kind.reshape(-1)[window]
        reward = self._reward.reshape(-1)[window].astype(np.float64)
        ended = kind != CONTINUES
        counted = (np.cumsum(ended, axis=1) - ended) == 0  # steps up to and including the first end
        steps = counted.sum(axis=1)
        powers = self.gamma ** np.arange(self.n_step + 1)
        n_reward = (reward * powers[: self.n_step] * counted).sum(axis=1)
        last = kind[np.arange(batch_size), steps - 1]
        discount = np.where(last == TERMINATED, 0.0, powers[steps])

        next_pos = (pos + steps) % L
        next_flat = base + next_pos
        obs, next_obs = self._gather_vectors(flat), self._gather_vectors(next_flat)
        if self._frames is not None:
            obs[PIXELS], next_obs[PIXELS] = self._gather_pixels(np.concatenate([flat, next_flat]))
        return {
            "obs": obs,
            "next_obs": next_obs,
            "action": np.take(self._action.reshape(-1, self.action_dim), flat, axis=0),
            "reward": n_reward.astype(np.float32),
            "discount": discount.astype(np.float32),
        }

    def sample_vectors(self, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The low-dimensional observations of ``count`` rows drawn uniformly (with replacement) by
        ``rng``, not the buffer's own generator, and no pixels: source rows for a caller that renders
        its own images (``liftrl.distill.cube_views``) without moving the training batches' draws."""
        index = self._sampleable_index()
        if index.size == 0:
            raise ValueError("cannot sample: no transition has a complete n-step window yet (add more steps)")
        return self._gather_vectors(index[rng.integers(0, index.size, size=_positive_int("count", count))])

    def _gather_vectors(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {key: np.take(arr.reshape(-1, *self.specs[key].shape), flat, axis=0)
                for key, arr in self._vectors.items()}

    def _gather_pixels(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rebuild the stacks of obs (first half of the indices) and next obs (second half) in one gather."""
        k, L = self.frame_stack, self.slots_per_env
        pos = flat % L
        ep = self._ep_step.reshape(-1)[flat].astype(np.int64)
        back = np.minimum(np.arange(k - 1, -1, -1)[None, :], ep[:, None])  # oldest frame first
        idx = (flat - pos)[:, None] + (pos[:, None] - back) % L
        frames = self._frames.reshape(-1, self._frames[0, 0].size)
        both = np.take(frames, idx.reshape(-1), axis=0).reshape(2, flat.size // 2, *self.specs[PIXELS].shape)
        return both[0], both[1]

    # ------------------------------------------------------------------ RNG
    def rng_state(self) -> dict[str, Any]:
        """The sampling Generator's state as plain JSON values."""
        return json.loads(json.dumps(self._rng.bit_generator.state))

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        name = type(self._rng.bit_generator).__name__
        if not isinstance(state, Mapping) or state.get("bit_generator") != name:
            raise ValueError(f"replay rng state must be a {name} bit-generator state dict, got {state!r:.200}")
        try:
            self._rng.bit_generator.state = dict(state)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"replay rng state is malformed: {exc}") from exc

    # ------------------------------------------------------------------ files
    def _layout(self) -> dict[str, Any]:
        """What a saved file must agree on to be loaded into this buffer."""
        return {
            "capacity": self.capacity, "num_envs": self.num_envs, "action_dim": self.action_dim,
            "n_step": self.n_step, "frame_stack": self.frame_stack,
            "obs": {k: {"shape": list(s.shape), "dtype": s.dtype.str} for k, s in self.specs.items()},
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole buffer to ``path`` (.npz) atomically: a crash leaves any previous file intact."""
        path = Path(path)
        used = int(min(self._written.max(), self.slots_per_env))  # ring columns that hold anything
        arrays = {name: arr[:, :used] for name, arr in self._arrays().items()}
        arrays.update(written=self._written, open=self._open, stream_start=self._stream_start)
        meta = {"format": FILE_FORMAT, "version": FILE_VERSION, "layout": self._layout(), "used": used,
                "adds": self.adds, "gamma": self.gamma, "rng": self.rng_state()}
        arrays["meta"] = np.array(json.dumps(meta))
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load(self, path: str | os.PathLike) -> None:
        """Replace the contents with a file written by :meth:`save` for the same layout (else ValueError)."""
        path = Path(path)
        meta, loaded = self._read_file(path)
        if meta.get("format") != FILE_FORMAT or meta.get("version") != FILE_VERSION:
            raise ValueError(f"{path} is not a liftrl replay file: format {meta.get('format')!r} version "
                             f"{meta.get('version')!r}, expected {FILE_FORMAT!r} version {FILE_VERSION}")
        self._check_layout(path, meta.get("layout", {}))
        E, L = self.num_envs, self.slots_per_env
        used, adds = meta.get("used"), meta.get("adds")
        if not isinstance(used, int) or not 0 <= used <= L:
            raise ValueError(f"{path}: 'used'={used!r} is not an integer in [0, {L}]")
        if not isinstance(adds, int) or adds < 0:
            raise ValueError(f"{path}: 'adds'={adds!r} is not a non-negative integer")
        for name, arr in self._arrays().items():
            want = (E, used, *arr.shape[2:])
            if loaded[name].shape != want or loaded[name].dtype != arr.dtype:
                raise ValueError(f"{path}: array {name!r} is {loaded[name].shape} {loaded[name].dtype}, "
                                 f"expected {want} {arr.dtype}")
        for name, dtype in (("written", np.int64), ("open", np.bool_), ("stream_start", np.int64)):
            if loaded[name].shape != (E,) or loaded[name].dtype != dtype:
                raise ValueError(f"{path}: array {name!r} is {loaded[name].shape} {loaded[name].dtype}, "
                                 f"expected {(E,)} {np.dtype(dtype)}")
        if int(min(loaded["written"].max(), L)) != used:
            raise ValueError(f"{path}: 'used'={used} disagrees with the per-env slot counters")

        self.set_rng_state(meta.get("rng"))  # the last check; nothing below can fail
        for name, arr in self._arrays().items():
            arr[:, :used] = loaded[name]
            arr[:, used:] = NO_TRANSITION if name == "kind" else 0
        self._written[:] = loaded["written"]
        self._open[:] = loaded["open"]
        self._stream_start[:] = loaded["stream_start"]
        self._index = None
        self.adds = adds

    def _read_file(self, path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything in the file, read before any of it is used, so a bad file changes nothing."""
        names = [*self._arrays(), "written", "open", "stream_start"]
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"][()]))
                if not isinstance(meta, dict):
                    raise ValueError("its metadata is not a JSON object")
                if meta.get("layout") != self._layout():  # report the mismatch before reading big arrays
                    return meta, {}
                return meta, {name: z[name] for name in names}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable liftrl replay file ({type(exc).__name__}: {exc})") from exc

    def _check_layout(self, path: Path, saved: Mapping[str, Any]) -> None:
        mine = self._layout()
        if not isinstance(saved, Mapping):
            saved = {}
        diffs = [f"{key}: file has {saved.get(key)!r}, this buffer {mine[key]!r}"
                 for key in mine if saved.get(key) != mine[key]]
        if diffs:
            raise ValueError(f"{path} was saved by a replay buffer of a different layout; " + "; ".join(diffs))

