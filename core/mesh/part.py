"""Reading STL parts (binary and ASCII), checking them, and the normalisation into the unit cube.

Every problem with an input file becomes a :class:`PartError` whose message is one plain line. The
normalisation is the seed's: centre the bounding box at the origin and scale so the farthest vertex
lies at radius 0.9. The :class:`Part` keeps that transform so results go back to original units.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NORMALISED_RADIUS = 0.9
_FLOAT = rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"


class PartError(ValueError):
    """A part that cannot be used; ``str()`` is one line for the user."""


@dataclass
class Part:
    """A triangle mesh in original units plus the transform into the normalised cube."""

    path: str
    vertices: np.ndarray  # (V, 3) float64, original units
    faces: np.ndarray  # (F, 3) int64
    center: np.ndarray  # (3,)
    scale: float  # normalised = (original - center) * scale

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def normalised_vertices(self) -> np.ndarray:
        return (self.vertices - self.center) * self.scale

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map normalised points back to the part's original coordinates."""
        return np.asarray(points, dtype=np.float64) / self.scale + self.center

    def to_normalised(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) * self.scale

    def length_to_original(self, value: float) -> float:
        """A distance in the normalised cube expressed in original units."""
        return float(value) / self.scale

    @property
    def bbox(self) -> tuple[list[float], list[float]]:
        return self.vertices.min(0).tolist(), self.vertices.max(0).tolist()

    @property
    def bbox_diagonal(self) -> float:
        lo, hi = self.bbox
        return float(np.linalg.norm(np.subtract(hi, lo)))


def read_stl(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Triangle corners of an STL file as (vertices, faces), duplicates merged; raises PartError."""
    path = Path(path)
    if not path.exists():
        raise PartError(f"{path}: no such file")
    if path.is_dir():
        raise PartError(f"{path}: is a folder, not an STL file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PartError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) == 0:
        raise PartError(f"{path}: the file is empty")
    tris = _parse_stl(data, path)
    if len(tris) == 0:
        raise PartError(f"{path}: the STL holds zero triangles")
    if not np.isfinite(tris).all():
        raise PartError(f"{path}: the STL has NaN or infinite vertex coordinates")
    return _merge(tris)


def _parse_stl(data: bytes, path: Path) -> np.ndarray:
    count = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0]) if len(data) >= 84 else -1
    if count >= 0 and len(data) == 84 + 50 * count:
        rec = np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
        return np.frombuffer(data, dtype=rec, count=count, offset=84)["v"].astype(np.float64)
    looks_text = b"\x00" not in data[:1024]
    if looks_text and data.lstrip()[:5].lower() == b"solid":
        return _parse_ascii(data, path)
    if looks_text or count < 0:
        raise PartError(f"{path}: not an STL file (neither ASCII 'solid ...' nor a binary STL)")
    expected = 84 + 50 * count
    if expected > 10 * len(data) + 1000:
        raise PartError(
            f"{path}: not an STL file (binary data whose header would announce {count} triangles, "
            f"{expected} bytes, in a file of {len(data)} bytes)"
        )
    if len(data) < expected:
        held = (len(data) - 84) // 50
        raise PartError(f"{path}: truncated binary STL: the header announces {count} triangles, the file holds {held}")
    raise PartError(
        f"{path}: the binary STL's triangle count ({count}) does not match the file size "
        f"({len(data)} bytes, expected {expected})"
    )


def _parse_ascii(data: bytes, path: Path) -> np.ndarray:
    text = data.lower()
    if b"\x00" in text[:4096]:
        raise PartError(f"{path}: not an STL file")
    rows = re.findall(rb"vertex\s+(" + _FLOAT + rb")\s+(" + _FLOAT + rb")\s+(" + _FLOAT + rb")", text)
    facets = len(re.findall(rb"\bfacet\b", text)) - len(re.findall(rb"\bendfacet\b", text))
    if not rows and not re.search(rb"\bfacet\b", text):
        if not text.lstrip().startswith(b"solid"):
            raise PartError(f"{path}: not an STL file")
        raise PartError(f"{path}: the STL holds zero triangles")
    if len(rows) % 3 or facets != 0 or b"endsolid" not in text:
        raise PartError(f"{path}: truncated or malformed ASCII STL ({len(rows)} vertex lines)")
    verts = np.array([[float(x) for x in r] for r in rows], dtype=np.float64)
    return verts.reshape(-1, 3, 3)


def _merge(tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    corners = tris.reshape(-1, 3)
    verts, inverse = np.unique(corners, axis=0, return_inverse=True)
    return verts, inverse.reshape(-1, 3).astype(np.int64)


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def load_part(path: str | os.PathLike) -> Part:
    """Read, check and normalise a part; raises PartError with a one-line message."""
    verts, faces = read_stl(path)
    extent = verts.max(0) - verts.min(0)
    if float(extent.max()) <= 0.0:
        raise PartError(f"{path}: the part has no extent (all vertices lie in one point)")
    areas = face_areas(verts, faces)
    tiny = areas <= (float(extent.max()) ** 2) * 1e-14
    if tiny.all():
        raise PartError(f"{path}: every triangle is degenerate (zero area); there is no surface to fit")
    center = 0.5 * (verts.max(0) + verts.min(0))
    radius = float(np.linalg.norm(verts - center, axis=1).max())
    return Part(path=str(path), vertices=verts, faces=faces, center=center, scale=NORMALISED_RADIUS / radius)


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a mesh as binary PLY or binary STL (by suffix) atomically, with numpy alone (fast: no
    exporter modules to import, a few milliseconds for a million faces)."""
    from isoscope.core.runs.rundir import atomic_path

    path = Path(path)
    v = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    f = np.ascontiguousarray(faces, dtype="<i4").reshape(-1, 3)
    kind = path.suffix.lower()
    if kind not in (".ply", ".stl"):
        raise ValueError(f"cannot write {path.name}: use .ply or .stl")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        if kind == ".ply":
            header = ("ply\nformat binary_little_endian 1.0\n"
                      f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
                      f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n")  # fmt: skip
            fh.write(header.encode("ascii"))
            fh.write(v.tobytes())
            rows = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
            rows["n"], rows["idx"] = 3, f
            fh.write(rows.tobytes())
        else:
            tri = v[f]
            normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
            rows = np.zeros(len(f), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])
            rows["n"], rows["v"] = normal, tri
            fh.write(b"isoscope mesh".ljust(80, b" "))
            fh.write(np.uint32(len(f)).astype("<u4").tobytes())
            fh.write(rows.tobytes())
