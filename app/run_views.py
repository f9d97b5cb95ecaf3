"""Past runs in the main window: open one (replayed through the live handlers), overlay, follow, drop.

A mixin of :class:`isoscope.app.main_window.MainWindow`; it uses the window's plots, viewport, setup panel and
``handle_event``, so a reopened run looks exactly as it did live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isoscope.core import events as ev
from isoscope.core.api import JOB as SCRIPT_JOB
from isoscope.core.api import PROFILE_REQUEST
from isoscope.core.config import ConfigError, RunConfig, continuing, from_dict
from isoscope.core.runs.folder import is_folder_run, read_folder_run
from isoscope.core.runs.follow import GONE, RunFollower, RunRecord, read_run, still_written, writer_gone
from isoscope.core.runs.rundir import read_json, write_json_atomic

ENDED = {"done": "Finished", "stopped": "Finished", "no_surface": "Finished", "failed": "Failed", GONE: "Crashed"}


class RunViewsMixin:
    """Opening, overlaying and following run directories; drag and drop of parts, folders and runs."""

    _follower: RunFollower | None
    opened_state: str | None  # how the run opened last ended ("Finished", "Failed", "Crashed"); None: going on

    def _job_running(self) -> bool:
        """True (and says so) while a job runs: no other run can be opened meanwhile."""
        if self.client.is_active():
            self.show_message("warning", "a job is running: stop it before opening another run")
        return self.client.is_active()

    def open_run(self, path: str | Path) -> bool:
        """Show a past (or running) run's curves, timings and mesh, replayed through the live handlers."""
        if self._job_running():
            return False
        try:
            run = read_run(path)
        except (OSError, ValueError) as exc:
            self.show_message("error", f"cannot open run: {exc}")
            return False
        self._stop_following()
        self.clear_banner()
        self.run_opened.emit(str(run.path))
        self._reset_views(run.part)
        self.shown_run = Path(run.path)
        status = run.status
        self.append_log("info", f"opened run {run.path} ({status})")  # before what its records say
        meshes = [e for e in run.events if isinstance(e, ev.Artifact) and e.kind == "mesh"]
        final = [e for e in meshes if Path(e.path).name == "mesh.ply"]  # the mesh the run's summary describes
        meshes = final or meshes
        for e in run.events:
            if not (isinstance(e, ev.Artifact) and e.kind == "mesh" and e is not meshes[-1]):
                self.handle_event(e, replay=True)
        self.plots.refresh()
        if run.part and Path(run.part).is_file():
            self.inspector_dock.inspector.set_part(run.part, str(run.path))
        cfg = self._show_settings(run)
        self._answer_for(run, cfg)
        following = still_written(run)
        self.opened_state = None if following else ENDED.get(status, "Finished" if run.summary else "Crashed")
        if status == GONE:
            self.show_message("warning", f"the run stopped unexpectedly: {writer_gone(run.path)}")
        if following:
            self._follower, self._follow_job = run.follower(), run.config.get("job")
            self._follow_timer.start(500)
        self._update_actions(self.client.state)
        self._set_status(state="Following (live)" if following else f"Run {status}")
        return True

    def _show_settings(self, run: RunRecord) -> RunConfig | None:
        """The run's settings in the Setup panel (an isoscope run's; a script's own config is in its log)."""
        if run.config.get("job") == SCRIPT_JOB:
            self.left_tabs.setCurrentWidget(self.runs)  # the Setup panel is for isoscope's own jobs
            c = run.config
            self.append_log("info", f"{c.get('name')}: {c.get('script', '')} {' '.join(c.get('argv', []))}; "
                            f"config {c.get('config', {})}")  # fmt: skip
            return None
        try:
            cfg = from_dict(run.config)
        except ConfigError as exc:
            self.append_log("warning", f"the run's settings cannot be shown: {exc}")
            return None
        self.setup.show_run(run.part, cfg)
        return cfg

    def _answer_for(self, run: RunRecord, cfg: RunConfig | None) -> None:
        """Probes, slices and "Reconstruct now" for an opened run are answered by a worker started for it
        from its own model.pt, or by none (and the controls say why); a previous run's worker never is."""
        self.no_answer = why_no_answer(run) or (None if cfg is not None else "its config cannot be read")
        if self.no_answer or cfg is None:
            self.client.retire()
            self.append_log("info", f"probes, slices and Reconstruct now are off for this run: {self.no_answer}")
        else:
            cfg.device = "auto"  # this machine's GPU if it has one, whatever the run was trained on
            self.client.serve(run.part, cfg, run.path)
        self.act_recon.setToolTip(self.no_answer or "Mesh the current network now (a finished run: mesh_<res>.ply)")

    def continue_training(self) -> bool:
        """Continue the finished run shown: its config (a fresh draw of points, ``resumed_from`` set) goes into
        the Setup panel with its part, and starts; the new run starts from its network and optimiser."""
        run_dir = self.client.run_dir
        if self.client.is_active() or run_dir is None or not can_continue(run_dir):
            self.show_message("warning", "Continue training needs a finished SDF run that saved its network")
            return False
        run = read_run(run_dir)
        cfg = continuing(from_dict(run.config), run_dir)
        if not self.setup.set_part(run.part):
            return False
        self.setup.editor.set_config(cfg)
        started = self.start()
        self.setup.editor.set_value("resumed_from", "")  # the next Start is a fresh fit again
        return started

    def _on_serve_failed(self, why: str) -> None:
        self.no_answer = f"its network could not be loaded ({why})"
        self.act_recon.setToolTip(self.no_answer)
        self.append_log("warning", f"probes, slices and Reconstruct now are off for this run: {self.no_answer}")

    def overlay_run(self, path: str | Path) -> None:
        try:
            run = read_run(path)
        except (OSError, ValueError) as exc:
            self.show_message("error", f"cannot overlay run: {exc}")
            return
        self.plots.add_overlay(Path(run.path).name[-28:], run.events)

    def _follow(self) -> None:
        """Take what the followed run's writer has added; notice its end, or that its writer is gone."""
        if self._follower is None:
            return
        run_dir = self._follower.file.parent
        new = self._follower.poll()
        gone = None if new else writer_gone(run_dir)
        if gone:
            new = self._follower.poll()  # the writer's last records may have come since the read above
        for e in new:
            self.handle_event(e, replay=True)
        self.plots.refresh()
        last = next((e for e in reversed(new) if isinstance(e, (ev.Finished, ev.Failed))), None)
        if last is None and not gone:
            return
        status = ended_status(run_dir, last)
        if status == GONE:
            self.show_message("warning", f"the run stopped unexpectedly: {gone}")
        self._stop_following()
        self.opened_state = ENDED.get(status, "Finished")
        self._set_status(state=f"Run {status}")
        self.runs.refresh()
        self.job_done.emit(self.opened_state)

    @property
    def following(self) -> bool:
        """True while a run another process writes is being followed."""
        return self._follower is not None

    @property
    def following_script(self) -> bool:
        """True while the run followed is a script's (one that takes Profile requests)."""
        return self._follower is not None and self._follow_job == SCRIPT_JOB

    def _stop_following(self) -> None:
        self._follower = None
        self._follow_timer.stop()
        self._update_actions(self.client.state)

    def request_profile(self) -> bool:
        """Profile the next N steps of the followed script's run: a request its writer takes at its next step."""
        if self._follower is None:
            return False
        if not self.following_script:
            self.show_message("warning", "Profile reaches a run being written only when a script writes it "
                              "(isoscope.init, isoscope-run); start isoscope's own jobs in the window")  # fmt: skip
            return True
        run_dir = self._follower.file.parent
        write_json_atomic(run_dir / PROFILE_REQUEST, {"steps": self.profile_n.value()})
        self.append_log("info", f"asked {run_dir.name} to profile its next {self.profile_n.value()} steps")
        return True

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])

    def open_path(self, path: str | Path) -> bool:
        """A path given or dropped: a folder run's root or a run directory opens as a past run, a folder
        as a folder run to start, a file as a part. False (with a message) when it cannot be used."""
        p = Path(path)
        if is_folder_run(p):
            return self.open_folder_run(p)
        if p.is_dir() and (p / "config.json").exists():
            return self.open_run(p)
        if p.is_dir():
            return self.setup.set_folder(p)
        return self.setup.set_part(p)

    def open_folder_run(self, root: str | Path) -> bool:
        """A past folder run: its parts fill the Dataset tab (opening a row shows that part's run)."""
        if self._job_running():
            return False
        try:
            parts = read_folder_run(root)
        except (OSError, ValueError, KeyError) as exc:
            self.show_message("error", f"cannot open the folder run {root}: {exc}")
            return False
        dataset = self.inspector_dock.dataset
        dataset.clear()
        for name, summary, run_dir in parts:
            dataset.add_summary(summary, run_dir, name)
        self.inspector_dock.tabs.setCurrentWidget(dataset)
        self.append_log("info", f"opened folder run {root}: {len(parts)} parts")
        self._show_folder_settings(parts)
        self.opened_state = "Finished"
        return True

    def _show_folder_settings(self, parts: list[tuple[str, dict, Path]]) -> None:
        """The folder run's folder and settings in the Setup panel, from the first part whose run directory
        holds a readable config (the parts share one); Start would fit the folder again."""
        for name, _summary, run_dir in parts:
            try:
                config = read_json(Path(run_dir) / "config.json")
                cfg = from_dict(config)
            except (OSError, ValueError, ConfigError):
                continue
            part = Path(str(config.get("part", "")))
            depth = len(Path(name).parts)
            if part.name and len(part.parents) >= depth:
                self.setup.show_folder_run(part.parents[depth - 1], cfg)
                return
        self.append_log("warning", "the folder run's settings cannot be shown: no part's config could be read")


def ended_status(run_dir: Path, last: Any) -> str:
    """How a followed run ended: its last record's status, else its summary's, else its writer is gone."""
    if last is not None:
        return last.status if isinstance(last, ev.Finished) else "failed"
    summary = run_dir / "summary.json"
    return str(read_json(summary).get("status", "unknown")) if summary.exists() else GONE


def why_no_answer(run: RunRecord) -> str | None:
    """Why no worker can answer requests for ``run`` from its own network, or None when one can."""
    if not run.summary:
        return "the run is still being written (or its writer stopped before the end)"
    if run.config.get("job") == SCRIPT_JOB:
        return "a script's run has no isoscope network to ask"
    if run.config.get("job", "sdf") != "sdf":
        return "a 3D Gaussian run has no SDF network to ask"
    if not (run.path / "model.pt").is_file():
        return "the run saved no trained network (no model.pt)"
    if not Path(run.part).is_file():
        return f"its part {run.part} is not there any more"
    return None


def can_continue(run_dir: Path) -> bool:
    """A finished SDF run with its network saved: one that Continue training can start from."""
    return (run_dir / "model.pt").is_file() and (run_dir / "summary.json").is_file()
