"""A set of 3D Gaussians as trainable tensors, its initialisation from a mesh, densify and prune.

Parameters are kept unconstrained: means, log-scales, unit-free quaternions (w, x, y, z), opacity
logits and colour logits; the activated values come from the properties. Initialisation follows 3D
Gaussian splatting: points sampled on the surface, isotropic scales from the mean distance to the
three nearest neighbours (times ``INIT_SCALE_FACTOR``), identity rotations, low opacity, grey colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Initial scale over the root-mean-square distance to the 3 nearest neighbours (3D Gaussian splatting
#: uses 1): neighbours still overlap on the surface, and the pixel-Gaussian pairs drop about threefold.
INIT_SCALE_FACTOR = 0.5
PARAMS = ("means", "log_scales", "quats", "opacity_logits", "colour_logits")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass
class Gaussians:
    """N Gaussians; every field is an (N, ...) tensor."""

    means: torch.Tensor
    log_scales: torch.Tensor
    quats: torch.Tensor
    opacity_logits: torch.Tensor
    colour_logits: torch.Tensor

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def scales(self) -> torch.Tensor:
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> torch.Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def colours(self) -> torch.Tensor:
        return torch.sigmoid(self.colour_logits)

    def rotations(self) -> torch.Tensor:
        """(N, 3, 3) rotation matrices of the normalised quaternions."""
        return quat_to_matrix(self.quats)

    def covariances(self) -> torch.Tensor:
        """(N, 3, 3) world covariances R S S^T R^T."""
        m = self.rotations() * self.scales[:, None, :]
        return m @ m.transpose(1, 2)

    def tensors(self) -> list[torch.Tensor]:
        return [getattr(self, k) for k in PARAMS]

    def requires_grad_(self, on: bool = True) -> Gaussians:
        for t in self.tensors():
            t.requires_grad_(on)
        return self

    def select(self, mask_or_index: torch.Tensor) -> Gaussians:
        return Gaussians(*(t.detach()[mask_or_index] for t in self.tensors()))

    @staticmethod
    def cat(parts: list[Gaussians]) -> Gaussians:
        return Gaussians(*(torch.cat([getattr(p, k).detach() for p in parts]) for k in PARAMS))

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Activated values: means, scales, quats (unit, w first), opacities, colours."""
        with torch.no_grad():
            q = torch.nn.functional.normalize(self.quats, dim=-1)
            return {
                "means": self.means.detach().cpu().numpy().astype(np.float32),
                "scales": self.scales.cpu().numpy().astype(np.float32),
                "quats": q.cpu().numpy().astype(np.float32),
                "opacities": self.opacities.cpu().numpy().astype(np.float32),
                "colours": self.colours.cpu().numpy().astype(np.float32),
            }


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices of quaternions (w, x, y, z), normalised first."""
    w, x, y, z = torch.nn.functional.normalize(q, dim=-1).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))  # fmt: skip


def init_from_mesh(
    verts: torch.Tensor, faces: torch.Tensor, count: int, opacity: float = 0.5, colour: float = 0.5
) -> Gaussians:
    """``count`` Gaussians on the surface (pytorch3d sampling), scales from 3-nearest-neighbour distances."""
    from pytorch3d.ops import knn_points, sample_points_from_meshes
    from pytorch3d.structures import Meshes

    mesh = Meshes([verts.float()], [faces.long()])
    pts = sample_points_from_meshes(mesh, num_samples=count)[0]
    k = min(4, count)
    d2 = knn_points(pts[None], pts[None], K=k).dists[0][:, 1:]  # drop the point itself
    dist = torch.sqrt(d2.clamp_min(1e-10).mean(-1)) if k > 1 else torch.full((count,), 0.05, device=pts.device)
    dist = (INIT_SCALE_FACTOR * dist).clamp(1e-4, 0.2)
    n, dev = count, pts.device
    return Gaussians(
        means=pts.contiguous(),
        log_scales=torch.log(dist)[:, None].repeat(1, 3),
        quats=torch.tensor([1.0, 0.0, 0.0, 0.0], device=dev).repeat(n, 1),
        opacity_logits=torch.full((n,), _logit(opacity), device=dev),
        colour_logits=torch.full((n, 3), _logit(colour), device=dev),
    )


def densify_and_prune(
    g: Gaussians,
    grad_norm: torch.Tensor,
    seen: torch.Tensor,
    max_count: int,
    fraction: float = 0.1,
    min_opacity: float = 0.02,
    split_scale: float = 0.03,
    generator: torch.Generator | None = None,
) -> tuple[Gaussians, dict[str, int]]:
    """Clone small and split large Gaussians with the largest mean view-space gradient; drop faint ones.

    ``grad_norm`` sums the norm of each mean's gradient over the steps since the last call and
    ``seen`` counts the steps in which it had one. The top ``fraction`` by average gradient grow, as
    long as the total stays under ``max_count``; Gaussians with opacity under ``min_opacity`` go.
    """
    with torch.no_grad():
        keep = g.opacities >= min_opacity
        avg = torch.where(seen > 0, grad_norm / seen.clamp_min(1), torch.zeros_like(grad_norm))
        room = max(0, max_count - int(keep.sum()))
        grow_n = min(int(fraction * len(g)), room // 2)
        grow = torch.zeros_like(keep)
        if grow_n > 0:
            cand = torch.where(keep & (avg > 0), avg, torch.full_like(avg, -1.0))
            top = torch.topk(cand, grow_n).indices
            top = top[cand[top] > 0]
            grow[top] = True
        big = g.scales.max(-1).values > split_scale
        split, clone = grow & big, grow & ~big
        parts = [g.select(keep & ~split), g.select(clone)]
        if bool(split.any()):
            src = g.select(split)
            for _ in range(2):
                noise = torch.randn(src.means.shape, device=src.means.device, generator=generator)
                offset = (src.rotations() @ (noise * src.scales)[..., None])[..., 0]
                parts.append(Gaussians(src.means + offset, src.log_scales - math.log(1.6), src.quats.clone(),
                                       src.opacity_logits.clone(), src.colour_logits.clone()))  # fmt: skip
        out = Gaussians.cat(parts)
    stats = {"pruned": int((~keep).sum()), "cloned": int(clone.sum()), "split": int(split.sum()), "count": len(out)}
    return out, stats
