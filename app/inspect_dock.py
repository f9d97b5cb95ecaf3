"""Puts the inspector into the main window: a dock with Findings, Slice, Fit error and Dataset tabs.

:func:`install_inspector` builds the panels, shares the window's viewport and worker, and wires the
window's signals: a started job inspects its part, slices and probes come back from the worker, a fitted
mesh the window shows (``fit_shown``) refreshes the error view, and a double click on a Dataset row (the
window adds one per ended part) opens that run and its part in the inspector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QTabWidget

from isoscope.app.dataset_table import DatasetTable
from isoscope.app.inspector import InspectorPanel
from isoscope.app.slice_view import FitErrorPanel, SlicePanel
from isoscope.core import events as ev


class InspectorDock(QDockWidget):
    """The dock; its panels are ``inspector``, ``slices``, ``errors`` and ``dataset``."""

    def __init__(self, window: Any) -> None:
        super().__init__("Inspector", window)
        self.setObjectName("inspector_dock")
        self.window_ = window
        viewport = window.ensure_viewport
        send = window.client.send
        self.inspector = InspectorPanel(viewport, send)
        self.slices = SlicePanel(viewport, send, self._bounds)
        self.errors = FitErrorPanel(viewport)
        self.dataset = DatasetTable()
        self.tabs = QTabWidget()
        for panel, name in ((self.inspector, "Findings"), (self.slices, "Slice"), (self.errors, "Fit error"),
                            (self.dataset, "Dataset")):  # fmt: skip
            self.tabs.addTab(panel, name)
        self.setWidget(self.tabs)
        c = window.client
        c.started.connect(self._on_started)
        c.slice_result.connect(self.slices.on_slice)
        c.point_probe.connect(self.inspector.on_probe)
        window.setup.part_changed.connect(self._on_part_changed)
        self.dataset.open_requested.connect(self.open_part)
        self.tabs.currentChanged.connect(lambda _: self._error_due())
        self.tabs.currentChanged.connect(lambda _: self.slices.show_plane(self.tabs.currentWidget() is self.slices))
        self.errors.colour_btn.toggled.connect(lambda _: self._error_due())
        self._error_stale = False  # a new fit arrived while the Fit error tab was not shown
        QTimer.singleShot(250, self._late_setup)  # after the first paint and the window's own viewport build

    def _late_setup(self) -> None:
        if not self.window_.closed and self.window_.ensure_viewport() is not None:
            self.inspector.enable_picking()

    def _bounds(self) -> Any:
        part = self.inspector.part
        if part is not None:
            return part.bbox
        b = getattr(self.window_.viewport, "_bounds", None)
        return None if b is None else ((b[0], b[2], b[4]), (b[1], b[3], b[5]))

    def _on_started(self, e: ev.Started) -> None:
        self.inspector.set_part(e.part, e.run_dir)

    def _on_part_changed(self, part: str) -> None:
        if not self.window_.client.is_active() and Path(part).is_file():
            self.inspector.set_part(part)

    def fit_shown(self) -> None:
        """The viewport shows a new fitted mesh (live, reconstructed now, or of a run opened): measure it when
        the Fit error view is seen."""
        self._error_stale = True
        self._error_due()

    def _error_due(self) -> None:
        """Measure the fit's error when someone can see it (its tab, or the part coloured by it): on a rough
        early fit the nearest-point queries take seconds, which a hidden panel must not cost the window."""
        if self._error_stale and (self.tabs.currentWidget() is self.errors or self.errors.colour_btn.isChecked()):
            self._error_stale = not self.errors.update_error()  # no fit to measure yet: still due

    def open_part(self, part: str, run_dir: str) -> None:
        """Open a dataset row: the run's curves and mesh in the window, its part in the inspector."""
        if run_dir and Path(run_dir).is_dir() and not self.window_.client.is_active():
            self.window_.open_run(run_dir)
        elif part and Path(part).is_file() and not self.window_.client.is_active():
            self.window_._show_part(part)
        if part:
            self.inspector.set_part(part, run_dir or None)
        self.tabs.setCurrentWidget(self.inspector)
        self._error_stale = True
        self._error_due()

    def shutdown(self) -> None:
        self.inspector.shutdown()


def install_inspector(window: Any) -> InspectorDock:
    """Add the inspector dock to ``window`` (once) on the right; returns it."""
    dock = getattr(window, "inspector_dock", None)
    if dock is None:
        dock = InspectorDock(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        window.inspector_dock = dock
    return dock
