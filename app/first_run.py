"""The welcome strip shown when the window opens without a part, and the application icon.

The strip says what to do in three steps, puts the sample parts one click away (and "Open your own
part…"), and says where runs are saved. It goes away once a part is chosen, a run is opened or a job
starts, or with its close button. ``attach_first_run(window)`` adds it above the monitor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from isoscope import resources
from isoscope.app.job_client import JobState

_STYLE = """
#first_run { background: #1f2a38; border: 1px solid #34506f; border-radius: 6px; }
#first_run QLabel { color: #d7dae0; }
#first_run QLabel#first_run_title { font-size: 13pt; font-weight: 600; }
#first_run QLabel#first_run_where { color: #9aa0a6; }
#first_run QPushButton { padding: 6px 12px; text-align: left; }
#first_run QPushButton#sample_part { background: #2d4a6e; border: 1px solid #4a76a8; border-radius: 4px; }
#first_run QPushButton#sample_part:hover { background: #3a5d88; }
"""


def app_icon() -> QIcon:
    """The isoscope icon at every packaged size (an empty icon when the files are missing)."""
    icon = QIcon()
    for path in resources.icon_files():
        icon.addFile(str(path))
    return icon


class FirstRunPanel(QFrame):
    """See the module docstring. ``part_chosen(path)`` fires for a sample; ``open_requested`` for Open."""

    part_chosen = Signal(str)
    open_requested = Signal()

    def __init__(self, runs_root: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("first_run")
        self.setStyleSheet(_STYLE)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(14, 10, 8, 10)
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        outer.addWidget(icon)
        text = QVBoxLayout()
        title = QLabel("Welcome to isoscope: watch a neural SDF learn a part")
        title.setObjectName("first_run_title")
        title.setWordWrap(True)
        steps = QLabel(
            "<b>1.</b> Pick a part: one of the samples below, <i>Open your own part…</i>, or drop an STL file"
            " on the window.<br><b>2.</b> {preset}"
            "<br><b>3.</b> Press <b>▶ Start</b>. The loss, the time spent in each phase and the fitted mesh"
            " appear below as it trains."
        )
        steps.setWordWrap(True)
        self.steps, self._steps_text = steps, steps.text()  # step 2 is filled in by show_preset
        self.show_preset("smoke")
        text.addWidget(title)
        text.addWidget(steps)
        row = QHBoxLayout()
        row.addWidget(QLabel("Samples:"))
        self.sample_buttons: list[QPushButton] = []
        for part in resources.sample_parts():
            button = QPushButton(part.stem)
            button.setObjectName("sample_part")
            button.setToolTip(f"{resources.sample_note(part) or part.name}\n{part}")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, p=str(part): self.part_chosen.emit(p))
            row.addWidget(button)
            self.sample_buttons.append(button)
        own = QPushButton("Open your own part…")
        own.clicked.connect(self.open_requested.emit)
        row.addWidget(own)
        row.addStretch(1)
        text.addLayout(row)
        where = QLabel(f"Runs are saved in {runs_root} (the Runs tab lists them).")
        where.setObjectName("first_run_where")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where.setWordWrap(True)
        text.addWidget(where)
        outer.addLayout(text, 1)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Hide this")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        outer.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    def show_preset(self, preset: str) -> None:
        """Step 2 names the preset the Preset box shows: keep it when it is smoke, else choose smoke."""
        step = ("Keep the <i>smoke</i> preset" if preset == "smoke" else
                f"Choose the <i>smoke</i> preset (the box shows <i>{preset}</i>)")  # fmt: skip
        self.steps.setText(self._steps_text.format(preset=step + " for a first run: about 15 s on a CPU."))


def _make_way(window: Any, panel: FirstRunPanel) -> None:
    """Hide the strip and lay the window out at once, so the 3D view frames a part at its final size."""
    panel.hide()
    window.centralWidget().layout().activate()


def attach_first_run(window: Any) -> FirstRunPanel:
    """Show the welcome strip above the monitor of a MainWindow until a part, run or job takes over."""
    panel = FirstRunPanel(window.runs_root, window)
    layout = window.centralWidget().layout()
    layout.insertWidget(1 if layout.indexOf(window.banner) == 0 else 0, panel)
    panel.show_preset(window.setup.preset_box.currentText())
    window.setup.preset_box.currentTextChanged.connect(panel.show_preset)
    panel.part_chosen.connect(window.setup.set_part)
    panel.open_requested.connect(window.setup._browse)
    window.setup.part_changed.connect(lambda _part: panel.hide())
    window.run_opened.connect(lambda _path: _make_way(window, panel))  # before the run's views are framed
    window.client.state_changed.connect(lambda state: panel.hide() if state in JobState.ACTIVE else None)
    window.first_run = panel
    return panel
