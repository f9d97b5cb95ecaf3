"""The 3D viewport: the input part, training points coloured by signed distance, and the fitted mesh.

A pyvistaqt QtInteractor composed inside :class:`Viewport` with a row of controls: which surfaces to
show (ground truth, fit, both overlaid), the training points, and a clipping plane. The fit is coloured
by its distance to the part (nearest points on a dense sample of the part's surface, scipy cKDTree).
Everything renders explicitly after an update; ``close()`` stops the interactor's timers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget
from pyvistaqt import QtInteractor
from vtkmodules.vtkCommonDataModel import vtkPlane
from vtkmodules.vtkIOPLY import vtkPLYReader

from isoscope.core.mesh.part import face_areas, read_stl

MODES = {"Ground truth": "truth", "Fit": "fit", "Both": "both"}
SURFACE_SAMPLES = 200_000


def _polydata(vertices: np.ndarray, faces: np.ndarray) -> pv.PolyData:
    cells = np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces.astype(np.int64)]).ravel()
    return pv.PolyData(np.asarray(vertices, dtype=np.float64), cells)


def surface_sample(vertices: np.ndarray, faces: np.ndarray, n: int = SURFACE_SAMPLES, seed: int = 0) -> np.ndarray:
    """Area-weighted random points on a triangle mesh, plus its vertices."""
    rng = np.random.default_rng(seed)
    areas = face_areas(vertices, faces)
    if areas.sum() <= 0:
        return np.asarray(vertices, dtype=np.float64)
    idx = rng.choice(len(faces), size=n, p=areas / areas.sum())
    tri = vertices[faces[idx]]
    r1, r2 = rng.random((2, n, 1))
    s = np.sqrt(r1)
    pts = (1 - s) * tri[:, 0] + s * (1 - r2) * tri[:, 1] + s * r2 * tri[:, 2]
    return np.vstack([pts, vertices])


def read_mesh(path: str | Path) -> pv.PolyData:
    """A PLY or STL mesh as PolyData, read by the format's own reader.

    ``pv.read`` looks the reader up in the installed packages' entry points first, about a second of CPU
    on every call; a mesh arrives whenever the worker reconstructs, during training too.
    """
    path = Path(path)
    if path.suffix.lower() == ".stl":
        return _polydata(*read_stl(path))
    if path.suffix.lower() != ".ply":
        mesh = pv.read(str(path))
        return mesh if isinstance(mesh, pv.PolyData) else mesh.extract_surface()
    if not path.is_file():
        raise OSError(f"no such file: {path}")
    reader = vtkPLYReader()
    reader.SetFileName(str(path))
    reader.Update()
    return pv.wrap(reader.GetOutput())


def own_native_window(canvas: QWidget) -> None:
    """Give the widget holding the OpenGL interactor a native window of its own.

    A QOpenGLWidget makes Qt compose the whole top-level window through OpenGL on every flush, which on a
    software-rendered display costs 20-50 ms of CPU even when only a status-bar label changed. Inside a
    native child only that child is composed that way; the rest of the window flushes as plain pixels
    (under 1 ms). The attribute must be set after the interactor is in place (before, its framebuffer is
    never created), and the ancestors stay non-native. Build the Viewport without a parent and place it
    afterwards: an interactor created inside a window that is already shown switches that whole window to
    OpenGL composition at once, for good.
    """
    canvas.setAttribute(Qt.WidgetAttribute.WA_DontCreateNativeAncestors)
    canvas.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)


class Viewport(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 0)
        self.mode_box = QComboBox()
        self.mode_box.addItems(list(MODES))
        self.mode_box.setCurrentText("Both")
        self.mode_box.setToolTip("Show the input part (ground truth), the reconstructed mesh (fit), or both")
        self.points_box = QCheckBox("Points")
        self.points_box.setToolTip("Training points coloured by signed distance (a subsample)")
        self.clip_box = QCheckBox("Clip")
        self.clip_box.setToolTip("Cut every surface with a plane normal to the chosen axis")
        self.axis_box = QComboBox()
        self.axis_box.addItems(["x", "y", "z"])
        self.clip_slider = QSlider(Qt.Orientation.Horizontal)
        self.clip_slider.setRange(0, 100)
        self.clip_slider.setValue(50)
        self.clip_slider.setMinimumWidth(50)  # a slider, not a lone square, in a narrow viewport
        self.clip_slider.setToolTip("Where the clipping plane cuts, along the chosen axis")
        self.clip_slider.setVisible(False)  # shown with Clip: unticked, the row keeps the viewport narrow
        self.clip_box.toggled.connect(self.clip_slider.setVisible)
        self.info = QLabel("")
        self.info.setStyleSheet("color: #9aa0a6")
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        for w in (QLabel("Show"), self.mode_box, self.points_box, self.clip_box, self.axis_box):
            row.addWidget(w)
        row.addWidget(self.clip_slider, 1)
        row.addWidget(self.info)
        layout.addLayout(row)
        self.canvas = QWidget(self)
        canvas_layout = QVBoxLayout(self.canvas)
        canvas_layout.setContentsMargins(0, 0, 0, 0)
        self.plotter = QtInteractor(self.canvas, auto_update=False)
        self.plotter.set_background("#2b303b", top="#15181e")
        self.plotter.add_axes(color="#d7dae0")
        canvas_layout.addWidget(self.plotter.interactor)
        own_native_window(self.canvas)
        layout.addWidget(self.canvas, 1)
        self.plane = vtkPlane()
        self.truth: pv.PolyData | None = None
        self.fit: pv.PolyData | None = None
        self.points: pv.PolyData | None = None
        self.actors: dict[str, Any] = {}
        self._tree: Any = None
        self._bounds: tuple[float, ...] | None = None
        self.mode_box.currentTextChanged.connect(lambda _: self._apply_visibility())
        self.points_box.toggled.connect(lambda _: self._apply_visibility())
        self.clip_box.toggled.connect(lambda _: self._apply_clip())
        self.axis_box.currentIndexChanged.connect(lambda _: self._apply_clip())
        self.clip_slider.valueChanged.connect(lambda _: self._apply_clip())

    # ------------------------------------------------------------------ content
    def clear(self) -> None:
        for name in list(self.actors):
            self.plotter.remove_actor(self.actors.pop(name), render=False)
        for title in list(self.plotter.scalar_bars.keys()):
            self.plotter.remove_scalar_bar(title, render=False)
        self.truth = self.fit = self.points = None
        self._tree = None
        self._bounds = None
        self.info.setText("")
        self.render()

    def set_part(self, path: str | Path) -> None:
        """Show an STL part as the ground truth (raises isoscope.core.mesh.part.PartError for a bad file)."""
        verts, faces = read_stl(path)
        self.clear()
        self.truth = _polydata(verts, faces)
        self._truth_arrays = (verts, faces)
        self._bounds = self.truth.bounds
        self.actors["truth"] = self.plotter.add_mesh(self.truth, color="#c8ccd4", smooth_shading=False,
                                                     name="truth", render=False)  # fmt: skip
        self.info.setText(f"{Path(path).name}: {len(faces):,} triangles")
        self._apply_visibility(render=False)
        self._apply_clip(render=False)
        self.plotter.reset_camera(render=False)
        self.plotter.camera.azimuth = 35
        self.plotter.camera.elevation = 25
        self.plotter.reset_camera(render=False)
        self.render()

    def set_points(self, path: str | Path) -> None:
        """Take the training points; their actor is built when the Points box is (or gets) ticked, so a
        run that nobody looks at the points of spends no render on them."""
        with np.load(path) as data:
            pts, sdf = np.asarray(data["points"], float), np.asarray(data["sdf"], float)
        if "points" in self.actors:
            self.plotter.remove_actor(self.actors.pop("points"), render=False)
            if "signed distance" in self.plotter.scalar_bars.keys():  # placed by us, so pyvista keeps it
                self.plotter.remove_scalar_bar("signed distance", render=False)
        self.points = pv.PolyData(pts)
        self.points["signed distance"] = sdf
        if self.points_box.isChecked():
            self._apply_visibility()

    def _add_points_actor(self) -> None:
        assert self.points is not None
        sdf = np.asarray(self.points["signed distance"])
        lim = float(np.percentile(np.abs(sdf), 98)) or 1.0
        self.actors["points"] = self.plotter.add_mesh(
            self.points, scalars="signed distance", cmap="coolwarm", clim=(-lim, lim), point_size=3,
            name="points", render=False,
            scalar_bar_args={"title": "signed distance", "position_x": 0.25, "position_y": 0.86, "width": 0.5,
                             "height": 0.06, "color": "#d7dae0", "fmt": "%.2g", "n_labels": 3},  # the fit's is below
        )  # fmt: skip
        self._apply_clip(render=False)

    def set_fit_mesh(self, path: str | Path) -> None:
        """Show the reconstructed mesh, coloured by its distance to the part when the part is known."""
        mesh = read_mesh(path)
        self.fit = mesh
        kwargs: dict[str, Any] = {"name": "fit", "render": False, "smooth_shading": False}
        if self.truth is not None and mesh.n_points:
            dist = self.distance_to_truth(np.asarray(mesh.points))
            mesh["distance to part"] = dist
            hi = float(np.percentile(dist, 99)) or 1e-9
            bar = {"title": "distance to part", "color": "#d7dae0", "fmt": "%.2g", "position_x": 0.25,
                   "position_y": 0.03, "width": 0.5, "height": 0.06, "n_labels": 3}  # fmt: skip
            kwargs.update(scalars="distance to part", cmap="plasma", clim=(0.0, hi), scalar_bar_args=bar)
        else:
            kwargs["color"] = "#e5a845"
        first = "fit" not in self.actors
        self.actors["fit"] = self.plotter.add_mesh(mesh, **kwargs)
        self.info.setText(f"fit: {mesh.n_points:,} vertices, {mesh.n_cells:,} faces")
        if self._bounds is None:
            self._bounds = mesh.bounds
        if first:  # frame the part and the first fit together; later refreshes keep the user's camera
            self.plotter.reset_camera(render=False)
        self._apply_visibility(render=False)
        self._apply_clip(render=False)
        self.render()

    def distance_to_truth(self, points: np.ndarray) -> np.ndarray:
        """Distance from each point to the nearest point of a dense sample of the part's surface."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            verts, faces = self._truth_arrays
            self._tree = cKDTree(surface_sample(verts, faces))
        dist, _ = self._tree.query(points, workers=1)
        return dist.astype(np.float64)

    # ------------------------------------------------------------------ view state
    @property
    def mode(self) -> str:
        return MODES[self.mode_box.currentText()]

    def set_mode(self, mode: str) -> None:
        self.mode_box.setCurrentText({v: k for k, v in MODES.items()}[mode])

    def _apply_visibility(self, render: bool = True) -> None:
        mode = self.mode
        if self.points is not None and self.points_box.isChecked() and "points" not in self.actors:
            self._add_points_actor()
        truth, fit, points = self.actors.get("truth"), self.actors.get("fit"), self.actors.get("points")
        if truth is not None:
            truth.SetVisibility(mode in ("truth", "both") or fit is None)
            overlaid = mode == "both" and fit is not None
            truth.GetProperty().SetOpacity(0.3 if overlaid else 1.0)
        if fit is not None:
            fit.SetVisibility(mode in ("fit", "both"))
        if points is not None:
            points.SetVisibility(self.points_box.isChecked())
        self._bar_visibility("signed distance", points is not None and self.points_box.isChecked())
        self._bar_visibility("distance to part", fit is not None and mode in ("fit", "both"))
        if render:
            self.render()

    def _bar_visibility(self, title: str, on: bool) -> None:
        bars = self.plotter.scalar_bars
        bar = bars[title] if title in bars.keys() else None
        if bar is not None:
            bar.SetVisibility(on)

    def _apply_clip(self, render: bool = True) -> None:
        if self._bounds is None:
            return
        axis = self.axis_box.currentIndex()
        lo, hi = self._bounds[2 * axis], self._bounds[2 * axis + 1]
        origin = [0.5 * (self._bounds[0] + self._bounds[1]), 0.5 * (self._bounds[2] + self._bounds[3]),
                  0.5 * (self._bounds[4] + self._bounds[5])]  # fmt: skip
        origin[axis] = lo + (hi - lo) * self.clip_slider.value() / 100.0
        normal = [0.0, 0.0, 0.0]
        normal[axis] = -1.0
        self.plane.SetOrigin(*origin)
        self.plane.SetNormal(*normal)
        for actor in self.actors.values():
            mapper = actor.GetMapper()
            mapper.RemoveAllClippingPlanes()
            if self.clip_box.isChecked():
                mapper.AddClippingPlane(self.plane)
        if render:
            self.render()

    def render(self) -> None:
        self.plotter.render()

    def actor_names(self) -> list[str]:
        return list(self.actors)

    def close(self) -> bool:  # type: ignore[override]
        self.plotter.close()
        return super().close()
