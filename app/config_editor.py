"""The parameter editor: every field of a RunConfig as an editable row, its docstring as the tooltip.

Rows come from ``isoscope.core.config.iter_fields``; choices become combo boxes, booleans check boxes, ints spin
boxes, floats and strings line edits. ``config()`` reads the rows back into a validated RunConfig and
raises ConfigError with a one-line message when a value cannot be used.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLineEdit,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from isoscope.core import config as C

#: Fields the setup panel sets itself (preset picker, device picker).
HIDDEN = ("preset", "device")
#: Fields kept for the seed's command lines that change nothing here: shown, not editable.
INERT = {"show_vis": "accepted for the seed's command lines and ignored: the window is the visualisation"}
#: A tick box that shows on the dark rows whether ticked or not.
CHECK_STYLE = ("QCheckBox::indicator { width: 13px; height: 13px; border: 1px solid #9aa0a6; border-radius: 2px;"
               " background: #1b1e24; } QCheckBox::indicator:checked { background: #61afef; border-color: #61afef; }"
               " QCheckBox::indicator:disabled { border-color: #5c6370; }")  # fmt: skip
#: The "From" column's colour per source of a value.
SOURCE_COLOURS = {"preset": "#7f848e", "command line": "#61afef", "edited": "#e5c07b", "run": "#98c379"}


class ConfigEditor(QTreeWidget):
    """Sections as top-level rows, fields as children with an editor widget in column 1."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Parameter", "Value", "From"])
        self.setAlternatingRowColors(True)
        self.setStyleSheet("QTreeView::item { min-height: 24px; }")
        self._editors: dict[str, QWidget] = {}
        self._kinds: dict[str, type] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        self._source: dict[str, str] = {}
        self._sections: dict[str, QTreeWidgetItem] = {}
        self._base = C.RunConfig()
        self._build(self._base)
        self.setColumnWidth(0, 170)
        self.setColumnWidth(1, 150)

    def _build(self, cfg: C.RunConfig) -> None:
        sections: dict[str, QTreeWidgetItem] = {}
        for path, f, value in C.iter_fields(cfg):
            if path in HIDDEN:
                continue
            section = path.split(".")[0] if "." in path else "run"
            parent = sections.get(section)
            if parent is None:
                parent = QTreeWidgetItem(self, [section])
                doc = C.RunConfig.__dataclass_fields__.get(section)
                parent.setToolTip(0, doc.metadata.get("doc", "") if doc else "Run")
                parent.setExpanded(section in ("run", "sampling", "model", "train"))
                sections[section] = parent
            item = QTreeWidgetItem(parent, [path.split(".")[-1]])
            doc = f.metadata.get("doc", "")
            flags = ", ".join(f.metadata.get("flags", ()) or ())
            tip = f"{path}: {doc}" + (f"\n(command line: {flags})" if flags else "")
            item.setToolTip(0, tip)
            editor = self._make_editor(value, f.metadata.get("choices"))
            if path in INERT:
                editor.setEnabled(False)
                item.setForeground(0, QBrush(QColor(SOURCE_COLOURS["preset"])))  # greyed like its value
                tip += f"\n({INERT[path]})"
                item.setToolTip(0, tip)
            editor.setToolTip(tip)
            self.setItemWidget(item, 1, editor)
            self._editors[path] = editor
            self._kinds[path] = type(value)
            self._items[path] = item
            _changed_signal(editor).connect(lambda *_, p=path: self._mark(p, "edited"))
        self._sections = sections
        for path in self._items:
            self._mark(path, "preset")
        self._editors["job"].currentTextChanged.connect(self.show_job)
        self.show_job(self.value("job"))

    def show_job(self, job: str) -> None:
        """Show only the settings a ``job`` run uses (a Gaussian run has no sampling or network rows)."""
        for path, item in self._items.items():
            item.setHidden(not C.used_by(path, job))
        for parent in self._sections.values():
            parent.setHidden(all(parent.child(i).isHidden() for i in range(parent.childCount())))

    def _mark(self, path: str, source: str) -> None:
        """Say where a row's value comes from: the preset, the command line or an edit."""
        self._source[path] = source
        self._items[path].setText(2, source)
        self._items[path].setForeground(2, QBrush(QColor(SOURCE_COLOURS[source])))

    def source(self, path: str) -> str:
        """Where the value of the row at ``path`` comes from ("preset", "command line", "edited" or "run")."""
        return self._source[path]

    def shown_paths(self) -> list[str]:
        """The dotted paths of the rows on show."""
        return [path for path, item in self._items.items() if not item.isHidden()]

    def _make_editor(self, value: Any, choices: tuple[str, ...] | None) -> QWidget:
        if choices:
            w = QComboBox()
            w.addItems(list(choices))
            w.currentIndexChanged.connect(self.edited)
            return w
        if isinstance(value, bool):
            w = QCheckBox()
            w.setStyleSheet(CHECK_STYLE)
            w.toggled.connect(self.edited)
            return w
        if isinstance(value, int):
            w = QSpinBox()
            w.setRange(-(2**31) + 1, 2**31 - 1)
            w.setGroupSeparatorShown(True)
            w.valueChanged.connect(self.edited)
            return w
        w = QLineEdit()
        w.textEdited.connect(self.edited)
        return w

    # ------------------------------------------------------------------ values
    def set_config(self, cfg: C.RunConfig, source: str = "preset") -> None:
        """Show ``cfg`` (kept as the base for hidden fields and for reset); ``source``: where it comes from."""
        self._base = copy.deepcopy(cfg)
        for path, _, value in C.iter_fields(cfg):
            editor = self._editors.get(path)
            if editor is None:
                continue
            editor.blockSignals(True)
            _put(editor, value)
            editor.blockSignals(False)
            self._mark(path, source)
        self.show_job(cfg.job)

    def value(self, path: str) -> Any:
        editor = self._editors[path]
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QSpinBox):
            return editor.value()
        return editor.text()  # type: ignore[union-attr]

    def set_value(self, path: str, value: Any) -> None:
        """Set one row as a user would (tests and scripted mode)."""
        _put(self._editors[path], value)

    def apply_overrides(self, values: dict[str, Any]) -> None:
        """Set fields as the command line gave them (dotted paths); raises ConfigError on a bad value."""
        cfg = self.config()
        for path, value in values.items():
            C.set_path(cfg, path, value)
        C.validate(cfg)
        for path in values:
            if path in self._editors:
                self.set_value(path, C.get_path(cfg, path))
                self._mark(path, "command line")
            else:
                C.set_path(self._base, path, C.get_path(cfg, path))

    def config(self) -> C.RunConfig:
        """The edited config, validated; raises ConfigError."""
        cfg = copy.deepcopy(self._base)
        for path in self._editors:
            C.set_path(cfg, path, self.value(path))
        C.validate(cfg)
        return cfg


def _put(editor: Any, value: Any) -> None:
    """Show ``value`` in an editor of any of the kinds this table uses."""
    if isinstance(editor, QComboBox):
        editor.setCurrentText(str(value))
    elif isinstance(editor, QCheckBox):
        editor.setChecked(bool(value))
    elif isinstance(editor, QSpinBox):
        editor.setValue(int(value))
    elif isinstance(editor, QLineEdit):
        editor.setText(repr(value) if isinstance(value, float) else str(value))


def _changed_signal(editor: QWidget) -> Any:
    """The signal an editor widget sends when its value changes."""
    if isinstance(editor, QComboBox):
        return editor.currentTextChanged
    if isinstance(editor, QCheckBox):
        return editor.toggled
    if isinstance(editor, QSpinBox):
        return editor.valueChanged
    return editor.textChanged  # type: ignore[union-attr]
