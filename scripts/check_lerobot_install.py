"""Check the real-arm install: adding liftrl to a LeRobot environment changes none of LeRobot's core packages.

Usage (what .ci/run does; the two reports come from ``pip install --dry-run --ignore-installed --report``):

    python scripts/check_lerobot_install.py LEROBOT_ALONE.json LEROBOT_WITH_LIFTRL.json

The first report resolves ``lerobot[feetech]==0.4.4`` alone (a LeRobot user's environment), the second
the same plus ``-e .`` (that environment after ``pip install -e .`` of liftrl, docs/real-arm.md). If
liftrl's pins bound torch, numpy, OpenCV or torchvision, the second resolution would pick other
versions of them: that fails the check. Other packages that differ are listed (liftrl's own
dependencies may add to, but should not change, LeRobot's).
"""

from __future__ import annotations

import json
import sys

CORE = ("torch", "torchvision", "numpy", "opencv-python-headless")


def versions(report_path: str) -> dict[str, str]:
    with open(report_path) as f:
        report = json.load(f)
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
            for item in report["install"]}


def main(alone_path: str, together_path: str) -> int:
    alone, together = versions(alone_path), versions(together_path)
    if "liftrl" not in together:
        print(f"{together_path}: liftrl is not in the resolution", file=sys.stderr)
        return 1
    moved = {name: (alone.get(name), together.get(name)) for name in CORE if alone.get(name) != together.get(name)}
    others = {n: (v, together[n]) for n, v in alone.items() if n in together and together[n] != v and n not in CORE}
    print("LeRobot alone -> with liftrl: " + ", ".join(f"{n} {alone.get(n)} -> {together.get(n)}" for n in CORE))
    if others:
        print(f"note: other packages resolve differently with liftrl: {others}")
    if moved:
        print(f"installing liftrl into a LeRobot environment would change {moved}: fix liftrl's pins", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
