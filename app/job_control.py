"""Starting and steering jobs from the window: one part, or a folder run in groups (one worker each), with
pause, stop, reconstruct now, profile and the toolbar's state.

A mixin of :class:`isoscope.app.main_window.MainWindow`; it uses the window's client, setup panel, toolbar
actions, Inspector dock and messages. A folder run follows :class:`isoscope.core.runs.folder.FolderRun`,
as the command line does: the parts' results (PartResult events) fill its batch summary and the Dataset tab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QStyle

from isoscope.app.devices import memory_problem
from isoscope.app.job_client import JobState
from isoscope.app.menus import light_icon
from isoscope.app.run_views import can_continue
from isoscope.app.seed_compare import comparable
from isoscope.core import events as ev
from isoscope.core.config import ConfigError
from isoscope.core.runs.folder import FolderRun
from isoscope.core.runs.rundir import SUMMARY, new_run_dir, write_json_atomic

PLAY, PAUSE = QStyle.StandardPixmap.SP_MediaPlay, QStyle.StandardPixmap.SP_MediaPause
MESHES = ("mesh.stl", "mesh.ply")


class JobControlMixin:
    """See the module docstring."""

    def start(self) -> bool:
        """Start a job for the chosen part(s) with the edited config; False with a message if refused."""
        if self.client.is_active() or self._groups:
            self.show_message("warning", "a job is running: stop it first")
            return False
        if not self.setup.parts:
            self.show_message("error", "choose a part first (Open…, drop a file, Recent, or a folder)")
            return False
        try:
            cfg = self.setup.config()
        except ConfigError as exc:
            self.show_message("error", f"invalid setting: {exc}")
            return False
        problem = memory_problem(cfg, self.setup.device())
        if problem:
            self.show_message("error", problem)
            return False
        folder = self.setup.folder
        if cfg.resumed_from and folder is not None:
            self.show_message("error", "a folder run cannot continue one run: clear resumed_from in the settings")
            return False
        self._cfg = cfg
        try:
            root = new_run_dir(self.runs_root, str(folder), "batch") if folder is not None else None
        except OSError as exc:
            self.show_message("error", f"cannot create a run directory under {self.runs_root}: {exc}")
            return False
        self._folder_run = FolderRun(folder, root, cfg.job, cfg.train.batch_parts) if root is not None else None
        self._cluster = self.setup.cluster_address() if self._folder_run else ""
        if self._cluster:  # one worker drives every group on the cluster
            self._groups = [list(self._folder_run.parts)]
        else:
            self._groups = self._folder_run.groups() if self._folder_run else [list(self.setup.parts)]
        if self._folder_run:
            self.inspector_dock.dataset.clear()
            where = f" on the Ray cluster at {self._cluster}" if self._cluster else ""
            self.append_log("info", f"folder run of {len(self._folder_run.parts)} parts into {root}{where}")
        self.settings.set_last_preset(self.setup.preset_box.currentText())
        self.settings.set_last_device(cfg.device)
        self.setup.set_recent(self.settings.add_recent(self.setup.part_edit.text()))
        return self._start_next()

    def _start_next(self) -> bool:
        """Start the next group of parts (one part outside a folder run) in a fresh worker."""
        if not self._groups or self.closed:
            return False
        group = self._groups.pop(0)
        if self._cluster:
            return self._start_on_cluster()
        try:
            if self._folder_run is not None:
                run_dirs = [self._folder_run.run_dir(p) for p in group]
            else:
                run_dirs = [new_run_dir(self.runs_root, str(group[0]), self._cfg.job)]
        except OSError as exc:
            self.show_message("error", f"cannot create a run directory under {self.runs_root}: {exc}")
            return False
        self._stop_following()
        self.clear_banner()
        self.no_answer = None
        self._reset_views(str(group[0]))
        names = ", ".join(self._folder_run.name(p) if self._folder_run else p.name for p in group)
        self.append_log("info", f"starting {names} with preset {self._cfg.preset} on {self._cfg.device}")
        self._pending = dict(zip(map(str, run_dirs), map(str, group), strict=True))
        self.shown_run = run_dirs[0]
        self.client.start(group, self._cfg, run_dirs)
        self.pacer.job_device(self._cfg.device)
        return True

    def _start_on_cluster(self) -> bool:
        run = self._folder_run
        self._stop_following()
        self.clear_banner()
        self.no_answer = "a folder run on a cluster answers no requests"
        self._reset_views(None)
        self._pending = {}
        self.shown_run = None
        self.client.start_cluster(run.folder, run.root, self._cfg, self._cluster)
        self.pacer.job_device(self._cfg.device)
        return True

    def stop_job(self) -> None:
        """Stop the job (and the rest of a folder run)."""
        self._groups.clear()
        self.client.stop()

    def _part_ended(self, part: str, run_dir: str, summary: dict[str, Any]) -> None:
        """A part's end (its result, or its worker's crash): its Dataset row and folder-run table row."""
        self._pending.pop(run_dir, None)
        name = None
        if self._folder_run is not None:
            name = self._folder_run.record(Path(part), Path(run_dir), summary)["part"]
        self.inspector_dock.dataset.add_summary(summary, run_dir, name)

    def toggle_pause(self) -> None:
        if self.client.state == JobState.PAUSED:
            self.client.resume()
        else:
            self.client.pause()

    def reconstruct_now(self) -> None:
        if not self.client.send(ev.ReconstructNow(self.recon_res.value())):
            why = self.no_answer or "start a run first"
            self.show_message("warning", f"nothing can reconstruct here: {why}")

    def profile_steps(self) -> None:
        """Profile the next N steps of the running job, or of the run being followed."""
        if self.request_profile():
            return
        if self.client.state not in (JobState.RUNNING,) or not self.client.send(
            ev.ProfileSteps(self.profile_n.value())
        ):
            self.show_message("warning", "profiling needs a running job")

    def _update_actions(self, state: str) -> None:
        active = state in JobState.ACTIVE
        self.act_start.setEnabled(not active)
        self.act_pause.setEnabled(state in (JobState.RUNNING, JobState.PAUSED) and not self._cluster)
        paused = state == JobState.PAUSED
        self.act_pause.setText("Resume" if paused else "Pause")
        self.act_pause.setIcon(light_icon(self.style().standardIcon(PLAY if paused else PAUSE)))
        if paused:
            self.plots.pause_gap()
        self.act_stop.setEnabled(active or self.client.pid is not None)
        self.act_profile.setEnabled((state == JobState.RUNNING and not self._cluster) or self.following_script)
        run_dir = self.client.run_dir
        self.act_continue.setEnabled(state == JobState.FINISHED and run_dir is not None and can_continue(run_dir))
        self.act_recon.setEnabled(state in (JobState.RUNNING, JobState.PAUSED, JobState.FINISHED))
        self._update_file_actions(active)
        self._set_status(state=state)

    def _update_file_actions(self, active: bool) -> None:
        """Exports need a run shown; the seed-style comparison a finished SDF run and no job running."""
        shown = getattr(self, "shown_run", None)
        if not hasattr(self, "act_export"):  # the menus are built after the first state is shown
            return
        self.act_export.setEnabled(shown is not None and (shown / "metrics.jsonl").is_file())
        self.act_export_mesh.setEnabled(shown is not None and any((shown / n).is_file() for n in MESHES))
        self.act_compare.setEnabled(not active and not self.seed_compare.busy and comparable(shown))
        for a in (self.act_open, self.act_open_folder, self.act_open_run):
            a.setEnabled(not active)

    def _on_crashed(self, message: str, details: str) -> None:
        self.show_message("error", f"{message}; the curves so far are kept. Last log lines are in the log pane.")
        self._set_status(rate="", eta="")  # no live figures from a worker that is gone
        for run_dir, part in list(self._pending.items()):
            summary = {"status": "crashed", "part": part, "error": message}
            if not (Path(run_dir) / SUMMARY).exists():  # the run is listed as crashed, not running, from now on
                write_json_atomic(Path(run_dir) / SUMMARY, summary)
            self._part_ended(part, run_dir, summary)
        if details:
            self.append_log("error", details)
        self._job_ended(JobState.CRASHED)

    def _job_ended(self, state: str) -> None:
        if self._groups:
            QTimer.singleShot(300, self._start_next)
        else:
            self.runs.refresh()
            self.job_done.emit(state)
