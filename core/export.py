"""Every series a run recorded, in long form: ``isoscope-export`` and the window's File ▸ Export metrics.

    isoscope-export RUN_DIR [--csv OUT.csv] [--json OUT.json]

One row per recorded value, with the columns ``series, step, epoch, time, value``, read from the run's
metrics.jsonl record by record (torch-free):

- Metrics: one row per value (``train_loss``, ``val_*`` validation figures, a Gaussian run's PSNR and the
  like, a script's own names), with its step and epoch.
- PhaseTimes: ``phase_epoch/NAME``, ``phase_live/NAME`` and ``phase_total/NAME`` in seconds, and
  ``phase_<scope>/wall`` for the record's wall time; a live record's time is the end of its interval,
  counted from the first live record's start.
- Progress (where a run recorded it): ``throughput/per_s`` and ``eta_s``.
- Resources: ``resources/NAME`` at the record's time.
- Finished: the summary's numbers as ``summary/NAME`` (throughput ``summary/train_samples_per_s``, the
  Chamfer and other metrics, wall time), at the run's last step and epoch.

Empty cells are values the record does not have. Files are written atomically. Without ``--csv`` and
``--json`` the CSV goes to standard output.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from isoscope.core.runs.rundir import CONFIG, METRICS, atomic_path, write_json_atomic

COLUMNS = ("series", "step", "epoch", "time", "value")
Row = dict[str, Any]


class ExportError(Exception):
    """A folder that cannot be exported (one line for the person)."""


def read_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The JSON records of a run's metrics.jsonl (a half-written last line is skipped); ExportError when
    ``run_dir`` is not a run directory."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ExportError(f"{run}: no such folder")
    if not (run / CONFIG).is_file() or not (run / METRICS).is_file():
        raise ExportError(f"{run} is not an isoscope run directory (no {CONFIG} and {METRICS})")
    out = []
    for line in (run / METRICS).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _row(series: str, value: Any, step: Any = None, epoch: Any = None, time: Any = None) -> Row | None:
    v = _number(value)
    return None if v is None else {"series": series, "step": step, "epoch": epoch, "time": time, "value": v}


def record_rows(record: dict[str, Any], clock: dict[str, float]) -> list[Row]:
    """The rows of one record (``clock`` carries the live phase records' elapsed time between calls)."""
    kind, step, epoch = record.get("event"), record.get("step"), record.get("epoch")
    rows: list[Row | None] = []
    if kind == "Metrics":
        rows = [_row(k, v, step, epoch) for k, v in (record.get("values") or {}).items()]
    elif kind == "PhaseTimes":
        scope = str(record.get("scope", ""))
        wall = _number(record.get("wall_s"))
        t = None
        if scope == "live" and wall is not None:
            clock["live"] = t = clock.get("live", 0.0) + wall
        rows = [_row(f"phase_{scope}/{k}", v, None, epoch, t) for k, v in (record.get("seconds") or {}).items()]
        rows.append(_row(f"phase_{scope}/wall", wall, None, epoch, t))
    elif kind == "Progress":
        rows = [_row("throughput/per_s", record.get("samples_per_s"), step, epoch),
                _row("eta_s", record.get("eta_s"), step, epoch)]  # fmt: skip
    elif kind == "Resources":
        t = _number(record.get("time_s"))
        rows = [_row(f"resources/{k}", v, None, None, t) for k, v in (record.get("values") or {}).items()]
    elif kind == "Finished":
        s = record.get("summary") or {}
        rows = [_row(f"summary/{k}", v, s.get("steps"), s.get("epochs")) for k, v in s.items()
                if k not in ("steps", "epochs")]  # fmt: skip
    return [r for r in rows if r is not None]


def series_rows(records: Iterable[dict[str, Any]]) -> Iterator[Row]:
    """Every row of ``records``, in their order."""
    clock: dict[str, float] = {}
    for record in records:
        yield from record_rows(record, clock)


def to_csv(rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None else repr(r[k]) if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    return buf.getvalue()


def export_run(run_dir: str | Path, csv_path: str | Path | None = None, json_path: str | Path | None = None) -> int:
    """Write the run's rows to ``csv_path`` and/or ``json_path`` (atomically); the number of rows."""
    rows = list(series_rows(read_records(run_dir)))
    if csv_path:
        with atomic_path(csv_path) as tmp:
            tmp.write_text(to_csv(rows), encoding="utf-8")
    if json_path:
        write_json_atomic(json_path, {"run": str(Path(run_dir).resolve()), "columns": list(COLUMNS), "rows": rows})
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="isoscope-export", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="a run directory (with config.json and metrics.jsonl)")
    ap.add_argument("--csv", help="write the rows to this CSV file")
    ap.add_argument("--json", help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    try:
        if args.csv or args.json:
            n = export_run(args.run_dir, args.csv, args.json)
            print(f"{n} rows from {args.run_dir}: " + ", ".join(p for p in (args.csv, args.json) if p))
        else:
            sys.stdout.write(to_csv(series_rows(read_records(args.run_dir))))
    except ExportError as exc:
        print(f"isoscope-export: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"isoscope-export: error: cannot write: {exc}", file=sys.stderr)
        return 2
    return 0


def entry() -> None:
    from isoscope.core.cli import run_command

    run_command(main)


if __name__ == "__main__":
    entry()
