"""The worker process: runs one job from the window, streams events back, then serves inspection requests.

``worker_main`` is the target of a ``multiprocessing.get_context("spawn")`` process. This module imports
nothing heavy at import time, so the window can name it without importing torch.
"""

from __future__ import annotations

import os
import queue
import traceback
from pathlib import Path
from typing import Any

from core import events as ev

IDLE_EXIT_S = 600.0


def drain(q: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
        except (EOFError, OSError):
            return out


def make_job(part: str, cfg: Any, run_dir: Path, reporter: Any) -> Any:
    """The job object for cfg.job ("sdf" or "splat")."""
    if cfg.job == "splat":
        from core.splat.job import SplatJob

        return SplatJob(part, cfg, run_dir, reporter)
    from core.sdf_job import SDFJob

    return SDFJob(part, cfg, run_dir, reporter)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user as it is (bad part, bad config, bad device)."""
    from core.config import ConfigError
    from core.job import JobError
    from core.meshio import PartError

    return (PartError, ConfigError, JobError)


def failure_event(exc: BaseException) -> ev.Failed:
    if isinstance(exc, user_errors()):
        return ev.Failed(str(exc), "")
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return ev.Failed("the device ran out of memory: choose a smaller preset, batch or point count",
                         traceback.format_exc())  # fmt: skip
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ev.Failed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, traceback.format_exc())


def write_failed_summary(run_dir: Path, part: str, failed: ev.Failed) -> None:
    from core.runs import SUMMARY, write_json_atomic

    if not (run_dir / SUMMARY).exists():
        write_json_atomic(run_dir / SUMMARY, {"status": "failed", "part": part, "error": failed.message})


def leave_a_core_for_the_window(job: Any, reporter: Any) -> None:
    """On the CPU, train with one thread fewer than there are cores.

    The window needs a core to draw. torch's OpenMP threads wait for each other at every operation, so
    when the window takes a core from one of them, every step waits: on two cores, training ran at a
    quarter of its headless speed with two threads, and at 90% with one.
    """
    if job.device.type != "cpu":
        return
    import torch

    threads = max(1, (os.cpu_count() or 2) - 1)
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
        reporter.emit(ev.Log("info", f"training with {threads} CPU thread(s); one core is left to the window"))


def worker_main(part: str, cfg_dict: dict, run_dir: str, cmd_q: Any, evt_q: Any, serve: bool = True) -> None:
    """Run the job; afterwards answer slice/probe/reconstruct requests until Stop or the parent leaves."""
    from core.config import from_dict
    from core.job import Reporter

    parent = os.getppid()
    path = Path(run_dir)
    reporter = Reporter(path, evt_q.put, lambda: drain(cmd_q) if os.getppid() == parent else [ev.Stop()])
    job = None
    try:
        job = make_job(part, from_dict(cfg_dict), path, reporter)
        leave_a_core_for_the_window(job, reporter)
        job.run()
    except BaseException as exc:  # noqa: BLE001 - everything becomes a Failed event
        failed = failure_event(exc)
        write_failed_summary(path, part, failed)
        reporter.emit(failed)
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
        reporter.close()
