"""SSIM (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5, over the valid region.

Images are (B, C, H, W) in [0, data_range]; constants C1 = (0.01 L)^2, C2 = (0.03 L)^2. The window is
applied without padding, as in the reference MATLAB implementation, and the map is averaged over
channels and positions. Differentiable, so ``1 - ssim`` serves as a loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WINDOW = 11
SIGMA = 1.5


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:  # fmt: skip
    """Normalised 1D Gaussian of ``size`` taps."""
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    w = torch.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _blur(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, w.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, w.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM of the valid region, (B, C, H - 10, W - 10)."""
    w = gaussian_window(dtype=x.dtype, device=x.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, w), _blur(y, w)
    sxx = _blur(x * x, w) - mx * mx
    syy = _blur(y * y, w) - my * my
    sxy = _blur(x * y, w) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image, (B,)."""
    return ssim_map(x, y, data_range).mean(dim=(1, 2, 3))
