"""The dataset table: one row per part of a folder run, filled as parts finish, sortable, outliers marked.

Rows come from a run's summary (the Finished event live, or summary.json / batch_summary.json of a
past run): part, status, Chamfer-L1 (% of the diagonal), IoU, surface error (mean |SDF| on held-out
surface points, original units), time, the mesh-health flags and, for a run on a Ray cluster, the
node after the status (its ID's first eight characters; the tooltip has the host and whole ID). Rows
that failed or whose Chamfer is far above the others (median + 3 MAD, and at least 1% of the diagonal)
are highlighted. A double click emits ``open_requested(part, run_dir)``. Adding a row is a constant-time
model append, so a folder of hundreds of parts keeps the window responsive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

COLUMNS = ("part", "status", "node", "Chamfer % diag", "IoU", "surface error", "time s", "health")
OUTLIER_BG = "#5c1f24"
OUTLIER_TIP = "outlier: failed, no surface, or Chamfer far above the others"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def row_values(summary: dict[str, Any]) -> dict[str, Any]:
    """The table's values from a run summary (or a batch_summary row)."""
    val = summary.get("validation") or {}
    surf = (summary.get("val_sdf_mae_original") or {}).get("val_surface_sdf_mae")
    health = summary.get("health")
    flags = " ".join(sorted(health)) if isinstance(health, dict) else str(health or "")
    pct = summary.get("chamfer_l1_over_diagonal")
    return {
        "part": Path(str(summary.get("part", "?"))).name,
        "status": summary.get("status", "failed"),
        "Chamfer % diag": None if pct is None else 100.0 * float(pct),
        "IoU": val.get("val_iou", summary.get("val_iou")),
        "surface error": surf,
        "time s": summary.get("wall_s"),
        "health": flags,
        "node": str(summary.get("node_id") or "")[:8],  # the Ray node that fitted it (a folder run on a cluster)
    }


class DatasetTable(QWidget):
    """See the module docstring."""

    open_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setColumnWidth(0, 220)
        self.view.doubleClicked.connect(self._double_clicked)
        self.caption = QLabel("Run a folder of parts to fill this table; double-click a row to inspect that part.")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        self.rows: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self.rows = []
        self._caption()

    def add_summary(self, summary: dict[str, Any], run_dir: str | Path = "", name: str | None = None) -> int:
        """Append (or replace, for the same run directory) one part's row; returns its source row. ``name``:
        what the part column says (a folder run's path relative to its folder; else the file name)."""
        values = row_values(summary)
        if name:
            values["part"] = name
        part_path = str(summary.get("part", ""))
        items = []
        for col in COLUMNS:
            v = values[col]
            text = "" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))
            item = QStandardItem(text)
            item.setData(v if v is not None else (float("inf") if col != "part" else ""), SORT_ROLE)
            item.setData((part_path, str(run_dir)), PATH_ROLE)
            if col == "node" and v:
                item.setToolTip(f"host {summary.get('host', '?')}, Ray node {summary.get('node_id')}")
            items.append(item)
        existing = next((i for i, r in enumerate(self.rows) if run_dir and r["run_dir"] == str(run_dir)), None)
        record = {**values, "part_path": part_path, "run_dir": str(run_dir)}
        if existing is None:
            self.model.appendRow(items)
            self.rows.append(record)
            row = len(self.rows) - 1
        else:
            for col, item in enumerate(items):
                self.model.setItem(existing, col, item)
            self.rows[existing] = record
            row = existing
        self.mark_outliers()
        self._caption()
        self.view.setColumnHidden(COLUMNS.index("node"), not any(r["node"] for r in self.rows))  # cluster runs only
        return row

    def outliers(self) -> list[int]:
        """Source rows that failed, found no surface, or fit far worse than the rest."""
        pct = np.array([r["Chamfer % diag"] if r["Chamfer % diag"] is not None else np.nan for r in self.rows])
        bad = [i for i, r in enumerate(self.rows) if r["status"] not in ("done", "stopped")]
        ok = pct[np.isfinite(pct)]
        if len(ok) >= 3:
            med = float(np.median(ok))
            mad = float(np.median(np.abs(ok - med))) or 1e-9
            limit = max(med + 3.0 * 1.4826 * mad, 1.0)
            bad += [i for i, v in enumerate(pct) if np.isfinite(v) and v > limit]
        return sorted(set(bad))

    def mark_outliers(self) -> None:
        flagged = set(self.outliers())
        for i in range(self.model.rowCount()):
            brush = QBrush(QColor(OUTLIER_BG)) if i in flagged else QBrush()
            for col in range(len(COLUMNS)):
                item = self.model.item(i, col)
                if item is not None:
                    item.setBackground(brush)
                    if COLUMNS[col] != "node":  # the node's tooltip names its host
                        item.setToolTip(OUTLIER_TIP if i in flagged else "")

    def _caption(self) -> None:
        n = len(self.rows)
        done = sum(r["status"] == "done" for r in self.rows)
        self.caption.setText(f"{n} part(s): {done} done, {len(self.outliers())} outlier(s) highlighted. "
                             "Click a header to sort; double-click a row to inspect that part.")  # fmt: skip

    def _double_clicked(self, index: Any) -> None:
        part, run_dir = index.data(PATH_ROLE)
        self.open_requested.emit(part, run_dir)

    def open_row(self, view_row: int) -> None:
        """Open the part on this (sorted) row, as a double click would."""
        self._double_clicked(self.proxy.index(view_row, 0))
