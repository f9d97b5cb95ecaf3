"""The window's handle on one worker process: start, command, stop, kill, and typed Qt signals.

A :class:`JobClient` owns at most one live job process at a time, started fresh per job (see
:func:`worker_context`) with ``isoscope.core.worker.worker_process`` as the target. A QTimer drains
the event queue every ``poll_ms`` milliseconds in batches and re-emits each event as a typed signal, so
nothing here ever blocks the event loop. Torch-free: the worker imports the engine, never this process.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import queue
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from isoscope.app.workers import worker_context
from isoscope.core import events as ev
from isoscope.core.config import RunConfig, to_dict

FAST_AFTER_SEND_S = 2.0


class JobState:
    """States of a :class:`JobClient` (plain strings so they print and compare easily)."""

    IDLE = "Idle"
    STARTING = "Starting"
    RUNNING = "Running"
    PAUSED = "Paused"
    STOPPING = "Stopping"
    FINISHED = "Finished"
    FAILED = "Failed"
    CRASHED = "Crashed"

    ACTIVE = (STARTING, RUNNING, PAUSED, STOPPING)


_TYPED = {
    ev.Started: "started",
    ev.Progress: "progress",
    ev.Metrics: "metrics",
    ev.PhaseTimes: "phase_times",
    ev.Artifact: "artifact",
    ev.Log: "log",
    ev.SliceResult: "slice_result",
    ev.PointProbe: "point_probe",
    ev.PartResult: "part_result",
    ev.Finished: "finished",
    ev.Failed: "failed",
}


class JobClient(QObject):
    """Runs one job in a fresh spawned worker and turns its events into Qt signals.

    API:
      - ``start(parts, cfg, run_dirs)``: spawn a worker for ``parts`` (one, or a folder run's group) with
        ``cfg`` (RunConfig) writing into ``run_dirs``; the first part is followed live. A worker still
        serving a previous job is told to stop and reaped in the background. State goes Starting, then
        Running at the first event.
      - ``send(command)``: put a command (``isoscope.core.events`` Pause, Resume, Stop, ReconstructNow,
        ProfileSteps, SliceRequest, ProbeRequest) on the worker's queue; False if no worker is alive.
      - ``pause()`` / ``resume()``: Pause/Resume with the matching state change.
      - ``stop()``: cooperative Stop; if the worker has not ended after ``stop_grace_s`` it is
        terminated, then killed ``kill_grace_s`` later; it is always joined. Non-blocking.
      - ``kill()``: SIGKILL the worker at once (tests use it to simulate a crash).
      - ``shutdown(timeout)``: for window close: Stop, then terminate/kill within ``timeout``; blocks.
      - ``state`` (a :class:`JobState` string), ``run_dir`` (the first part's), ``run_dirs``, ``pid``,
        ``last_logs`` (recent log lines).
    After Finished the worker keeps serving slice/probe/reconstruct requests until ``stop()`` or the
    next ``start()``.

    Signals: ``event(object)`` carries every event; typed ones: ``started``, ``progress``, ``metrics``,
    ``phase_times``, ``artifact``, ``log``, ``slice_result``, ``point_probe``, ``part_result`` (one per
    part, before the end), ``finished``, ``failed`` (each with the event object); ``crashed(str message,
    str details)`` when the process ends without Finished/Failed; ``state_changed(str)``; ``polled()`` after
    every poll of a live worker, with or without events (the window draws its frame there).

    ``set_poll_interval(ms)`` slows polling down (the window does while a job trains on the CPU); for
    ``FAST_AFTER_SEND_S`` after a command is sent it polls every ``poll_ms`` again, so replies to the
    person's clicks (pause, slice, probe) show at once.
    """

    event = Signal(object)
    started = Signal(object)
    progress = Signal(object)
    metrics = Signal(object)
    phase_times = Signal(object)
    artifact = Signal(object)
    log = Signal(object)
    slice_result = Signal(object)
    point_probe = Signal(object)
    part_result = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    crashed = Signal(str, str)
    serve_failed = Signal(str)
    state_changed = Signal(str)
    polled = Signal()

    def __init__(self, parent: QObject | None = None, poll_ms: int = 40, max_batch: int = 500) -> None:
        super().__init__(parent)
        self._ctx = worker_context()
        self._proc: Any = None
        self._cmd_q: Any = None
        self._evt_q: Any = None
        self._retiring: list[tuple[Any, Any, Any, float]] = []
        self._state = JobState.IDLE
        self._stop_deadline: float | None = None
        self._stop_requested = False
        self.stop_grace_s = 60.0
        self.kill_grace_s = 3.0
        self.max_batch = max_batch
        self.run_dir: Path | None = None
        self.run_dirs: list[Path] = []
        self.serving = False
        self.last_logs: collections.deque[str] = collections.deque(maxlen=20)
        self.poll_ms = poll_ms
        self._interval_ms = poll_ms
        self._fast_until = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> str:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def is_active(self) -> bool:
        return self._state in JobState.ACTIVE

    def start(self, parts: list[str | Path], cfg: RunConfig, run_dirs: list[str | Path]) -> None:
        from isoscope.core.worker import worker_process  # torch-free at import time

        args = ([str(p) for p in parts], to_dict(cfg), [str(d) for d in run_dirs])
        self._spawn(worker_process, args, [Path(d) for d in run_dirs])
        self._set_state(JobState.STARTING)

    def start_cluster(self, folder: Path, root: Path, cfg: RunConfig, address: str) -> None:
        """Spawn a worker that runs a folder run's groups on the Ray cluster at ``address``; parts end as
        PartResult events, the batch with Finished."""
        from isoscope.core.worker import cluster_process  # torch-free at import time

        self._spawn(cluster_process, (str(folder), str(root), to_dict(cfg), address), [Path(root)])
        self._set_state(JobState.STARTING)

    def run_task(self, target: Any, args: tuple, run_dir: str | Path) -> None:
        """Spawn a worker running ``target(*args, cmd_q, evt_q)`` about ``run_dir``; it ends with Finished or Failed."""
        self._spawn(target, args, [Path(run_dir)])
        self._set_state(JobState.STARTING)

    def _spawn(self, target: Any, args: tuple, run_dirs: list[Path]) -> None:
        """A fresh worker process running ``target(*args, cmd_q, evt_q)``; the previous one is retired."""
        self._retire_current()
        self.serving = False  # True for a worker that only answers for a finished run (serve)
        self.run_dir, self.run_dirs = run_dirs[0], run_dirs
        self.last_logs.clear()
        self._stop_requested = False
        self._stop_deadline = None
        self._cmd_q, self._evt_q = self._ctx.Queue(), self._ctx.Queue()
        from isoscope.core.worker import as_started_here  # torch-free at import time

        where = (dict(os.environ), os.getcwd())  # a forked worker starts with the window's, as a spawned one would
        try:
            self._proc = self._ctx.Process(target=as_started_here, args=(where, target, *args, self._cmd_q,
                                           self._evt_q), name="isoscope-worker", daemon=True)  # fmt: skip
            self._proc.start()
        except (OSError, EOFError) as exc:  # the fork server could not start: spawn this worker and the next
            if self._ctx.get_start_method() == "spawn":
                raise
            self.last_logs.append(f"[warning] workers are spawned: the fork server failed ({exc})")
            self._ctx = mp.get_context("spawn")
            self._spawn(target, args, run_dirs)
            return
        self._timer.start()

    def serve(self, part: str | Path, cfg: RunConfig, run_dir: str | Path) -> None:
        """Spawn a worker that answers slice, probe and reconstruct requests for a finished run from that
        run's own model.pt; the state is Finished at once (the run is over). A previous worker is retired."""
        from isoscope.core.worker import serve_process  # torch-free at import time

        self._spawn(serve_process, (str(part), to_dict(cfg), str(run_dir)), [Path(run_dir)])
        self.serving = True
        self._set_state(JobState.FINISHED)

    def retire(self) -> None:
        """No worker answers any more (the window shows a run that has no network to ask): Idle."""
        self._retire_current()
        self.run_dir, self.run_dirs = None, []
        self._set_state(JobState.IDLE)

    def set_poll_interval(self, ms: int) -> None:
        """Poll the worker every ``ms`` milliseconds (at least ``poll_ms``)."""
        self._interval_ms = max(int(ms), self.poll_ms)
        self._timer.setInterval(self._current_interval())

    def send(self, command: Any) -> bool:
        if self._proc is None or not self._proc.is_alive():
            return False
        try:
            self._cmd_q.put(command)
        except (OSError, ValueError):
            return False
        self._fast_until = time.monotonic() + FAST_AFTER_SEND_S
        self._timer.setInterval(self.poll_ms)
        return True

    def pause(self) -> None:
        if self._state == JobState.RUNNING and self.send(ev.Pause()):
            self._set_state(JobState.PAUSED)

    def resume(self) -> None:
        if self._state == JobState.PAUSED and self.send(ev.Resume()):
            self._set_state(JobState.RUNNING)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._stop_requested = True
        self._stop_deadline = time.monotonic() + (self.stop_grace_s if self.is_active() else self.kill_grace_s)
        self.send(ev.Stop())
        if self.is_active():
            self._set_state(JobState.STOPPING)

    def kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop every worker this client owns, waiting at most about ``timeout`` seconds."""
        self._retire_current()
        end = time.monotonic() + timeout
        for proc, cmd_q, evt_q, _ in self._retiring:
            proc.join(max(0.0, end - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
            _close_queues(cmd_q, evt_q)
        self._retiring.clear()
        self._timer.stop()

    # ------------------------------------------------------------------ internals
    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _retire_current(self) -> None:
        """Hand the current worker to the background reaper (Stop now, terminate/kill later)."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            try:
                self._cmd_q.put(ev.Stop())
            except (OSError, ValueError):
                pass
        self._retiring.append((self._proc, self._cmd_q, self._evt_q, time.monotonic() + self.kill_grace_s))
        self._proc = self._cmd_q = self._evt_q = None
        if self.is_active():
            self._set_state(JobState.IDLE)

    def _reap_retired(self) -> None:
        keep = []
        for proc, cmd_q, evt_q, deadline in self._retiring:
            _drain(evt_q, 10_000)  # keep its queue from filling while it winds down
            if not proc.is_alive():
                proc.join(0)
                _close_queues(cmd_q, evt_q)
                continue
            now = time.monotonic()
            if now > deadline + self.kill_grace_s:
                proc.kill()
            elif now > deadline:
                proc.terminate()
            keep.append((proc, cmd_q, evt_q, deadline))
        self._retiring = keep

    def _current_interval(self) -> int:
        return self.poll_ms if time.monotonic() < self._fast_until else self._interval_ms

    def _tick(self) -> None:
        if self._timer.interval() != self._current_interval():
            self._timer.setInterval(self._current_interval())
        self._reap_retired()
        if self._proc is None:
            if not self._retiring:
                self._timer.stop()
            return
        alive = self._proc.is_alive()
        batch = _drain(self._evt_q, self.max_batch)
        if not alive:
            batch += _drain(self._evt_q, 100_000)  # whatever the feeder flushed before the exit
        for event in batch:
            self._dispatch(event)
        self.polled.emit()
        if self._proc is None:
            return
        if not alive:
            self._on_exit()
        elif self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
            self._escalate()

    def _dispatch(self, event: Any) -> None:
        if isinstance(event, ev.Log):
            self.last_logs.append(f"[{event.level}] {event.text}")
        if self._state == JobState.STARTING and not isinstance(event, (ev.Finished, ev.Failed)):
            self._set_state(JobState.RUNNING)
        if isinstance(event, ev.Finished):
            self._set_state(JobState.FINISHED)
            if self._stop_requested:  # the job used our Stop; end the serving loop too
                self.send(ev.Stop())
                self._stop_deadline = time.monotonic() + self.kill_grace_s + 2.0
        elif isinstance(event, ev.Failed):
            self._set_state(JobState.FAILED)
        self.event.emit(event)
        name = _TYPED.get(type(event))
        if name is not None:
            getattr(self, name).emit(event)

    def _escalate(self) -> None:
        proc = self._proc
        overdue = time.monotonic() - (self._stop_deadline or 0.0)
        if overdue > self.kill_grace_s:
            proc.kill()
        else:
            proc.terminate()

    def _on_exit(self) -> None:
        proc = self._proc
        proc.join(0.5)
        code = proc.exitcode
        _close_queues(self._cmd_q, self._evt_q)
        self._proc = self._cmd_q = self._evt_q = None
        if self.serving and code:  # it could not load the run: nothing answers for it (its Log said why)
            self.serving = False
            self._set_state(JobState.IDLE)
            self.serve_failed.emit(self.last_logs[-1] if self.last_logs else f"its worker exited ({code})")
            return
        if self._state in (JobState.FINISHED, JobState.FAILED):
            return
        if self._state == JobState.STOPPING and self._stop_requested and code is not None and code < 0:
            message = f"worker stopped by force (exit code {code}) before it finished"
        else:
            message = f"worker crashed (exit code {code})"
        details = "\n".join(self.last_logs)
        tail = _tail(self.run_dir / "log.txt", 15) if self.run_dir else ""
        if tail and tail not in details:
            details = (details + "\n" + tail).strip()
        self._set_state(JobState.CRASHED)
        self.crashed.emit(message, details)


def _drain(q: Any, limit: int) -> list[Any]:
    out: list[Any] = []
    if q is None:
        return out
    while len(out) < limit:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        except (EOFError, OSError, ValueError):
            break
        if isinstance(item, list):  # a batch of frequent events (isoscope.core.worker.BatchingSink)
            out.extend(item)
        else:
            out.append(item)
    return out


def _close_queues(*queues: Any) -> None:
    for q in queues:
        if q is None:
            continue
        try:
            q.cancel_join_thread()
            q.close()
        except (OSError, ValueError):
            pass


def _tail(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
