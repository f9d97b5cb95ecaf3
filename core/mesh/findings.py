"""The findings of a health report: each check's count, a sentence for the user and highlight geometry.

A finding is a JSON-ready dict: ``kind``, ``severity`` (error, warning, info), ``count``, ``title``,
``message`` (what it does to the fit and what to do) and geometry for the inspector's viewport:
``edges`` (vertex index pairs), ``segments`` (pairs of points in original units), ``faces`` (face
indices), ``points`` (original units), ``vertices`` (indices). Lists are capped at GEOMETRY_CAP entries;
``truncated`` is true when a list was cut.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from isoscope.core.mesh import checks as hc
from isoscope.core.mesh.part import Part, face_areas

GEOMETRY_CAP = 2000


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _cap(values: np.ndarray) -> tuple[list, bool]:
    values = np.asarray(values)
    return values[:GEOMETRY_CAP].tolist(), len(values) > GEOMETRY_CAP


def _finding(kind: str, severity: str, count: int, title: str, message: str, **geometry: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "severity": severity, "count": int(count), "title": title,
                           "message": message}  # fmt: skip
    truncated = False
    for key, value in geometry.items():
        if isinstance(value, np.ndarray):
            out[key], cut = _cap(value)
            truncated |= cut
        else:
            out[key] = value
    out["truncated"] = truncated
    return out


def _edge_geometry(part: Part, edges: np.ndarray) -> dict[str, np.ndarray]:
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return {"edges": edges, "segments": part.vertices[edges]}


def _face_geometry(part: Part, faces: np.ndarray) -> dict[str, np.ndarray]:
    faces = np.asarray(faces, dtype=np.int64)
    return {"faces": faces, "points": part.vertices[part.faces[faces]].mean(1)}


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def findings(part: Part, rep: dict[str, Any], resolution: int, topo: hc.Topology | None = None) -> list[dict[str, Any]]:
    """Every finding with a non-zero count, then the scale note; ``rep`` is :func:`basic_health` output
    and ``topo`` the faces' edge table when the caller has it already."""
    verts, faces = part.vertices, part.faces
    cell = float(rep["grid_cell"])
    res = int(resolution)
    topo = hc.topology(faces) if topo is None else topo
    out: list[dict[str, Any]] = []
    labels = hc.bodies(len(verts), faces)
    face_open = (topo.counts[topo.half_edge] == 1).reshape(-1, 3).any(1)
    flipped, broken = hc.orientation(faces, topo)
    face_flipped = np.zeros(len(faces), dtype=bool)
    face_flipped[flipped] = True

    loops = hc.boundary_loops(topo)
    if loops:
        open_idx = np.concatenate(loops)
        rim = max(float(np.linalg.norm(np.ptp(verts[topo.edges[lp]].reshape(-1, 3), axis=0))) for lp in loops)
        holes = _plural(len(loops), "hole")
        out.append(_finding(
            "open_edges", "warning", len(open_idx), f"Open mesh: {_plural(len(open_idx), 'open edge')}, {holes}",
            f"open mesh: inside/outside comes from winding numbers; expect a skin over the {holes} "
            f"(largest rim {_fmt(rim)} units). Close the holes in the CAD export if the part should be open "
            "there, or accept the skin.",
            loops=len(loops), loop_sizes=[int(len(lp)) for lp in loops[:100]],
            **_edge_geometry(part, topo.edges[open_idx]),
        ))  # fmt: skip

    nm = np.flatnonzero(topo.counts > 2)
    if len(nm):
        out.append(_finding(
            "non_manifold_edges", "warning", len(nm), f"{_plural(len(nm), 'non-manifold edge')}",
            f"more than two faces meet at {_plural(len(nm), 'edge')}: the distance field sees touching or "
            "doubled walls there, so expect a merged seam or a thin web at those edges. Separate the bodies "
            "or remove the doubled faces in the CAD export.",
            **_edge_geometry(part, topo.edges[nm]),
        ))  # fmt: skip

    nmv = hc.non_manifold_vertices(faces, topo)
    if len(nmv):
        out.append(_finding(
            "non_manifold_vertices", "info", len(nmv),
            _plural(len(nmv), "non-manifold vertex", "non-manifold vertices"),
            f"{_plural(len(nmv), 'vertex', 'vertices')} {_verb(len(nmv), 'joins', 'join')} surfaces that touch "
            "only at a point or an edge: the fit fuses them into one blob about a grid cell wide there. "
            "Harmless unless the gap matters; then separate the pieces.",
            vertices=nmv, points=verts[nmv],
        ))  # fmt: skip

    out.extend(_body_findings(part, labels, face_open, face_flipped, cell, res))

    areas = face_areas(verts, faces)
    degenerate = np.flatnonzero(areas <= (part.bbox_diagonal**2) * 1e-12)
    if len(degenerate):
        out.append(_finding(
            "degenerate_faces", "info", len(degenerate), f"{_plural(len(degenerate), 'degenerate face')}",
            f"{_plural(len(degenerate), 'triangle')} {_verb(len(degenerate), 'has', 'have')} zero area: "
            "sampling and the distance ignore them, so the fit is unaffected; they mark a sloppy export "
            "(cleaning them is optional).",
            **_face_geometry(part, degenerate),
        ))  # fmt: skip

    dup = hc.duplicate_faces(faces)
    if len(dup):
        out.append(_finding(
            "duplicate_faces", "warning", len(dup), f"{_plural(len(dup), 'duplicate face')}",
            f"{_plural(len(dup), 'face')} {_verb(len(dup), 'repeats', 'repeat')} another face's corners: the "
            "winding number counts those patches twice (or cancels them when reversed), so expect a bump "
            "or a hole there. Remove the duplicates (MeshLab: Remove Duplicate Faces).",
            **_face_geometry(part, dup),
        ))  # fmt: skip

    if len(flipped) or broken:
        bad_edges = int(rep["inconsistent_winding_edges"])
        extra = f"; {_plural(broken, 'patch', 'patches')} cannot be oriented at all" if broken else ""
        out.append(_finding(
            "inconsistent_winding", "warning", len(flipped),
            f"Inconsistent winding: {_plural(len(flipped), 'face')} flipped",
            f"{_plural(len(flipped), 'face')} {_verb(len(flipped), 'is', 'are')} wound against their neighbours "
            f"({_plural(bad_edges, 'edge')} disagree{extra}): the winding-number sign is wrong near them, so "
            "expect a dent, bulge or hole there. Re-orient the faces coherently (MeshLab: Re-Orient all "
            "faces coherently).",
            edges_count=bad_edges, non_orientable=broken, **_face_geometry(part, flipped),
        ))  # fmt: skip

    out.append(_thin_finding(part, cell, res))
    out = [f for f in out if f is not None and f["count"] > 0]
    lo, hi = np.asarray(rep["bbox_min"]), np.asarray(rep["bbox_max"])
    size = " × ".join(_fmt(v) for v in hi - lo)
    out.append(_finding(
        "scale", "info", 0, f"Size {size} units",
        f"bounding box {size} units (diagonal {_fmt(part.bbox_diagonal)}); the fit scales it into the unit cube "
        f"(factor {_fmt(part.scale)}), so one cell of the {res}³ reconstruction grid is {_fmt(cell)} units.",
        bbox_min=lo.tolist(), bbox_max=hi.tolist(), diagonal=part.bbox_diagonal, cell=cell,
    ))  # fmt: skip
    return out


def _body_findings(
    part: Part, labels: np.ndarray, face_open: np.ndarray, face_flipped: np.ndarray, cell: float, res: int
) -> list[dict[str, Any]]:
    verts, faces = part.vertices, part.faces
    bodies = hc.classify_bodies(verts, faces, labels, face_open, face_flipped)
    info = bodies["info"]
    count = len(info)
    out: list[dict[str, Any]] = []

    def faces_of(ids: list[int]) -> dict[str, np.ndarray]:
        return _face_geometry(part, np.flatnonzero(np.isin(labels, ids)))

    if count > 1:
        sizes = ", ".join(str(b["faces"]) for b in info[:5]) + (", ..." if count > 5 else "")
        out.append(_finding(
            "bodies", "info", count, f"{count} bodies",
            f"the part holds {count} separate bodies ({sizes} faces): the fit is their union, so touching or "
            "overlapping bodies merge and walls between them disappear. Fine for an assembly; split it if "
            "each body should be fitted alone.",
            body_list=info[:50],
        ))  # fmt: skip
        small = [b for b in info if b["diagonal"] < max(2.0 * cell, 0.02 * part.bbox_diagonal)]
        if small:
            big = np.flatnonzero([b not in small for b in info])
            bulk = verts[np.unique(faces[np.isin(labels, big)])] if len(big) else verts
            stretch = part.bbox_diagonal / max(float(np.linalg.norm(np.ptp(bulk, axis=0))), 1e-300)
            far = (f" {_verb(len(small), 'It stretches', 'They stretch')} the bounding box {stretch:.1f}×, so "
                   f"the bulk gets only 1/{stretch:.1f} of the grid in each direction: remove "
                   f"{_verb(len(small), 'it', 'them')} or fit {_verb(len(small), 'it', 'them')} apart."
                   if stretch > 1.2 else " Remove them if they are debris.")  # fmt: skip
            ids = [b["body"] for b in small]
            out.append(_finding(
                "small_bodies", "warning", len(small), f"{_plural(len(small), 'small body', 'small bodies')}",
                f"{_plural(len(small), 'body', 'bodies')} smaller than two grid cells or 2% of the part "
                f"(smallest {_fmt(min(b['diagonal'] for b in small))} units) will vanish or become blobs at "
                f"{res}³.{far}",
                bodies=ids, stretch=stretch, **faces_of(ids),
            ))  # fmt: skip
    pairs = bodies["pairs"]
    if pairs:
        note = "" if bodies["complete"] else " (only some pairs were checked)"
        out.append(_finding(
            "overlapping_bodies", "warning", len(pairs), f"{_plural(len(pairs), 'overlapping pair')} of bodies",
            f"{_plural(len(pairs), 'pair')} of bodies {_verb(len(pairs), 'overlaps', 'overlap')}{note}: the "
            "winding number counts the shared volume twice, which still reads as inside, so the fit shows "
            "their union and the buried walls vanish. Merge the bodies (boolean union) if those walls matter.",
            pairs=[list(p) for p in pairs], **faces_of(sorted({i for p in pairs for i in p})),
        ))  # fmt: skip
    cavities = bodies["cavities"]
    if cavities:
        out.append(_finding(
            "cavities", "info", len(cavities), f"{_plural(len(cavities), 'cavity', 'cavities')}",
            f"{_plural(len(cavities), 'inner shell')} {_verb(len(cavities), 'faces', 'face')} inward inside "
            "another body: a hollow, which the fit keeps (walls thinner than a grid cell may close up). "
            "Nothing to do unless the part should be solid.",
            bodies=cavities, **faces_of(cavities),
        ))  # fmt: skip
    inverted = bodies["inverted"]
    if inverted:
        whole = "the whole part is" if len(inverted) == count else f"{_plural(len(inverted), 'body', 'bodies')} are"
        out.append(_finding(
            "inverted_bodies", "error", len(inverted), f"Inside-out: {_plural(len(inverted), 'body', 'bodies')}",
            f"{whole} inside-out (negative volume, normals point inward): read as they are, the winding number "
            "finds no inside there. The fit turns them the right way before sampling (its log says so); "
            "other tools will not, so flip the normals in the file (MeshLab: Invert Faces Orientation).",
            bodies=inverted, **faces_of(inverted),
        ))  # fmt: skip
    return out


def _thin_finding(part: Part, cell: float, res: int) -> dict[str, Any] | None:
    thin = hc.thin_walls(part.vertices, part.faces, cell)
    if thin["regions"] == 0:
        return None
    need = 1 + 2.0 / (part.scale * max(thin["min_thickness"], 1e-300))  # grid whose cell fits the wall
    need = int(np.ceil(need / 32.0) * 32)
    return _finding(
        "thin_features", "warning", thin["regions"],
        f"{_plural(thin['regions'], 'region')} thinner than a grid cell",
        f"{_plural(thin['regions'], 'region')} ({100 * thin['share']:.1f}% of the surface) "
        f"{_verb(thin['regions'], 'is', 'are')} thinner than one "
        f"cell ({_fmt(cell)} units) of the {res}³ grid, thinnest about {_fmt(thin['min_thickness'])} units: "
        f"marching cubes cannot resolve them, so expect holes or a missing fin there. Reconstruct at "
        f"{min(need, 2048)}³ or more, or accept the loss.",
        min_thickness=thin["min_thickness"], surface_share=thin["share"], samples=thin["samples"],
        points=thin["points"], faces=thin["faces"],
    )  # fmt: skip
