"""Signed distance (warp BVH + winding-number sign) against analytic shapes, and sign on open parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.sdf.sampling import draw_training_set
from isoscope.core.timing import PhaseTimer


def _points(n: int = 4000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g) * 3 - 1.5


def test_sphere():
    s = trimesh.creation.icosphere(subdivisions=5, radius=1.0)
    p = _points()
    d = MeshSDF(s.vertices, s.faces)(p)
    assert torch.allclose(d, p.norm(dim=1) - 1.0, atol=2e-3)


def test_box():
    half = np.array([0.8, 0.5, 0.3])
    b = trimesh.creation.box(extents=2 * half)
    p = _points()
    q = p.abs() - torch.tensor(half, dtype=torch.float32)
    exact = q.clamp_min(0).norm(dim=1) + q.max(dim=1).values.clamp_max(0)
    d = MeshSDF(b.vertices, b.faces)(p)
    assert torch.allclose(d, exact, atol=1e-5)


def test_torus():
    R, r = 1.0, 0.35
    t = trimesh.creation.torus(major_radius=R, minor_radius=r, major_sections=128, minor_sections=48)
    p = _points()
    exact = torch.stack([p[:, :2].norm(dim=1) - R, p[:, 2]], dim=1).norm(dim=1) - r
    d = MeshSDF(t.vertices, t.faces)(p)
    assert torch.allclose(d, exact, atol=3e-3)
    assert ((d < 0) == (exact < 0))[exact.abs() > 3e-3].all()


def test_sign_on_an_open_box():
    """A box without its top: winding numbers still call the inside inside."""
    b = trimesh.creation.box(extents=(1, 1, 1))
    keep = b.face_normals[:, 2] < 0.5
    d = MeshSDF(b.vertices, b.faces[keep])(torch.tensor([[0, 0, 0.0], [0.1, -0.2, -0.3], [0.9, 0, 0], [0, 0, 1.0]]))
    assert d[0] == pytest.approx(-0.5, abs=1e-5) and d[1] < 0
    assert d[2] == pytest.approx(0.4, abs=1e-5) and d[3] > 0


def test_sign_on_two_overlapping_bodies():
    a = trimesh.creation.box(extents=(1, 1, 1))
    b = trimesh.creation.box(extents=(1, 1, 1))
    b.apply_translation((0.5, 0, 0))
    both = trimesh.util.concatenate([a, b])
    d = MeshSDF(both.vertices, both.faces)(torch.tensor([[0.25, 0, 0], [0.9, 0, 0], [-0.4, 0, 0], [2, 0, 0.0]]))
    assert (d[:3] < 0).all() and d[3] > 0


def test_unsigned_distance_is_the_magnitude_of_the_signed():
    m = trimesh.creation.torus(0.6, 0.2)
    sdf = MeshSDF(m.vertices, m.faces)
    pts = torch.rand(30_000, 3) * 2 - 1
    assert torch.equal(sdf(pts, signed=False), sdf(pts).abs())


def test_importance_sampling_signs_only_the_drawn_points_and_draws_the_same_set():
    """Unsigned pool, then signs for the drawn points: the same training set as signing the whole pool."""
    from isoscope.core.config import SamplingConfig
    from isoscope.core.sdf.sampling import importance_indices, uniform_points

    m = trimesh.creation.torus(0.6, 0.2)
    sdf = MeshSDF(m.vertices, m.faces)
    verts, faces = torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces)
    cfg = SamplingConfig(num_points=4000, pool_ratio=0.1)
    points, dist = draw_training_set(sdf, verts, faces, cfg, torch.Generator().manual_seed(3), PhaseTimer())
    gen = torch.Generator().manual_seed(3)
    pool = uniform_points(40_000, torch.device("cpu"), gen)
    signed = sdf(pool)
    idx = importance_indices(signed, 4000, cfg.importance_weight, gen)
    ref_points, ref_dist = pool[idx], signed[idx]
    assert torch.equal(points, ref_points) and torch.equal(dist, ref_dist)
    assert (dist < 0).any() and (dist > 0).any()


def test_importance_draw_has_no_repeats_and_follows_the_weights():
    """Distinct pool points (a repeat teaches nothing new, and with repeats a small part's far field went
    unseen), drawn in proportion to exp(-W|s|) among those left: near points far more often than far ones."""
    from isoscope.core.sdf.sampling import importance_indices

    gen = torch.Generator().manual_seed(0)
    distances = torch.rand(100_000, generator=gen)  # |s| uniform in [0, 1)
    idx = importance_indices(distances, 10_000, 60.0, gen)
    assert len(idx) == 10_000 and len(torch.unique(idx)) == 10_000
    drawn = distances[idx]
    assert int((drawn < 0.05).sum()) > 0.9 * int((distances < 0.05).sum())  # nearly every near point is drawn
    assert (drawn > 0.1).any()  # and the far field is not left out
    every = importance_indices(distances, 100_000, 60.0, gen)  # the whole pool: each point once
    assert torch.equal(torch.sort(every).values, torch.arange(100_000))


@pytest.mark.parametrize("name", ["box", "sphere", "torus", "bracket"])
def test_parity_signs_a_closed_part_as_the_winding_number_does(name: str) -> None:
    """On a watertight, consistently wound part ray parity gives the winding number's sign (and the same
    distances); the health report says which parts those are."""
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part
    from isoscope.core.sdf.distance import parity_is_safe

    from support import PARTS

    part = load_part(PARTS / f"{name}.stl")
    assert parity_is_safe(report(part, 64))
    pts = _points(50_000, seed=3)
    winding = MeshSDF(part.normalised_vertices, part.faces)(pts)
    parity = MeshSDF(part.normalised_vertices, part.faces, sign="parity")(pts)
    assert torch.equal(parity.abs(), winding.abs())
    assert torch.equal(parity < 0, winding < 0)


def test_parity_is_not_used_where_it_would_be_wrong() -> None:
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part
    from isoscope.core.sdf.distance import parity_is_safe

    from support import ROOT

    gallery = ROOT / "resources" / "gallery"
    for name in ("open_box", "two_overlapping_bodies", "flipped_faces", "non_manifold_edge", "duplicate_faces"):
        assert not parity_is_safe(report(load_part(gallery / f"{name}.stl"), 64)), name
    assert not parity_is_safe(None)


def test_parity_is_not_used_on_a_part_of_several_bodies(tmp_path) -> None:
    """A shell inside another: a ray from between them crosses twice (parity says outside) where the winding
    number counts both (inside); several bodies always take the winding number."""
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part
    from isoscope.core.sdf.distance import parity_is_safe

    from support import write_binary_stl

    outer, inner = trimesh.creation.icosphere(3, 1.0), trimesh.creation.icosphere(3, 0.5)
    nested = write_binary_stl(tmp_path / "nested.stl", np.concatenate([outer.triangles, inner.triangles]))
    single = write_binary_stl(tmp_path / "single.stl", outer.triangles)
    assert parity_is_safe(report(load_part(single), 64))
    assert not parity_is_safe(report(load_part(nested), 64))


def test_morton_order_and_a_known_bound_leave_every_answer_as_it_was() -> None:
    from isoscope.core.sdf.distance import morton_order

    m = trimesh.creation.torus(0.6, 0.2, major_sections=128, minor_sections=48)  # big enough to be sorted
    sdf = MeshSDF(m.vertices, m.faces)
    assert sdf.faces >= 4096
    pts = _points(30_000, seed=4)
    order = morton_order(pts)
    assert torch.equal(torch.sort(order).values, torch.arange(len(pts)))  # a permutation
    plain = sdf(pts, sort=False)
    assert torch.equal(sdf(pts), plain)  # queried in Morton order, answered in the caller's
    assert torch.equal(sdf(pts, bound=plain.abs()), plain)  # bounded by the known distance: the same
