"""What a job's failure becomes: the Failed event for the window and the terminal, and the failed summary.

Torch-free: the command line, the worker and a folder run all import it before any job exists.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from isoscope.core import events as ev


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user as it is (bad part, bad config, bad device)."""
    from isoscope.core.config import ConfigError
    from isoscope.core.job import JobError
    from isoscope.core.mesh.part import PartError

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
    from isoscope.core.runs.rundir import SUMMARY, write_json_atomic

    if not (run_dir / SUMMARY).exists():
        write_json_atomic(run_dir / SUMMARY, {"status": "failed", "part": part, "error": failed.message})
