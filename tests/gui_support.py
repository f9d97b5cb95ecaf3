"""What every GUI test module needs: a display (else the module is skipped), pytest-qt, settings kept
out of the user's home.

Call :func:`require_display` at the top of a GUI test module, before anything imports Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_display() -> None:
    """Skip the calling module without a display; make Qt use it (xcb) and require pytest-qt."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        pytest.skip("no display: run the GUI tests under xvfb-run", allow_module_level=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    pytest.importorskip("pytestqt")


def isolate_settings(folder: str | os.PathLike) -> None:
    """Keep the window's QSettings (layout, recent files, last preset) in ``folder``."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(folder)))
