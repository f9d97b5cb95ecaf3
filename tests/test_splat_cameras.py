"""The cameras of the eight evaluation views, the projection's agreement with pytorch3d, cached ground truth."""

from __future__ import annotations

import math

import numpy as np
import torch

from isoscope.core.mesh.part import load_part
from isoscope.core.splat.cameras import DISTANCE, EVAL_ELEVATION_DEG, eval_cameras, train_cameras
from isoscope.core.splat.gaussians import Gaussians
from isoscope.core.splat.groundtruth import GroundTruth
from isoscope.core.splat.render import project


def test_eight_views_45_degrees_apart_looking_at_the_part() -> None:
    cams = eval_cameras(8, 64)
    assert len(cams) == 8
    assert np.allclose(cams.azimuth_deg, np.arange(8) * 45.0)
    c = cams.centers.numpy()
    assert np.allclose(np.linalg.norm(c, axis=1), DISTANCE, atol=1e-5)
    assert np.allclose(np.degrees(np.arcsin(c[:, 2] / DISTANCE)), EVAL_ELEVATION_DEG, atol=1e-4)
    horiz = c[:, :2] / np.linalg.norm(c[:, :2], axis=1, keepdims=True)
    angles = np.degrees(np.arccos(np.clip((horiz * np.roll(horiz, -1, axis=0)).sum(1), -1, 1)))
    assert np.allclose(angles, 45.0, atol=1e-3)
    # each camera looks at the origin (its view +Z axis points from the eye to the origin), +Z world is up
    forward = cams.R[:, :, 2].numpy()
    assert np.allclose(forward, -c / DISTANCE, atol=1e-5)
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    g = Gaussians(pts, torch.full((2, 3), -3.0), torch.tensor([[1.0, 0, 0, 0]] * 2), torch.zeros(2), torch.zeros(2, 3))
    uv = project(g, cams).uv
    assert torch.allclose(uv[:, 0], torch.full((8, 2), 31.5), atol=1e-4)  # the origin at the image centre
    assert bool((uv[:, 1, 1] < uv[:, 0, 1] - 5).all())  # higher points are higher in every image


def test_projection_agrees_with_pytorch3d_screen_transform() -> None:
    cams = train_cameras(6, 48, seed=2)
    pts = torch.rand(20, 3, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    g = Gaussians(pts, torch.full((20, 3), -3.0), torch.tensor([[1.0, 0, 0, 0]] * 20), torch.zeros(20),
                  torch.zeros(20, 3))  # fmt: skip
    ours = project(g, cams).uv
    theirs = cams.pytorch3d().transform_points_screen(pts[None].expand(6, 20, 3), image_size=((48, 48),))[..., :2]
    assert torch.allclose(ours, theirs - 0.5, atol=1e-3)  # pytorch3d puts pixel centres at +0.5
    el = cams.elevation_deg
    assert el.min() < -30 and el.max() > 30  # poses cover the sphere, not only the ring


def test_ground_truth_of_a_sphere_is_a_centred_disc_and_cached(sphere_stl) -> None:
    part = load_part(str(sphere_stl))
    verts = torch.as_tensor(part.normalised_vertices, dtype=torch.float32)
    gt = GroundTruth(verts, torch.as_tensor(part.faces))
    cams = eval_cameras(8, 32)
    views = gt.views(cams)
    assert views.image.shape == (8, 32, 32, 3) and views.silhouette.shape == (8, 32, 32)
    focal = 16 / math.tan(math.radians(20))
    radius_px = focal * math.tan(math.asin(0.9 / DISTANCE))
    area = views.silhouette.float().sum(dim=(1, 2))
    assert torch.allclose(area, torch.full((8,), math.pi * radius_px**2), rtol=0.08)
    rows, cols = torch.nonzero(views.silhouette[0], as_tuple=True)
    assert abs(float(rows.float().mean()) - 15.5) < 0.5 and abs(float(cols.float().mean()) - 15.5) < 0.5
    d = views.depth[views.silhouette]
    assert float(d.min()) > DISTANCE - 0.95 and float(d.max()) < DISTANCE
    assert gt.views(eval_cameras(8, 32)) is views and gt.rendered_sets == 1
