"""A differentiable Gaussian rasterizer in plain PyTorch (CPU and GPU), with sparse pixel-Gaussian pairs.

``project`` applies the EWA splatting approximation: each 3D covariance goes to the view frame and
through the Jacobian of the perspective projection at the Gaussian's centre, giving a 2D image-space
covariance (plus a 0.3 px^2 low-pass, as in 3D Gaussian splatting). ``composite`` then enumerates,
for every Gaussian and view, only the pixels inside its 3-sigma box (so memory grows with the sum of
footprints, not with Gaussians x pixels), drops pairs whose alpha is below 1/255, sorts the pairs by
(pixel, depth) and blends front to back: ``C = sum_i c_i a_i T_i`` with ``T_i = prod_{j<i} (1 - a_j)``.
The transmittance is a segmented exclusive cumulative sum of ``log(1 - a)`` in float64. Many views
render in one call (their pixels are numbered view by view), which is how training batches poses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from isoscope.core.splat.cameras import CameraSet
from isoscope.core.splat.gaussians import Gaussians

NEAR = 0.1
LOW_PASS = 0.3
SIGMAS = 3.0
MIN_ALPHA = 1.0 / 255.0
MAX_ALPHA = 0.99


@dataclass
class Projected:
    """Per (view, Gaussian): pixel centre, inverse 2D covariance, depth, radius, and what is drawn."""

    uv: torch.Tensor  # (V, N, 2) pixel coordinates (column, row), pixel centres at integers
    conic: torch.Tensor  # (V, N, 3) inverse covariance entries (a, b, c)
    depth: torch.Tensor  # (V, N)
    radius: torch.Tensor  # (V, N) in pixels, 0 when not drawn
    opacity: torch.Tensor  # (N,)
    colour: torch.Tensor  # (N, 3)
    image_size: int


@dataclass
class Rendered:
    """Images of V views: colour (V, S, S, 3), alpha (V, S, S), expected depth (V, S, S), pair count."""

    image: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    pairs: int


def project(g: Gaussians, cams: CameraSet, owner: torch.Tensor | None = None) -> Projected:
    """EWA projection of every Gaussian into every camera of ``cams``.

    ``owner`` (N,) optionally ties each Gaussian to one view index: it is drawn only in that view
    (several independent single-view fits rendered in one call).
    """
    S = cams.image_size
    f = cams.focal_px
    R, T = cams.R.to(g.means.dtype), cams.T.to(g.means.dtype)
    view = torch.einsum("nj,vjk->vnk", g.means, R) + T[:, None, :]  # (V, N, 3)
    x, y, z = view.unbind(-1)
    zc = z.clamp_min(NEAR)
    c = 0.5 * S - 0.5
    uv = torch.stack([c - f * x / zc, c - f * y / zc], dim=-1)
    lim = 1.3 * (0.5 * S / f)  # clamp x/z, y/z a little beyond the frustum for a stable Jacobian
    tx = (x / zc).clamp(-lim, lim) * zc
    ty = (y / zc).clamp(-lim, lim) * zc
    zero = torch.zeros_like(zc)
    J = torch.stack(
        [-f / zc, zero, f * tx / zc**2, zero, -f / zc, f * ty / zc**2], dim=-1
    ).reshape(*zc.shape, 2, 3)  # fmt: skip
    cov_view = torch.einsum("vji,njk,vkl->vnil", R, g.covariances(), R)  # R^T Sigma R
    cov2 = J @ cov_view @ J.transpose(-1, -2)
    a = cov2[..., 0, 0] + LOW_PASS
    b = cov2[..., 0, 1]
    cc = cov2[..., 1, 1] + LOW_PASS
    det = (a * cc - b * b).clamp_min(1e-12)
    conic = torch.stack([cc / det, -b / det, a / det], dim=-1)
    with torch.no_grad():
        mid = 0.5 * (a + cc)
        lam = mid + torch.sqrt((mid * mid - det).clamp_min(0.0))
        radius = torch.ceil(SIGMAS * torch.sqrt(lam)).clamp(max=S)
        u, v = uv.unbind(-1)
        inside = (u + radius >= 0) & (u - radius <= S - 1) & (v + radius >= 0) & (v - radius <= S - 1)
        drawn = (z > NEAR) & inside
        if owner is not None:
            drawn &= owner[None, :] == torch.arange(len(cams), device=owner.device)[:, None]
        radius = torch.where(drawn, radius, torch.zeros_like(radius))
    return Projected(uv, conic, z, radius, g.opacities, g.colours, S)


def _pairs(p: Projected) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat Gaussian index v*N+i, flat pixel index v*S*S+row*S+col) for every pixel in each 3-sigma box."""
    S = p.image_size
    V, N = p.radius.shape
    u, v = p.uv.detach().unbind(-1)
    r = p.radius
    x0 = torch.floor(u - r).clamp(0, S - 1).long()
    x1 = torch.ceil(u + r).clamp(0, S - 1).long()
    y0 = torch.floor(v - r).clamp(0, S - 1).long()
    y1 = torch.ceil(v + r).clamp(0, S - 1).long()
    w = torch.where(r > 0, x1 - x0 + 1, torch.zeros_like(x0)).reshape(-1)
    h = torch.where(r > 0, y1 - y0 + 1, torch.zeros_like(y0)).reshape(-1)
    counts = w * h
    gid = torch.repeat_interleave(torch.arange(V * N, device=counts.device), counts)
    if gid.numel() == 0:
        return gid, gid
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(gid.numel(), device=gid.device) - start[gid]
    px = x0.reshape(-1)[gid] + local % w[gid]
    py = y0.reshape(-1)[gid] + local // w[gid]
    pix = (gid // N) * (S * S) + py * S + px
    return gid, pix


def composite(p: Projected, background: float | torch.Tensor = 0.0, min_alpha: float = MIN_ALPHA) -> Rendered:
    """Front-to-back alpha compositing of the projected Gaussians over a background colour."""
    S = p.image_size
    V, N = p.radius.shape
    dtype, dev = p.uv.dtype, p.uv.device
    gid, pix = _pairs(p)
    uv = p.uv.reshape(-1, 2)
    conic = p.conic.reshape(-1, 3)
    depth = p.depth.reshape(-1)
    n_idx = gid % N
    col = (pix % S).to(dtype)
    row = ((pix // S) % S).to(dtype)

    def power(gi: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        dx, dy = cx - uv[gi, 0], cy - uv[gi, 1]
        k = conic[gi]
        return -0.5 * (k[:, 0] * dx * dx + 2.0 * k[:, 1] * dx * dy + k[:, 2] * dy * dy)

    with torch.no_grad():  # drop faint pairs before anything is kept for backward
        keep = p.opacity.detach()[n_idx] * torch.exp(power(gid, col, row).detach()) >= min_alpha
        gid, pix, n_idx, col, row = gid[keep], pix[keep], n_idx[keep], col[keep], row[keep]
        rank = torch.empty((V, N), dtype=torch.long, device=dev)
        rank.scatter_(1, torch.argsort(p.depth.detach(), dim=1), torch.arange(N, device=dev).expand(V, N))
        order = torch.argsort(pix * N + rank.reshape(-1)[gid])
        gid, pix, n_idx, col, row = gid[order], pix[order], n_idx[order], col[order], row[order]
    alpha = (p.opacity[n_idx] * torch.exp(power(gid, col, row))).clamp(max=MAX_ALPHA)
    log_t = torch.log1p(-alpha.double())
    excl = torch.cumsum(log_t, 0) - log_t
    with torch.no_grad():
        first = torch.ones_like(pix, dtype=torch.bool)
        first[1:] = pix[1:] != pix[:-1]
        pos = torch.arange(pix.numel(), device=dev)
        seg_start = torch.cummax(torch.where(first, pos, torch.zeros_like(pos)), 0).values
    trans = torch.exp(excl - excl[seg_start]).to(dtype)
    weight = alpha * trans
    n_pix = V * S * S
    image = torch.zeros((n_pix, 3), dtype=dtype, device=dev).index_add(0, pix, weight[:, None] * p.colour[n_idx])
    acc = torch.zeros(n_pix, dtype=dtype, device=dev).index_add(0, pix, weight)
    dep = torch.zeros(n_pix, dtype=dtype, device=dev).index_add(0, pix, weight * depth[gid])
    bg = torch.as_tensor(background, dtype=dtype, device=dev)
    image = image + (1.0 - acc)[:, None] * bg
    return Rendered(image.reshape(V, S, S, 3), acc.reshape(V, S, S), dep.reshape(V, S, S), int(pix.numel()))


def render(g: Gaussians, cams: CameraSet, background: float = 0.0, owner: torch.Tensor | None = None) -> Rendered:
    """``project`` then ``composite``."""
    return composite(project(g, cams, owner), background)
