"""The one failure path of a job: an exception becomes the Failed event, the failed summary and an exit status.

``job_failed`` is called by the worker (the window's jobs), the command line and the folder run alike.
Torch-free: they all import it before any job exists.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from isoscope.core import events as ev

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user as it is (bad part, bad config, bad device)."""
    from isoscope.core.config import ConfigError
    from isoscope.core.job import JobError
    from isoscope.core.mesh.part import PartError

    return (PartError, ConfigError, JobError)


def failure_event(exc: BaseException) -> ev.Failed:
    if isinstance(exc, user_errors()):
        return ev.Failed(str(exc), "")
    return described(exc)


def described(exc: BaseException) -> ev.Failed:
    """Any exception as the Failed event: one line (type and message) and the traceback."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return ev.Failed("the device ran out of memory: choose a smaller preset, batch or point count", details)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ev.Failed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, details)


def job_failed(exc: BaseException, run_dir: Path, part: str, emit: Callable[[Any], None]) -> dict[str, Any]:
    """Emit the Failed event for ``exc`` and write the failed summary (unless the job wrote its own);
    returns that summary. ``bad_input`` marks a message meant for the user as it is (exit status 2)."""
    from isoscope.core.runs.rundir import SUMMARY, write_json_atomic

    failed = failure_event(exc)
    summary = {"status": "failed", "part": part, "error": failed.message, "bad_input": not failed.traceback}
    if not (Path(run_dir) / SUMMARY).exists():
        write_json_atomic(Path(run_dir) / SUMMARY, summary)
    emit(failed)
    return summary


def exit_status(summaries: list[dict[str, Any]]) -> int:
    """0 when every run ended well, 2 when each failure was bad input, else 1 (a run failed)."""
    failed = [s for s in summaries if s.get("status") == "failed"]
    if not failed:
        return EXIT_OK
    return EXIT_BAD_INPUT if all(s.get("bad_input") for s in failed) else EXIT_FAILED
