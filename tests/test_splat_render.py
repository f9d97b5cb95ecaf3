"""The Gaussian rasterizer: gradients against finite differences, one Gaussian's footprint against its
analytic projection, depth order, and sparse memory."""

from __future__ import annotations

import math

import torch

from isoscope.core.splat.cameras import eval_cameras, make_cameras
from isoscope.core.splat.gaussians import Gaussians, quat_to_matrix
from isoscope.core.splat.render import LOW_PASS, composite, project, render


def _gaussians(means, scales, quats, opacities, colours, dtype=torch.float64) -> Gaussians:
    t = lambda x: torch.as_tensor(x, dtype=dtype)  # noqa: E731
    op = t(opacities)
    return Gaussians(t(means), torch.log(t(scales)), t(quats), torch.log(op / (1 - op)), torch.logit(t(colours)))


def test_gradients_match_finite_differences() -> None:
    cams = make_cameras([30.0], [15.0], 16)
    cams.R, cams.T = cams.R.double(), cams.T.double()
    g = _gaussians(
        means=[[0.0, 0.0, 0.0], [0.08, 0.05, 0.1], [-0.1, 0.02, -0.05]],
        scales=[[0.12, 0.06, 0.09], [0.05, 0.1, 0.07], [0.08, 0.08, 0.04]],
        quats=[[0.9, 0.1, -0.2, 0.3], [1.0, 0.0, 0.0, 0.0], [0.7, 0.3, 0.5, -0.1]],
        opacities=[0.7, 0.5, 0.6],
        colours=[[0.9, 0.2, 0.3], [0.1, 0.8, 0.4], [0.3, 0.4, 0.9]],
    )
    gen = torch.Generator().manual_seed(0)
    w_img = torch.rand(1, 16, 16, 3, generator=gen, dtype=torch.float64)
    w_alpha = torch.rand(1, 16, 16, generator=gen, dtype=torch.float64)
    w_depth = torch.rand(1, 16, 16, generator=gen, dtype=torch.float64)

    def loss(*params: torch.Tensor) -> torch.Tensor:
        out = composite(project(Gaussians(*params), cams), background=0.3, min_alpha=0.0)
        assert out.pairs > 0
        return (out.image * w_img).sum() + (out.alpha * w_alpha).sum() + 0.1 * (out.depth * w_depth).sum()

    params = [t.clone().requires_grad_() for t in g.tensors()]
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-5, rtol=1e-4)
    loss(*params).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_one_gaussian_footprint_matches_analytic_projection() -> None:
    S = 64
    cams = make_cameras([20.0], [25.0], S)
    cams.R, cams.T = cams.R.double(), cams.T.double()
    mean = torch.tensor([0.1, -0.05, 0.08], dtype=torch.float64)
    q = torch.tensor([0.8, 0.2, -0.4, 0.3], dtype=torch.float64)
    scales = torch.tensor([0.2, 0.06, 0.1], dtype=torch.float64)
    g = _gaussians(mean[None], scales[None], q[None], [0.6], [[1.0 - 1e-6] * 3])
    out = composite(project(g, cams), min_alpha=0.0)

    # analytic reference from pytorch3d's own camera: pixel centre and the Jacobian of the screen map
    p3 = make_cameras([20.0], [25.0], S).pytorch3d()

    def screen(x: torch.Tensor) -> torch.Tensor:
        return p3.transform_points_screen(x.reshape(1, 1, 3), image_size=((S, S),))[0, 0, :2] - 0.5

    centre = screen(mean.float()).double()
    J = torch.autograd.functional.jacobian(screen, mean.float()).double()  # (2, 3)
    rot = quat_to_matrix(q)
    sigma3 = rot @ torch.diag(scales**2) @ rot.T
    sigma2 = J @ sigma3 @ J.T + LOW_PASS * torch.eye(2, dtype=torch.float64)
    cols, rows = torch.meshgrid(torch.arange(S, dtype=torch.float64), torch.arange(S, dtype=torch.float64),
                                indexing="xy")  # fmt: skip
    d = torch.stack([cols - centre[0], rows - centre[1]], -1)
    m = torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(sigma2), d)
    expected = 0.6 * torch.exp(-0.5 * m)
    box = m <= 9.0 * 0.999  # the renderer draws the 3-sigma box; outside it the alpha is below 0.007
    assert torch.allclose(out.alpha[0][box], expected[box], atol=1e-6)
    assert float(expected[~box].max()) < 0.01
    # the footprint's moments are those of the projected Gaussian
    a = out.alpha[0]
    c = torch.stack([(a * cols).sum(), (a * rows).sum()]) / a.sum()
    assert torch.allclose(c, centre, atol=0.02)
    assert 10 < int((out.alpha[0] > 0.3).sum()) < S * S // 4


def test_front_to_back_order_and_transmittance() -> None:
    cams = make_cameras([0.0], [0.0], 32)  # camera on +X looking at the origin
    g = _gaussians(
        means=[[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]],  # first is nearer to the camera
        scales=[[0.2, 0.2, 0.2]] * 2,
        quats=[[1.0, 0.0, 0.0, 0.0]] * 2,
        opacities=[0.6, 0.9],
        colours=[[0.999, 1e-3, 1e-3], [1e-3, 1e-3, 0.999]],
        dtype=torch.float32,
    )
    out = render(g, cams)
    centre = out.image[0, 16, 16]
    a_front = 0.6 * math.exp(-0.5 * 0.25 / (0.2 * 3.0 / 2.7 * 16 / math.tan(math.radians(20))) ** 2)
    assert centre[0] > centre[2] > 0.1  # red in front, blue seen through it
    assert abs(float(out.alpha[0, 16, 16]) - (1 - (1 - 0.6) * (1 - 0.9))) < 0.02
    assert a_front > 0.55
    swapped = render(Gaussians(g.means.flip(0), g.log_scales, g.quats, g.opacity_logits, g.colour_logits), cams)
    assert swapped.image[0, 16, 16, 2] > swapped.image[0, 16, 16, 0]


def test_pairs_grow_with_footprint_not_pixels() -> None:
    torch.manual_seed(0)
    n = 500
    means = torch.rand(n, 3) * 1.2 - 0.6
    g = Gaussians(means, torch.full((n, 3), math.log(0.01)), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                  torch.zeros(n), torch.zeros(n, 3))  # fmt: skip
    small = render(g, eval_cameras(1, 128))
    assert small.pairs < n * 128 * 128 / 100
    g.log_scales += math.log(4.0)
    big = render(g, eval_cameras(1, 128))
    assert big.pairs > 4 * small.pairs
