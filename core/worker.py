"""The worker process: runs one job from the window, streams events back, then serves inspection requests.

``worker_main`` is the target of a ``multiprocessing.get_context("spawn")`` process. This module imports
nothing heavy at import time, so the window can name it without importing torch.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

from isoscope.core import events as ev

CPU_BATCH_S = 0.25  # on the CPU, frequent events travel in batches at most this old (see BatchingSink)


def drain(q: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
        except (EOFError, OSError):
            return out


class BatchingSink:
    """Puts the job's events on the window's queue, the frequent training ones in batches (lists).

    Every ``put`` wakes the queue's feeder thread, which takes a core from torch's threads for a moment;
    on the CPU that is a measurable share of training when it happens fifty times a second. Metrics,
    live timings and training progress wait up to ``max_delay_s`` and go in one list; any other event
    sends what is waiting, then itself, so order is kept and nothing important is late. ``poll()``
    sends a batch that has waited long enough (the job polls commands often).
    """

    def __init__(self, put: Any, max_delay_s: float = 0.0) -> None:
        self.put = put
        self.max_delay_s = max_delay_s
        self._waiting: list[Any] = []
        self._since = 0.0

    @staticmethod
    def frequent(event: Any) -> bool:
        return (
            isinstance(event, ev.Metrics)
            or (isinstance(event, ev.PhaseTimes) and event.scope == "live")
            or (isinstance(event, ev.Progress) and event.stage == "train")
        )

    def __call__(self, event: Any) -> None:
        if self.max_delay_s <= 0 or not self.frequent(event):
            self.flush()
            self.put(event)
            return
        if not self._waiting:
            self._since = time.perf_counter()
        self._waiting.append(event)
        self.poll()

    def poll(self) -> None:
        if self._waiting and time.perf_counter() - self._since >= self.max_delay_s:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            batch, self._waiting = self._waiting, []
            self.put(batch)


def worker_process(part: str, cfg_dict: dict, run_dir: str, cmd_q: Any, evt_q: Any) -> None:
    """The target of the window's worker process: its exit status is the job's (0, 1 failed, 2 bad input)."""
    sys.exit(worker_main(part, cfg_dict, run_dir, cmd_q, evt_q))


def worker_main(part: str, cfg_dict: dict, run_dir: str, cmd_q: Any, evt_q: Any, serve: bool = True) -> int:
    """Run the job; afterwards answer slice/probe/reconstruct requests until Stop or the parent leaves.
    Returns the exit status of the job (see :func:`isoscope.core.failure.exit_status`)."""
    from isoscope.core.config import from_dict
    from isoscope.core.failure import exit_status, job_failed
    from isoscope.core.job import Reporter, make_job

    parent = os.getppid()
    path = Path(run_dir)
    sink = BatchingSink(evt_q.put)

    def commands() -> list[Any]:
        sink.poll()
        return drain(cmd_q) if os.getppid() == parent else [ev.Stop()]

    reporter = Reporter(path, sink, commands)
    job, status = None, 0
    try:
        job = make_job(part, from_dict(cfg_dict), path, reporter)
        sink.max_delay_s = CPU_BATCH_S if job.device.type == "cpu" else 0.0
        job.run()
    except BaseException as exc:  # noqa: BLE001 - everything becomes a Failed event
        status = exit_status([job_failed(exc, path, part, reporter.emit)])
        serve = False
    try:
        while serve and job is not None:
            try:
                cmd = cmd_q.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:
                    break
                continue
            if isinstance(cmd, ev.Stop):
                break
            try:
                job.on_command(cmd)
            except Exception as exc:  # noqa: BLE001 - a bad request must not end the session
                reporter.emit(ev.Log("error", f"{type(cmd).__name__} failed: {exc}"))
    finally:
        sink.flush()
        reporter.close()
    return status
