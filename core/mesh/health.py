"""Mesh health of a part: what is wrong with the mesh, what it does to the fit, and what to do.

``basic_health`` gives the counts; ``report`` adds the findings: a list of dicts with a kind, a
severity, a count, a plain sentence (effect on the fit + what to do) and geometry for highlighting
(vertex index pairs and segments in original units, face indices, points), capped at
:data:`GEOMETRY_CAP` entries each. Results are plain JSON-serialisable dicts; nothing here needs torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from isoscope.core.mesh import checks as hc
from isoscope.core.mesh.findings import GEOMETRY_CAP, findings
from isoscope.core.mesh.part import Part, face_areas


def basic_health(part: Part, topo: hc.Topology | None = None) -> dict[str, Any]:
    """Faces, bodies, open/non-manifold edges, degenerate faces, watertight, winding, bounding box.

    ``topo`` is the faces' edge table when the caller has it already (:func:`report` shares one).
    """
    verts, faces = part.vertices, part.faces
    topo = hc.topology(faces) if topo is None else topo
    counts = topo.counts
    balance = np.bincount(topo.half_edge, weights=np.where(topo.forward, 1, -1), minlength=len(counts))
    areas = face_areas(verts, faces)
    diag = part.bbox_diagonal
    degenerate = int((areas <= (diag**2) * 1e-12).sum())
    body_sizes = np.bincount(hc.bodies(len(verts), faces))
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
    topo = hc.topology(part.faces)
    rep = basic_health(part, topo)
    rep["resolution"] = int(resolution)
    rep["grid_cell"] = part.length_to_original(2.0 / max(2, int(resolution) - 1))
    rep["scale"] = part.scale
    found = findings(part, rep, resolution, topo)
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
