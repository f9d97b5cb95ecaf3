"""The setup panel: which part (file, recent, folder batch), which preset, which device, every parameter.

Parts are checked with ``isoscope.core.mesh.part.load_part`` (torch-free) as soon as they are chosen, so a bad file is
refused at once with a one-line message instead of failing in the worker.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from isoscope.app.config_editor import ConfigEditor
from isoscope.app.devices import Device, detect_devices
from isoscope.core import config as C
from isoscope.core.mesh.part import PartError, load_part
from isoscope.core.runs.folder import find_parts

SMALL_PRESETS = ("tiny", "smoke", "dataset-smoke", "splat-smoke")


def preset_names() -> list[str]:
    """Small presets first, then the seed's, then the rest."""
    rest = [n for n in C.PRESETS if n not in SMALL_PRESETS and n not in C.SEED_PRESETS]
    return [n for n in SMALL_PRESETS if n in C.PRESETS] + list(C.SEED_PRESETS) + rest


class SetupPanel(QWidget):
    """See the module docstring. ``message(level, text)`` reports problems to the window."""

    message = Signal(str, str)
    part_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parts: list[Path] = []
        self.folder: Path | None = None  # set for a folder run
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        row = QHBoxLayout()
        self.part_edit = QLineEdit()
        self.part_edit.setPlaceholderText("drop an STL file or a folder here")
        self.part_edit.setReadOnly(True)
        self.browse_btn = QPushButton("Open…")
        self.browse_btn.setToolTip("Open an STL part")
        self.recent_btn = QToolButton()
        self.recent_btn.setText("Recent")
        self.recent_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_btn.setMenu(self.recent_menu)
        self.folder_btn = QPushButton("Folder…")
        self.folder_btn.setToolTip("Fit every STL part in a folder, one after another")
        for w in (self.browse_btn, self.recent_btn, self.folder_btn):
            row.addWidget(w)
        row.addStretch(1)
        form.addRow("Part", self.part_edit)  # the buttons below it: the panel fits a narrow dock
        form.addRow("", row)
        self.part_info = QLabel("")
        self.part_info.setStyleSheet("color: #9aa0a6")
        self.part_info.setWordWrap(True)
        form.addRow("", self.part_info)
        self.preset_box = QComboBox()
        self.preset_box.addItems(preset_names())
        self.preset_box.setToolTip("A complete named configuration; the editor below starts from it")
        self.device_box = QComboBox()
        self.devices: list[Device] = detect_devices()
        for d in self.devices:
            self.device_box.addItem(d.label, d.name)
        self.device_box.setToolTip("Where the worker trains (GPUs found with nvidia-ml-py or nvidia-smi)")
        form.addRow("Preset", self.preset_box)
        form.addRow("Device", self.device_box)
        self.cluster_edit = QLineEdit()
        self.cluster_edit.setPlaceholderText("this machine")
        self.cluster_edit.setToolTip("A folder run's groups can run on a Ray cluster: its head's HOST:PORT, or "
                                     "auto for the one started here (ray start --head). Empty: this machine.")
        self.cluster_edit.setEnabled(False)
        form.addRow("Run on", self.cluster_edit)
        layout.addLayout(form)
        self.editor = ConfigEditor()
        layout.addWidget(self.editor, 1)
        self.reset_btn = QPushButton("Reset to preset")
        self.reset_btn.setToolTip("Discard the edits and show the preset's values again")
        layout.addWidget(self.reset_btn)
        self.browse_btn.clicked.connect(self._browse)
        self.folder_btn.clicked.connect(self._browse_folder)
        self.preset_box.currentTextChanged.connect(self.apply_preset)
        self.reset_btn.clicked.connect(lambda: self.apply_preset(self.preset_box.currentText()))
        self.apply_preset(self.preset_box.currentText())

    # ------------------------------------------------------------------ parts
    def set_part(self, path: str | Path) -> bool:
        """Check and choose one part (or a folder of parts); False with a message when unusable."""
        path = Path(path)
        if path.is_dir():
            return self.set_folder(path)
        try:
            part = load_part(path)
        except PartError as exc:
            self.message.emit("error", f"cannot use this part: {exc}")
            return False
        self.parts, self.folder = [path], None
        self.cluster_edit.setEnabled(False)
        self.part_edit.setText(str(path))
        lo, hi = part.bbox
        size = " x ".join(f"{h - lo_:.3g}" for lo_, h in zip(lo, hi, strict=True))
        self.part_info.setText(f"{len(part.faces):,} triangles, {len(part.vertices):,} vertices, size {size}")
        self.part_changed.emit(str(path))
        return True

    def show_run(self, part: str, cfg: C.RunConfig) -> None:
        """Show an opened run's part and settings (each row "from" the run); Start would fit them again."""
        self.parts, self.folder = ([Path(part)] if Path(part).is_file() else []), None
        self.part_edit.setText(part)
        self.part_info.setText("the opened run's part and settings")
        self._show_run_config(cfg)

    def show_folder_run(self, folder: Path, cfg: C.RunConfig) -> None:
        """Show an opened folder run's folder and settings; Start would fit the folder again."""
        self._use_folder(folder, find_parts(folder) if folder.is_dir() else [])
        self.part_info.setText("the opened folder run's folder and settings")
        self._show_run_config(cfg)

    def _show_run_config(self, cfg: C.RunConfig) -> None:
        """An opened run's settings, each row "from" the run, under its preset's name (not applied again)."""
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentText(cfg.preset)
        self.preset_box.blockSignals(False)
        self.editor.set_config(cfg, source="run")

    def set_folder(self, folder: str | Path) -> bool:
        """Choose every STL part below ``folder`` (subfolders included) for a folder run; parts that cannot
        be read are fitted as failed rows with their reason, as on the command line."""
        folder = Path(folder)
        parts = find_parts(folder) if folder.is_dir() else []
        if not parts:
            self.message.emit("error", f"{folder}: no usable STL parts in this folder")
            return False
        self._use_folder(folder, parts)
        names = [p.relative_to(folder).as_posix() for p in parts[:6]]
        self.part_info.setText(
            f"folder run of {len(parts)} parts: " + ", ".join(names) + (" …" if len(parts) > 6 else "")
        )
        self.part_changed.emit(str(parts[0]))
        return True

    def _use_folder(self, folder: Path, parts: list[Path]) -> None:
        """A folder run of ``parts``: the folder in the part field, a cluster to run on offered."""
        self.parts, self.folder = parts, folder
        self.cluster_edit.setEnabled(True)
        self.part_edit.setText(str(folder))

    def set_recent(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for f in files:
            self.recent_menu.addAction(f, lambda f=f: self.set_part(f))
        self.recent_btn.setEnabled(bool(files))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open part", "", "STL parts (*.stl *.STL);;All files (*)")
        if path:
            self.set_part(path)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of parts")
        if folder:
            self.set_folder(folder)

    # ------------------------------------------------------------------ config
    def apply_preset(self, name: str) -> None:
        if not name:
            return
        if self.preset_box.currentText() != name:
            self.preset_box.setCurrentText(name)
            return  # currentTextChanged calls back
        self.editor.set_config(C.preset(name))

    def set_device(self, name: str) -> bool:
        i = self.device_box.findData(name)
        if i < 0:
            return False
        self.device_box.setCurrentIndex(i)
        return True

    def cluster_address(self) -> str:
        """The Ray cluster a folder run goes to ("" for this machine)."""
        return self.cluster_edit.text().strip() if self.folder is not None else ""

    def device(self) -> Device:
        return self.devices[max(0, self.device_box.currentIndex())]

    def config(self) -> C.RunConfig:
        """The config to run (raises ConfigError with a message for the user)."""
        cfg = self.editor.config()
        cfg.device = self.device().name
        C.validate(cfg)
        return cfg
