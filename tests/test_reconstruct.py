"""Marching cubes: axis order, outward winding, empty surfaces, chunked grid evaluation."""

from __future__ import annotations

import torch
import trimesh

from core.reconstruct import evaluate_grid, extract_surface


def _ellipsoid(x: torch.Tensor) -> torch.Tensor:
    return ((x / torch.tensor([0.9, 0.5, 0.3])) ** 2).sum(-1).sqrt() - 1.0


def test_axis_order_and_outward_winding():
    vol = evaluate_grid(_ellipsoid, 48, torch.device("cpu"), chunk=5000)  # many small chunks
    verts, faces = extract_surface(vol)
    extent = verts.max(0).values - verts.min(0).values
    assert torch.allclose(extent, torch.tensor([1.8, 1.0, 0.6]), atol=0.05)  # x stays x
    mesh = trimesh.Trimesh(verts.numpy(), faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.volume > 0  # outward-facing triangles
    assert abs(mesh.volume - 4 / 3 * torch.pi * 0.9 * 0.5 * 0.3) < 0.02


def test_empty_surface_is_none_not_an_error():
    assert extract_surface(torch.ones(16, 16, 16)) is None
    assert extract_surface(-torch.ones(16, 16, 16)) is None
    nan = torch.full((16, 16, 16), float("nan"))
    assert extract_surface(nan) is None
