"""Marching cubes: axis order, outward winding, empty surfaces, chunked grid evaluation."""

from __future__ import annotations

import torch
import trimesh

from isoscope.core.sdf.reconstruct import evaluate_grid, extract_surface


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


def _torus(x: torch.Tensor) -> torch.Tensor:
    q = torch.stack([torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2) - 0.6, x[:, 2]], -1)
    return q.norm(dim=-1) - 0.2


def test_grid_near_the_surface_gives_the_same_surface_for_less_work():
    from isoscope.core.sdf.reconstruct import evaluate_grid_near_surface

    calls = []

    def counted(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return _torus(x)

    for res in (100, 128):  # a partial last block, and whole blocks
        full = evaluate_grid(_torus, res, torch.device("cpu"), chunk=65_536)
        calls.clear()
        near = evaluate_grid_near_surface(counted, res, torch.device("cpu"), chunk=65_536)
        assert sum(calls) < 0.15 * res**3  # most blocks, and most sub-blocks of the rest, are far from the surface
        assert torch.equal(near.sign(), full.sign())
        a, b = extract_surface(full), extract_surface(near)
        assert torch.equal(a[1], b[1]) and torch.allclose(a[0], b[0], atol=1e-6)
        # Centres judged in bf16 (the CPU's coarse pass): every point that shapes the surface still comes
        # from the exact function, so the surface is the same.
        calls.clear()
        rounded = evaluate_grid_near_surface(counted, res, torch.device("cpu"), chunk=65_536,
                                             coarse_fn=lambda x: _torus(x).bfloat16().float())  # fmt: skip
        c = extract_surface(rounded)
        assert 0 < sum(calls) < 0.15 * res**3
        assert torch.equal(a[1], c[1]) and torch.allclose(a[0], c[0], atol=1e-6)
    far = evaluate_grid_near_surface(lambda x: torch.full((len(x),), 5.0), 64, torch.device("cpu"), 65_536)
    assert extract_surface(far) is None and torch.all(far == 5.0)
