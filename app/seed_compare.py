"""Run ▸ Compare with seed-style: the finished run's config through isoscope's job and through the seed
trainer's way (``isoscope-bench``'s seed-style mode) in a worker, the two phase breakdowns side by side.

A small budget by default (the panel says which); "the run's own budget" runs the whole config. The worker is
its own :class:`JobClient`, so the run shown keeps its serving worker (slices, probes) meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from isoscope.app.config_editor import CHECK_STYLE
from isoscope.app.job_client import JobClient
from isoscope.core import events as ev
from isoscope.core.config import ConfigError, from_dict, to_dict
from isoscope.core.runs.rundir import read_json
from isoscope.core.seed_compare import ROWS, budget_config, compare_process

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def comparable(run_dir: Path | None) -> bool:
    """A finished SDF run whose config and part can be read: one the comparison can run for."""
    if run_dir is None or not (run_dir / "summary.json").is_file() or not (run_dir / "config.json").is_file():
        return False
    try:
        cfg = read_json(run_dir / "config.json")
    except (OSError, ValueError):
        return False
    return cfg.get("job", "sdf") == "sdf" and Path(str(cfg.get("part", ""))).is_file()


class SeedComparePanel(QWidget):
    """See the module docstring; ``window`` gives the run shown (``shown_run``) and the log."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.client = JobClient(self)
        self.result: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.run_btn = QPushButton("Compare with seed-style")
        self.run_btn.clicked.connect(self.start)
        self.full_box = QCheckBox("the run's own budget (slow: the seed's way of training)")
        self.full_box.setStyleSheet(CHECK_STYLE)
        row.addWidget(self.run_btn)
        row.addWidget(self.full_box)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = QLabel("On a finished run: its config trained the seed trainer's way (signed distance on "
                             "the CPU, data in host memory copied to the device per batch, no shuffling, the loss "
                             "read back every step, marching cubes on the CPU) beside isoscope's job.")  # fmt: skip
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTableWidget(len(ROWS) + 1, 3)
        self.table.setHorizontalHeaderLabels(["seed-style (before)", "isoscope (after)", "speed-up"])
        self.table.setVerticalHeaderLabels([*ROWS, "total"])
        for c in range(3):
            self.table.setColumnWidth(c, 150)
        layout.addWidget(self.table, 1)
        self.client.finished.connect(self._on_finished)
        self.client.failed.connect(lambda e: self._say(f"the comparison failed: {e.message}", "error"))
        self.client.crashed.connect(lambda message, _details: self._say(f"the comparison's {message}", "error"))
        self.client.log.connect(lambda e: self._say(e.text))
        self.client.state_changed.connect(lambda _s: window._update_actions(window.client.state))
        self.client.state_changed.connect(lambda _s: self.run_btn.setEnabled(not self.busy))  # one at a time

    @property
    def busy(self) -> bool:
        return self.client.is_active()

    def start(self) -> bool:
        """Start the comparison for the run shown; False with a message when there is none to compare."""
        run = self.window_.shown_run
        if self.busy or not comparable(run):
            self._say("the comparison needs a finished SDF run (with its part) and none running", "warning")
            return False
        try:
            raw = read_json(run / "config.json")
            cfg, part = from_dict(raw), str(raw["part"])
        except (OSError, ValueError, KeyError, ConfigError) as exc:
            self._say(f"the run's settings cannot be read: {exc}", "warning")
            return False
        cfg.device = self.window_.setup.device().name  # where the person would train now
        cfg, note = budget_config(cfg, small=not self.full_box.isChecked())
        self.result = None
        self.table.clearContents()
        self.client.run_task(compare_process, (part, to_dict(cfg), note), run)
        self._say(f"comparing {run.name} on {cfg.device} with {note}…")
        self.window_.tabs.setCurrentWidget(self)
        return True

    def _on_finished(self, f: ev.Finished) -> None:
        self.result = s = f.summary
        seed, iso = s["rows"]["seed_style"], s["rows"]["isoscope"]
        for i, key in enumerate([*ROWS, "total"]):
            ratio = seed[key] / iso[key] if iso[key] > 0 else float("nan")
            for j, text in enumerate((f"{seed[key]:.3f} s", f"{iso[key]:.3f} s", f"{ratio:.2f}x")):
                item = QTableWidgetItem(text)
                item.setTextAlignment(RIGHT)  # the digits of the seconds line up
                self.table.setItem(i, j, item)
        self._say(f"on {s['device']} with {s['budget']}: isoscope is {s['speedup']:.2f}x the seed-style speed "
                  "(sampling + training + reconstruction)")  # fmt: skip

    def _say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        self.window_.append_log(level, f"seed-style comparison: {text}")

    def shutdown(self) -> None:
        self.client.shutdown(timeout=3.0)

