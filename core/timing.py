"""Per-phase timing that is right on the GPU: CUDA events resolved lazily, perf_counter on the CPU.

``with timer.phase("forward"):`` brackets a phase. On CUDA each phase records a pair of events on the
current stream; they are resolved only when a report is asked for (at most once per reporting
interval), so the step loop never synchronises. Phases may nest under dotted names ("sample.sdf");
only top-level phases add up to the wall time. While a profiler is active, each phase is also a
``record_function`` range of the same name.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from isoscope.core.phases import PHASE_ORDER, TRAIN_PHASES


class PhaseTimer:
    """Accumulates seconds per phase name; see the module docstring."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.totals: dict[str, float] = defaultdict(float)
        self._pending: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []
        self._mark: dict[str, float] = {}
        self._wall0 = time.perf_counter()
        self._mark_wall = self._wall0
        self.profiling = False

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        rf = torch.profiler.record_function(name) if self.profiling else nullcontext()
        with rf:
            if self.cuda:
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                try:
                    yield
                finally:
                    end.record()
                    self._pending.append((name, start, end))
            else:
                t0 = time.perf_counter()
                try:
                    yield
                finally:
                    self.totals[name] += time.perf_counter() - t0

    def resolve(self) -> None:
        """Turn recorded CUDA events into seconds (one synchronisation on the last event)."""
        if not self._pending:
            return
        self._pending[-1][2].synchronize()
        for name, start, end in self._pending:
            self.totals[name] += start.elapsed_time(end) / 1000.0
        self._pending.clear()

    def snapshot(self) -> dict[str, float]:
        """Totals so far, in report order."""
        self.resolve()
        return ordered(dict(self.totals))

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    def interval(self) -> tuple[dict[str, float], float]:
        """Seconds per phase and wall seconds since the previous call (the live view)."""
        now = self.snapshot()
        delta = {k: v - self._mark.get(k, 0.0) for k, v in now.items()}
        self._mark = now
        t = time.perf_counter()
        wall, self._mark_wall = t - self._mark_wall, t
        return {k: v for k, v in delta.items() if v > 0}, wall


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
