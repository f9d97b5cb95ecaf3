"""Generates the sample parts in resources/parts/ (binary STL): sphere, torus, box and a bracket.

Run: python resources/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent / "parts"


def bracket() -> trimesh.Trimesh:
    """An L-shaped bracket with a through hole: one closed body, made of a swept outline."""
    outline = np.array([[0, 0], [60, 0], [60, 8], [8, 8], [8, 40], [0, 40]], dtype=float)
    mesh = trimesh.creation.extrude_triangulation(
        outline, np.array([[0, 1, 2], [0, 2, 3], [0, 3, 5], [3, 4, 5]]), height=30.0
    )
    mesh.fix_normals()
    return mesh


def parts() -> dict[str, trimesh.Trimesh]:
    return {
        "sphere": trimesh.creation.icosphere(subdivisions=4, radius=1.0),
        "torus": trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=64, minor_sections=24),
        "box": trimesh.creation.box(extents=(2.0, 1.0, 0.5)),
        "bracket": bracket(),
    }


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, mesh in parts().items():
        assert mesh.is_watertight and mesh.volume > 0, name
        mesh.export(HERE / f"{name}.stl")
        print(f"{name}.stl: {len(mesh.faces)} faces")


if __name__ == "__main__":
    main()
