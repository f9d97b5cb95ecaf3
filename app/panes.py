"""Small panes of the main window: the capped log, the profiler's top operators, the message banner."""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTableWidget, QTableWidgetItem, QWidget

LOG_LINES = 3000
_LEVEL_COLOURS = {"error": "#e06c75", "warning": "#e5c07b"}
_BANNER = {"error": "#5c1f24", "warning": "#5a4a16", "info": "#1f3b5c"}


class LogPane(QPlainTextEdit):
    """A read-only log that keeps at most ``LOG_LINES`` lines; warnings and errors are coloured."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(LOG_LINES)
        self.setStyleSheet("font-family: monospace; font-size: 9pt")

    def append(self, level: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        body = html.escape(text).replace("\n", "<br>")
        colour = _LEVEL_COLOURS.get(level)
        style = f' style="color:{colour}"' if colour else ""
        self.appendHtml(f"<span{style}>{stamp} {body}</span>")


class Banner(QLabel):
    """An inline message above the plots for warnings and errors (never a blocking dialog)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.setText(text)
        self.setStyleSheet(f"background: {_BANNER.get(level, _BANNER['info'])}; color: #f0f0f0; padding: 6px;")
        self.show()

    def clear_message(self) -> None:
        self.hide()
        self.setText("")


class ProfileTable(QTableWidget):
    """The top operators of a torch.profiler capture (Artifact kind "profile", info["top"])."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["Operator", "Calls", "Self ms", "Total CPU ms"])
        self.horizontalHeader().setStretchLastSection(True)
        self.setColumnWidth(0, 380)

    def show_rows(self, rows: list[dict]) -> None:
        self.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = (r.get("name", ""), r.get("calls", 0), r.get("self_ms", 0.0), r.get("total_cpu_ms", 0.0))
            for j, v in enumerate(values):
                self.setItem(i, j, QTableWidgetItem(f"{v:.3f}" if isinstance(v, float) else str(v)))
