"""Replay buffer: bytes per stored transition and the cost of sampling a pixel batch.

Run: ``python bench/replay.py [--capacity 100000] [--repeats 50]``

Fills a buffer of the default DrQ-v2 pixel shape (16 envs, 84x84, frame_stack 3, ``state`` 18,
``privileged`` 3) with synthetic episodes through the ordinary ``add`` (so its checks and
bookkeeping are paid for), then prints, medians over repeats:
1. bytes per transition (stored arrays / capacity) for pixels+state and for state+privileged,
   (sample index cache included) beside the budget 1.2 x (3*84*84 + 4*18) and what storing both
   stacks per transition would cost;
2. ms to sample a batch of 256 pixel transitions (stacks and n-step targets rebuilt);
3. the same against a baseline measured in this run: a plain fancy-index gather of 256 rows from a
   preallocated array of pre-stacked (obs, next obs) pairs, (N, 2, 9, 84, 84) uint8, which is what a
   buffer storing both stacks would do: the cost of producing the batch's bytes and nothing else
   (the gather of the obs half alone is printed too);
4. ms per ``add`` of one 16-env step.

Sampling cost is mostly the copy into a fresh 32 MB batch (plus faulting in its pages), so the ms
move a lot with machine load (printed on the ``machine`` line); the ratio to the baseline measured
in the same run is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from liftrl.replay import ReplayBuffer

S, K, STATE_DIM, ACTION_DIM, NUM_ENVS, BATCH = 84, 3, 18, 4, 16, 256


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def fill(buf: ReplayBuffer, steps: int, episode_len: int, seed: int = 0) -> list[float]:
    """Synthetic episodes built like the env builds them; returns the seconds each add took."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (257, 3, S, S), dtype=np.uint8)  # frames cycle through a pool: cheap, not constant
    E = buf.num_envs
    with_pixels = "pixels" in buf.specs
    pixels = np.concatenate([pool[:E]] * K, axis=1)  # every env starts from a reset stack
    state = rng.normal(size=(E, STATE_DIM)).astype(np.float32)
    offsets = rng.integers(0, episode_len, E)  # envs out of phase, as after the first episodes
    add_s = []
    for t in range(steps):
        frames = pool[(t * E + np.arange(E)) % len(pool)]
        next_pixels = np.concatenate([pixels[:, 3:], frames], axis=1)
        next_state = state + 0.01
        done = (t + offsets) % episode_len == episode_len - 1
        term = done & (rng.random(E) < 0.5)
        obs = {"pixels": pixels, "state": state, "privileged": state[:, :3]}
        next_obs = {"pixels": next_pixels, "state": next_state, "privileged": next_state[:, :3]}
        obs, next_obs = ({k: v for k, v in o.items() if k in buf.specs} for o in (obs, next_obs))
        start = time.perf_counter()
        buf.add(obs, rng.uniform(-1, 1, (E, ACTION_DIM)).astype(np.float32), rng.normal(size=E), next_obs,
                term, done & ~term)
        add_s.append(time.perf_counter() - start)
        pixels, state = next_pixels, next_state
        if done.any() and with_pixels:
            pixels = pixels.copy()
            pixels[done] = np.concatenate([next_pixels[done, -3:]] * K, axis=1)  # auto-reset: a new first frame
    return add_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--baseline-rows", type=int, default=10_000,
                    help="rows of the pre-stacked baseline array (127 kB each)")
    args = ap.parse_args()

    pixel_specs = {"pixels": ((3 * K, S, S), np.uint8), "state": ((STATE_DIM,), np.float32),
                   "privileged": ((3,), np.float32)}  # what the DrQ-v2 critic reads
    buf = ReplayBuffer(args.capacity, NUM_ENVS, pixel_specs, ACTION_DIM, n_step=3, gamma=0.99, frame_stack=K, seed=0)
    state_specs = {"state": ((STATE_DIM,), np.float32), "privileged": ((3,), np.float32)}
    state_buf = ReplayBuffer(args.capacity, NUM_ENVS, state_specs, ACTION_DIM, n_step=3, gamma=0.99, frame_stack=K,
                             seed=0)
    steps = args.capacity // NUM_ENVS + 500  # past one wrap-around of every env's ring
    t0 = time.perf_counter()
    add_s = fill(buf, steps, episode_len=250)
    fill_s = time.perf_counter() - t0
    print(f"filled {len(buf)} sampleable transitions ({steps} adds of {NUM_ENVS} envs) in {fill_s:.1f} s")
    fill(state_buf, steps, episode_len=250)
    state_buf.sample(BATCH)  # its sample index cache counts too

    sample_ms = median_ms(lambda: buf.sample(BATCH), args.repeats)

    rng = np.random.default_rng(1)
    pairs = np.empty((args.baseline_rows, 2, 3 * K, S, S), np.uint8)  # (obs, next obs) stacks side by side
    pairs[:] = rng.integers(0, 256, (1, 2, 3 * K, S, S), dtype=np.uint8)  # touch every page
    baseline_ms = median_ms(lambda: pairs[rng.integers(0, args.baseline_rows, BATCH)], args.repeats)
    obs_only_ms = median_ms(lambda: pairs[rng.integers(0, args.baseline_rows, BATCH), 0], args.repeats)

    budget = 1.2 * (3 * S * S + 4 * STATE_DIM)
    pixel_bpt = buf.nbytes / buf.capacity
    state_bpt = state_buf.nbytes / state_buf.capacity
    stacked_bpt = 2 * 3 * K * S * S + 2 * 4 * (STATE_DIM + 3) + 4 * ACTION_DIM + 4 + 2

    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, load average "
          f"{os.getloadavg()[0]:.1f}, python {platform.python_version()} numpy {np.__version__}")
    print(f"capacity {buf.capacity}, {NUM_ENVS} envs, {S}x{S} frame_stack {K}, n_step 3, batch {BATCH}, "
          f"medians of {args.repeats}")
    rows = [
        ("bytes/transition pixels+state+priv", f"{pixel_bpt:9.0f}",
         f"(budget {budget:.0f}; both stacks stored: {stacked_bpt})"),
        ("bytes/transition state+privileged", f"{state_bpt:9.0f}", ""),
        (f"sample {BATCH} pixel transitions", f"{sample_ms:9.2f} ms", ""),
        ("baseline gather obs+next (stacked)", f"{baseline_ms:9.2f} ms", f"(obs only {obs_only_ms:.2f} ms)"),
        ("ratio sample / baseline", f"{sample_ms / baseline_ms:9.2f}", ""),
        (f"add one {NUM_ENVS}-env step", f"{1000 * statistics.median(add_s):9.3f} ms", ""),
    ]
    for label, value, note in rows:
        print(f"{label:<36}: {value}  {note}".rstrip())

if __name__ == "__main__":
    main()
