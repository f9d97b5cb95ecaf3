"""The terminal as a job's sink: a progress bar with ETA on stderr, logs and epoch tables on stdout."""

from __future__ import annotations

import sys
import time
from typing import Any

from isoscope.core import events as ev


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN
        return "--:--"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class TerminalSink:
    """Prints what a person running a job in a terminal wants to see; callable with an event."""

    def __init__(self, quiet: bool = False, width: int = 28) -> None:
        self.quiet = quiet
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last_bar = 0.0
        self._bar_shown = False

    def __call__(self, event: Any) -> None:
        if isinstance(event, ev.Progress):
            self.progress(event)
        elif isinstance(event, ev.Log) and not self.quiet:
            self._clear()
            print(event.text, flush=True)
        elif isinstance(event, ev.Finished):
            self._clear()
            s = event.summary
            if "chamfer_l1" in s:
                share = 100 * s["chamfer_l1_over_diagonal"]
                print(
                    f"done in {s.get('wall_s', 0):.1f}s: Chamfer-L1 {s['chamfer_l1']:.4g} "
                    f"({share:.2f}% of the diagonal {s['bbox_diagonal']:.4g})"
                )
            else:
                print(f"{event.status} in {s.get('wall_s', 0):.1f}s")

    def progress(self, p: ev.Progress) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if now - self._last_bar < (0.2 if self.tty else 5.0) and p.step < p.total_steps:
            return
        self._last_bar = now
        frac = min(max(p.step / max(p.total_steps, 1), 0.0), 1.0)
        fill = int(frac * self.width)
        bar = "#" * fill + "-" * (self.width - fill)
        if p.stage == "sample":
            head, rate = "sampling  ", f"{p.samples_per_s / 1e3:8.1f}k queries/s"
        else:
            head = f"epoch {p.epoch}/{p.total_epochs}"  # the epoch under way (the last, once training ends)
            rate = f"{p.samples_per_s / 1e3:8.1f}k samples/s"
        line = f"{head} [{bar}] {100 * frac:5.1f}% {rate}  ETA {_clock(p.eta_s)}"
        if self.tty:
            sys.stderr.write("\r" + line)
            self._bar_shown = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def _clear(self) -> None:
        if self._bar_shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._bar_shown = False

    def close(self) -> None:
        self._clear()
