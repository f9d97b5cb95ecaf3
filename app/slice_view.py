"""Where the fit goes wrong: a slice plane through the trained SDF beside the true SDF, and distance maps.

:class:`SlicePanel` drives an axis-aligned plane (axis + slider over the part's box, in original units),
draws it in the viewport, and asks the worker for a SliceRequest (debounced while the slider moves);
the SliceResult shows as two images with one diverging colour map and their zero contours: predicted
(left) and true (right), in the plane's proportions, panned and zoomed together. Hovering over either
reads the true and predicted SDF and their difference there; two clicks measure a distance on the plane.
:class:`FitErrorPanel` colours the part by its distance to the fitted mesh (the
viewport already colours the fit by its distance to the part) and plots both distance histograms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from isoscope.app.config_editor import CHECK_STYLE
from isoscope.app.plot_style import _plot, coloured
from isoscope.core import events as ev

AXES = ("x", "y", "z")


def _diverging() -> pg.ColorMap:
    return pg.ColorMap([0.0, 0.5, 1.0], [(59, 76, 192), (240, 240, 240), (180, 4, 38)])


class SlicePanel(QWidget):
    """See the module docstring. ``bounds()`` gives the part's box (lo, hi) in original units or None."""

    slice_shown = Signal(object)

    def __init__(self, viewport: Any, send: Any, bounds: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewport, self._send, self._bounds = viewport, send, bounds
        self.last: ev.SliceResult | None = None
        self.plane_actor: Any = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.axis_box = QComboBox()
        self.axis_box.addItems(list(AXES))
        self.axis_box.setCurrentIndex(2)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setValue(500)
        self.slider.setToolTip("Drag to move the slice plane through the part")
        self.res_box = QSpinBox()
        self.res_box.setRange(16, 512)
        self.res_box.setValue(128)
        self.offset_label = QLabel("")
        for w in (QLabel("axis"), self.axis_box):
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        row.addWidget(self.offset_label)
        row.addWidget(QLabel("res"))
        row.addWidget(self.res_box)
        layout.addLayout(row)
        self.status = QLabel("Move the plane to evaluate the trained network on it (needs a serving worker).")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.view = pg.GraphicsLayoutWidget()
        self.cmap = _diverging()
        self.images, self.contours, self.plots, self.marks = [], [], [], []
        for col, title in enumerate(("predicted SDF", "true SDF")):
            plot = self.view.addPlot(row=col, col=0, title=title)  # one above the other: the dock is tall
            plot.setPreferredHeight(60)  # both rows grow alike from here (their stretch is equal)
            img = pg.ImageItem()
            img.setColorMap(self.cmap)
            iso = pg.IsocurveItem(level=0.0, pen=pg.mkPen("#111111", width=2))
            iso.setParentItem(img)
            plot.addItem(img)
            mark = pg.PlotDataItem([], [], pen=pg.mkPen("#ffd60a", width=2), symbol="+", symbolSize=12,
                                   symbolPen=pg.mkPen("#ffd60a", width=2))  # fmt: skip
            plot.addItem(mark)
            self.plots.append(plot)
            self.images.append(img)
            self.contours.append(iso)
            self.marks.append(mark)
        self.plots[0].setAspectLocked(True)  # the plane's true proportions; the other view shows the same ranges
        self.plots[1].setXLink(self.plots[0])  # one pan or zoom moves both
        self.plots[1].setYLink(self.plots[0])
        self.bar = pg.ColorBarItem(colorMap=self.cmap, interactive=False, width=12)
        self.bar.setImageItem(self.images)
        self.view.addItem(self.bar, row=0, col=1, rowspan=2)  # its own column: both images the same size
        for row in (0, 1):
            self.view.ci.layout.setRowStretchFactor(row, 1)
        layout.addWidget(self.view, 1)
        self.readout = QLabel("Hover over a slice to read its values; click two points to measure between them.")
        self.readout.setStyleSheet("font-family: monospace")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self.clicks: list[tuple[float, float]] = []
        self.view.scene().sigMouseMoved.connect(self._mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._mouse_clicked)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self.request)
        self.slider.valueChanged.connect(self._moved)
        self.axis_box.currentIndexChanged.connect(self._moved)
        self.res_box.valueChanged.connect(lambda _: self._debounce.start())

    @property
    def axis(self) -> int:
        return self.axis_box.currentIndex()

    def offset(self) -> float:
        b = self._bounds()
        if b is None:
            return 0.0
        lo, hi = b
        return float(lo[self.axis] + (hi[self.axis] - lo[self.axis]) * self.slider.value() / 1000.0)

    def set_plane(self, axis: int, fraction: float) -> None:
        """Move the plane as a drag would: axis 0..2, fraction of the box along it."""
        for w in (self.axis_box, self.slider):
            w.blockSignals(True)
        self.axis_box.setCurrentIndex(axis)
        self.slider.setValue(int(round(np.clip(fraction, 0, 1) * 1000)))
        for w in (self.axis_box, self.slider):
            w.blockSignals(False)
        self._moved()

    def _moved(self) -> None:
        self.offset_label.setText(f"{AXES[self.axis]} = {self.offset():.4g}")
        self.draw_plane()
        self._debounce.start()

    def draw_plane(self) -> None:
        import pyvista as pv

        b = self._bounds()
        if b is None:
            return
        lo, hi = (np.asarray(v, dtype=float) for v in b)
        centre = 0.5 * (lo + hi)
        centre[self.axis] = self.offset()
        normal = np.zeros(3)
        normal[self.axis] = 1.0
        size = (hi - lo) * 1.1 + 1e-9
        u_ax, v_ax = [a for a in range(3) if a != self.axis]
        plane = pv.Plane(center=centre, direction=normal, i_size=size[u_ax], j_size=size[v_ax])
        if self.axis == 1:  # pv.Plane's i/j follow the direction; keep the box's sizes either way
            plane = pv.Plane(center=centre, direction=normal, i_size=size[v_ax], j_size=size[u_ax])
        vp = self._viewport()
        self.plane_actor = vp.plotter.add_mesh(plane, color="#56b6c2", opacity=0.35, name="slice_plane",
                                               render=False)  # fmt: skip
        vp.render()

    def request(self) -> bool:
        cmd = ev.SliceRequest(self.axis, self.offset(), self.res_box.value())
        ok = bool(self._send(cmd))
        if ok:
            self.status.setText(f"evaluating {AXES[self.axis]} = {cmd.offset:.4g}…")
        else:
            self.status.setText("no worker is serving this part: start a run (it answers during and after training)")
        return ok

    def on_slice(self, s: ev.SliceResult) -> None:
        self.last = s
        pred, truth = np.asarray(s.predicted, float), np.asarray(s.truth, float)
        lim = float(np.nanmax(np.abs(truth))) or 1.0
        u0, u1, v0, v1 = s.extent
        for img, iso, data in zip(self.images, self.contours, (pred, truth), strict=True):
            img.setImage(data.T, levels=(-lim, lim))  # rows are v, columns u; pyqtgraph wants (x, y)
            img.setRect(u0, v0, u1 - u0, v1 - v0)
            iso.setData(data.T)
        self.bar.setLevels((-lim, lim))
        self.plots[0].setRange(xRange=(u0, u1), yRange=(v0, v1), padding=0.02)  # the plane fills the panel
        self.clicks = []
        self._draw_marks()
        u_ax, v_ax = [AXES[a] for a in range(3) if a != s.axis]
        for plot in self.plots:
            plot.setLabel("bottom", u_ax)
            plot.setLabel("left", v_ax)
        err = np.abs(pred - truth)
        sign = float(((pred < 0) != (truth < 0)).mean())
        self.status.setText(f"{AXES[s.axis]} = {s.offset:.4g}: mean |error| {err.mean():.3g}, max {err.max():.3g} "
                            f"(original units); inside/outside disagree on {100 * sign:.1f}% of the plane")  # fmt: skip
        self.slice_shown.emit(s)

    def show_plane(self, on: bool) -> None:
        """Show the plane in the viewport only while the Slice tab is shown."""
        if self.plane_actor is not None and bool(self.plane_actor.GetVisibility()) != on:
            self.plane_actor.SetVisibility(on)
            self._viewport().render()

    # ------------------------------------------------------------------ readout and measuring
    def _plane_point(self, scene_pos: Any) -> tuple[float, float] | None:
        """The plane coordinates (u, v) under a scene position over either image, or None."""
        for plot in self.plots:
            if plot.sceneBoundingRect().contains(scene_pos):
                p = plot.vb.mapSceneToView(scene_pos)
                return float(p.x()), float(p.y())
        return None

    def values_at(self, u: float, v: float) -> tuple[float, float] | None:
        """(true, predicted) signed distance of the slice's sample under (u, v), or None outside it."""
        s = self.last
        if s is None:
            return None
        u0, u1, v0, v1 = s.extent
        truth = np.asarray(s.truth)
        n_v, n_u = truth.shape
        iu, iv = int((u - u0) / (u1 - u0) * n_u), int((v - v0) / (v1 - v0) * n_v)
        if not (0 <= iu < n_u and 0 <= iv < n_v):
            return None
        return float(truth[iv, iu]), float(np.asarray(s.predicted)[iv, iu])

    def hover_at(self, u: float, v: float) -> str:
        """Show the values under (u, v) in the readout, as hovering there does; the readout's text."""
        got = self.values_at(u, v)
        names = [AXES[a] for a in range(3) if a != (self.last.axis if self.last else self.axis)]
        where = f"{names[0]} {u:.4g}, {names[1]} {v:.4g}"
        if got is None:
            text = f"{where}: outside the slice"
        else:
            t, p = got
            text = f"{where}: true SDF {t:+.4g}, predicted {p:+.4g}, error {p - t:+.4g} (original units)"
        if len(self.clicks) == 2:
            (a, b), (c, d) = self.clicks
            text += f"\ndistance {float(np.hypot(c - a, d - b)):.4g} between the two clicked points"
        self.readout.setText(text)
        return text

    def click_at(self, u: float, v: float) -> None:
        """A click on the slice at (u, v): the first and second mark a distance, a third starts again."""
        self.clicks = (self.clicks if len(self.clicks) < 2 else []) + [(u, v)]
        self._draw_marks()
        self.hover_at(u, v)

    def _draw_marks(self) -> None:
        xs, ys = ([c[0] for c in self.clicks], [c[1] for c in self.clicks])
        for mark in self.marks:
            mark.setData(xs, ys)

    def _mouse_moved(self, pos: Any) -> None:
        p = self._plane_point(pos)
        if p is not None and self.last is not None:
            self.hover_at(*p)

    def _mouse_clicked(self, event: Any) -> None:
        p = self._plane_point(event.scenePos())
        if p is not None and self.last is not None and event.button() == Qt.MouseButton.LeftButton:
            self.click_at(*p)


class FitErrorPanel(QWidget):
    """Distance histograms, and the part coloured by its distance to the fit (toggle)."""

    def __init__(self, viewport: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewport = viewport
        self.part_actor: Any = None
        self.distances: dict[str, np.ndarray] = {}
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.colour_btn = QCheckBox("Colour part by distance to fit")
        self.colour_btn.setStyleSheet(CHECK_STYLE)  # ticked or not, the box shows on the dark panel
        self.colour_btn.toggled.connect(self.show_part_error)
        self.summary = QLabel("Needs a fitted mesh (after a run or Reconstruct now).")
        self.summary.setWordWrap(True)
        row.addWidget(self.colour_btn)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        colours = (("fit → part", "#e5a845"), ("part → fit", "#56b6c2"))
        self.plot = _plot("Distance histograms", "% of samples", "distance (original units)")
        self.plot.set_empty(True)  # no axes until there is a fit to measure
        names = QLabel(coloured(*colours))  # the curves' names in their colours, over no data
        names.setToolTip("fit → part: from the fitted mesh to the part; part → fit: from the part to the fit")
        layout.addWidget(names)
        self.curves = {
            name: self.plot.plot([0, 0], [0], stepMode="center", pen=pg.mkPen(colour, width=2))
            for name, colour in colours
        }
        layout.addWidget(self.plot, 1)

    def update_error(self) -> bool:
        """Recompute both distance sets from the viewport's part and fit; False when either is missing."""
        from scipy.spatial import cKDTree

        from isoscope.app.viewport import surface_sample

        vp = self._viewport()
        if vp.truth is None or vp.fit is None or not vp.fit.n_points:
            return False
        fit_pts = np.asarray(vp.fit.points, float)
        fit_faces = np.asarray(vp.fit.faces).reshape(-1, 4)[:, 1:] if vp.fit.n_cells else np.zeros((0, 3), int)
        fit_sample = surface_sample(fit_pts, fit_faces, 50_000, seed=1) if len(fit_faces) else fit_pts
        verts, faces = vp._truth_arrays
        part_sample = surface_sample(verts, faces, 50_000, seed=2)
        self.distances = {"fit → part": vp.distance_to_truth(fit_sample),
                          "part → fit": cKDTree(fit_sample).query(part_sample, workers=1)[0]}  # fmt: skip
        self._fit_tree = cKDTree(fit_sample)
        hi = max(float(np.percentile(d, 99.5)) for d in self.distances.values()) or 1e-9
        edges = np.linspace(0.0, hi, 61)
        for name, d in self.distances.items():
            counts, _ = np.histogram(np.clip(d, 0, hi), bins=edges)
            self.curves[name].setData(edges, 100.0 * counts / max(len(d), 1))
        self.plot.set_empty(False)
        f2p, p2f = self.distances["fit → part"], self.distances["part → fit"]
        self.summary.setText(f"Chamfer-L1 ≈ {0.5 * (f2p.mean() + p2f.mean()):.4g}; 95th percentile: fit → part "
                             f"{np.percentile(f2p, 95):.4g}, part → fit {np.percentile(p2f, 95):.4g} (original units)."
                             " Large part → fit distances mark parts of the part the fit misses.")  # fmt: skip
        if self.colour_btn.isChecked():
            self.show_part_error(True)
        return True

    def show_part_error(self, on: bool) -> None:
        vp = self._viewport()
        if self.part_actor is not None:
            vp.plotter.remove_actor(self.part_actor, render=False)
            self.part_actor = None
        if "distance to fit" in vp.plotter.scalar_bars.keys():  # its colour bar goes with it
            vp.plotter.remove_scalar_bar("distance to fit", render=False)
        truth = vp.actors.get("truth")
        if on and vp.truth is not None and (self.distances or self.update_error()):
            mesh = vp.truth.copy()
            mesh["distance to fit"] = self._fit_tree.query(np.asarray(mesh.points), workers=1)[0]
            hi = float(np.percentile(mesh["distance to fit"], 99)) or 1e-9
            self.part_actor = vp.plotter.add_mesh(
                mesh, scalars="distance to fit", cmap="viridis", clim=(0, hi), name="part_error", render=False,
                scalar_bar_args={"title": "distance to fit", "color": "#d7dae0", "fmt": "%.2g", "vertical": True,
                                 "position_x": 0.80, "position_y": 0.2, "height": 0.55, "width": 0.14,
                                 "title_font_size": 12, "label_font_size": 11},  # its title inside the view
            )  # fmt: skip
            self.part_actor._isoscope_surface = True  # pickable like the part it stands for
            if truth is not None:
                truth.SetVisibility(False)
        elif truth is not None:
            vp._apply_visibility(render=False)
        vp.render()
