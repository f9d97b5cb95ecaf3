"""Past runs: the list of run directories under a root, open one, overlay another, export its series as CSV
(the rows of ``isoscope-export``)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from isoscope.core.export import ExportError, export_run
from isoscope.core.runs.follow import list_runs


class RunsPanel(QWidget):
    """A list of runs under ``root``; emits ``open_requested`` / ``overlay_requested`` with a run path."""

    open_requested = Signal(str)
    overlay_requested = Signal(str)
    message = Signal(str, str)  # level, text

    def __init__(self, root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = Path(root)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.root_label = QLabel()
        self.root_label.setWordWrap(True)
        self.root_label.setStyleSheet("color: #9aa0a6")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Part", "Preset", "Status", "Started"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setColumnWidth(0, 110)
        self.tree.setColumnWidth(1, 60)
        self.tree.setColumnWidth(2, 60)
        self.tree.itemDoubleClicked.connect(
            lambda item, _: self.open_requested.emit(item.data(0, Qt.ItemDataRole.UserRole))
        )
        buttons = QHBoxLayout()
        self.open_btn = QPushButton("Open")
        self.open_btn.setToolTip("Show this run's curves, timings and mesh")
        self.overlay_btn = QPushButton("Overlay")
        self.overlay_btn.setToolTip("Draw this run's loss curves over the current ones")
        self.export_btn = QPushButton("CSV…")
        self.export_btn.setToolTip("Export every series of this run as CSV (as isoscope-export)")
        self.refresh_btn = QPushButton("Refresh")
        self.root_btn = QPushButton("Folder…")
        self.root_btn.setToolTip("Choose the folder that holds run directories")
        for b in (self.open_btn, self.overlay_btn, self.export_btn, self.refresh_btn, self.root_btn):
            b.setMinimumWidth(0)
            b.setStyleSheet("padding: 3px 6px")  # five buttons in a narrow dock
            buttons.addWidget(b)
        layout.addWidget(self.root_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.open_btn.clicked.connect(lambda: self._emit_selected(self.open_requested))
        self.overlay_btn.clicked.connect(lambda: self._emit_selected(self.overlay_requested))
        self.export_btn.clicked.connect(self._export)
        self.refresh_btn.clicked.connect(self.refresh)
        self.root_btn.clicked.connect(self._choose_root)
        self.refresh()

    def set_root(self, root: Path) -> None:
        self.root = Path(root)
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        self.root_label.setText(f"Runs in {self.root}")
        for info in list_runs(self.root):
            stamp = time.strftime("%m-%d %H:%M", time.localtime(info.started))
            item = QTreeWidgetItem([info.part, info.preset, info.status, stamp])
            item.setData(0, Qt.ItemDataRole.UserRole, str(info.path))
            item.setToolTip(0, str(info.path))
            self.tree.addTopLevelItem(item)

    def run_paths(self) -> list[str]:
        return [
            self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(self.tree.topLevelItemCount())
        ]

    def selected(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _emit_selected(self, signal: Signal) -> None:
        path = self.selected()
        if path is None:
            self.message.emit("warning", "select a run in the list first")
            return
        signal.emit(path)

    def _export(self) -> None:
        path = self.selected()
        if path is None:
            self.message.emit("warning", "select a run in the list first")
            return
        out, _ = QFileDialog.getSaveFileName(self, "Export metrics", str(Path(path) / "metrics.csv"), "CSV (*.csv)")
        if out:
            try:
                n = export_run(path, csv_path=out)
                self.message.emit("info", f"wrote {n} rows to {out}")
            except (OSError, ExportError) as exc:
                self.message.emit("error", f"cannot export: {exc}")

    def _choose_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.root))
        if folder:
            self.set_root(Path(folder))
