"""The Gaussian-splat panel: the eight evaluation views as a grid, ground truth beside the fit, with SSIM,
coverage and IoU under each, refreshed from "renders" artifacts; and the Gaussians (ellipsoids coloured
by opacity) with the eight cameras (frustums) in a pyvista plotter, from gaussians.npz.

Torch-free: images come from the PNGs in the run directory (QPixmap), Gaussians from the npz.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from isoscope.core import events as ev

CELL_PX = 128
MAX_ELLIPSOIDS = 6000
ELLIPSOID_SIGMAS = 1.0
_CAPTION = "font-size: 9pt"


class ViewCell(QWidget):
    """One evaluation view: ground truth and fit side by side, a caption with its figures."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(2)
        self.gt, self.fit = QLabel(), QLabel()
        for col, (label, title) in enumerate(((self.gt, "truth"), (self.fit, "fit"))):
            label.setFixedSize(CELL_PX, CELL_PX)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("background: #15181e; color: #6b717c")
            label.setText(title)
            grid.addWidget(label, 0, col)
        self.caption = QLabel(f"view {index}")
        self.caption.setStyleSheet(_CAPTION)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(self.caption, 1, 0, 1, 2)

    def set_images(self, gt: str | None, fit: str | None) -> int:
        """Load the two PNGs; the number actually shown."""
        shown = 0
        for label, path in ((self.gt, gt), (self.fit, fit)):
            pix = QPixmap(path) if path and Path(path).exists() else QPixmap()
            if pix.isNull():
                label.setText("missing")
                continue
            label.setPixmap(pix.scaled(CELL_PX, CELL_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.FastTransformation))  # fmt: skip
            shown += 1
        return shown

    def set_figures(self, row: dict[str, Any]) -> None:
        self.caption.setText(
            f"view {self.index} · az {row.get('azimuth_deg', 0):.0f}°\n"
            f"SSIM {row.get('ssim', float('nan')):.3f} · coverage {row.get('coverage', float('nan')):.3f}"
            f" · IoU {row.get('iou', float('nan')):.3f}"
        )

    def clear(self) -> None:
        for label, title in ((self.gt, "truth"), (self.fit, "fit")):
            label.clear()
            label.setText(title)
        self.caption.setText(f"view {self.index}")


class SplatPanel(QWidget):
    """See the module docstring. ``viewport`` returns the window's viewport (or None) for the Gaussians."""

    def __init__(self, viewport: Callable[[], Any] | None = None, views: int = 8) -> None:
        super().__init__()
        self._viewport = viewport
        outer = QVBoxLayout(self)
        self.header = QLabel("Run a splat preset (splat-smoke, splat) to see the same Gaussians from eight cameras.")
        self.header.setStyleSheet("font-size: 10pt; padding: 4px")
        self.header.setWordWrap(True)
        outer.addWidget(self.header)
        body = QWidget()
        self.grid = QGridLayout(body)
        self.cells = [ViewCell(i) for i in range(views)]
        for i, cell in enumerate(self.cells):
            self.grid.addWidget(cell, i // 4, i % 4)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        outer.addWidget(scroll, 1)
        self.images_shown = 0
        self.updates = 0
        self.last_info: dict[str, Any] = {}

    def handle(self, e: Any) -> None:
        """Take any event; acts on Started, Artifact "renders" and "gaussians"."""
        if isinstance(e, ev.Started):
            self.clear()
        elif isinstance(e, ev.Artifact) and e.kind == "renders":
            self.show_renders(e.info)
        elif isinstance(e, ev.Artifact) and e.kind == "gaussians" and self._viewport is not None:
            vp = self._viewport()
            if vp is not None:
                try:
                    show_in_viewport(vp, e.path)
                except (OSError, ValueError, KeyError) as exc:
                    self.header.setText(f"cannot show the Gaussians from {e.path}: {exc}")

    def clear(self) -> None:
        for cell in self.cells:
            cell.clear()
        self.images_shown = 0
        self.last_info = {}

    def show_renders(self, info: dict[str, Any]) -> None:
        gts, fits, rows = info.get("gt_images", []), info.get("fit_images", []), info.get("views", [])
        shown = 0
        for i, cell in enumerate(self.cells):
            shown += cell.set_images(gts[i] if i < len(gts) else None, fits[i] if i < len(fits) else None)
            if i < len(rows):
                cell.set_figures(rows[i])
        self.images_shown = shown
        self.updates += 1
        self.last_info = info
        state = "final" if info.get("final") else "live"
        nan = float("nan")
        self.header.setText(
            f"Same Gaussians from {len(rows)} cameras, step {info.get('step', 0):,} ({state}): "
            f"mean SSIM {info.get('mean_ssim', nan):.3f} · coverage {info.get('mean_coverage', nan):.3f}"
            f" · IoU {info.get('mean_iou', nan):.3f}"
        )


# ---------------------------------------------------------------------- 3D
def ellipsoids(data: Any, max_count: int = MAX_ELLIPSOIDS) -> Any:
    """One PolyData of low-poly ellipsoids (ELLIPSOID_SIGMAS sigma) with an "opacity" point array."""
    import pyvista as pv

    means, scales, quats, op = (np.asarray(data[k], np.float64) for k in ("means", "scales", "quats", "opacities"))
    if len(means) > max_count:
        keep = np.argsort(-op)[:max_count]
        means, scales, quats, op = means[keep], scales[keep], quats[keep], op[keep]
    unit = pv.Sphere(radius=1.0, theta_resolution=8, phi_resolution=6)
    tv = np.asarray(unit.points)
    tf = np.asarray(unit.faces).reshape(-1, 4)[:, 1:]
    w, x, y, z = quats.T
    rot = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)  # fmt: skip
    rot = rot.reshape(-1, 3, 3)
    local = ELLIPSOID_SIGMAS * tv[None, :, :] * scales[:, None, :]  # (n, k, 3) in each Gaussian's frame
    pts = means[:, None, :] + np.einsum("nij,nkj->nki", rot, local)
    n, k = len(means), len(tv)
    faces = (tf[None] + (np.arange(n) * k)[:, None, None]).reshape(-1, 3)
    cells = np.hstack([np.full((len(faces), 1), 3), faces]).ravel()
    mesh = pv.PolyData(pts.reshape(-1, 3), cells)
    mesh["opacity"] = np.repeat(op, k)
    return mesh


def frustums(data: Any, size: float = 0.22) -> Any:
    """Line PolyData of the cameras: apex at the eye, an image rectangle ``size`` x distance in front."""
    import pyvista as pv

    centers = np.asarray(data["camera_centers"], np.float64)
    axes = np.asarray(data["camera_axes"], np.float64)  # rows: view +X (left), +Y (up), +Z (forward)
    depth = size * float(data["camera_distance"])
    half = depth * np.tan(np.radians(float(data["camera_fov_deg"])) / 2)
    pts, lines = [], []
    for c, (left, up, fwd) in zip(centers, axes, strict=True):
        base = len(pts)
        mid = c + depth * fwd
        corners = [mid + sx * half * left + sy * half * up for sx, sy in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
        pts += [c, *corners, mid + 1.4 * half * up]
        lines += [[2, base, base + i] for i in range(1, 5)]
        lines += [[2, base + i, base + 1 + i % 4] for i in range(1, 5)]
        lines += [[2, base + 1, base + 5], [2, base + 2, base + 5]]  # a roof marks "up"
    return pv.PolyData(np.asarray(pts), lines=np.asarray(lines).ravel())


def add_gaussians(plotter: Any, path: str | Path) -> dict[str, Any]:
    """Add the Gaussians of a gaussians.npz and its cameras to a pyvista plotter; the actors by name."""
    with np.load(path) as data:
        mesh = ellipsoids(data)
        cams = frustums(data) if "camera_centers" in data else None
        centers = np.asarray(data["camera_centers"]) if cams is not None else None
    actors = {
        "gaussians": plotter.add_mesh(
            mesh, scalars="opacity", cmap="viridis", clim=(0.0, 1.0), name="gaussians", render=False,
            smooth_shading=False,
            scalar_bar_args={"title": "opacity", "vertical": True, "position_x": 0.90, "position_y": 0.25,
                             "height": 0.5, "width": 0.05, "color": "#d7dae0", "fmt": "%.1f"},
        )
    }  # fmt: skip
    if cams is not None:
        actors["cameras"] = plotter.add_mesh(cams, color="#f2b84b", line_width=2, name="cameras", render=False)
        actors["camera_labels"] = plotter.add_point_labels(
            centers, [str(i) for i in range(len(centers))], font_size=11, text_color="#f2b84b", shape=None,
            show_points=False, always_visible=True, name="camera_labels", render=False,
        )  # fmt: skip
    return actors


def show_in_viewport(viewport: Any, path: str | Path) -> None:
    """Replace the viewport's Gaussians and cameras; the part stays, faded, for reference."""
    first = "gaussians" not in viewport.actors
    actors = add_gaussians(viewport.plotter, path)
    viewport.actors.update(actors)
    truth = viewport.actors.get("truth")
    if truth is not None:
        truth.GetProperty().SetOpacity(0.15)
    if first:  # frame the part, the Gaussians and the cameras together
        viewport.plotter.reset_camera(render=False)
    viewport.plotter.reset_camera_clipping_range()
    viewport.render()
