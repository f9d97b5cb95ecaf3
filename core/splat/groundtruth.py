"""Ground-truth renders of a part: colour with a fixed shading, silhouette and depth, cached per camera set.

The mesh is rasterised once per camera set with pytorch3d's MeshRasterizer (one batched call in
chunks, never per step). Shading is Lambertian under two lights fixed in the world, so a point of the
part has the same colour from every view: what constant-colour Gaussians can represent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from isoscope.core.splat.cameras import CameraSet

BASE_COLOUR = (0.62, 0.76, 0.95)
KEY_LIGHT = (0.45, -0.35, 0.82)
FILL_LIGHT = (-0.6, 0.7, -0.25)
AMBIENT, KEY, FILL = 0.22, 0.68, 0.25
CHUNK = 16


@dataclass
class Views:
    """Ground truth of V views: image (V, S, S, 3) in [0, 1], silhouette (V, S, S) bool, depth (V, S, S)."""

    image: torch.Tensor
    silhouette: torch.Tensor
    depth: torch.Tensor

    def select(self, index: torch.Tensor) -> Views:
        return Views(self.image[index], self.silhouette[index], self.depth[index])


class GroundTruth:
    """Renders one mesh (normalised frame) from camera sets; results are cached by the set's key."""

    def __init__(self, verts: torch.Tensor, faces: torch.Tensor, background: float = 0.0) -> None:
        from pytorch3d.structures import Meshes

        self.device = verts.device
        self.mesh = Meshes([verts.float()], [faces.long()])
        self.background = background
        n = self.mesh.faces_normals_packed()
        light = torch.tensor([KEY_LIGHT, FILL_LIGHT], device=self.device)
        light = torch.nn.functional.normalize(light, dim=-1)
        lam = (n @ light.T).clamp_min(0.0)
        shade = (AMBIENT + KEY * lam[:, 0] + FILL * lam[:, 1]).clamp(max=1.0)
        self.face_colour = shade[:, None] * torch.tensor(BASE_COLOUR, device=self.device)
        self._cache: dict[tuple, Views] = {}
        self.rendered_sets = 0

    def views(self, cams: CameraSet) -> Views:
        """The ground truth of ``cams``, rendered on first use and cached afterwards."""
        key = cams.key()
        if key not in self._cache:
            parts = [self._render(cams.subset(list(range(i, min(i + CHUNK, len(cams))))))
                     for i in range(0, len(cams), CHUNK)]  # fmt: skip
            self._cache[key] = Views(*(torch.cat([getattr(p, k) for p in parts]) for k in ("image", "silhouette",
                                                                                           "depth")))  # fmt: skip
            self.rendered_sets += 1
        return self._cache[key]

    @torch.no_grad()
    def _render(self, cams: CameraSet) -> Views:
        from pytorch3d.renderer import MeshRasterizer, RasterizationSettings

        F = self.mesh.num_faces_per_mesh()[0].item()
        settings = RasterizationSettings(
            image_size=cams.image_size,
            blur_radius=0.0,
            faces_per_pixel=1,
            bin_size=0 if self.device.type == "cpu" else None,
            max_faces_per_bin=max(10_000, int(F)),
            cull_backfaces=False,
        )
        frags = MeshRasterizer(cameras=cams.pytorch3d(), raster_settings=settings)(self.mesh.extend(len(cams)))
        pix = frags.pix_to_face[..., 0]  # (V, S, S), packed face index or -1
        sil = pix >= 0
        colour = self.face_colour[pix.clamp_min(0) % F]
        image = torch.where(sil[..., None], colour, torch.full_like(colour, self.background))
        depth = torch.where(sil, frags.zbuf[..., 0], torch.zeros_like(frags.zbuf[..., 0]))
        return Views(image.contiguous(), sil, depth)
