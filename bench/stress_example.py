"""An example ``liftrl stress`` report without a trained policy: two small bundles made like the tests do.

No trained run was on disk when the stress report was written, so these show the report end to
end, not a policy's robustness:

- ``untrained``: a tiny DrQ-v2 actor (pixels + state, 32x32, seed 0) straight from initialisation,
  stage 3 (grasp from above the cube). It fails everywhere; the report shows that and nothing more.
- ``hold``: the same tiny actor with its last layer set to a constant "stay, gripper closed" and
  stage 1 (the cube starts closed in the gripper at lift height, hold 20 ticks). A hand-set policy
  that never reads its image: the report must flag the image checks (it succeeds without a
  useful image) and shows which scene changes a held cube is sensitive to (its size under the
  grasp rule, its mass, the servos, the pads' friction).

    python bench/stress_example.py --kind hold --episodes 10 --out bench/results/stress_example/hold
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

from liftrl.agents import DrQV2Config, make_agent
from liftrl.cli import main as liftrl_main
from liftrl.deploy.bundle import export_snapshot
from liftrl.run.snapshot import RUN_SNAPSHOT_FORMAT

TINY = DrQV2Config(feature_dim=8, hidden_dim=16, encoder_channels=4, encoder_layers=2, batch_size=4)
SHAPES = {"pixels": (6, 32, 32), "state": (18,)}
KINDS = {
    "untrained": {"curriculum_stage": 3, "hold_steps": 20, "max_episode_steps": 100},
    "hold": {"curriculum_stage": 1, "hold_steps": 20, "max_episode_steps": 60},
}


def make_bundle(kind: str, out: Path) -> Path:
    agent = make_agent(TINY, SHAPES, 4, ("pixels", "state"), ("pixels", "state"), "cpu", seed=0)
    state = agent.state_dict()
    if kind == "hold":  # the last layer of the actor's MLP: weights 0, bias tanh^-1 of [0, 0, 0, -1]
        last = max(k for k in state["actor"] if k.startswith("policy.") and k.endswith(".weight"))
        state["actor"][last] = torch.zeros_like(state["actor"][last])
        state["actor"][last.replace("weight", "bias")] = torch.tensor([0.0, 0.0, 0.0, -5.0])
    env = {**KINDS[kind], "lift_height": 0.08, "image_size": 32, "frame_stack": 2, "reward": "v19"}
    meta = {"format": RUN_SNAPSHOT_FORMAT, "agent": TINY.name, "env_steps": 0,
            "reward": {"name": "v19", "fingerprint": "example"},
            "observations": {"actor": ["pixels", "state"], "critic": ["pixels", "state"],
                             "shapes": {k: list(v) for k, v in SHAPES.items()}},
            "action_dim": 4, "config": {"env": env, "agent": dataclasses.asdict(TINY)}}
    return export_snapshot({"agent": state}, meta, out / f"bundle_{kind}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=sorted(KINDS), default="hold")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--only", default=None)
    p.add_argument("--workers", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = make_bundle(args.kind, Path(tmp))
        cmd = ["stress", str(bundle), "--episodes", str(args.episodes), "--out", args.out]
        cmd += ["--only", args.only] if args.only else []
        cmd += ["--workers", args.workers] if args.workers else []
        return liftrl_main(cmd)


if __name__ == "__main__":
    sys.exit(main())
