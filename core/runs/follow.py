"""Reading run directories back: follow metrics.jsonl while it is written, read a whole run, list runs.

Any process may write a run (see :mod:`isoscope.core.runs.rundir`); the window follows it by tailing
metrics.jsonl. Torch-free.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isoscope.core import events
from isoscope.core.runs.rundir import CONFIG, HEARTBEAT, METRICS, SUMMARY, TIMINGS, process_started, read_json

STALE_S = 120.0  # a writer on another host is taken for gone after this long without a heartbeat
GONE = "stopped unexpectedly"


class RunFollower:
    """Reads the records a run directory's metrics.jsonl has gained since the last call."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.file = Path(path) / METRICS
        self.offset = 0
        self.partial = b""

    def poll(self) -> list[Any]:
        if not self.file.exists():
            return []
        with open(self.file, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(events.from_record(json.loads(line)))
                except (ValueError, KeyError, TypeError):
                    continue
        return out


@dataclass
class RunRecord:
    """Everything a finished or running run directory holds, read back."""

    path: Path
    config: dict[str, Any]
    events: list[Any]
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    read_to: int = 0  # bytes of metrics.jsonl whose records are in ``events`` (where following goes on)

    def follower(self) -> RunFollower:
        """A follower that takes the records written after those read here."""
        follower = RunFollower(self.path)
        follower.offset = self.read_to
        return follower

    @property
    def mesh(self) -> Path | None:
        p = self.path / "mesh.ply"
        return p if p.exists() else None

    @property
    def status(self) -> str:
        """The summary's status; without one, "running" or, when its writer is gone, "stopped unexpectedly"."""
        if self.summary:
            return str(self.summary.get("status", "unknown"))
        return GONE if writer_gone(self.path) else "running"

    @property
    def part(self) -> str:
        """The part fitted, or the name a script's run was given."""
        return str(self.summary.get("part") or self.config.get("part") or self.config.get("name", ""))


def still_written(run: RunRecord) -> bool:
    """True while a writer may add records to ``run``: its end (Finished or Failed) is not in it yet, and its
    writer is alive (a run without a heartbeat: while it has no summary)."""
    if any(isinstance(e, (events.Finished, events.Failed)) for e in run.events):
        return False
    if (run.path / HEARTBEAT).exists():
        return writer_gone(run.path) is None
    return not run.summary


def writer_gone(path: str | os.PathLike) -> str | None:
    """Why the process writing run ``path`` is gone (one line), or None while it may still be writing (or
    the run has no heartbeat). On this host the pid is checked (with its start time, so a reused pid does
    not count); on another, the heartbeat's age."""
    try:
        beat = read_json(Path(path) / HEARTBEAT)
        pid = int(beat["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    host = str(beat.get("host", ""))
    if host == socket.gethostname():
        started = process_started(pid)
        expected = beat.get("process_started")
        if started is None or (expected is not None and abs(started - float(expected)) > 1.0):
            return f"its writer (pid {pid}) is gone without writing a summary"
        return None
    age = time.time() - float(beat.get("time", 0.0))
    return f"its writer on {host} has not been heard of for {age:.0f} s" if age > STALE_S else None


def read_run(path: str | os.PathLike) -> RunRecord:
    """Read a run directory; raise FileNotFoundError if it is not one."""
    path = Path(path)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"{path} is not an isoscope run directory (no {CONFIG})")
    config = read_json(path / CONFIG)
    summary = read_json(path / SUMMARY) if (path / SUMMARY).exists() else {}  # before the events: none is missed
    follower = RunFollower(path)
    evs = follower.poll()
    timings = read_json(path / TIMINGS) if (path / TIMINGS).exists() else {}
    read_to = follower.offset - len(follower.partial)
    return RunRecord(path=path, config=config, events=evs, summary=summary, timings=timings, read_to=read_to)


@dataclass
class RunInfo:
    """One line of the runs list."""

    path: Path
    part: str
    preset: str
    status: str
    started: float


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Run directories at any depth under ``root`` (a folder run nests them by each part's path), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for cfg_file in root.rglob(CONFIG):
        run = cfg_file.parent
        try:
            cfg = read_json(cfg_file)
            summary = read_json(run / SUMMARY) if (run / SUMMARY).exists() else {}
        except (OSError, ValueError):
            continue
        out.append(
            RunInfo(
                path=run,
                part=Path(str(cfg.get("part", ""))).name or str(cfg.get("name", "")),
                preset=str(cfg.get("preset", "") or cfg.get("job", "")),
                status=str(summary.get("status", GONE if writer_gone(run) else "running")),
                started=cfg_file.stat().st_mtime,
            )
        )
    out.sort(key=lambda r: r.started, reverse=True)
    return out
