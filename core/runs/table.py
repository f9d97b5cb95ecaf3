"""The summary table of a folder run: one row per part, rewritten atomically as CSV and JSON."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from isoscope.core.phases import TRAIN_PHASES
from isoscope.core.runs.rundir import atomic_path, write_json_atomic

BATCH_CSV, BATCH_JSON = "batch_summary.csv", "batch_summary.json"
#: Seconds per phase group in the table: where a folder run's time goes (a group's training phases are
#: shared evenly among its parts).
PHASE_COLUMNS = {
    "load_s": ("load",),
    "sample_s": ("sample", "cache"),
    "train_s": ("init", *TRAIN_PHASES),
    "validation_s": ("validation",),
    "reconstruct_s": ("reconstruct",),
    "metrics_s": ("metrics", "write"),
}
COLUMNS = ("part", "status", "chamfer_l1", "chamfer_l1_over_diagonal", "val_iou", "bbox_diagonal",
           "wall_s", *PHASE_COLUMNS, "run_dir", "error", "health", "host", "node_id", "gpu")  # fmt: skip


class BatchTable:
    """Rows of a folder run; the files are rewritten after every part so they can be followed."""

    def __init__(self, root: Path, rows: list[dict[str, Any]] | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.csv_path = self.root / BATCH_CSV
        self.json_path = self.root / BATCH_JSON

    def add(self, name: str, run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
        """Add the row of the part called ``name`` (its path relative to the folder) and rewrite the files."""
        row = {
            "part": name,
            "status": summary.get("status", "failed"),
            "chamfer_l1": summary.get("chamfer_l1"),
            "chamfer_l1_over_diagonal": summary.get("chamfer_l1_over_diagonal"),
            "val_iou": (summary.get("validation") or {}).get("val_iou"),
            "bbox_diagonal": summary.get("bbox_diagonal"),
            "wall_s": summary.get("wall_s"),
            **_phase_seconds(summary.get("phases_s") or {}),
            "run_dir": str(run_dir),
            "error": summary.get("error", summary.get("advice", "")),
            "health": " ".join(sorted(summary.get("health") or {})),
            "host": summary.get("host", ""),
            "node_id": summary.get("node_id", ""),  # a Ray node (folder runs on a cluster)
            "gpu": summary.get("gpu", _gpu(summary.get("device", ""))),
        }
        self.rows.append(row)
        self.write()
        return row

    def write(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(self.rows)
        with atomic_path(self.csv_path) as tmp:
            tmp.write_text(buf.getvalue())
        write_json_atomic(self.json_path, {"parts": self.rows})

    def all_ok(self) -> bool:
        return all(r["status"] == "done" for r in self.rows)

    def text(self) -> str:
        lines = [f"{'part':32s} {'status':10s} {'chamfer_l1':>12s} {'% diag':>8s} {'time s':>8s}"]
        for r in self.rows:
            c, pct = r["chamfer_l1"], r["chamfer_l1_over_diagonal"]
            chamfer = "" if c is None else f"{c:.4g}"
            share = "" if pct is None else f"{100 * pct:.2f}"
            lines.append(f"{r['part'][:32]:32s} {r['status']:10s} {chamfer:>12s} {share:>8s} {r['wall_s'] or 0:8.1f}")
        return "\n".join(lines)


def _phase_seconds(phases: dict[str, float]) -> dict[str, float | None]:
    if not phases:
        return dict.fromkeys(PHASE_COLUMNS)
    return {col: round(sum(phases.get(k, 0.0) for k in keys), 4) for col, keys in PHASE_COLUMNS.items()}


def _gpu(device: str) -> str:
    """The GPU of a device label ("cuda:0 (NVIDIA H200)"), or "" for the CPU."""
    return device.partition(" (")[2].rstrip(")") if device.startswith("cuda") else ""
