"""How finely can the wrist camera say where the cube is, and which randomisation makes it hard?

The pick students' own cube guess is off by about 2 cm near the cube, and their teacher needs it
within about 5 mm (docs/pick.md). This bench separates the image from the policy: it trains a
localiser alone, the student's own encoder with a linear head, to say where the cube is from the
tool point (``aux_target``, the students' cube target) in single wrist frames, and measures its
error on frames of arm states it never saw, by distance from the tool. Each condition is a set of
env options (``--condition NAME=OVERRIDE,OVERRIDE``), so the same arm states and the same
training budget show what each randomisation costs.

Arm states come from the scripted grasp over the pick area, from the start pose, with action noise
so the approaches spread. Each state is then rendered with the cube moved up to 4 cm at a random
yaw in freshly randomised scenes (``liftrl.distill.cube_views``: the students' moved-cube views,
one frame each), through the env's camera noise and gain and the shared preprocessing. Held-out
frames come from other episodes' states and other scenes.

    MUJOCO_GL=egl python bench/cube_localiser.py --out bench/results/pick_cube_localiser
    MUJOCO_GL=egl python bench/cube_localiser.py --tiny      # seconds: the script end to end
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

BANDS = ((0.0, 0.03), (0.03, 0.08), (0.08, 0.2))  # tool-to-cube distance (m), as bench/student_cube_guess.py
CONFIG = "configs/student_pick.yaml"
DEFAULT_CONDITIONS = {
    "randomised": (),
    "mount_fixed": ("env.camera_shift_m=0",),
    "size_fixed": ("env.cube_sizes_mm=[30]",),
    "mount_5mm_size_fixed": ("env.camera_shift_m=0.005", "env.cube_sizes_mm=[30]"),
    "both_fixed": ("env.camera_shift_m=0", "env.cube_sizes_mm=[30]"),
}


def arm_states(episodes: int, seed: int, noise: float) -> dict[str, np.ndarray]:
    """``state``, ``privileged`` and episode index of every step with the cube resting on the table
    within 20 cm of the tool, from noisy scripted grasps over the pick area (the pick stage)."""
    from liftrl.config import env_with, load_config
    from liftrl.distill.cube_views import resting
    from liftrl.run.envs import make_env
    from liftrl.scripted import ScriptedGrasp

    cfg = load_config(CONFIG)
    env = make_env(env_with(cfg.env, {"observations": ["state", "privileged"], "num_envs": 1}))
    policy = ScriptedGrasp.for_env(env)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"state": [], "privileged": [], "episode": []}
    for ep in range(episodes):
        obs, info = env.reset(seed=seed * 100_000 + ep)
        policy.reset()
        done = False
        while not done:
            if resting(obs["privileged"][None])[0] and np.linalg.norm(obs["privileged"][:3] - obs["state"][12:15]) < 0.2:
                for key in ("state", "privileged"):
                    rows[key].append(np.asarray(obs[key], dtype=np.float32))
                rows["episode"].append(ep)
            action = policy.act(info)
            action[:3] = np.clip(action[:3] + rng.normal(0.0, noise, 3), -1.0, 1.0)
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
    env.close()
    return {k: np.asarray(v) for k, v in rows.items()}


def render_views(states: dict[str, np.ndarray], overrides: tuple[str, ...], count: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames uint8 (N, 3, H, W), targets (N, 3) in aux_target's decimetres, the views' ``privileged``)
    for ``count`` views of rows drawn from ``states``, in scenes of ``CONFIG``'s env with ``overrides``."""
    import torch

    from liftrl.agents.student import aux_target
    from liftrl.config import load_config
    from liftrl.distill.cube_views import ViewRenderer, ViewSettings, make_views

    cfg = load_config(CONFIG, list(overrides))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(states["state"]), size=int(count * 1.05) + 8)  # some placements touch the arm
    settings = ViewSettings(views=len(pick), shift_m=0.04, batch_fraction=0.5, frame_stack=1,
                            control_dt=1.0 / cfg.env.control_hz)
    renderer = ViewRenderer(cfg.env, settings)
    rows = {"state": states["state"][pick], "privileged": states["privileged"][pick]}

    def label(obs):
        return aux_target({k: torch.as_tensor(obs[k]) for k in ("state", "privileged")}).numpy()

    try:
        views = make_views(renderer, rows, label, rng)
    finally:
        renderer.close()
    if views is None or len(views) < count:
        raise SystemExit(f"only {0 if views is None else len(views)} of {count} views could be placed")
    return views.obs["pixels"][:count, -3:], views.labels[:count], views.obs["privileged"][:count]


def band_rms(errors_m: np.ndarray, distances_m: np.ndarray) -> list[dict]:
    """3-D RMS error (cm) per tool-to-cube distance band."""
    out = []
    for lo, hi in BANDS:
        m = (distances_m >= lo) & (distances_m < hi)
        if m.any():
            out.append({"from_cm": lo * 100, "to_cm": hi * 100, "frames": int(m.sum()),
                        "rms_3d_cm": round(float(np.sqrt((errors_m[m] ** 2).sum(1).mean())) * 100, 2)})
    return out


def train_localiser(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], updates: int,
                    seed: int, every: int) -> tuple[list[dict], float]:
    """The student's encoder (configs/student_pick.yaml's sizes) and a linear head, fitted to the
    targets with DrQ's random shift; the held-out curve every ``every`` updates, and the seconds taken."""
    import torch
    from torch import nn

    from liftrl.agents.augment import random_shift
    from liftrl.agents.student import AUX_SCALE
    from liftrl.agents.networks import Encoder
    from liftrl.config import load_config

    agent = load_config(CONFIG).agent
    torch.manual_seed(seed)
    encoder = Encoder(train[0].shape[1:], agent.encoder_channels, agent.encoder_layers, agent.encoder_keypoints)
    net = nn.Sequential(encoder, nn.Linear(encoder.repr_dim, agent.hidden_dim), nn.ReLU(),
                        nn.Linear(agent.hidden_dim, 3))
    opt = torch.optim.Adam(net.parameters(), lr=agent.lr)
    gen = torch.Generator().manual_seed(seed)
    frames, targets = torch.as_tensor(train[0]), torch.as_tensor(train[1])
    test_frames, test_targets = torch.as_tensor(test[0]), test[1]
    distances = np.linalg.norm(test_targets, axis=1) / AUX_SCALE
    curve, t0 = [], time.perf_counter()
    for step in range(1, updates + 1):
        idx = torch.randint(0, len(frames), (agent.batch_size,), generator=gen)
        x = random_shift(frames[idx].float(), agent.augment_pad, gen)
        loss = ((net(x) - targets[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % every == 0 or step == updates:
            with torch.no_grad():
                guess = torch.cat([net(test_frames[i:i + 512].float()) for i in range(0, len(test_frames), 512)]).numpy()
            curve.append({"updates": step, "train_loss": round(loss.item(), 5),
                          "bands": band_rms((guess - test_targets) / AUX_SCALE, distances)})
            print(f"  {step:5d} updates: loss {loss.item():.4f}, held-out 3-D RMS "
                  + ", ".join(f"{b['from_cm']:.0f}-{b['to_cm']:.0f} cm: {b['rms_3d_cm']:.2f}" for b in curve[-1]["bands"]),
                  flush=True)
    return curve, time.perf_counter() - t0


def parse_conditions(texts: list[str] | None) -> dict[str, tuple[str, ...]]:
    if not texts:
        return dict(DEFAULT_CONDITIONS)
    out = {}
    for text in texts:
        name, eq, rest = text.partition("=")
        if not name or not eq:
            raise SystemExit(f"--condition {text!r}: expected NAME=OVERRIDE[,OVERRIDE...] or NAME= (no overrides)")
        out[name] = tuple(o for o in rest.split(";") if o)
    return out


def write_report(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# Cube localiser: held-out 3-D RMS error of the cube guess (cm), {results['updates']} updates, "
             f"{results['train_frames']} training frames, {results['test_frames']} held-out", "",
             "| condition | env options | within 3 cm | 3-8 cm | 8-20 cm | train s |", "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results["conditions"].items():
        rms = {b["from_cm"]: b["rms_3d_cm"] for b in r["curve"][-1]["bands"]}
        lines.append(f"| {name} | {' '.join(r['overrides']) or '(configs/student_pick.yaml)'} | "
                     + " | ".join(f"{rms.get(lo * 100, float('nan')):.2f}" for lo, _ in BANDS)
                     + f" | {r['train_seconds']:.0f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None,
                   help="report stem (.json, .md; default bench/results/pick_cube_localiser, with --tiny none)")
    p.add_argument("--condition", action="append",
                   help="NAME=OVERRIDE;OVERRIDE (repeatable; default: " + ", ".join(DEFAULT_CONDITIONS) + ")")
    p.add_argument("--episodes", type=int, default=120, help="scripted episodes for arm states (a fifth held out)")
    p.add_argument("--train-frames", type=int, default=40000)
    p.add_argument("--test-frames", type=int, default=4000)
    p.add_argument("--updates", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads for the localiser (0: torch's default)")
    p.add_argument("--tiny", action="store_true", help="a few episodes, frames and updates: the script end to end")
    args = p.parse_args(argv)
    if args.tiny:
        args.episodes, args.train_frames, args.test_frames, args.updates = 5, 64, 32, 4
    elif args.out is None:
        args.out = Path("bench/results/pick_cube_localiser")
    conditions = parse_conditions(args.condition)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    states = arm_states(args.episodes, args.seed, noise=0.3)
    held = states["episode"] >= int(args.episodes * 0.8)
    split = {name: {k: v[mask] for k, v in states.items()} for name, mask in (("train", ~held), ("test", held))}
    print(f"{len(states['state'])} resting-cube arm states from {args.episodes} scripted episodes "
          f"({int(held.sum())} held out)", flush=True)
    results = {"config": CONFIG, "episodes": args.episodes, "threads": args.threads, "train_frames": args.train_frames,
               "test_frames": args.test_frames, "updates": args.updates, "seed": args.seed, "conditions": {}}
    for i, (name, overrides) in enumerate(conditions.items()):
        print(f"{name}: {' '.join(overrides) or 'as configured'}", flush=True)
        t0 = time.perf_counter()
        train = render_views(split["train"], overrides, args.train_frames, seed=args.seed * 1000 + 2 * i)[:2]
        test = render_views(split["test"], overrides, args.test_frames, seed=args.seed * 1000 + 2 * i + 1)[:2]
        render_s = time.perf_counter() - t0
        curve, train_s = train_localiser(train, test, args.updates, args.seed, every=max(1, args.updates // 8))
        results["conditions"][name] = {"overrides": list(overrides), "render_seconds": round(render_s, 1),
                                       "train_seconds": round(train_s, 1), "curve": curve}
        if args.out is not None:
            write_report(results, args.out)  # as it goes: a stopped run keeps its finished conditions


if __name__ == "__main__":
    main()
