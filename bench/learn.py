"""Learning proofs: train a shipped config from a clean start and report when it learned.

The figure that matters is the first env step at which the periodic evaluation (20 episodes on
seeds disjoint from training, deterministic actions) reaches the goal success rate, and the
wall-clock time it took. The script trains with the real ``liftrl train`` loop, then reads the
run's ``metrics.jsonl`` and draws the curve, so the numbers are the run's own record.

    MUJOCO_GL=egl python bench/learn.py state_sac        # SAC from state, v11, stage 3, hold 150
    MUJOCO_GL=egl python bench/learn.py pixels_stage1    # small pixel DrQ-v2, stage 1, hold 150
    MUJOCO_GL=egl python bench/learn.py pixels_gpu       # DrQ-v2, v19, stage 3, hold 150 (GPU)
    MUJOCO_GL=egl python bench/learn.py student --teacher RUN   # pixel student distilled from RUN (bench/student.py)
    python bench/learn.py state_sac --tiny               # seconds: checks the script end to end
    MUJOCO_GL=egl python bench/learn.py quickstart --seeds 0,1,2   # each seed, then the spread over seeds

Each proof is a config plus overrides (below), so a proof is reproducible with ``liftrl train``
alone; ``--minutes`` stops a run at a wall-clock budget (the goal's 90 minutes on the CPU).
One seed proves little: ``--seeds`` trains once per seed, one after another, and reports each
seed's curve and the spread (how many reached the goal, and the range of first, best and last).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

PROOFS = {
    # The README's quick start as it ships: its claim rests on `--seeds 0,1,2`.
    "quickstart": {
        "config": "configs/quickstart.yaml", "overrides": ["train.progress=false"],
        "goal": 0.9, "goal_steps": 6000,
    },
    # SAC from state with the cube position (the user's "state SAC" saw it too): the actor reads
    # privileged, so it opts out of the real-arm rule by name. A simulation proof only.
    "state_sac": {
        # SAC from state with the cube position (the user's "state SAC" saw it too): the actor reads
        # privileged, so it opts out of the real-arm rule by name. A simulation proof only.
        # Training resets mix curriculum stages (evaluation is stage 3 only): on stage 3 alone SAC
        # found v11's ungrasped height bonus first (tipping a cube on its edge lifts its centre
        # above 2 cm) and had not grasped once in deterministic evaluation by 220k steps; starts
        # with the cube already in the gripper show it what lifting and holding are worth.
        # CPU budget: a SAC update at batch 256 and width 256 costs ~20-50 ms on one of these
        # cores, so one update per env step would take hours for 500k steps. Batch 128 at one
        # update per 2 env steps fits in 90 min. One torch thread: with the env workers and
        # anything else on 2 cores, a second OpenMP thread made updates 50x slower, not faster.
        "config": "configs/sac_v11.yaml",
        "overrides": ["obs.actor=[state,privileged]", "obs.allow_privileged_actor=true",
                      "env.curriculum_mix=[0,0.25,0.25,0.5,0]",
                      "agent.batch_size=128", "agent.update_every_steps=2", "train.torch_threads=1",
                      "train.total_env_steps=500000", "train.eval_every=20000", "train.eval_episodes=20",
                      "train.snapshot_every=100000", "train.log_every=5000", "replay.capacity=500000"],
        "goal": 0.9, "goal_steps": 500_000,
    },
    "pixels_stage1": {
        # Sizes picked by timing one DrQ-v2 update on one core of this machine: 84x84, 32 channels,
        # width 1024, batch 256 takes ~3 s; 32x32, 16 channels, width 256, batch 128 about 60 ms.
        # One update per 4 env steps (4 envs), critic with the privileged cube position.
        # reward_scale: unscaled, v19's hold term (up to 75 per step) drove Q into the hundreds,
        # the critic loss from 1 to 250 and the actions to 100% saturation by 10k steps.
        "config": "configs/drqv2_v19.yaml",
        "overrides": ["env.curriculum_stage=1", "env.num_envs=4", "env.image_size=32", "agent.batch_size=128",
                      "agent.reward_scale=0.02",
                      "agent.hidden_dim=256", "agent.feature_dim=50", "agent.encoder_channels=16",
                      "agent.stddev_schedule=linear(1.0,0.1,30000)", "agent.update_every_steps=4",
                      "train.torch_threads=1", "train.seed_steps=2000", "train.total_env_steps=150000",
                      "train.eval_every=10000", "train.eval_episodes=20", "train.snapshot_every=50000",
                      "train.log_every=2000", "replay.capacity=150000"],
        "goal": 0.8, "goal_steps": None, "tiny": ["agent.encoder_channels=8", "agent.feature_dim=16"],
    },
    "pixels_gpu": {
        "config": "configs/drqv2_v19.yaml",
        "overrides": ["train.total_env_steps=1000000", "train.eval_every=50000", "train.eval_episodes=20",
                      "train.device=cuda"],
        "goal": 0.9, "goal_steps": 1_000_000,
        "tiny": ["env.image_size=32", "agent.encoder_channels=8", "agent.feature_dim=16"],
    },
}

TINY = ["train.total_env_steps=400", "train.seed_steps=100", "train.eval_every=200", "train.eval_episodes=2",
        "train.snapshot_every=200", "train.log_every=100", "env.num_envs=2", "env.max_episode_steps=20",
        "replay.capacity=2000", "agent.batch_size=16", "agent.hidden_dim=32", "train.video_episodes=0",
        "train.device=cpu"]


def first_reaching(evals: list[dict], goal: float) -> dict | None:
    return next((r for r in evals if r["eval/success_rate"] >= goal), None)


def plot(curves: dict[str, list[dict]], title: str, out: Path) -> None:
    """Success and cube height against env steps, one line per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, evals in curves.items():
        steps = [r["step"] for r in evals]
        a.plot(steps, [100 * r["eval/success_rate"] for r in evals], marker="o", label=label)
        b.plot(steps, [r["eval/max_cube_z_mean"] for r in evals], marker="o", label=label)
    a.set_ylabel("eval success (%)")
    a.set_ylim(-5, 105)
    b.set_ylabel("mean max cube height (m)")
    for ax in (a, b):
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    if len(curves) > 1:
        a.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def wall_seconds(rows: list[dict]) -> float:
    """Training wall time from the run's own rows: elapsed_s restarts in each resumed process, so add the pieces."""
    wall, last = 0.0, 0.0
    for r in rows:
        t = r.get("time/elapsed_s")
        if t is None:
            continue
        if t < last:
            wall += last
        last = t
    return wall + last


def summarize(run: Path, goal: float, wall: float) -> dict | None:
    """One run's figures: first step at the goal, best and last evaluation, the curve."""
    from liftrl.train.metrics import read_metrics

    rows = read_metrics(run / "metrics.jsonl")
    evals = [r for r in rows if r["kind"] == "eval"]
    if not evals:
        return None
    trains = [r for r in rows if r["kind"] == "train" and "time/env_steps_per_s" in r]
    hit = first_reaching(evals, goal)
    best = max(evals, key=lambda r: (r["eval/success_rate"], r["eval/reward_mean"]))
    last = evals[-1]
    sps = sorted(r["time/env_steps_per_s"] for r in trains)
    return {
        "run": str(run), "wall_minutes": round(wall / 60, 2), "env_steps": last["step"],
        "first_step_at_goal": None if hit is None else hit["step"],
        "best": {"step": best["step"], "success_rate": best["eval/success_rate"],
                 "reward_mean": best["eval/reward_mean"]},
        "last": {"step": last["step"], "success_rate": last["eval/success_rate"]},
        "median_env_steps_per_s": sps[len(sps) // 2] if sps else None,
        "curve": [{"step": r["step"], "success_rate": r["eval/success_rate"], "reward_mean": r["eval/reward_mean"],
                   "max_cube_z_mean": r["eval/max_cube_z_mean"]} for r in evals],
        "_evals": evals,
    }


def spread(per_seed: dict[int, dict]) -> dict:
    """Across seeds: each figure's min, median and max, and how many seeds reached the goal."""
    def stats(values: list[float]) -> dict:
        values = sorted(values)
        return {"min": values[0], "median": values[len(values) // 2], "max": values[-1]}

    hits = [s["first_step_at_goal"] for s in per_seed.values() if s["first_step_at_goal"] is not None]
    return {"seeds_at_goal": f"{len(hits)}/{len(per_seed)}",
            "first_step_at_goal": stats(hits) if hits else None,
            "best_success": stats([s["best"]["success_rate"] for s in per_seed.values()]),
            "last_success": stats([s["last"]["success_rate"] for s in per_seed.values()])}


def report(proof_name: str, seed: int | None, summary: dict, goal: float) -> None:
    tag = f"{proof_name}" + ("" if seed is None else f" seed {seed}")
    print(f"{tag}: run folder {summary['run']}")
    for c in summary["curve"]:
        print(f"  step {c['step']:>8}  success {100 * c['success_rate']:5.1f}%  "
              f"reward {c['reward_mean']:8.1f}  max z {c['max_cube_z_mean']:.3f}")
    hit = summary["first_step_at_goal"]
    reached = "not reached" if hit is None else f"reached at {hit} env steps"
    best, last = summary["best"], summary["last"]
    print(f"{tag}: goal {100 * goal:.0f}% eval success {reached}; best {100 * best['success_rate']:.0f}% at "
          f"{best['step']}; last {100 * last['success_rate']:.0f}% at {last['step']}; {summary['env_steps']} env "
          f"steps in {summary['wall_minutes']:.1f} min ({summary['median_env_steps_per_s'] or 0:.0f} env steps/s median)")


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated whole numbers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds needs distinct seeds >= 0, got {text!r}")
    return seeds


def train_or_read(args: argparse.Namespace, proof: dict, overrides: list[str], seed: int | None) -> tuple[Path, float]:
    """The run to summarise (trained now with ``seed``, or the existing ``--summarize`` run) and its wall seconds."""
    from liftrl.train.loop import train
    from liftrl.train.metrics import read_metrics

    if args.summarize:
        run = Path(args.summarize)
        return run, wall_seconds(read_metrics(run / "metrics.jsonl"))
    start = time.perf_counter()
    run = train(str(ROOT / proof["config"]), overrides + ([] if seed is None else [f"train.seed={seed}"]),
                run_root=args.runs)
    return run, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    import student

    parser.add_argument("proof", choices=sorted([*PROOFS, *student.PROOFS]))
    parser.add_argument("--teacher", default=None, help="student proofs: the teacher's run folder")
    parser.add_argument("--dry-run", type=int, default=0, metavar="N",
                        help="student proofs: export the best student and dry-run N episodes with camera noise")
    parser.add_argument("overrides", nargs="*", help="extra dotted overrides")
    parser.add_argument("--seeds", type=parse_seeds, default=None,
                        help="train once per seed (train.seed), one after another, e.g. 0,1,2; reports each seed "
                             "and the spread (default: the config's seed, one run)")
    parser.add_argument("--minutes", type=float, default=90.0, help="wall-clock budget per run; the run stops there")
    parser.add_argument("--runs", default="runs/bench", help="root for the run folders")
    parser.add_argument("--tiny", action="store_true", help="a few hundred steps: checks the script, proves nothing")
    parser.add_argument("--out", default=None, help="PNG/JSON stem (default bench/results/learn_<proof>)")
    parser.add_argument("--summarize", metavar="RUN", default=None,
                        help="no training: write the curve and summary of an existing run of this proof "
                             "(e.g. one stopped early or continued with `liftrl train --resume`)")
    args = parser.parse_intermixed_args(argv)
    if args.summarize and args.seeds:
        parser.error("--summarize reads one existing run; it takes no --seeds")
    if args.proof in student.PROOFS:
        return student.main(args)

    proof = PROOFS[args.proof]
    overrides = proof["overrides"] + (TINY + proof.get("tiny", []) if args.tiny else []) + list(args.overrides)
    overrides.append(f"train.max_minutes={args.minutes}")
    per_seed: dict = {}
    for seed in args.seeds or [None]:
        run, wall = train_or_read(args, proof, overrides, seed)
        summary = summarize(run, proof["goal"], wall)
        if summary is None:
            print(f"run {run} has no evaluation rows", file=sys.stderr)
            return 1
        per_seed[seed] = summary

    stem = Path(args.out) if args.out else RESULTS / f"learn_{args.proof}{'_tiny' if args.tiny else ''}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    walls = ", ".join(f"{s['wall_minutes']:.1f}" for s in per_seed.values())
    title = (f"{args.proof}: {proof['config']} with the overrides listed in {stem.with_suffix('.json').name}\n"
             f"{platform.machine()}, {os.cpu_count()} cores, wall {walls} min")
    plot({("run" if s is None else f"seed {s}"): v.pop("_evals") for s, v in per_seed.items()}, title,
         stem.with_suffix(".png"))
    doc = {"proof": args.proof, "config": proof["config"], "overrides": overrides, "goal_success": proof["goal"],
           "goal_steps": proof["goal_steps"]}
    if args.seeds:
        doc.update(seeds={str(s): v for s, v in per_seed.items()}, spread=spread(per_seed))
    else:
        doc.update(per_seed[None])
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    print(f"curve: {stem.with_suffix('.png')}")
    for seed, summary in per_seed.items():
        report(args.proof, seed, summary, proof["goal"])
    if args.seeds:
        sp = doc["spread"]
        first = sp["first_step_at_goal"]
        print(f"{args.proof} over seeds {','.join(map(str, args.seeds))}: goal reached by {sp['seeds_at_goal']} seeds"
              + ("" if first is None else f" (first at {first['min']}-{first['max']} env steps)")
              + f"; best success {100 * sp['best_success']['min']:.0f}-{100 * sp['best_success']['max']:.0f}%, "
              f"last {100 * sp['last_success']['min']:.0f}-{100 * sp['last_success']['max']:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
