"""Distillation proof: a pixel student from a teacher run, its curve per round and its dry run.

    MUJOCO_GL=egl python bench/learn.py student --teacher RUN           # the issue's proof (stage 3, 15 Hz)
    MUJOCO_GL=egl python bench/learn.py student_stage1 --teacher RUN    # cheap: stage 1, hold 10, 50 Hz
    python bench/learn.py student_stage1 --teacher RUN --summarize DISTILL_RUN   # redraw from a run

The student trains with the real ``liftrl distill`` loop; the figures are read back from its
``metrics.jsonl``: student evaluation success per round (20 episodes on the evaluation seeds, with
the run's camera noise and randomisation), the teacher's success on the same seeds and env (the
``teacher`` row), and the labelled frames (every visited step is labelled, so env steps = labels).
With ``--dry-run N`` the best student is exported and run through ``liftrl deploy --robot sim``
at the run's rate and latency with the camera noise the README quotes (std 4, gain 0.2).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from common import mark_if_running, pyplot, save_panels, wall_seconds  # bench/ is on sys.path when run as a script

from liftrl.sim.task import PICK_STAGE

ROOT = Path(__file__).resolve().parents[1]
IMAGE_CHECK_EPISODES = 50  # issue 23: grey image and another episode's frames must fall to <= 10%
RESULTS = ROOT / "bench" / "results"

PROOFS = {
    # The target: a stage-3 teacher at 15 Hz / 100 ms (configs/teacher.yaml), student defaults.
    "student": {"config": "configs/student.yaml", "overrides": [], "goal": 0.9, "ratio_goal": 0.95},
    # Issue 23: a pick-area student (from the start pose, cube anywhere in the pick area) distilled from a
    # configs/teacher_pick.yaml teacher; its summary adds the image checks (grey / another episode's frames).
    "student_pick": {"config": "configs/student_pick.yaml", "overrides": [],
                     "goal": 0.9, "ratio_goal": 0.95},
    # Issue 25: the same student on a wider scene's looks (textures, lights, cube colours, camera mount),
    # from the same teachers; compare the two with `liftrl stress` on both bundles.
    "student_pick_wide": {"config": "configs/student_pick_wide.yaml", "overrides": [],
                          "goal": 0.9, "ratio_goal": 0.95},
    # What a CPU shows in minutes: the quick start's stage-1 SAC teacher (50 Hz, hold 10), a 32x32
    # student with a 16-channel encoder, 8 rounds of 1000 labelled steps.
    "student_stage1": {
        "config": "configs/student.yaml",
        "overrides": ["env.curriculum_stage=1", "env.hold_steps=10", "env.max_episode_steps=50",
                      "env.control_hz=50", "env.latency_ms=0", "env.image_size=32", "agent.encoder_channels=16",
                      "distill.rounds=8", "distill.steps_per_round=1000", "distill.updates_per_round=300"],
        "goal": 0.9, "ratio_goal": 0.95,
    },
}
TINY = ["env.image_size=16", "env.num_envs=2", "env.max_episode_steps=20", "agent.encoder_channels=4",
        "agent.feature_dim=8", "agent.hidden_dim=16", "agent.batch_size=16", "distill.rounds=2",
        "distill.steps_per_round=40", "distill.updates_per_round=5", "train.eval_episodes=2",
        "train.video_episodes=0", "train.device=cpu", "replay.capacity=400"]


def curve(rows: list[dict]) -> tuple[dict | None, list[dict]]:
    """(teacher's evaluation, one point per student evaluation with its round's training figures)."""
    teacher = next((r for r in rows if r["kind"] == "teacher"), None)
    by_step = {r["step"]: r for r in rows if r["kind"] == "train"}
    points = []
    for r in (r for r in rows if r["kind"] == "eval"):
        t = by_step.get(r["step"], {})
        points.append({"labelled_frames": r["step"], "round": int(t["train/round"]), "beta": t.get("train/beta"),
                       "teacher_drove_frac": t.get("train/teacher_drove_frac"),
                       "action_mse": t.get("train/action_mse"), "success_rate": r["eval/success_rate"],
                       "successes": r["eval/successes"], "episodes": r["eval/episodes"],
                       "reward_mean": r["eval/reward_mean"]})
    return teacher, points


def plot(points: list[dict], teacher: dict | None, title: str, out: Path) -> None:
    x = [p["labelled_frames"] for p in points]
    fig, (a, b) = pyplot().subplots(1, 2, figsize=(10, 3.6))
    a.plot(x, [100 * p["success_rate"] for p in points], marker="o", label="student (one point per round)")
    if teacher is not None:
        a.axhline(100 * teacher["teacher/success_rate"], color="tab:red", ls="--", label="teacher")
    a.set_ylabel("eval success (%)")
    a.set_ylim(-5, 105)
    a.legend(loc="lower right", fontsize=8)
    b.plot(x, [p["action_mse"] for p in points], marker="o", color="tab:green", label="action MSE to labels")
    b.plot(x, [p["beta"] for p in points], marker=".", color="tab:gray", label="beta (teacher drives)")
    b.legend(fontsize=8)
    save_panels(fig, (a, b), "labelled frames (env steps)", title, out)


def dry_run(run: Path, episodes: int) -> list[dict]:
    """Export the best student and run it in the deploy loop at its trained rate, with camera noise, in the
    scene it was trained in (each row names it: the bundle's ``task.scene``, ``{}`` for the default scene)."""
    from liftrl.deploy.bundle import export_run, load_bundle
    from liftrl.deploy.dryrun import dry_run as run_dry
    from liftrl.obs.pipeline import CameraNoise

    bundle = load_bundle(export_run(run, "best"), real_arm=True)
    rows = run_dry(bundle, bundle.control.hz, bundle.control.latency_ms, episodes, CameraNoise(std=4.0, gain=0.2))
    return [{"run": r.label, "rate_hz": r.rate_hz, "latency_ms": r.latency_ms, "camera_noise": r.camera_noise,
             "successes": r.successes, "episodes": r.episodes, "scene": dict(bundle.task.scene)} for r in rows]


def main(args) -> int:
    """``args`` from bench/learn.py: proof, teacher, overrides, minutes, runs, tiny, out, summarize, dry_run."""
    from liftrl.distill.loop import distill
    from liftrl.train.metrics import read_metrics

    proof = PROOFS[args.proof]
    overrides = proof["overrides"] + (TINY if args.tiny else []) + list(args.overrides)
    if not args.summarize:
        overrides.append(f"train.max_minutes={args.minutes}")
    if args.summarize:
        run = Path(args.summarize[0] if isinstance(args.summarize, list) else args.summarize)  # learn.py: nargs="+"
    else:
        if not args.teacher:
            raise SystemExit(f"{args.proof} needs --teacher RUN (a state teacher's run folder)")
        start = time.perf_counter()
        run = distill(args.teacher, str(ROOT / proof["config"]), overrides, run_root=args.runs)
        print(f"distilled in {(time.perf_counter() - start) / 60:.1f} min")
    rows = read_metrics(run / "metrics.jsonl")
    teacher, points = curve(rows)
    if not points:
        raise SystemExit(f"run {run} has no evaluation rows")
    wall = wall_seconds(rows)
    best = max(points, key=lambda p: (p["success_rate"], p["reward_mean"]))
    teacher_rate = teacher["teacher/success_rate"] if teacher else None
    stem = Path(args.out) if args.out else RESULTS / f"learn_{args.proof}{'_tiny' if args.tiny else ''}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    title = (f"{args.proof}: liftrl distill with {proof['config']} + the overrides in {stem.with_suffix('.json').name}\n"
             f"{platform.machine()}, {os.cpu_count()} cores, wall {wall / 60:.1f} min, {points[-1]['labelled_frames']} "
             f"labelled frames")
    plot(points, teacher, title, stem.with_suffix(".png"))
    from liftrl.config import load_config

    cfg = load_config(str(run / "config.yaml"))
    summary = {
        "proof": args.proof, "run": run.name, "config": proof["config"], "overrides": overrides,
        "teacher": {"snapshot": cfg.distill.teacher_snapshot, "success_rate": teacher_rate,
                    "episodes": teacher["teacher/episodes"] if teacher else None},
        "wall_minutes": round(wall / 60, 2), "labelled_frames": points[-1]["labelled_frames"],
        "goal_success": proof["goal"], "goal_ratio": proof["ratio_goal"],
        "best": best, "student_teacher_ratio": (best["success_rate"] / teacher_rate) if teacher_rate else None,
        "curve": points,
    }
    mark_if_running(summary, run)
    if args.dry_run:
        summary["dry_run"] = dry_run(run, args.dry_run)
    episodes = getattr(args, "image_checks", IMAGE_CHECK_EPISODES)
    if cfg.env.curriculum_stage == PICK_STAGE and episodes:  # does it find the cube with its camera?
        from image_checks import image_checks, run_policy

        env, act = run_policy(str(run), PICK_STAGE)
        try:
            summary["image_checks"] = image_checks(env, act, list(range(7000, 7000 + episodes)))
        finally:
            env.close()
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print(f"run folder: {run}\ncurve: {stem.with_suffix('.png')}")
    for p in points:
        print(f"  round {p['round']}  frames {p['labelled_frames']:>7}  beta {p['beta']:.2f}  "
              f"success {100 * p['success_rate']:5.1f}%  action MSE {p['action_mse']:.4f}")
    print(f"teacher {100 * (teacher_rate or 0):.0f}%; best student {100 * best['success_rate']:.0f}% at "
          f"{best['labelled_frames']} labelled frames; wall {wall / 60:.1f} min")
    for r in summary.get("dry_run", []):
        print(f"  dry run {r['run']} {r['rate_hz']:g} Hz {r['latency_ms']:g} ms noise {r['camera_noise']:g}: "
              f"{r['successes']}/{r['episodes']}")
    for mode, r in summary.get("image_checks", {}).items():
        print(f"  image check, {mode} frames: {r['successes']}/{r['episodes']}")
    return 0
