"""Reading run directories back: follow metrics.jsonl while it is written, read a whole run, list runs.

Any process may write a run (see :mod:`isoscope.core.runs.rundir`); the window follows it by tailing
metrics.jsonl. Torch-free.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isoscope.core import events
from isoscope.core.runs.rundir import CONFIG, METRICS, SUMMARY, TIMINGS, read_json


class RunFollower:
    """Reads the records a run directory's metrics.jsonl has gained since the last call."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.file = Path(path) / METRICS
        self.offset = 0
        self._partial = b""

    def poll(self) -> list[Any]:
        if not self.file.exists():
            return []
        with open(self.file, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
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

    @property
    def mesh(self) -> Path | None:
        p = self.path / "mesh.ply"
        return p if p.exists() else None

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "running" if not self.summary else "unknown"))

    @property
    def part(self) -> str:
        return str(self.summary.get("part") or self.config.get("part", ""))


def read_run(path: str | os.PathLike) -> RunRecord:
    """Read a run directory; raise FileNotFoundError if it is not one."""
    path = Path(path)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"{path} is not an isoscope run directory (no {CONFIG})")
    config = read_json(path / CONFIG)
    evs = RunFollower(path).poll()
    summary = read_json(path / SUMMARY) if (path / SUMMARY).exists() else {}
    timings = read_json(path / TIMINGS) if (path / TIMINGS).exists() else {}
    return RunRecord(path=path, config=config, events=evs, summary=summary, timings=timings)


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
                part=Path(str(cfg.get("part", ""))).name,
                preset=str(cfg.get("preset", "")),
                status=str(summary.get("status", "running")),
                started=cfg_file.stat().st_mtime,
            )
        )
    out.sort(key=lambda r: r.started, reverse=True)
    return out
