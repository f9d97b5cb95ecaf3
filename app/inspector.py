"""The inspector: a part's mesh-health findings, highlighted in the viewport, and point probes on the fit.

The findings come from :func:`isoscope.core.mesh.health.report` (torch-free), computed in a background thread so the
window stays responsive; a run's ``health.json`` is used when it matches. Selecting a finding adds
highlight actors to the viewport's plotter: open edges as red lines, non-manifold edges in orange,
flagged faces (small or inside-out bodies, flipped or thin regions) as coloured patches, points as
spheres. A right click on a surface picks a point: its original coordinates, true and predicted signed
distance (a ProbeRequest answered by the worker with a PointProbe) and the distance to the previous pick.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)  # fmt: skip

from isoscope.core import events as ev

SEVERITY_COLOURS = {"error": "#e06c75", "warning": "#e5c07b", "info": "#8fb4d8"}
EDGE_COLOURS = {"open_edges": "#ff3b30", "non_manifold_edges": "#ff9f0a"}
FACE_COLOURS = {"small_bodies": "#34c759", "inverted_bodies": "#bf5af2", "thin_features": "#0a84ff",
                "inconsistent_winding": "#ff2d95", "overlapping_bodies": "#64d2ff", "cavities": "#5e5ce6"}  # fmt: skip
POINT_COLOUR = "#ffd60a"


class InspectorPanel(QWidget):
    """Findings table, highlight actors and point picking; ``viewport`` is a callable returning the Viewport.

    ``send`` puts a command to the worker (returns False when none is serving).
    """

    report_ready = Signal(dict)
    probe_shown = Signal(object)

    def __init__(self, viewport: Any, send: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewport = viewport
        self._send = send
        self.part_path: str | None = None
        self.part: Any = None
        self.report: dict[str, Any] | None = None
        self.highlight_actors: dict[str, Any] = {}
        self.picks: list[np.ndarray] = []
        self.last_probe: ev.PointProbe | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
        self._future: Future | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(50)
        self._poll.timeout.connect(self._check_future)
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel("No part")
        self.title.setStyleSheet("font-weight: bold")
        self.res_box = QSpinBox()
        self.res_box.setRange(16, 2048)
        self.res_box.setValue(256)
        self.res_box.setToolTip("Reconstruction grid the thin-feature check compares against")
        self.check_btn = QPushButton("Check")
        self.check_btn.clicked.connect(self.refresh)
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("grid"))
        top.addWidget(self.res_box)
        top.addWidget(self.check_btn)
        layout.addLayout(top)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Severity", "Finding", "Count"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.itemSelectionChanged.connect(self._on_selection)
        layout.addWidget(self.table, 2)
        self.detail = QLabel("Open a part to see its mesh health.")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setMinimumHeight(70)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.detail, 1)
        self.probe_label = QLabel("Right-click a surface in the viewport to probe a point.")
        self.probe_label.setWordWrap(True)
        self.probe_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.probe_label.setStyleSheet("font-family: monospace")
        layout.addWidget(self.probe_label)
        self.clear_picks_btn = QPushButton("Clear picks")
        self.clear_picks_btn.clicked.connect(self.clear_picks)
        layout.addWidget(self.clear_picks_btn)

    # ------------------------------------------------------------------ part and report
    def set_part(self, path: str | Path, run_dir: str | Path | None = None) -> None:
        """Inspect a part: load it and compute (or read from run_dir/health.json) its health report."""
        self.part_path = str(path)
        self.title.setText(Path(path).name)
        self.clear_highlight()
        self.clear_picks()
        self._run_dir = Path(run_dir) if run_dir else None
        self.refresh()

    def refresh(self) -> None:
        if not self.part_path:
            return
        self.table.setRowCount(0)
        self.report = None
        self.detail.setText("Checking the mesh…")
        self.check_btn.setEnabled(False)
        # a newer request replaces the pending one: its result is dropped when it arrives
        self._future = self._pool.submit(_load_and_report, self.part_path, self.res_box.value(), self._run_dir)
        self._poll.start()

    def _check_future(self) -> None:
        if self._future is None or not self._future.done():
            return
        self._poll.stop()
        fut, self._future = self._future, None
        self.check_btn.setEnabled(True)
        try:
            self.part, rep = fut.result()
        except Exception as exc:  # noqa: BLE001 - a bad part is a message, never a crash
            self.part, self.report = None, None
            self.detail.setText(f"cannot check this part: {exc}")
            return
        self.show_report(rep)

    def show_report(self, rep: dict[str, Any]) -> None:
        self.report = rep
        found = rep.get("findings", [])
        self.table.setRowCount(len(found))
        for i, f in enumerate(found):
            sev = QTableWidgetItem(f["severity"])
            sev.setForeground(QBrush(QColor(SEVERITY_COLOURS.get(f["severity"], "#d7dae0"))))
            self.table.setItem(i, 0, sev)
            self.table.setItem(i, 1, QTableWidgetItem(f["title"]))
            self.table.setItem(i, 2, QTableWidgetItem(str(f["count"]) if f["count"] else ""))
        problems = sum(1 for f in found if f["severity"] != "info")
        if problems:
            self.detail.setText(f"{problems} problem(s) that matter to the fit. Select a finding to see it.")
        else:
            self.detail.setText("No problems that matter to the fit. Select a finding for details.")
        self.report_ready.emit(rep)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("findings", []))

    def select_finding(self, kind: str) -> bool:
        """Select the finding of this kind (as a click on its row would); False when there is none."""
        for i, f in enumerate(self.findings):
            if f["kind"] == kind:
                self.table.selectRow(i)
                return True
        return False

    def _on_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.report is None:
            return
        f = self.findings[rows[0].row()]
        cut = " <i>(the viewport marks the first 2000 only)</i>" if f.get("truncated") else ""
        self.detail.setText(f"<b>{f['title']}</b><br>{f['message']}{cut}")
        self.highlight(f)

    # ------------------------------------------------------------------ highlight actors
    def highlight(self, f: dict[str, Any]) -> None:
        import pyvista as pv

        vp = self._viewport()
        self.clear_highlight(render=False)
        kind = f["kind"]
        if f.get("segments"):
            segs = np.asarray(f["segments"], dtype=float).reshape(-1, 3)
            colour = EDGE_COLOURS.get(kind, "#ff3b30")
            self.highlight_actors["edges"] = vp.plotter.add_mesh(
                pv.line_segments_from_points(segs), color=colour, line_width=5, name="hl_edges", render=False,
                render_lines_as_tubes=True,
            )  # fmt: skip
        if f.get("faces") and self.part is not None and kind in FACE_COLOURS:
            from isoscope.app.viewport import _polydata

            faces = self.part.faces[np.asarray(f["faces"], dtype=np.int64)]
            self.highlight_actors["faces"] = vp.plotter.add_mesh(
                _polydata(self.part.vertices, faces), color=FACE_COLOURS[kind], opacity=0.85, name="hl_faces",
                render=False, show_edges=True, edge_color="#ffffff",
            )  # fmt: skip
        pts = f.get("points") if kind not in ("inverted_bodies", "overlapping_bodies", "cavities") else None
        if pts and kind not in EDGE_COLOURS:
            size = 8 if len(pts) > 200 else 14
            self.highlight_actors["points"] = vp.plotter.add_points(
                np.asarray(pts, dtype=float), color=FACE_COLOURS.get(kind, POINT_COLOUR), point_size=size,
                render_points_as_spheres=True, name="hl_points", render=False,
            )  # fmt: skip
        vp.render()

    def clear_highlight(self, render: bool = True) -> None:
        vp = self._viewport() if self.highlight_actors else None
        for name in list(self.highlight_actors):
            vp.plotter.remove_actor(self.highlight_actors.pop(name), render=False)
        if vp is not None and render:
            vp.render()

    # ------------------------------------------------------------------ picking and probes
    def enable_picking(self) -> None:
        """Right click on a surface picks a point (the camera keeps the left button)."""
        vp = self._viewport()

        def on_right(obj: Any, _event: str) -> None:
            x, y = obj.GetEventPosition()
            self.pick_at(x, y)

        vp.plotter.iren.add_observer("RightButtonPressEvent", on_right)

    def pick_at(self, x: int, y: int) -> np.ndarray | None:
        """Pick the surface point under display coordinates (x, y), as a click would; None if nothing is there."""
        from vtkmodules.vtkRenderingCore import vtkCellPicker

        vp = self._viewport()
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()  # surfaces only: the part, its fit and the error view, not planes or marks
        for name in ("truth", "fit"):
            actor = vp.actors.get(name)
            if actor is not None and actor.GetVisibility():
                picker.AddPickList(actor)
        for actor in vp.plotter.renderer.actors.values():
            if actor.GetVisibility() and getattr(actor, "_isoscope_surface", False):
                picker.AddPickList(actor)
        if not picker.Pick(x, y, 0, vp.plotter.renderer) or picker.GetCellId() < 0:
            return None
        point = np.asarray(picker.GetPickPosition(), dtype=float)
        self.pick(point)
        return point

    def pick(self, point: Any) -> None:
        import pyvista as pv

        p = np.asarray(point, dtype=float).reshape(3)
        self.picks = (self.picks + [p])[-2:]
        vp = self._viewport()
        self.highlight_actors["picks"] = vp.plotter.add_points(
            np.asarray(self.picks), color="#ffffff", point_size=12, render_points_as_spheres=True, name="hl_picks",
            render=False,
        )  # fmt: skip
        if len(self.picks) == 2:
            self.highlight_actors["measure"] = vp.plotter.add_mesh(
                pv.Line(self.picks[0], self.picks[1]), color="#ffffff", line_width=3, name="hl_measure", render=False
            )  # fmt: skip
        vp.render()
        sent = self._send(ev.ProbeRequest(tuple(float(c) for c in p)))
        why = getattr(self.window(), "no_answer", None) or "no worker is serving this part"
        self.probe_label.setText(self._probe_text(p, None if sent else why))

    def on_probe(self, probe: ev.PointProbe) -> None:
        self.last_probe = probe
        self.probe_label.setText(self._probe_text(np.asarray(probe.point), probe))
        self.probe_shown.emit(probe)

    def _probe_text(self, p: np.ndarray, probe: Any) -> str:
        lines = [f"point      ({p[0]:.5g}, {p[1]:.5g}, {p[2]:.5g})"]
        if isinstance(probe, ev.PointProbe):
            lines += [f"true SDF   {probe.truth:+.5g}", f"predicted  {probe.predicted:+.5g}",
                      f"error      {probe.predicted - probe.truth:+.5g}"]  # fmt: skip
        elif isinstance(probe, str):
            lines.append(f"SDF: {probe}")
        else:
            lines.append("SDF: asking the worker…")
        if len(self.picks) == 2:
            lines.append(f"distance   {float(np.linalg.norm(self.picks[1] - self.picks[0])):.5g} (to previous pick)")
        return "\n".join(lines)

    def clear_picks(self) -> None:
        self.picks = []
        vp = self._viewport() if any(k in self.highlight_actors for k in ("picks", "measure")) else None
        for name in ("picks", "measure"):
            if name in self.highlight_actors:
                vp.plotter.remove_actor(self.highlight_actors.pop(name), render=False)
        if vp is not None:
            vp.render()

    def shutdown(self) -> None:
        self._poll.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _load_and_report(path: str, resolution: int, run_dir: Path | None) -> tuple[Any, dict[str, Any]]:
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part

    part = load_part(path)
    cached = run_dir / "health.json" if run_dir else None
    if cached is not None and cached.exists():
        try:
            rep = json.loads(cached.read_text())
            if rep.get("resolution") == resolution and rep.get("faces") == len(part.faces):
                return part, rep
        except (OSError, ValueError):
            pass
    return part, report(part, resolution)
