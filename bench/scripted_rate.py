"""Is the task physically solvable at the real arm's rate? The scripted grasp at several rates and latencies.

Stage 3, hold 150 ticks (3 s), randomised, 10 seeds per row. The teacher's episode length comes
from this table (configs/teacher.yaml): at 15 Hz with ~100 ms latency the hold starts only ~70
ticks in, so 200-tick episodes cannot finish a 150-tick hold.

    MUJOCO_GL=egl python bench/scripted_rate.py > bench/results/teacher_scripted_15hz.txt
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")

ROWS = [(50, 0, 200), (15, 100, 200), (15, 100, 300), (15, 66, 300), (15, 133, 300), (10, 100, 300)]


def run_row(hz: float, latency: float, ticks: int, seeds: range) -> tuple[int, list[int]]:
    from liftrl.scripted import ScriptedGrasp
    from liftrl.sim.factory import build_env

    env = build_env(control_hz=hz, latency_ms=latency, curriculum_stage=3, hold_steps=150, max_episode_steps=ticks,
                   observations=("state",), reward="v20", render_mode=None)
    wins, hold_starts = 0, []
    for seed in seeds:
        _, info = env.reset(seed=seed)
        policy, done = ScriptedGrasp(), False
        while not done:
            _, _, term, trunc, info = env.step(policy.act(info))
            done = term or trunc
        wins += bool(info["is_success"])
        if info["hold_count"] > 0:
            hold_starts.append(int(info["step"]) - int(info["hold_count"]))
    env.close()
    return wins, hold_starts


def main(argv: list[str] | None = None) -> int:
    n = int((argv or sys.argv[1:] or ["10"])[0])
    seeds = range(1000, 1000 + n)
    print(f"scripted grasp, stage 3, hold 150 ticks, randomised, seeds {seeds.start}-{seeds.stop - 1}")
    print("| control Hz | latency ms | episode ticks | success | median tick the hold starts |")
    print("| --- | --- | --- | --- | --- |")
    for hz, latency, ticks in ROWS:
        wins, starts = run_row(hz, latency, ticks, seeds)
        median = sorted(starts)[len(starts) // 2] if starts else "-"
        print(f"| {hz} | {latency} | {ticks} | {wins}/{n} | {median} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
