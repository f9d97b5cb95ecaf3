"""Run directories: where they go, creating them, writing files atomically, appending metrics and log lines.

Layout of one run: config.json, metrics.jsonl (append-only event records), timings.json, summary.json
(atomic, at the end), model.pt, mesh.ply / mesh.stl (original units), points.npz, renders/, profile/,
log.txt, heartbeat.json (the writer's pid, host and time, renewed while it writes). Any process may write
one; :mod:`isoscope.core.runs.follow` reads it back. Torch-free.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from isoscope.core import events

METRICS = "metrics.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
TIMINGS = "timings.json"
LOG = "log.txt"
HEARTBEAT = "heartbeat.json"
HEARTBEAT_S = 5.0  # renewed at most this often, while records are written
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: files written atomically get the permissions any other file would


def default_root() -> Path:
    """Where runs go when no --outputDir is given: the user's data directory."""
    env = os.environ.get("ISOSCOPE_RUNS")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("isoscope", appauthor=False)) / "runs"


def safe_name(text: str, limit: int = 60) -> str:
    """``text`` as a file name: letters, digits, ``_.-``; runs of anything else become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:limit]


def new_run_dir(root: str | os.PathLike, part: str, job: str = "sdf") -> Path:
    """Create a fresh, uniquely named run directory under ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stem = safe_name(Path(part).stem) or "part"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}-{job}"
    for i in range(1000):
        path = root / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {root}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return _jsonable(obj.item())
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON through a temporary file so a reader never sees half of it (NaN becomes null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=False))


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such process (or
    only its exit status is left, a zombie)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc.create_time()
    except psutil.Error:
        return None


class RunWriter:
    """Appends event records to metrics.jsonl and lines to log.txt of one run directory, and keeps its
    heartbeat (see :func:`isoscope.core.runs.follow.writer_gone`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.path / METRICS, "a", encoding="utf-8")
        self._log = open(self.path / LOG, "a", encoding="utf-8")
        self._beat = 0.0
        self.beat()

    def beat(self) -> None:
        """Write heartbeat.json: this process (pid, its start time, host) is writing the run, now."""
        pid = os.getpid()
        self._beat = time.monotonic()
        write_json_atomic(self.path / HEARTBEAT, {"pid": pid, "host": socket.gethostname(), "time": time.time(),
                                                   "process_started": process_started(pid)})  # fmt: skip

    def record(self, message: Any) -> None:
        """Append one event (Metrics, PhaseTimes, Artifact, Finished, ...) and flush."""
        line = json.dumps(_jsonable(events.to_record(message)), allow_nan=False)
        self._metrics.write(line + "\n")
        self._metrics.flush()
        if time.monotonic() - self._beat >= HEARTBEAT_S:
            self.beat()

    def metrics(self, step: int, epoch: int, values: dict[str, float | None]) -> None:
        """Append a Metrics record whose values are already floats or None, without flushing: the fast
        path for a script's every step (the next :meth:`record` flushes it)."""
        self._metrics.write(json.dumps({"event": "Metrics", "step": step, "epoch": epoch, "values": values}) + "\n")

    def log(self, text: str) -> None:
        self._log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self._log.flush()

    def close(self) -> None:
        self._metrics.close()
        self._log.close()
