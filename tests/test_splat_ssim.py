"""SSIM against reference values: closed forms for flat images and an independent scipy implementation."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import correlate1d

from isoscope.core.splat.ssim import gaussian_window, ssim


def _reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 with an 11x11 Gaussian (sigma 1.5), valid region, data range 1, in float64 numpy."""
    t = np.arange(11) - 5.0
    w = np.exp(-(t**2) / (2 * 1.5**2))
    w /= w.sum()

    def blur(a: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(a, w, axis=0, mode="constant"), w, axis=1, mode="constant")[5:-5, 5:-5]

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(m.mean())


def test_window_is_normalised_11_taps() -> None:
    w = gaussian_window()
    assert w.shape == (11,) and abs(float(w.sum()) - 1) < 1e-6 and int(w.argmax()) == 5
    assert abs(float(w[6] / w[5]) - np.exp(-1 / (2 * 1.5**2))) < 1e-6


def test_identical_images_score_one() -> None:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-6)


def test_flat_images_match_closed_form() -> None:
    a, b = 0.3, 0.7
    x, y = torch.full((1, 1, 24, 24), a, dtype=torch.float64), torch.full((1, 1, 24, 24), b, dtype=torch.float64)
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # the contrast-structure term is C2 / C2 = 1
    assert abs(float(ssim(x, y)[0]) - expected) < 1e-12
    assert abs(expected - 0.72419) < 1e-4  # 0.42 / 0.58


def test_matches_independent_reference() -> None:
    rng = np.random.default_rng(3)
    u, v = np.meshgrid(np.linspace(0, 1, 48), np.linspace(0, 1, 48))
    x = 0.5 + 0.4 * np.sin(9 * u) * np.cos(7 * v)
    y = np.clip(0.9 * x + 0.05 + 0.08 * rng.standard_normal(x.shape), 0, 1)
    ref = _reference_ssim(x, y)
    got = float(ssim(torch.tensor(x)[None, None], torch.tensor(y)[None, None])[0])
    assert abs(got - ref) < 1e-9
    assert 0.3 < ref < 0.95  # a value in between, so the comparison means something
