"""Ray parity against the winding number on every part of a folder that qualifies for parity.

    python benchmarks/parity_check.py FOLDER [--points 20000]

For each STL below FOLDER: the health report at 128^3, whether it qualifies for the parity sign
(``distance.parity_is_safe``), and for those that do, the sign of both methods at the same uniform
points of the normalised cube. Prints one line per qualifying part that disagrees and a total.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from isoscope.core.mesh.health import report
from isoscope.core.mesh.part import load_part
from isoscope.core.sdf.distance import MeshSDF, parity_is_safe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--points", type=int, default=20_000)
    args = ap.parse_args()
    parts = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() == ".stl")
    qualify = agree = 0
    for path in parts:
        part = load_part(str(path))
        if not parity_is_safe(report(part, 128)):
            continue
        qualify += 1
        x = torch.rand(args.points, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
        winding = MeshSDF(part.normalised_vertices, part.faces, "cpu", "winding")(x, report=False)
        parity = MeshSDF(part.normalised_vertices, part.faces, "cpu", "parity")(x, report=False)
        differ = (winding < 0) != (parity < 0)
        if differ.any():
            print(f"{path.relative_to(args.folder)}: {int(differ.sum())} signs differ, "
                  f"|d| at most {float(winding[differ].abs().max()):.2e}", flush=True)  # fmt: skip
        else:
            agree += 1
    print(f"{len(parts)} parts, {qualify} qualify for parity, {agree} of them agree at every point")


if __name__ == "__main__":
    main()
