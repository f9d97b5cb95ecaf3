"""Mesh health of a part: what is wrong with the mesh, what it does to the fit, and what to do.

``basic_health`` gives the counts; ``report`` adds the findings: a list of dicts with a kind, a
severity, a count, a plain sentence (effect on the fit + what to do) and geometry for highlighting
(vertex index pairs and segments in original units, face indices, points), capped at
:data:`GEOMETRY_CAP` entries each. Results are plain JSON-serialisable dicts; nothing here needs torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from core.health_checks import unique_pairs
from core.health_findings import GEOMETRY_CAP, findings
from core.meshio import Part, face_areas


def edge_table(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique undirected edges (E, 2), how many faces use each, and the directed-use imbalance."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    edges, inverse, counts = unique_pairs(undirected)
    forward = (directed[:, 0] < directed[:, 1]).astype(np.int64) * 2 - 1
    balance = np.bincount(inverse, weights=forward, minlength=len(edges))
    return edges, counts, balance


def bodies(vertex_count: int, faces: np.ndarray) -> np.ndarray:
    """Component label per face (faces connected through shared vertices)."""
    rows = np.repeat(faces[:, 0], 2)
    cols = faces[:, 1:].ravel()
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(vertex_count, vertex_count))
    _, labels = connected_components(graph, directed=False)
    return labels[faces[:, 0]]


def basic_health(part: Part) -> dict[str, Any]:
    """Faces, bodies, open/non-manifold edges, degenerate faces, watertight, winding, bounding box."""
    verts, faces = part.vertices, part.faces
    edges, counts, balance = edge_table(faces)
    areas = face_areas(verts, faces)
    diag = part.bbox_diagonal
    degenerate = int((areas <= (diag**2) * 1e-12).sum())
    labels = bodies(len(verts), faces)
    body_sizes = np.bincount(labels)
    body_sizes = sorted((int(s) for s in body_sizes[body_sizes > 0]), reverse=True)
    open_edges = int((counts == 1).sum())
    nonmanifold = int((counts > 2).sum())
    manifold_pairs = counts == 2
    inconsistent = int((manifold_pairs & (balance != 0)).sum())
    lo, hi = part.bbox
    return {
        "part": part.path,
        "vertices": int(len(verts)),
        "faces": int(len(faces)),
        "bodies": len(body_sizes),
        "body_faces": body_sizes,
        "open_edges": open_edges,
        "non_manifold_edges": nonmanifold,
        "degenerate_faces": degenerate,
        "inconsistent_winding_edges": inconsistent,
        "watertight": open_edges == 0 and nonmanifold == 0,
        "bbox_min": lo,
        "bbox_max": hi,
        "bbox_diagonal": diag,
        "surface_area": float(areas.sum()),
    }


def report(part: Part, resolution: int = 256) -> dict[str, Any]:
    """The health report: basic counts, per-check counts ("checks") and the findings list."""
    rep = basic_health(part)
    rep["resolution"] = int(resolution)
    rep["grid_cell"] = part.length_to_original(2.0 / max(2, int(resolution) - 1))
    rep["scale"] = part.scale
    found = findings(part, rep, resolution)
    rep["checks"] = {f["kind"]: f["count"] for f in found if f["kind"] != "scale"}
    rep["findings"] = found
    rep["geometry_cap"] = GEOMETRY_CAP
    return rep


def report_text(rep: dict[str, Any]) -> str:
    """The report as plain text: the counts, then one paragraph per finding."""
    keys = ("faces", "vertices", "bodies", "open_edges", "non_manifold_edges", "degenerate_faces",
            "inconsistent_winding_edges", "watertight", "bbox_diagonal")  # fmt: skip
    lines = [f"{k:28s} {rep[k]}" for k in keys if k in rep]
    for f in rep.get("findings", []):
        lines.append("")
        lines.append(f"[{f['severity']}] {f['title']}")
        lines.append(f"    {f['message']}")
    return "\n".join(lines)
