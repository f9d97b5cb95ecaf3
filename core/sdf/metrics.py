"""Surface metrics between a fitted mesh and the part: Chamfer-L1/L2, normal consistency, Hausdorff-95.

Both meshes are sampled with pytorch3d's sample_points_from_meshes and matched with pytorch3d's
knn_points on CUDA; on the CPU, where knn_points is brute force, an exact KD-tree gives the same matches.
Chamfer-L1 is the mean of the two directions' mean Euclidean distances; Chamfer-L2 the same with
squared distances; Hausdorff-95 the larger of the two directions' 95th percentiles. Inputs are in the
normalised cube; :func:`to_original_units` converts the lengths with the part's scale.
"""

from __future__ import annotations

import torch
from pytorch3d.ops import knn_points, sample_points_from_meshes
from pytorch3d.structures import Meshes

LENGTH_METRICS = ("chamfer_l1", "hausdorff95")
SQUARED_METRICS = ("chamfer_l2",)


def sample_surface(verts: torch.Tensor, faces: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = Meshes(verts=[verts.float()], faces=[faces.long()])
    pts, normals = sample_points_from_meshes(mesh, num_samples=n, return_normals=True)
    return pts, normals


def nearest(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distance from each point of a (N, 3) to its nearest point of b (M, 3), and its index."""
    if a.is_cuda:
        knn = knn_points(a[None], b[None], K=1)
        return knn.dists[0, :, 0].clamp_min(0), knn.idx[0, :, 0]
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(b.double().numpy()).query(a.double().numpy(), k=1, workers=-1)
    return torch.from_numpy(dist**2).float(), torch.from_numpy(idx).long()


def surface_metrics(
    pred_verts: torch.Tensor,
    pred_faces: torch.Tensor,
    gt_verts: torch.Tensor,
    gt_faces: torch.Tensor,
    n: int,
    seed: int = 0,
) -> dict[str, float]:
    """Metrics between two meshes on the same device, in the units of the vertices."""
    with torch.random.fork_rng(devices=[pred_verts.device] if pred_verts.is_cuda else []):
        torch.manual_seed(seed)
        p, pn = sample_surface(pred_verts, pred_faces, n)
        g, gn = sample_surface(gt_verts, gt_faces, n)
    d_pg, i_pg = nearest(p[0], g[0])
    d_gp, i_gp = nearest(g[0], p[0])
    l_pg, l_gp = d_pg.sqrt(), d_gp.sqrt()
    nc_pg = (pn[0] * gn[0][i_pg]).sum(-1).abs().mean()
    nc_gp = (gn[0] * pn[0][i_gp]).sum(-1).abs().mean()
    return {
        "chamfer_l1": float(0.5 * (l_pg.mean() + l_gp.mean())),
        "chamfer_l2": float(0.5 * (d_pg.mean() + d_gp.mean())),
        "normal_consistency": float(0.5 * (nc_pg + nc_gp)),
        "hausdorff95": float(torch.maximum(torch.quantile(l_pg, 0.95), torch.quantile(l_gp, 0.95))),
    }


def to_original_units(metrics: dict[str, float], scale: float) -> dict[str, float]:
    """Lengths divided by the part's scale (squared lengths by its square); others unchanged."""
    out = {}
    for key, value in metrics.items():
        if key in LENGTH_METRICS:
            out[key] = value / scale
        elif key in SQUARED_METRICS:
            out[key] = value / scale**2
        else:
            out[key] = value
    return out
