"""Marching cubes of a trained SDF network: grid evaluation in chunks on the device, pytorch3d MC.

The grid is indexed (z, y, x) so pytorch3d returns vertices as (x, y, z); with negative inside, its
triangles face outward (positive signed volume on a closed part). An empty surface is a result
(``None``), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pytorch3d.ops.marching_cubes import marching_cubes

#: Advice when the zero level set is empty.
EMPTY_SURFACE_ADVICE = (
    "the network's zero level set is empty: it predicts one sign everywhere. Train longer or with more "
    "points, use --scaler none or StandardScaler, or check the part (isoscope-inspect) for open or "
    "inside-out geometry."
)


def grid_points(res: int, device: torch.device, z_slice: slice | None = None) -> torch.Tensor:
    """Grid points of a res^3 grid over [-1, 1]^3 in (z, y, x) order, as (M, 3) xyz coordinates."""
    lin = torch.linspace(-1.0, 1.0, res, device=device)
    zs = lin if z_slice is None else lin[z_slice]
    z, y, x = torch.meshgrid(zs, lin, lin, indexing="ij")
    return torch.stack([x, y, z], dim=-1).reshape(-1, 3)


@torch.no_grad()
def evaluate_grid(
    sdf_fn: Callable[[torch.Tensor], torch.Tensor], res: int, device: torch.device, chunk: int
) -> torch.Tensor:
    """The function on a res^3 grid, as a (res, res, res) volume indexed (z, y, x)."""
    vol = torch.empty(res, res, res, device=device)
    planes = max(1, chunk // (res * res))
    for z0 in range(0, res, planes):
        z1 = min(res, z0 + planes)
        pts = grid_points(res, device, slice(z0, z1))
        vol[z0:z1] = sdf_fn(pts).reshape(z1 - z0, res, res).float()
    return vol


def extract_surface(volume: torch.Tensor, level: float = 0.0) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Vertices in [-1, 1]^3 (xyz) and faces of the level set, or None if there is none."""
    finite = torch.isfinite(volume)
    if not bool(finite.all()):
        volume = torch.where(finite, volume, torch.ones_like(volume))
    if not (float(volume.min()) < level < float(volume.max())):
        return None
    verts, faces = marching_cubes(volume[None].contiguous(), level, return_local_coords=True)
    if len(faces[0]) == 0:
        return None
    return verts[0], faces[0]
