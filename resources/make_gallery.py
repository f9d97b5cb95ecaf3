"""Generates the gallery of problematic parts in resources/gallery/ (binary STL), deterministically.

Each part carries one defect that real CAD exports have; tests/test_health.py checks the exact counts
that ``isoscope-inspect`` reports for each. Run: python resources/make_gallery.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent / "gallery"
Mesh = tuple[np.ndarray, np.ndarray]


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> Mesh:
    """A closed, outward-wound box of 12 triangles."""
    lo_, hi_ = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(bounds=np.stack([lo_, hi_]))
    return np.asarray(m.vertices, float), np.asarray(m.faces, np.int64)


def join(*meshes: Mesh) -> Mesh:
    verts, faces, offset = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def open_box() -> Mesh:
    """A box without its top: 4 open edges forming one hole."""
    v, f = box((0, 0, 0), (1, 1, 1))
    top = v[f].mean(1)[:, 2] > 0.999
    return v, f[~top]


def flipped_faces() -> Mesh:
    """A box with the two triangles of its +x side wound the wrong way."""
    v, f = box((0, 0, 0), (1, 1, 1))
    side = v[f].mean(1)[:, 0] > 0.999
    f[side] = f[side][:, ::-1]
    return v, f


def two_overlapping_bodies() -> Mesh:
    """Two closed boxes that interpenetrate (half of each inside the other's reach)."""
    return join(box((0, 0, 0), (1, 1, 1)), box((0.5, 0.3, 0.2), (1.5, 1.3, 1.2)))


def thin_fin() -> Mesh:
    """One closed body: a block with a fin 0.004 thick on top (thinner than a cell of a 256³ grid)."""
    outline = np.array([[0, 0], [1, 0], [1, 0.4], [0.502, 0.4], [0.502, 1.0], [0.498, 1.0], [0.498, 0.4], [0, 0.4]])
    tris = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 6], [0, 6, 7], [3, 4, 5], [3, 5, 6]])
    m = trimesh.creation.extrude_triangulation(outline, tris, height=1.0)
    verts = np.asarray(m.vertices, float)[:, [0, 2, 1]]  # the fin points up (+z)
    return verts, np.asarray(m.faces, np.int64)[:, ::-1].copy()  # swapping two axes mirrors: re-wind


def degenerate_triangles() -> Mesh:
    """A closed box with zero-area slivers on 3 edges: each edge a-b split at its midpoint m on one side,
    and the sliver (a, b, m) closing the seam, as CAD exporters do along T-junctions."""
    v, f = box((0, 0, 0), (1, 1, 1))
    verts, faces = list(v), [list(t) for t in f]
    done = 0
    for fi in range(len(f)):
        if done == 3:
            break
        a, b, c = faces[fi]
        if len(set((a, b, c))) < 3 or fi % 4:  # every fourth face, so the split faces are far apart
            continue
        verts.append((v[a] + v[b]) / 2.0)
        m = len(verts) - 1
        faces[fi] = [a, m, c]
        faces += [[m, b, c], [a, b, m]]
        done += 1
    return np.asarray(verts), np.asarray(faces, np.int64)


def non_manifold_edge() -> Mesh:
    """Two boxes touching along one edge: that edge is shared by four faces."""
    return join(box((0, 0, 0), (1, 1, 1)), box((1, 1, 0), (2, 2, 1)))


def inside_out() -> Mesh:
    """A closed box with every face wound inward (negative volume)."""
    v, f = box((0, 0, 0), (1, 1, 1))
    return v, f[:, ::-1].copy()


def tiny_far_detail() -> Mesh:
    """A unit block and a 0.03 cube 2.5 units away: the detail stretches the bounding box."""
    return join(box((0, 0, 0), (1, 1, 1)), box((3.5, 0.485, 0.485), (3.53, 0.515, 0.515)))


def duplicate_faces() -> Mesh:
    """A closed box with one triangle repeated."""
    v, f = box((0, 0, 0), (1, 1, 1))
    return v, np.concatenate([f, f[:1]])


def parts() -> dict[str, Mesh]:
    return {
        "open_box": open_box(),
        "flipped_faces": flipped_faces(),
        "two_overlapping_bodies": two_overlapping_bodies(),
        "thin_fin": thin_fin(),
        "degenerate_triangles": degenerate_triangles(),
        "non_manifold_edge": non_manifold_edge(),
        "inside_out": inside_out(),
        "tiny_far_detail": tiny_far_detail(),
        "duplicate_faces": duplicate_faces(),
    }


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, (v, f) in parts().items():
        mesh = trimesh.Trimesh(vertices=v, faces=f, process=False, validate=False)
        mesh.export(HERE / f"{name}.stl")
        print(f"{name}.stl: {len(f)} faces")


if __name__ == "__main__":
    main()
