"""How much of a bundle's dry-run score does the deploy loop's safety layer take, and which part of it?

The dry run scores a bundle in the env (its training loop) and in the deploy loop on the simulated
robot. The deploy loop adds the safety layer: a lead cap (no command more than 0.35 rad, gripper
0.8 rad, from the joints just read) and a tracking watchdog (the arm more than 0.25 rad from its
command for 0.5 s stops the episode). This plays the same dry-run seeds in the env row and in the
deploy loop with each of them on and off, so a gap between the env and the deploy loop is put down
to one of them, or to neither (then it is the loops' other differences: bench/loop_gap.py).

    MUJOCO_GL=egl python bench/safety_gap.py BUNDLE --episodes 50 --out bench/results/pick_safety_gap_NAME

Writes OUT.json and OUT.md after each row, so a stopped run keeps the rows it finished. Off means
out of the way, not removed: a 3 rad lead (more than any joint moves in a period) and a 100 rad
tracking error.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

OFF_LEAD_RAD = 3.0
OFF_TRACKING_RAD = 100.0

# (name, lead cap on, tracking watchdog on); the first is the deploy loop as shipped.
SETTINGS = (("as shipped", True, True), ("tracking off", True, False), ("lead cap off", False, True),
            ("both off", False, False))


def limits_for(bundle, arm, lead_on: bool):
    """The deploy loop's safety limits for ``bundle``, with the lead cap out of the way unless ``lead_on``."""
    from liftrl.deploy.safety import SafetyLimits

    leads = {} if lead_on else {"max_arm_lead": OFF_LEAD_RAD, "max_gripper_lead": OFF_LEAD_RAD}
    return SafetyLimits.for_arm(arm.joint_range, bundle.action.gripper_ctrl, bundle.action.workspace_low,
                                bundle.action.workspace_high, **leads)


def row_record(name: str, row, seconds: float) -> dict:
    """One row of the report: successes, safety stops by reason, wall time."""
    stops: dict[str, int] = {}
    for o in row.outcomes:
        if o.stop_reason not in ("done", "max_steps"):
            stops[o.stop_reason] = stops.get(o.stop_reason, 0) + 1
    return {"setting": name, "successes": row.successes, "episodes": row.episodes, "stops": stops,
            "wall_s": round(seconds, 1)}


def markdown(report: dict) -> str:
    lines = [f"# Safety layer against the env: {report['bundle']}", "",
             f"{report['episodes']} dry-run seeds from {report['seed']}, "
             f"{report['rate_hz']:g} Hz / {report['latency_ms']:g} ms, the scene the bundle was trained in, "
             f"no camera noise; trained with lead cap {report['trained_lead_rad'] or 'none'}. "
             f"Off: lead {OFF_LEAD_RAD:g} rad, tracking {OFF_TRACKING_RAD:g} rad.", "",
             "| loop | lead cap | tracking watchdog | successes | safety stops |", "| --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        on = {True: "on", False: "off", None: "-"}
        stops = ", ".join(f"{k} {v}" for k, v in sorted(r["stops"].items())) or "none"
        lines.append(f"| {r['loop']} | {on[r.get('lead')]} | {on[r.get('tracking')]} | "
                     f"{r['successes']}/{r['episodes']} | {stops} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from liftrl.common.seeds import DRY_RUN_SEED_BASE, dry_run_seeds
    from liftrl.deploy.bundle import load_bundle
    from liftrl.deploy.dryrun import env_config, run_deploy, run_env
    from liftrl.deploy.pipeline import ArmModel
    from liftrl.deploy.safety import TrackingLimit

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=DRY_RUN_SEED_BASE, help="first dry-run seed")
    p.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    bundle = load_bundle(args.bundle, real_arm=True)
    arm = ArmModel.build()
    seeds = dry_run_seeds(args.episodes, args.seed)
    report = {"bundle": Path(args.bundle).resolve().parent.name + "/" + Path(args.bundle).name,
              "episodes": args.episodes, "seed": args.seed, "rate_hz": bundle.control.hz,
              "latency_ms": bundle.control.latency_ms, "trained_lead_rad": list(bundle.task.command_lead_rad),
              "rows": []}

    def record(row: dict) -> None:
        report["rows"].append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
        args.out.with_suffix(".md").write_text(markdown(report))
        print(json.dumps(row), flush=True)

    t0 = time.perf_counter()
    env_row = run_env(bundle, seeds, env_config(bundle, trained_scene=True))
    record({"loop": "env", **row_record("env", env_row, time.perf_counter() - t0)})
    for name, lead_on, tracking_on in SETTINGS:
        t0 = time.perf_counter()
        tracking = TrackingLimit() if tracking_on else TrackingLimit(max_error=OFF_TRACKING_RAD)
        row = run_deploy(bundle, seeds, bundle.control.hz, bundle.control.latency_ms, arm=arm,
                         limits=limits_for(bundle, arm, lead_on), tracking=tracking)
        record({"loop": "deploy", "lead": lead_on, "tracking": tracking_on,
                **row_record(name, row, time.perf_counter() - t0)})


if __name__ == "__main__":
    main()
