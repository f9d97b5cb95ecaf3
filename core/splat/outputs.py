"""What a splat run writes: per-view figures, PNG renders and a contact sheet, and gaussians.npz.

Figures per view: SSIM (11x11 Gaussian window, sigma 1.5, data range 1), coverage
``|alpha > 0.5 and true silhouette| / |true silhouette|``, silhouette IoU (so a blob covering the
whole image cannot score), PSNR and L1. Images go through PIL; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from isoscope.core.runs.rundir import atomic_path
from isoscope.core.splat.cameras import CameraSet
from isoscope.core.splat.ssim import ssim

COVERAGE_ALPHA = 0.5


def view_figures(image: torch.Tensor, alpha: torch.Tensor, gt_image: torch.Tensor,
                 gt_sil: torch.Tensor) -> list[dict[str, float]]:  # fmt: skip
    """Per-view SSIM, coverage, IoU, PSNR and L1 of renders (V, S, S, 3) against ground truth."""
    with torch.no_grad():
        x = image.clamp(0, 1).permute(0, 3, 1, 2).float()
        y = gt_image.permute(0, 3, 1, 2).float()
        s = ssim(x, y).cpu().numpy()
        mse = ((x - y) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
        l1 = (x - y).abs().mean(dim=(1, 2, 3)).cpu().numpy()
        a = alpha > COVERAGE_ALPHA
        inter = (a & gt_sil).sum(dim=(1, 2)).float()
        union = (a | gt_sil).sum(dim=(1, 2)).float()
        sil = gt_sil.sum(dim=(1, 2)).float()
        cov = torch.where(sil > 0, inter / sil.clamp_min(1), torch.ones_like(sil)).cpu().numpy()
        iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).cpu().numpy()
    return [
        {"ssim": float(s[i]), "coverage": float(cov[i]), "iou": float(iou[i]),
         "psnr": float(10 * np.log10(1.0 / max(mse[i], 1e-12))), "l1": float(l1[i])}
        for i in range(len(s))
    ]  # fmt: skip


def means_of(views: list[dict[str, float]]) -> dict[str, float]:
    keys = ("ssim", "coverage", "iou", "psnr", "l1")
    return {f"mean_{k}": float(np.mean([v[k] for v in views])) for k in keys} if views else {}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path


def write_views(folder: Path, prefix: str, images: torch.Tensor) -> list[str]:
    """``prefix``_view0.png ... one PNG per view; the paths as strings."""
    arr = to_uint8(images)
    return [str(write_png(folder / f"{prefix}_view{i}.png", arr[i])) for i in range(len(arr))]


def contact_sheet(path: Path, rows: list[torch.Tensor], gap: int = 2) -> str:
    """One PNG with a row per image set (ground truth, fit, ...), views left to right."""
    arrs = [to_uint8(r) for r in rows]
    v, s = arrs[0].shape[0], arrs[0].shape[1]
    sheet = np.full((len(arrs) * (s + gap) + gap, v * (s + gap) + gap, 3), 255, dtype=np.uint8)
    for r, arr in enumerate(arrs):
        for c in range(v):
            y, x = gap + r * (s + gap), gap + c * (s + gap)
            sheet[y : y + s, x : x + s] = arr[c]
    return str(write_png(path, sheet))


def camera_arrays(cams: CameraSet, part: Any) -> dict[str, np.ndarray]:
    """Eye positions and view axes (original units) for drawing the cameras as frustums."""
    centers = cams.centers.detach().cpu().numpy().astype(np.float64)
    R = cams.R.detach().cpu().numpy()
    # rows of R^T are the view axes in world coordinates: +X left, +Y up, +Z forward
    return {
        "camera_centers": part.to_original(centers).astype(np.float32),
        "camera_axes": np.transpose(R, (0, 2, 1)).astype(np.float32),
        "camera_fov_deg": np.float32(cams.fov_deg),
        "camera_distance": np.float32(cams.distance / part.scale),
        "camera_azimuth_deg": cams.azimuth_deg.astype(np.float32),
        "camera_elevation_deg": cams.elevation_deg.astype(np.float32),
    }


def write_gaussians(path: Path, arrays: dict[str, np.ndarray], part: Any, cams: CameraSet) -> str:
    """gaussians.npz in the part's original units (means, scales), plus the evaluation cameras."""
    out = dict(arrays)
    out["means"] = part.to_original(arrays["means"]).astype(np.float32)
    out["scales"] = (arrays["scales"] / part.scale).astype(np.float32)
    out.update(camera_arrays(cams, part))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return str(path)
