"""The student's regression step: milliseconds per update by image size and encoder width, float32 and bfloat16.

Run: ``python bench/student_update.py [--repeats 5] [--batch 128] [--threads 1]``

Why: the image size and channel count in ``configs/student.yaml`` are chosen by what one update
costs on a small CPU, and ``train.amp`` changes that cost; this prints both, measured in the same
run on the same batches (the agent ``liftrl distill`` builds, ``student.yaml``'s other settings,
inputs ``pixels``, ``state`` and ``last_actions``). bfloat16 rows appear where ``train.amp`` takes
effect (CUDA, or a CPU with native bfloat16); the ratio is float32 time over bfloat16 time.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from common import machine_line, median, rate  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((32, 16), (64, 16), (64, 32), (84, 32))  # (image size, encoder channels)


def labelled_batch(rng: np.random.Generator, size: int, batch: int) -> dict:
    """A distillation batch in the replay buffer's layout: the student's inputs and the teacher's labels."""
    return {"obs": {"pixels": rng.integers(0, 256, (batch, 9, size, size), dtype=np.uint8),
                    "state": rng.standard_normal((batch, 18)).astype(np.float32),
                    "last_actions": rng.uniform(-1, 1, (batch, 12)).astype(np.float32)},
            "action": rng.uniform(-1, 1, (batch, 4)).astype(np.float32)}


def ms_per_update(size: int, channels: int, amp: bool, args) -> float:
    """Median over repeats of the milliseconds per update, each repeat ``args.seconds`` of updates."""
    from liftrl.agents import make_agent
    from liftrl.config import load_config

    cfg = load_config(str(ROOT / "configs" / "student.yaml"), [])
    agent_cfg = dataclasses.replace(cfg.agent, encoder_channels=channels, batch_size=args.batch)
    shapes = {"pixels": (9, size, size), "state": (18,), "last_actions": (12,)}
    agent = make_agent(agent_cfg, shapes, 4, ("pixels", "state", "last_actions"), (), args.device, seed=0, amp=amp)
    batch = labelled_batch(np.random.default_rng(0), size, args.batch)
    return median(1e3 / rate(lambda: agent.update(batch, 0), args.seconds, warmup=1) for _ in range(args.repeats))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per repeat (at least one update)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tiny", action="store_true", help="16x16, batch 8, 2 short repeats: checks the script")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = ((16, 4),) if args.tiny else SIZES
    if args.tiny:
        args.repeats, args.seconds, args.batch = 2, 0.05, 8

    from liftrl.agents.precision import cpu_has_native_bf16

    amp = torch.device(args.device).type == "cuda" or cpu_has_native_bf16()  # where train.amp takes effect
    print(machine_line())
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} thread(s); student update, batch "
          f"{args.batch}, pixels 9xSxS + state + last_actions, medians of {args.repeats} repeats of >= {args.seconds:g} s")
    for size, channels in sizes:
        fp32 = ms_per_update(size, channels, False, args)
        line = f"{size}x{size}, {channels:2d} channels: float32 {fp32:7.1f} ms"
        if amp:
            bf16 = ms_per_update(size, channels, True, args)
            line += f", bfloat16 {bf16:7.1f} ms, {fp32 / bf16:.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
