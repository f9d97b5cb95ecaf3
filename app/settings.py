"""Settings remembered between sessions (QSettings): window layout (per screen size), recent files, last preset
and device, and how often the window redraws while a job trains on the CPU.

The organisation and application names are fixed here; tests point QSettings at a temporary folder with
``QSettings.setPath`` (IniFormat) before the window is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "isoscope"
APPLICATION = "isoscope"
MAX_RECENT = 10


def open_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


class Settings:
    """Typed access to the few values the window keeps."""

    def __init__(self) -> None:
        self.qs = open_settings()

    def _get(self, key: str, default: Any = None) -> Any:
        return self.qs.value(key, default)

    def recent_files(self) -> list[str]:
        value = self._get("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str) -> list[str]:
        path = str(Path(path))
        files = [path] + [p for p in self.recent_files() if p != path]
        self.qs.setValue("recent_files", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def last_preset(self, default: str = "smoke") -> str:
        return str(self._get("last_preset", default))

    def set_last_preset(self, name: str) -> None:
        self.qs.setValue("last_preset", name)

    def last_device(self) -> str:
        return str(self._get("last_device", ""))

    def set_last_device(self, name: str) -> None:
        self.qs.setValue("last_device", name)

    def cpu_frame_ms(self, default: int) -> int:
        try:
            return int(self._get("cpu_frame_ms", default))
        except (TypeError, ValueError):
            return default

    def set_cpu_frame_ms(self, ms: int) -> None:
        self.qs.setValue("cpu_frame_ms", int(ms))

    def window_state(self, screen: str) -> tuple[QByteArray | None, QByteArray | None]:
        """The window's geometry and dock layout last used on a screen of this size ("1366x768")."""
        return self._get(f"layout/{screen}/geometry"), self._get(f"layout/{screen}/state")

    def save_window(self, screen: str, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue(f"layout/{screen}/geometry", geometry)
        self.qs.setValue(f"layout/{screen}/state", state)
        self.qs.sync()
