"""Training and validation points with their signed distances, drawn on the device.

importance: a uniform pool of num_points / pool_ratio points in [-1, 1]^3, the unsigned distance queried
once per pool point, weights exp(-W*|s|), num_points distinct pool points drawn without replacement
(Gumbel top-k, no 2^24 limit of torch.multinomial), then the signed distance of the drawn points only.
The draw depends on |s| alone, so this is the same training set as signing the whole pool, with the
costly winding number computed for a tenth of the points. The seed drew with replacement: on a small
part its few near-surface pool points were drawn again and again (200k draws on the bracket held 78k
distinct points, and 0.2% lay beyond |s| = 0.1), so a short fit saw almost nothing of the cube away
from the part and grew spurious surfaces there (Chamfer-L1 3.3 at 200k points x 2 epochs; 0.30 without
replacement).
surface: area-weighted surface points jittered by a normal of std surface_noise. uniform: plain cube.
"""

from __future__ import annotations

import torch

from isoscope.core.config import SamplingConfig
from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.timing import PhaseTimer


def surface_points(
    verts: torch.Tensor, faces: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """n area-weighted points on the mesh and their face normals."""
    tri = verts[faces]
    cross = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    area = cross.norm(dim=1)
    cdf = torch.cumsum(area.double(), 0)
    dev = verts.device
    u = torch.rand(n, device=dev, dtype=torch.float64, generator=generator) * cdf[-1]
    idx = torch.searchsorted(cdf, u).clamp_max(faces.shape[0] - 1)
    r1 = torch.rand(n, device=dev, generator=generator).sqrt()
    r2 = torch.rand(n, device=dev, generator=generator)
    a, b, c = tri[idx, 0], tri[idx, 1], tri[idx, 2]
    pts = (1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c
    normals = cross[idx] / area[idx].clamp_min(1e-20)[:, None]
    return pts, normals


def uniform_points(n: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, 3, device=device, generator=generator) * 2 - 1


def importance_indices(distances: torch.Tensor, n: int, weight: float, generator: torch.Generator) -> torch.Tensor:
    """n distinct pool indices (n at most the pool's size), drawn one after another with probability
    proportional to exp(-W|s|) among those left: the n largest of -W|s| plus Gumbel noise."""
    u = torch.rand(distances.shape[0], device=distances.device, dtype=torch.float64, generator=generator)
    keys = -weight * distances.abs().double() - torch.log(-torch.log(u.clamp_min(1e-300)))
    return torch.topk(keys, n, sorted=False).indices


def draw_training_set(
    sdf: MeshSDF,
    verts: torch.Tensor,
    faces: torch.Tensor,
    cfg: SamplingConfig,
    generator: torch.Generator,
    timer: PhaseTimer,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(points, signed distances) for training, resident on the mesh's device."""
    dev = verts.device
    n = cfg.num_points
    if cfg.method == "importance":
        with timer.phase("sample.pool"):
            pool = uniform_points(max(int(round(n / cfg.pool_ratio)), n), dev, generator)
        with timer.phase("sample.sdf"):  # the draw needs |s| only
            unsigned = sdf(pool, signed=False)
        with timer.phase("sample.draw"):
            drawn = importance_indices(unsigned, n, cfg.importance_weight, generator)
            points = pool[drawn]
        with timer.phase("sample.sign"):  # signed distances of the drawn points: the same |s|, with sign
            return points, sdf(points, report=False, bound=unsigned[drawn])
    with timer.phase("sample.pool"):
        if cfg.method == "surface":
            pts, _ = surface_points(verts, faces, n, generator)
            pts = pts + cfg.surface_noise * torch.randn(pts.shape, device=dev, generator=generator)
        else:
            pts = uniform_points(n, dev, generator)
    with timer.phase("sample.sdf"):
        return pts, sdf(pts)


def validation_sets(
    sdf: MeshSDF, verts: torch.Tensor, faces: torch.Tensor, n: int, generator: torch.Generator
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Held-out surface (true distance 0), near-surface (jitter 0.01) and uniform points."""
    dev = verts.device
    surf, _ = surface_points(verts, faces, n, generator)
    near, _ = surface_points(verts, faces, n, generator)
    near = near + 0.01 * torch.randn(near.shape, device=dev, generator=generator)
    uni = uniform_points(n, dev, generator)
    return {
        "surface": (surf, torch.zeros(n, device=dev)),
        "near": (near, sdf(near)),
        "uniform": (uni, sdf(uni)),
    }
