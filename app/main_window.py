"""The main window: setup and runs on the left, live plots and the 3D viewport in the centre, a log below.

Every event, live from the :class:`JobClient` or replayed from a past run's metrics.jsonl, goes through
:meth:`MainWindow.handle_event`, so a reopened run looks exactly as it did live. Other panels join with
:meth:`MainWindow.add_panel` and subscribe to ``window.client`` signals (``event`` carries everything).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)  # fmt: skip

from isoscope.app.images_panel import ImagesPanel
from isoscope.app.inspect_dock import install_inspector
from isoscope.app.job_client import JobClient, JobState
from isoscope.app.job_control import JobControlMixin
from isoscope.app.menus import build_menus, build_toolbar
from isoscope.app.pacing import FramePacer
from isoscope.app.panes import Banner, LogPane, ProfileTable
from isoscope.app.plots import PlotsPanel, format_eta
from isoscope.app.run_views import RunViewsMixin
from isoscope.app.runs_panel import RunsPanel
from isoscope.app.seed_compare import SeedComparePanel
from isoscope.app.settings import Settings
from isoscope.app.setup_panel import SetupPanel
from isoscope.app.splat_panel import SplatPanel
from isoscope.core import events as ev
from isoscope.core.runs.folder import FolderRun
from isoscope.core.runs.follow import RunFollower
from isoscope.core.runs.rundir import default_root


class MainWindow(JobControlMixin, RunViewsMixin, QMainWindow):
    """See the module docstring. ``job_done(state)`` fires when a job (or a whole batch) has ended;
    ``run_opened(path)`` when a run directory is opened, before its records are shown."""

    job_done = Signal(str)
    run_opened = Signal(str)

    def __init__(self, runs_root: str | Path | None = None, lazy_viewport: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("isoscope")
        self.setAcceptDrops(True)
        self.settings = Settings()
        self.runs_root = Path(runs_root) if runs_root else default_root()
        self.client = JobClient(self)
        self.viewport: Any = None
        self.closed = False  # set on close: nothing (a deferred viewport build included) starts after it
        self.no_answer: str | None = None  # why no worker answers requests for the run shown (None: one does)
        self.device_name = ""
        self.current_part: str | None = None
        self._groups: list[list[Path]] = []  # the parts still to fit, a worker's worth each
        self._folder_run: FolderRun | None = None
        self._pending: dict[str, str] = {}  # run directory -> part, for the parts of the worker not ended
        self._cluster = ""  # the Ray cluster's address while a folder run goes there
        self._follower: RunFollower | None = None
        self._follow_job: str | None = None  # the followed run's job ("script" takes Profile requests)
        self.opened_state: str | None = None
        self.shown_run: Path | None = None  # the run directory whose curves are shown (exports take it)
        self._build_centre()
        build_toolbar(self)
        self._build_docks()
        self._build_status()
        self._connect()
        install_inspector(self)  # the Inspector dock: findings, slices, probes, fit error, dataset table
        self._restore()
        self.pacer = FramePacer(self)
        self.seed_compare = SeedComparePanel(self)
        self.add_panel("Seed-style", self.seed_compare)
        build_menus(self)
        self._follow_timer = QTimer(self)  # follows a run that another process writes
        self._follow_timer.timeout.connect(self._follow)
        self._update_actions(JobState.IDLE)
        if lazy_viewport:
            QTimer.singleShot(150, self.ensure_viewport)  # after the first paint
        else:
            self.ensure_viewport()

    # ------------------------------------------------------------------ layout
    def _build_docks(self) -> None:
        self.setup = SetupPanel()
        self.runs = RunsPanel(self.runs_root)
        self.left_tabs = QTabWidget()
        self.left_tabs.addTab(self.setup, "Setup")
        self.left_tabs.addTab(self.runs, "Runs")
        left = QDockWidget("Job", self)
        left.setObjectName("job_dock")
        left.setWidget(self.left_tabs)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        self.log_view = LogPane()
        bottom = QDockWidget("Log", self)
        bottom.setObjectName("log_dock")
        bottom.setWidget(self.log_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, bottom)
        self.resizeDocks([bottom], [150], Qt.Orientation.Vertical)

    def _build_centre(self) -> None:
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner()
        self.tabs = QTabWidget()
        self.plots = PlotsPanel()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plots)
        self.viewport_holder = QWidget()
        QVBoxLayout(self.viewport_holder).setContentsMargins(0, 0, 0, 0)
        self.splitter.addWidget(self.viewport_holder)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([660, 440])
        self.tabs.addTab(self.splitter, "Monitor")
        self.profile_table = ProfileTable()
        self.add_panel("Profile", self.profile_table)
        self.splat_panel = SplatPanel(self.ensure_viewport)
        self.add_panel("Splats", self.splat_panel)
        self.images_panel = ImagesPanel()
        self.add_panel("Images", self.images_panel)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(centre)

    def _build_status(self) -> None:
        self.status_labels: dict[str, QLabel] = {}
        for key in ("state", "step", "epoch", "rate", "eta", "device"):
            label = QLabel("")
            label.setMinimumWidth(90)
            self.statusBar().addPermanentWidget(label)
            self.status_labels[key] = label
        self._set_status(state="Idle")

    def add_panel(self, name: str, widget: QWidget) -> int:
        """Add a tab beside the monitor; the panel may subscribe to ``self.client`` signals."""
        return self.tabs.addTab(widget, name)

    def ensure_viewport(self) -> Any:
        """Build the 3D viewport (deferred after the window shows: pyvista takes a moment to import)."""
        if self.viewport is None and not self.closed:
            from isoscope.app.viewport import Viewport

            self.viewport = Viewport()  # built apart, then placed: see viewport.own_native_window
            self.viewport_holder.layout().addWidget(self.viewport)
            if self.current_part:
                self._show_part(self.current_part)
        return self.viewport

    def _connect(self) -> None:
        c = self.client
        c.event.connect(self.handle_event)
        c.state_changed.connect(self._update_actions)
        c.crashed.connect(self._on_crashed)
        c.serve_failed.connect(self._on_serve_failed)
        c.part_result.connect(lambda e: self._part_ended(e.part, e.run_dir, e.summary))
        self.setup.message.connect(self.show_message)
        self.runs.message.connect(self.show_message)
        self.setup.part_changed.connect(self._on_part_changed)
        self.runs.open_requested.connect(self.open_run)
        self.runs.overlay_requested.connect(self.overlay_run)

    def screen_key(self) -> str:
        """The available size of the window's screen ("1366x768"): the layout is remembered per size."""
        g = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        return f"{g.width()}x{g.height()}"

    def _restore(self) -> None:
        """The layout last used on a screen of this size, else one that fits it (a laptop's included)."""
        geometry, state = self.settings.window_state(self.screen_key())
        if geometry is None or not self.restoreGeometry(geometry):
            g = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
            self.resize(min(1560, g.width()), min(940, g.height()))
            side = max(250, min(380, (g.width() - 700) // 2))
            docks = [self.findChild(QDockWidget, name) for name in ("job_dock", "inspector_dock")]
            self.resizeDocks(docks, [side - 30, side], Qt.Orientation.Horizontal)
            log = self.findChild(QDockWidget, "log_dock")  # a laptop's height goes to the plots
            self.resizeDocks([log], [110 if g.height() < 900 else 150], Qt.Orientation.Vertical)
        if state is not None:
            self.restoreState(state)
        self.setup.set_recent(self.settings.recent_files())
        self.setup.apply_preset(self.settings.last_preset())
        if self.settings.last_device():
            self.setup.set_device(self.settings.last_device())

    # ------------------------------------------------------------------ messages
    def show_message(self, level: str, text: str) -> None:
        """Log a message; warnings and errors also show in the banner and the status bar."""
        self.append_log(level, text)
        self.statusBar().showMessage(text, 15000)
        if level in ("error", "warning"):
            self.banner.show_message(level, text)

    def clear_banner(self) -> None:
        self.banner.clear_message()

    def append_log(self, level: str, text: str) -> None:
        self.log_view.append(level, text)

    def _set_status(self, **values: str) -> None:
        for key, value in values.items():
            self.status_labels[key].setText(value)

    # ------------------------------------------------------------------ events (live and replayed)
    def handle_event(self, e: Any, replay: bool = False) -> None:
        if isinstance(e, ev.Started) and self._cluster and not replay:  # the cluster run follows another group
            self._reset_views(e.part)  # (or a group's new attempt) from here on
        self.plots.handle(e)
        self.splat_panel.handle(e)
        self.images_panel.handle(e)
        if isinstance(e, ev.Progress):
            eta = "reconstructing" if e.stage == "reconstruct" else f"ETA {format_eta(e.eta_s)}"
            of_steps, of_epochs = (f"/{n:,}" if n else "" for n in (e.total_steps, e.total_epochs))
            eta = eta if e.total_steps else ""
            self._set_status(step=f"step {e.step:,}{of_steps}", epoch=f"epoch {e.epoch}{of_epochs}",
                             rate=f"{e.samples_per_s:,.0f} {self.plots.unit}/s", eta=eta)  # fmt: skip
        elif isinstance(e, ev.Metrics) and replay:  # a live run's Progress says it (with the totals)
            self._set_status(step=f"step {e.step:,}", epoch=f"epoch {e.epoch}")
        elif isinstance(e, ev.Started):
            precision = (e.config.get("train") or {}).get("precision", "")
            self._set_status(device=f"{e.device}, {precision}" if precision else e.device)
            self.status_labels["device"].setToolTip(e.config.get("precision_reason", ""))
        elif isinstance(e, ev.Artifact):
            self._on_artifact(e)
        elif isinstance(e, ev.Log):
            self.append_log(e.level, e.text)
        elif isinstance(e, ev.Finished):
            self._on_finished(e, replay)
        elif isinstance(e, ev.Failed):
            self.show_message("error", f"the run failed: {e.message}")
            if e.traceback:
                self.append_log("error", e.traceback)
            if not replay:
                self._job_ended(JobState.FAILED)

    def _on_artifact(self, a: ev.Artifact) -> None:
        if a.kind == "profile":
            self._show_profile(a.info.get("top", []))
            self.append_log("info", f"profile written: {a.path} (trace {a.info.get('trace', '')})")
            return
        if a.kind not in ("points", "mesh") or not Path(a.path).exists():
            return
        vp = self.ensure_viewport()
        try:
            vp.set_points(a.path) if a.kind == "points" else vp.set_fit_mesh(a.path)
        except (OSError, ValueError, KeyError) as exc:
            self.show_message("warning", f"cannot show {a.kind} from {a.path}: {exc}")
            return
        if a.kind == "mesh":
            self.inspector_dock.fit_shown()  # live, reconstructed now, or replayed from a run opened

    def _on_finished(self, f: ev.Finished, replay: bool) -> None:
        s = f.summary
        rate = s.get("train_samples_per_s")
        if rate:
            self._set_status(rate=f"{rate:,.0f} {self.plots.unit}/s", eta="done")
        parts = [f"run {f.status} in {s.get('wall_s', 0):.1f} s"]
        if s.get("chamfer_l1") is not None:
            parts.append(
                f"Chamfer-L1 {s['chamfer_l1']:.4g} ({100 * s.get('chamfer_l1_over_diagonal', 0):.2f}% of the diagonal)"
            )
        if s.get("advice"):
            self.show_message("warning", str(s["advice"]))
        self.append_log("info", ", ".join(parts))
        if not replay:
            self._job_ended(JobState.FINISHED)

    def _show_profile(self, rows: list[dict]) -> None:
        self.profile_table.show_rows(rows)
        self.tabs.setCurrentWidget(self.profile_table)

    # ------------------------------------------------------------------ parts and runs
    def _on_part_changed(self, part: str) -> None:
        if not self.client.is_active():
            self._show_part(part)

    def _show_part(self, part: str) -> None:
        self.current_part = part
        if self.viewport is not None:
            try:
                self.viewport.set_part(part)
            except (OSError, ValueError) as exc:
                self.show_message("warning", f"cannot show the part: {exc}")

    def _reset_views(self, part: str | None) -> None:
        """Every panel forgets the run it showed (curves and their axes, timings, renders, mesh, status)."""
        self.plots.reset()
        self.plots.clear_overlays()
        self.profile_table.setRowCount(0)
        self.splat_panel.clear()
        self.images_panel.clear()
        self._set_status(step="", epoch="", rate="", eta="")
        if self.viewport is not None:
            self.viewport.clear()
        if part and Path(part).exists():
            self._show_part(part)

    # ------------------------------------------------------------------ close
    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.settings.save_window(self.screen_key(), self.saveGeometry(), self.saveState())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every timer, thread pool and worker the window owns; nothing of it outlives the window."""
        self.closed = True
        self._follow_timer.stop()
        self.client.shutdown(timeout=3.0)
        self.seed_compare.shutdown()
        self.pacer.stop()
        self.inspector_dock.shutdown()
        if self.viewport is not None:
            self.viewport.close()
