"""The one folder run, for the command line and the window: which parts, in which groups, into which run
directories, and the batch summary they fill.

Parts are every STL file below the folder (subfolders included), in order of their path relative to the
folder. That path names the part's table row ("a/part.stl") and its run directory under the folder
run's root ("a/part"), so same-named parts in different subfolders stay apart. SDF parts are trained
``train.batch_parts`` at a time (one batched network per group); Gaussian fits one at a time. Who runs a
group differs (this process for the command line, a worker process for the window); the plan, the run
directories and ``batch_summary.csv/json`` are the same. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from isoscope.core.runs.rundir import SUMMARY, new_run_dir
from isoscope.core.runs.table import BATCH_JSON, BatchTable


def find_parts(folder: str | Path) -> list[Path]:
    """Every STL file below ``folder``, subfolders included, in order of the path relative to it."""
    folder = Path(folder)
    return sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".stl"),
                  key=lambda p: p.relative_to(folder).as_posix().lower())  # fmt: skip


def fresh_dir(path: Path, part: str | Path, job: str) -> Path:
    """``path`` itself when it is new or empty; else a fresh subfolder of it, so nothing is overwritten."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        path.mkdir(parents=True, exist_ok=True)
        return path
    return new_run_dir(path, str(part), job)


def is_folder_run(path: str | Path) -> bool:
    """True for the root of a folder run (it holds a batch summary)."""
    return (Path(path) / BATCH_JSON).is_file()


class FolderRun:
    """A folder run's plan and its table; see the module docstring.

    ``groups()`` gives the parts in training order; ``run_dir(part)`` creates a part's run directory;
    ``record(part, run_dir, summary)`` adds its row to batch_summary.csv/json (rewritten atomically).
    """

    def __init__(self, folder: str | Path, root: str | Path, job: str, batch_parts: int, skip_done: bool = False
                 ) -> None:  # fmt: skip
        self.folder, self.root, self.job = Path(folder), Path(root), job
        self.parts = find_parts(self.folder)
        self.group_size = max(1, batch_parts) if job == "sdf" else 1
        kept = finished_rows(self.root) if skip_done else {}
        kept = {name: row for name, row in kept.items() if name in {self.name(p) for p in self.parts}}
        self.table = BatchTable(self.root, list(kept.values()))
        self.todo = [p for p in self.parts if self.name(p) not in kept]  # the parts left to fit

    def name(self, part: Path) -> str:
        """The part's path relative to the folder: its row in the table."""
        return part.relative_to(self.folder).as_posix()

    def groups(self) -> list[list[Path]]:
        """The parts left to fit (all of them, or with ``skip_done`` those without a finished run), grouped."""
        n = self.group_size
        return [self.todo[i : i + n] for i in range(0, len(self.todo), n)]

    def run_dir(self, part: Path) -> Path:
        return fresh_dir(self.root / part.relative_to(self.folder).with_suffix(""), part, self.job)

    def record(self, part: Path, run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
        return self.table.add(self.name(part), run_dir, summary)


def finished_rows(root: Path) -> dict[str, dict[str, Any]]:
    """The table rows of a past folder run at ``root`` whose part finished (status done, its summary there),
    by part name; empty when ``root`` holds no readable batch summary."""
    try:
        rows = json.loads((root / BATCH_JSON).read_text())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {row["part"]: row for row in rows if row.get("status") == "done"
            and (Path(str(row.get("run_dir", ""))) / SUMMARY).is_file()}  # fmt: skip


def read_folder_run(root: str | Path) -> list[tuple[str, dict[str, Any], Path]]:
    """A past folder run's parts: each one's name (its path relative to the folder), summary (its
    summary.json, else the table's row) and run directory, in the table's order. Raises OSError when
    ``root`` holds no batch summary, ValueError or KeyError when it cannot be read."""
    root = Path(root)
    rows = json.loads((root / BATCH_JSON).read_text())["parts"]
    out = []
    for row in rows:
        run_dir = Path(row["run_dir"])
        if not run_dir.exists():  # the root was moved: the same layout below it
            run_dir = root / Path(row["part"]).with_suffix("")
        try:
            summary = json.loads((run_dir / SUMMARY).read_text())
        except (OSError, ValueError):
            summary = {"status": row.get("status", "failed"), "error": row.get("error", "")}
        summary.setdefault("part", row["part"])
        out.append((row["part"], summary, run_dir))
    return out
