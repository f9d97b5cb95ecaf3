"""The Images tab: the images a script's run wrote (``run.image(name, array)``), the latest of each name,
picked from a list and scaled to the panel. Torch-free: they are PNGs in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from isoscope.core import events as ev


class ImagesPanel(QWidget):
    """See the module docstring; ``handle`` takes every event, live or replayed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.names = QComboBox()
        self.names.setToolTip("The images the run wrote (the latest of each name)")
        self.view = QLabel("No images: a script's run shows here what it writes with run.image(name, array)")
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setMinimumSize(200, 150)
        self.view.setStyleSheet("background: #15181e; color: #7f848e")
        self.caption = QLabel("")
        layout.addWidget(self.names)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.paths: dict[str, tuple[str, int]] = {}  # name -> (path, step)
        self._pixmap: QPixmap | None = None
        self.names.currentTextChanged.connect(self._show)

    def handle(self, e: Any) -> None:
        if not (isinstance(e, ev.Artifact) and e.kind == "image"):
            return
        name = str(e.info.get("name") or Path(e.path).stem)
        self.paths[name] = (e.path, int(e.info.get("step", 0)))
        if self.names.findText(name) < 0:
            self.names.addItem(name)
        if self.names.currentText() == name:
            self._show(name)

    def clear(self) -> None:
        self.paths.clear()
        self.names.clear()
        self.view.clear()
        self._pixmap = None
        self.caption.setText("")

    def _show(self, name: str) -> None:
        if name not in self.paths:
            return
        path, step = self.paths[name]
        pix = QPixmap(path)
        if pix.isNull():
            self.caption.setText(f"{name}: cannot read {path}")
            return
        self._pixmap = pix
        self._fit()
        self.caption.setText(f"{name}, step {step:,} ({pix.width()}x{pix.height()})")

    def _fit(self) -> None:
        if self._pixmap is not None:
            size = self.view.size()
            # an image enlarged more than twice keeps its pixels sharp
            big = size.width() > 2 * self._pixmap.width() and size.height() > 2 * self._pixmap.height()
            mode = Qt.TransformationMode.FastTransformation if big else Qt.TransformationMode.SmoothTransformation
            self.view.setPixmap(self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()
