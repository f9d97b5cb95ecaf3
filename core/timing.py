"""Per-phase timing that is right on the GPU: CUDA events resolved lazily, perf_counter on the CPU.

``with timer.phase("forward"):`` brackets a phase. On CUDA each phase records a pair of events on the
current stream; they are resolved only when a report is asked for (at most once per reporting
interval), so the step loop never synchronises. Phases may nest under dotted names ("sample.sdf");
only top-level phases add up to the wall time. While a profiler is active, each phase is also a
``record_function`` range of the same name. torch is imported only for CUDA timing and profiling, so the
Python API can time a script on the CPU without it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from isoscope.core.phases import PHASE_ORDER, TRAIN_PHASES


class PhaseTimer:
    """Accumulates seconds per phase name; see the module docstring."""

    def __init__(self, device: Any = "cpu") -> None:
        self.cuda = str(device).startswith("cuda")
        self.totals: dict[str, float] = defaultdict(float)
        self._pending: list[tuple[str, Any, Any]] = []  # (name, start event, end event), oldest first
        self._mark: dict[str, float] = {}
        self._wall0 = time.perf_counter()
        self._mark_wall = self._wall0
        self.profiling = False

    def phase(self, name: str) -> Span:
        """``with timer.phase(name):`` times the block (a few microseconds of overhead)."""
        return Span(self, name)

    def resolve(self, block: bool = True) -> None:
        """Turn recorded CUDA events into seconds: all of them (one synchronisation on the last event), or
        with ``block=False`` those the GPU has reached (it never waits; the rest stay for a later call)."""
        if not self._pending:
            return
        if block:
            self._pending[-1][2].synchronize()
        done = 0
        for name, start, end in self._pending:
            if not block and not end.query():
                break
            self.totals[name] += start.elapsed_time(end) / 1000.0
            done += 1
        del self._pending[:done]

    def snapshot(self, block: bool = True) -> dict[str, float]:
        """Totals so far, in report order (``block``: see :meth:`resolve`)."""
        self.resolve(block)
        return ordered(dict(self.totals))

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    def interval(self, block: bool = True) -> tuple[dict[str, float], float]:
        """Seconds per phase and wall seconds since the previous call (the live view; ``block``: see
        :meth:`resolve`)."""
        now = self.snapshot(block)
        delta = {k: v - self._mark.get(k, 0.0) for k, v in now.items()}
        self._mark = now
        t = time.perf_counter()
        wall, self._mark_wall = t - self._mark_wall, t
        return {k: v for k, v in delta.items() if v > 0}, wall


class Span:
    """One timed block of a :class:`PhaseTimer` (a class, not a generator: it costs a fraction as much)."""

    __slots__ = ("timer", "name", "t0", "start", "rf", "cuda")

    def __init__(self, timer: PhaseTimer, name: str) -> None:
        self.timer, self.name, self.rf = timer, name, None

    def __enter__(self) -> None:
        timer = self.timer
        if timer.profiling:
            import torch

            self.rf = torch.profiler.record_function(self.name)
            self.rf.__enter__()
        self.cuda = timer.cuda  # as it was when the block began (a run may turn to CUDA meanwhile)
        if self.cuda:
            import torch

            self.start = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> bool:
        timer = self.timer
        if self.cuda:
            import torch

            end = torch.cuda.Event(enable_timing=True)
            end.record()
            timer._pending.append((self.name, self.start, end))
        else:
            timer.totals[self.name] += time.perf_counter() - self.t0
        if self.rf is not None:
            self.rf.__exit__(None, None, None)
            self.rf = None  # a Span may be entered again after the profiler has stopped
        return False


def ordered(seconds: dict[str, float]) -> dict[str, float]:
    rank = {name: i for i, name in enumerate(PHASE_ORDER)}
    return dict(sorted(seconds.items(), key=lambda kv: (rank.get(kv[0].split(".")[0], 99), kv[0])))


def top_level(seconds: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in seconds.items() if "." not in k}


def epoch_breakdown(epoch: int, seconds: dict[str, float], wall: float) -> str:
    """The seed's "EPOCH N TIMING BREAKDOWN" table for one epoch."""
    training = sum(seconds.get(k, 0.0) for k in TRAIN_PHASES)
    validation = seconds.get("validation", 0.0)
    sampling = seconds.get("sample", 0.0) + seconds.get("cache", 0.0)
    other = max(wall - training - validation - sampling, 0.0)

    def pct(x: float, of: float) -> str:
        return f"{x:.2f}s ({100.0 * x / of if of > 0 else 0.0:.1f}%)"

    lines = [f"=== EPOCH {epoch} TIMING BREAKDOWN ===", f"Total epoch time: {wall:.2f}s"]
    if sampling > 0:
        lines.append(f"Sampling time: {pct(sampling, wall)}")
    lines += [f"Training time: {pct(training, wall)}", f"Validation time: {pct(validation, wall)}"]
    if other > 0.005:
        lines.append(f"Other: {pct(other, wall)}")
    names = {"batch": "Batch gather", "step": "Whole step (CUDA graph)", "forward": "Forward pass",
             "backward": "Backward pass", "optimizer": "Optimizer"}  # fmt: skip
    shown = [k for k in TRAIN_PHASES if k in seconds] or ["batch", "forward", "backward", "optimizer"]
    lines += ["", "Training timing breakdown:"]
    lines += [f"  {names[k]}: {pct(seconds.get(k, 0.0), training)}" for k in shown]
    return "\n".join(lines)


def with_other(seconds: dict[str, float], wall: float) -> dict[str, float]:
    """Top-level phases plus ``other``, the wall time no phase covers: together they add up to ``wall``."""
    top = top_level(seconds)
    return {**top, "other": max(wall - sum(top.values()), 0.0)}


def phase_table(epoch: int, seconds: dict[str, float], wall: float) -> str:
    """The seed's "EPOCH N TIMING BREAKDOWN" table for any phases: each top-level phase and ``other`` as a
    share of the epoch's wall time, nested phases (``step.forward``) indented as shares of their parent."""
    seconds = ordered(seconds)
    lines = [f"=== EPOCH {epoch} TIMING BREAKDOWN ===", f"Total epoch time: {wall:.2f}s"]
    for name, s in with_other(seconds, wall).items():
        lines.append(f"{name}: {s:.3f}s ({100.0 * s / wall if wall > 0 else 0.0:.1f}%)")
        for child, c in seconds.items():
            parent = child.rsplit(".", 1)[0]
            if child.startswith(name + ".") and seconds.get(parent, 0.0) > 0:
                share = 100.0 * c / seconds[parent]
                lines.append(
                    f"{'  ' * child.count('.')}{child[len(parent) + 1 :]}: {c:.3f}s ({share:.1f}% of {parent})"
                )
    return "\n".join(lines)
