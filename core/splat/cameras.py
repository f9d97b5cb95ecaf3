"""Orbit cameras around a normalised part, in PyTorch3D's conventions, created once per camera set.

The part sits in the unit cube (farthest vertex at radius 0.9) with +Z up, as CAD parts usually are.
Cameras look at the origin from a distance ``DISTANCE`` with a field of view ``FOV_DEG``, which keeps
the whole part inside the image from every direction. PyTorch3D's row-vector convention holds:
``X_view = X_world @ R + T``; +X of the view points left, +Y up and +Z into the screen. Pixel (row r,
column c) has its centre at NDC ``x = 1 - (2c + 1) / S``, ``y = 1 - (2r + 1) / S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DISTANCE = 3.0
FOV_DEG = 40.0
EVAL_ELEVATION_DEG = 20.0
MAX_TRAIN_ELEVATION_DEG = 75.0
UP = (0.0, 0.0, 1.0)


@dataclass
class CameraSet:
    """V cameras sharing one image size and field of view; all tensors live on one device."""

    R: torch.Tensor  # (V, 3, 3) world -> view, row-vector convention
    T: torch.Tensor  # (V, 3)
    azimuth_deg: np.ndarray  # (V,)
    elevation_deg: np.ndarray  # (V,)
    image_size: int
    fov_deg: float = FOV_DEG
    distance: float = DISTANCE

    def __len__(self) -> int:
        return int(self.R.shape[0])

    @property
    def focal_px(self) -> float:
        """Focal length in pixels: (S / 2) / tan(fov / 2)."""
        return 0.5 * self.image_size / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def centers(self) -> torch.Tensor:
        """Camera positions in world coordinates, (V, 3)."""
        return -torch.einsum("vk,vjk->vj", self.T, self.R)

    def subset(self, index: torch.Tensor | list[int]) -> CameraSet:
        idx = torch.as_tensor(index, dtype=torch.long, device=self.R.device)
        cpu = idx.cpu().numpy()
        return CameraSet(self.R[idx], self.T[idx], self.azimuth_deg[cpu], self.elevation_deg[cpu],
                         self.image_size, self.fov_deg, self.distance)  # fmt: skip

    def pytorch3d(self):  # noqa: ANN201 - pytorch3d type imported lazily
        """The same cameras as a pytorch3d FoVPerspectiveCameras batch."""
        from pytorch3d.renderer import FoVPerspectiveCameras

        return FoVPerspectiveCameras(R=self.R, T=self.T, fov=self.fov_deg, znear=0.1, zfar=100.0,
                                     device=self.R.device)  # fmt: skip

    def key(self) -> tuple:
        """A hashable identity of the set (poses, size, lens) for caches."""
        poses = tuple(np.round(np.stack([self.azimuth_deg, self.elevation_deg], 1), 6).ravel().tolist())
        return (self.image_size, round(self.fov_deg, 6), round(self.distance, 6), poses)


def eye_positions(azimuth_deg: np.ndarray, elevation_deg: np.ndarray, distance: float) -> np.ndarray:
    """Camera positions on a sphere of ``distance``: azimuth around +Z from +X, elevation above XY."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    return distance * np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=1)


def make_cameras(
    azimuth_deg: np.ndarray | list[float],
    elevation_deg: np.ndarray | list[float],
    image_size: int,
    device: torch.device | str = "cpu",
    distance: float = DISTANCE,
    fov_deg: float = FOV_DEG,
) -> CameraSet:
    """One batched look-at for all poses (no per-step camera creation)."""
    from pytorch3d.renderer import look_at_view_transform

    az = np.asarray(azimuth_deg, dtype=np.float64).ravel()
    el = np.asarray(elevation_deg, dtype=np.float64).ravel()
    eye = torch.as_tensor(eye_positions(az, el, distance), dtype=torch.float32)
    up = torch.tensor([UP], dtype=torch.float32).expand(len(az), 3)
    R, T = look_at_view_transform(eye=eye, at=torch.zeros(len(az), 3), up=up)
    return CameraSet(R.to(device), T.to(device), az, el, int(image_size), fov_deg, distance)


def eval_cameras(views: int, image_size: int, device: torch.device | str = "cpu") -> CameraSet:
    """The evaluation ring: ``views`` azimuths 360/views degrees apart (45 for eight) at a fixed elevation."""
    az = np.arange(views) * (360.0 / views)
    return make_cameras(az, np.full(views, EVAL_ELEVATION_DEG), image_size, device)


def train_cameras(count: int, image_size: int, device: torch.device | str = "cpu", seed: int = 0) -> CameraSet:
    """``count`` poses spread over the sphere (a Fibonacci spiral, randomly rotated about +Z)."""
    rng = np.random.default_rng(seed)
    i = np.arange(count) + 0.5
    zmax = math.sin(math.radians(MAX_TRAIN_ELEVATION_DEG))
    z = zmax * (1.0 - 2.0 * i / count)
    el = np.degrees(np.arcsin(z))
    az = (np.degrees(i * math.pi * (3.0 - math.sqrt(5.0))) + rng.uniform(0, 360)) % 360.0
    return make_cameras(az, el, image_size, device)
