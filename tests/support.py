"""Helpers shared by test modules: the sample parts and writers of small (good and broken) STL files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PARTS = ROOT / "resources" / "parts"


def write_binary_stl(path: Path, triangles: np.ndarray, count: int | None = None) -> Path:
    """Binary STL of (F, 3, 3) triangles; ``count`` overrides the header's triangle count."""
    tris = np.asarray(triangles, dtype=np.float32).reshape(-1, 3, 3)
    with open(path, "wb") as fh:
        fh.write(b"isoscope test part".ljust(80, b" "))
        fh.write(struct.pack("<I", len(tris) if count is None else count))
        for t in tris:
            fh.write(struct.pack("<3f", 0, 0, 0))
            fh.write(t.astype("<f4").tobytes())
            fh.write(b"\0\0")
    return path


def write_ascii_stl(path: Path, triangles: np.ndarray, close: bool = True) -> Path:
    lines = ["solid part"]
    for t in np.asarray(triangles, dtype=float).reshape(-1, 3, 3):
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x:.9g} {y:.9g} {z:.9g}" for x, y, z in t]
        lines += ["    endloop", "  endfacet"]
    if close:
        lines.append("endsolid part")
    path.write_text("\n".join(lines) + "\n")
    return path


def tetrahedron() -> np.ndarray:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    f = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]
    return v[f]


def lockstep(models, opts, x, y, steps: int, stride: int, size: int) -> None:
    """Train each model with its optimiser on the same sliding batches of (x, y), step by step."""
    import torch

    for step in range(steps):
        idx = torch.arange(step * stride, step * stride + size) % x.shape[0]
        for model, opt in zip(models, opts, strict=True):
            loss = (model(x[idx]) - y[idx]).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
