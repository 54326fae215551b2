"""A block of envs stepped in a loop, and its infos batched once: what every vector env runs.

The worker processes (``liftrl.sim.vector``) and the in-process vector env
(``liftrl.sim.inprocess``) both step their envs with :func:`step_block`, so the two paths
cannot drift: same auto-reset in the same step (Gymnasium's ``SAME_STEP``), same final
observations, same batched infos. :func:`batch_infos` builds Gymnasium's vector-info layout
(an array per key with a boolean ``_key`` mask, ``final_obs`` an object array) for the whole
block in one pass, instead of Gymnasium's ``VectorEnv._add_info`` call per env per step, and
:func:`concat_infos` joins the blocks of several workers.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

FINAL_OBS = "final_obs"
FINAL_INFO = "final_info"


def stack_obs(obs_list: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([o[k] for o in obs_list]) for k in obs_list[0]}


def block_seeds(seed: int | Sequence[int] | None, num_envs: int) -> list[int | None]:
    """Gymnasium's vector ``reset(seed=...)`` rule: None for all, an int for env 0 counting up, or one per env."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"got {len(seeds)} seeds for {num_envs} environments")
    return seeds


def reset_block(envs: Sequence, seeds: Sequence[int | None], options: dict | None):
    """Reset every env of the block with its own seed: (stacked obs, batched infos)."""
    out = [env.reset(seed=s, options=options) for env, s in zip(envs, seeds)]
    return stack_obs([o for o, _ in out]), batch_infos([i for _, i in out])


def step_block(envs: Sequence, actions: np.ndarray):
    """One step of each env, auto-resetting finished episodes in the same step.

    Returns ``(obs, rewards, terminated, truncated, infos)``; a finished env's returned
    observation is its new episode's first, the finished one's last observation and info are
    in ``infos["final_obs"]`` / ``infos["final_info"]``.
    """
    n = len(envs)
    obs_l, infos, finals = [], [], []
    rew = np.empty(n)
    term = np.empty(n, dtype=bool)
    trunc = np.empty(n, dtype=bool)
    for i, (env, action) in enumerate(zip(envs, actions)):
        obs, r, te, tr, info = env.step(action)
        final = None
        if te or tr:
            final = {FINAL_OBS: obs, FINAL_INFO: info}
            obs, _ = env.reset()
        obs_l.append(obs)
        rew[i], term[i], trunc[i] = r, te, tr
        infos.append(info)
        finals.append(final)
    return stack_obs(obs_l), rew, term, trunc, batch_infos(infos, finals)


def batch_infos(infos: Sequence[Mapping[str, Any] | None],
                finals: Sequence[Mapping[str, Any] | None] | None = None) -> dict[str, Any]:
    """Gymnasium's batched vector info for ``infos`` (one per env, None where an env has none).

    Same layout, dtypes and masks as ``VectorEnv._add_info`` applied env by env: for every key an
    array with the env axis first and a bool mask ``_key``; a nested dict is batched the same way;
    ``final_obs`` stays an object array of per-env observation dicts. ``finals`` (per env, None
    or ``{"final_obs", "final_info"}``) are added after the env's own info, as the workers did.
    """
    n = len(infos)
    rows: list[Mapping[str, Any] | None] = list(infos)
    if finals is not None and any(f is not None for f in finals):
        rows = [_merged(info, final) for info, final in zip(infos, finals)]
    return _batch(rows, n)


def _merged(info: Mapping[str, Any] | None, final: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if final is None:
        return info
    return final if info is None else {**info, **final}


def _batch(rows: Sequence[Mapping[str, Any] | None], n: int) -> dict[str, Any]:
    keys: dict[str, None] = {}
    for row in rows:
        if row:
            keys.update(dict.fromkeys(row))
    out: dict[str, Any] = {}
    everyone = np.ones(n, dtype=np.bool_)
    for key in keys:
        present = [i for i, row in enumerate(rows) if row is not None and key in row]
        first = rows[present[0]][key]
        if len(present) == n and _plain(first):  # every env has it: one array call (the usual case)
            out[key] = np.array([row[key] for row in rows], dtype=_dtype_of(first))
            out[f"_{key}"] = everyone.copy()
            continue
        if key == FINAL_OBS:
            array = np.full(n, None, dtype=object)
            for i in present:
                array[i] = rows[i][key]
        elif isinstance(first, dict):
            array = _batch([row.get(key) if row is not None else None for row in rows], n)
        else:
            array = _empty_like_value(first, n)
            for i in present:
                array[i] = rows[i][key]
        mask = np.zeros(n, dtype=np.bool_)
        mask[present] = True
        out[key], out[f"_{key}"] = array, mask
    return out


def _plain(value: Any) -> bool:
    """A value ``_add_info`` stores in a typed array (not an object array or a nested dict)."""
    return type(value) in (int, float, bool) or isinstance(value, (np.number, np.ndarray))


_SCALAR_DTYPES: dict[type, np.dtype] = {}


def _dtype_of(value: Any) -> np.dtype:
    if isinstance(value, np.ndarray):
        return value.dtype
    kind = type(value)
    if kind not in _SCALAR_DTYPES:
        _SCALAR_DTYPES[kind] = np.dtype(kind)
    return _SCALAR_DTYPES[kind]


def _empty_like_value(value: Any, n: int) -> np.ndarray:
    """The array ``VectorEnv._add_info`` starts a key with, from the first value it sees."""
    if type(value) in (int, float, bool) or issubclass(type(value), np.number):
        return np.zeros(n, dtype=type(value))
    if isinstance(value, np.ndarray):
        return np.zeros((n, *value.shape), dtype=value.dtype)
    return np.full(n, None, dtype=object)


def concat_infos(parts: Sequence[dict[str, Any]], counts: Sequence[int]) -> dict[str, Any]:
    """Join the batched infos of consecutive blocks of ``counts`` envs into one batch.

    A key missing from a block (no env there had it) is filled as ``_add_info`` leaves an
    unset slot: zeros (None for object arrays) with a False mask.
    """
    if len(parts) == 1:
        return parts[0]
    keys: dict[str, None] = {}
    for part in parts:
        keys.update(dict.fromkeys(part))
    out: dict[str, Any] = {}
    for key in keys:
        ref = next(p[key] for p in parts if key in p)
        if isinstance(ref, dict):
            out[key] = concat_infos([p.get(key, {}) for p in parts], counts)
            continue
        pieces = []
        for part, count in zip(parts, counts):
            if key in part:
                pieces.append(part[key])
            elif ref.dtype == object:
                pieces.append(np.full(count, None, dtype=object))
            else:
                pieces.append(np.zeros((count, *ref.shape[1:]), dtype=ref.dtype))
        out[key] = np.concatenate(pieces)
    return out
