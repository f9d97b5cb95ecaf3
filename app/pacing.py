"""The window's frame clock: every live change is drawn once per poll of the worker.

The JobClient drains the worker's events, the window applies them (plot data, status bar, log lines, the
resources the worker recorded), and right after that poll :class:`FramePacer` pushes the plot data into the
curves, all in one turn of the event loop, so Qt paints and flushes the window
once per poll. That is 20 frames a second, except while a job trains on this machine's CPU: then each
frame is CPU time taken from training (painting the plots costs 10-30 ms on this kind of machine; the
OpenGL viewport is composed in its own native window, see ``viewport.own_native_window``), and a stalled
training thread stalls the others at their next join, so each millisecond the window takes costs training
about a millisecond. By default the window then paces itself to a budget: it measures the CPU it used over
each frame interval and stretches or shortens the next one so that it keeps to about ``CPU_BUDGET`` of one
core (every 4-6 s on a 2-core server under Xvfb, every second where frames are cheaper). The View menu
offers fixed intervals instead (``cpu_frame_ms``). The window logs the CPU it used over the training
stretch when it ends (``overhead``). GPU jobs,
finished runs and replays always draw at 20 frames a second; replies to the person's clicks come back at
once in every mode (see ``JobClient.set_poll_interval``), and input makes the window live for a moment.
"""

from __future__ import annotations

import collections
import statistics
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtGui import QAction, QActionGroup

from isoscope.app.job_client import JobState

LIVE_FRAME_MS = 50
SETTLE_MS = 30  # after a frame's changes, let pyqtgraph's deferred layout and scene updates run first
INTERACTION_LIVE_S = 2.0
RESIZE = QEvent.Type.Resize
INPUT_EVENTS = {QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseMove,
                QEvent.Type.Wheel, QEvent.Type.KeyPress}  # fmt: skip
AUTO = 0  # cpu_frame_ms for pacing to CPU_BUDGET
CPU_BUDGET = 0.01  # of one core, while a job trains on the CPU
AUTO_FIRST_MS, AUTO_MIN_MS, AUTO_MAX_MS = 2000, 500, 10_000
CPU_FRAME_CHOICES = {AUTO: "within 1% of one core (adapts)", 50: "20 times a second", 250: "4 times a second",
                     1000: "once a second", 2000: "every 2 seconds", 5000: "every 5 seconds"}  # fmt: skip
DEFAULT_CPU_FRAME_MS = AUTO


def auto_interval_ms(costs: Sequence[float], budget: float = CPU_BUDGET) -> int:
    """The frame interval that keeps the window near ``budget`` of one core, given the CPU seconds it used
    over its last frame intervals (the median, so one costly frame, a mesh arriving, does not stall it)."""
    if not costs:
        return AUTO_FIRST_MS
    return int(min(max(1000.0 * statistics.median(costs) / budget, AUTO_MIN_MS), AUTO_MAX_MS))


def trains_on_cpu(device: str) -> bool:
    """True for a job that trains on this machine's CPU (the device the worker reported, or the chosen one)."""
    return device == "cpu" or device.startswith("cpu ") or device.startswith("cpu(")


class FramePacer(QObject):
    """See the module docstring; ``window`` is the MainWindow (plots, client, settings, device_name)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.frames = 0
        self.flushes = 0
        self.overhead: dict[str, float] | None = None
        self._train_start: tuple[float, float, int] | None = None
        self.gated = False
        self._held = False  # an update request is waiting for the next frame
        self._interacting = False
        self._delivering = False
        self.cpu_frame_ms = window.settings.cpu_frame_ms(DEFAULT_CPU_FRAME_MS)
        if self.cpu_frame_ms not in CPU_FRAME_CHOICES:
            self.cpu_frame_ms = DEFAULT_CPU_FRAME_MS
        self.auto_ms = AUTO_FIRST_MS
        self.costs: collections.deque[float] = collections.deque(maxlen=5)  # CPU s of the last frame intervals
        self._clock: tuple[float, float] | None = None  # (wall, CPU) at the last frame
        self._interacted = False
        client = window.client
        client.set_poll_interval(LIVE_FRAME_MS)
        client.polled.connect(self.frame)
        client.started.connect(lambda e: self.job_device(e.device))
        client.state_changed.connect(self._state)
        client.progress.connect(self._progress)
        window.installEventFilter(self)
        self._ungate_timer = QTimer(self)
        self._ungate_timer.setSingleShot(True)
        self._ungate_timer.timeout.connect(self._interaction_over)

    def job_device(self, device: str) -> None:
        """A job starts (or reports) on ``device``: pick the frame interval for it."""
        self.window.device_name = device
        slow = trains_on_cpu(device) and self.window.client.is_active() and self.cpu_frame_ms != LIVE_FRAME_MS
        self._set_gated(slow)  # first: closing the gate starts the job's budget afresh
        slow_ms = self.auto_ms if self.cpu_frame_ms == AUTO else self.cpu_frame_ms
        self.window.client.set_poll_interval(slow_ms if slow else LIVE_FRAME_MS)

    def _state(self, state: str) -> None:
        if state not in JobState.ACTIVE:  # finished, failed, crashed: back to live drawing for the inspector
            self.window.client.set_poll_interval(LIVE_FRAME_MS)
            self._set_gated(False)

    def set_cpu_frame_ms(self, ms: int) -> None:
        self.cpu_frame_ms = int(ms)
        self.window.settings.set_cpu_frame_ms(self.cpu_frame_ms)
        self.job_device(self.window.device_name)

    def frame(self) -> None:
        """After a poll: draw whatever changed, then flush once."""
        now = time.monotonic()
        if self.gated and self.cpu_frame_ms == AUTO:
            self._adapt(now)
        self.window.plots.refresh()
        self.frames += 1
        if self.gated:
            QTimer.singleShot(SETTLE_MS, self._flush)

    def _adapt(self, now: float) -> None:
        """Set the next frame interval from the CPU the window used over the interval that just ended
        (its frame, paint, polls and timers). Only intervals in the training stretch count, not those cut
        short (replies to a command) or spent interacting (the person chose to spend that CPU)."""
        cpu = time.process_time()
        last, self._clock = self._clock, (now, cpu)
        training = self._train_start is not None and last is not None and self._train_start[0] <= last[0]
        if training and not self._interacted and now - last[0] >= 0.8 * self.auto_ms / 1000:
            self.costs.append(cpu - last[1])
            self.auto_ms = min(auto_interval_ms(self.costs), 2 * self.auto_ms)  # a smooth ramp
            self.window.client.set_poll_interval(self.auto_ms)
        self._interacted = self._interacting

    # ------------------------------------------------------------------ the gate
    # While gated, Qt's update requests for the window are held back (the dirty regions stay marked) and
    # one is delivered per frame, so each frame costs one paint of what changed and one flush. Input
    # (mouse, wheel, keys, resizing) opens the gate for INTERACTION_LIVE_S so the viewport turns live; only
    # input from the window system counts, not the mouse moves Qt makes up when widgets move under the pointer.
    def _set_gated(self, gated: bool) -> None:
        if gated == self.gated:
            return
        self.gated = gated
        app = QCoreApplication.instance()
        if gated:
            app.installEventFilter(self)
            self._train_start = None
            self._clock = None  # each job learns its own frame cost
            self.costs.clear()
            self.auto_ms = AUTO_FIRST_MS
        else:
            app.removeEventFilter(self)
            self._flush()
            self._report_overhead()

    def stop(self) -> None:
        """The window closes: no timer or application event filter of the pacer stays behind."""
        self._ungate_timer.stop()
        if self.gated:
            QCoreApplication.instance().removeEventFilter(self)
            self.gated = False

    def _progress(self, p: Any) -> None:
        """Measure the window's CPU over the training stretch (between the first and last training step)."""
        if not self.gated:
            return
        if p.stage == "train" and self._train_start is None:
            self._train_start = (time.monotonic(), time.process_time(), self.frames)
        elif p.stage != "train" and self._train_start is not None:
            self._report_overhead()

    def _report_overhead(self) -> None:
        """Log the window's own CPU use while the job trained on the CPU (what it took from training)."""
        if self._train_start is None:
            return
        (wall0, cpu0, frames0), self._train_start = self._train_start, None
        wall = time.monotonic() - wall0
        if wall < 1.0:
            return
        share = (time.process_time() - cpu0) / wall
        self.overhead = {"seconds": wall, "cpu_share": share, "frames": self.frames - frames0}
        self.window.append_log("info", f"while the job trained on the CPU, the window drew {self.frames - frames0} "
                               f"frames in {wall:.1f} s and used {100 * share:.1f}% of one core")  # fmt: skip

    def _flush(self) -> None:
        if self._held:
            self._held = False
            self._delivering = True
            try:
                QCoreApplication.sendEvent(self.window, QEvent(QEvent.Type.UpdateRequest))
            finally:
                self._delivering = False

    def _interaction_over(self) -> None:
        self._interacting = False

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind == QEvent.Type.UpdateRequest and obj is self.window:
            if self.gated and not self._interacting and not self._delivering:
                self._held = True
                return True
            self.flushes += 1
        elif self.gated and event.spontaneous() and (kind in INPUT_EVENTS or (kind == RESIZE and obj is self.window)):
            if not self._interacting:
                self._interacting = self._interacted = True
                self._flush()
            self._ungate_timer.start(int(INTERACTION_LIVE_S * 1000))
        return False

    def add_menu(self, view: Any) -> None:
        """View ▸ Redraw while training on the CPU: the choices of ``CPU_FRAME_CHOICES``."""
        menu = view.addMenu("Redraw while training on the CPU")
        menu.setToolTipsVisible(True)
        group = QActionGroup(menu)
        for ms, label in CPU_FRAME_CHOICES.items():
            action = QAction(label, menu, checkable=True)
            action.setChecked(ms == self.cpu_frame_ms)
            action.setToolTip("Each redraw takes CPU time from a job that trains on the CPU")
            action.triggered.connect(lambda _=False, ms=ms: self.set_cpu_frame_ms(ms))
            group.addAction(action)
            menu.addAction(action)
        self.menu = menu
