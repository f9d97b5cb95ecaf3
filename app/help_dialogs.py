"""Help ▸ Keyboard shortcuts, README and About: small dialogs, none of which imports torch.

The About box names the versions of isoscope, Python, torch and its CUDA build, the GPU driver's CUDA,
Qt, PySide6, pyqtgraph and pyvista. torch's are read from its installed files (package metadata and
``torch/version.py``), the driver's from nvidia-ml-py, as the device list does: the window never imports torch.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import platform
import re
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
)

from isoscope import __version__


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def torch_cuda_build() -> str:
    """The CUDA version torch was built with, read from torch/version.py without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return "no torch"
    try:
        text = (Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        return "unknown"
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*'([^']+)'", text, re.MULTILINE)
    return m.group(1) if m else "none (a CPU build)"


def driver_cuda() -> str:
    """The CUDA version the GPU driver supports (nvidia-ml-py), or why there is none."""
    try:
        import pynvml

        pynvml.nvmlInit()
        v = int(pynvml.nvmlSystemGetCudaDriverVersion())
        return f"{v // 1000}.{v % 1000 // 10}"
    except Exception:  # noqa: BLE001 - no driver or no GPU
        return "no NVIDIA driver here"


def versions() -> dict[str, str]:
    return {
        "isoscope": __version__, "Python": platform.python_version(), "torch": package_version("torch"),
        "CUDA (torch build)": torch_cuda_build(), "CUDA (driver)": driver_cuda(), "Qt": qVersion(),
        "PySide6": pyside_version, "pyqtgraph": package_version("pyqtgraph"), "pyvista": package_version("pyvista"),
    }  # fmt: skip


def _dialog(parent: Any, title: str, *widgets: Any) -> QDialog:
    dlg = QDialog(parent)
    dlg.setObjectName(title.lower().replace(" ", "_"))
    dlg.setWindowTitle(title)
    layout = QVBoxLayout(dlg)
    for w in widgets:
        layout.addWidget(w)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.show()
    parent.help_dialog = dlg  # the last one shown (tests read it); closed with the window
    return dlg


def show_about(window: Any) -> QDialog:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in versions().items())
    label = QLabel(f"<h3>isoscope {__version__}</h3><p>A training monitor for neural 3D shape fitting.</p>"
                   f"<table>{rows}</table>")  # fmt: skip
    return _dialog(window, "About isoscope", label)


def shortcut_rows(window: Any) -> list[tuple[str, str, str]]:
    """(menu, action, shortcut) for every menu action that has a shortcut, in menu order."""
    out = []
    for name, menu in window.menus.items():
        for a in menu.actions():
            if a.shortcut().toString():
                note = " (in the plots)" if a is getattr(window, "act_pause", None) else ""
                out.append((name, a.text().replace("&", ""), a.shortcut().toString() + note))
    return out


def show_shortcuts(window: Any) -> QDialog:
    rows = shortcut_rows(window)
    table = QTableWidget(len(rows), 3)
    table.setHorizontalHeaderLabels(["Menu", "Action", "Shortcut"])
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            table.setItem(i, j, QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().hide()
    dlg = _dialog(window, "Keyboard shortcuts", table)
    dlg.resize(460, 480)
    return dlg


def readme_text() -> str:
    """The README: the checkout's file, else the installed package's description (the same text)."""
    here = Path(__file__).resolve().parents[1] / "README.md"
    if here.is_file():
        return here.read_text(encoding="utf-8")
    try:
        return metadata.metadata("isoscope").get_payload() or "No README was installed."  # type: ignore[attr-defined]
    except metadata.PackageNotFoundError:
        return "No README was installed."


def show_readme(window: Any) -> QDialog:
    browser = QTextBrowser()
    browser.setMarkdown(readme_text())
    browser.setOpenExternalLinks(True)
    dlg = _dialog(window, "README", browser)
    dlg.resize(820, 640)
    return dlg
