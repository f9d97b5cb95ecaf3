"""Fit every STL of a folder (the robosuite-models collection) on the CPU and report how many fits are good.

The parts are not shipped here. Fetch them once with the ordinary pip client and unpack the wheel:

    .venv/bin/pip download --no-deps robosuite-models -d /tmp/rs
    unzip -q /tmp/rs/robosuite_models-*.whl -d /tmp/rs/wheel
    nohup .venv/bin/python benchmarks/robosuite_fit.py /tmp/rs/wheel --out /tmp/rs_fit > /tmp/rs_fit.log 2>&1 &

Each part runs as its own ``isoscope-train`` process (so a crash is counted, not fatal) with a small
preset; results.jsonl grows as parts finish and a rerun skips parts already done. At the end (or with
``--report``) it prints the share of parts that end with a mesh whose Chamfer-L1 is under 1% of the
part's diagonal, and lists crashes, failures and parts without a surface.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOOD = 0.01
#: Overrides on top of --preset for this benchmark: a small network and grid that finish in ~20 s a part.
DEFAULT_SET = ("train.epochs=12", "recon.resolution=96")


def run_part(
    part: Path, folder: Path, out: Path, preset: str, overrides: list[str], timeout: float, threads: int
) -> dict[str, Any]:
    name = str(part.relative_to(folder)).replace("/", "__")
    run_dir = out / "runs" / Path(name).stem
    if run_dir.exists() and not (run_dir / "summary.json").exists():
        shutil.rmtree(run_dir)  # an interrupted earlier attempt; the trainer would not write over it
    exe = Path(sys.executable).with_name("isoscope-train")
    cmd = [str(exe), str(part), "--preset", preset, "--device", "cpu", "--outputDir", str(run_dir), "--quiet"]
    for item in overrides:
        key, value = item.split("=", 1)
        cmd += [f"--{key}", value]
    t0 = time.perf_counter()
    try:
        # One thread each: on a shared machine, torch's spinning worker threads make small steps 30x slower.
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, f"timed out after {timeout:.0f} s"
    row: dict[str, Any] = {"part": name, "rc": rc, "wall_s": time.perf_counter() - t0}
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        s = json.loads(summary_path.read_text())
        row.update(status=s.get("status"), chamfer_l1_over_diagonal=s.get("chamfer_l1_over_diagonal"),
                   val_iou=(s.get("validation") or {}).get("val_iou"), health=sorted(s.get("health") or {}),
                   error=s.get("error", s.get("advice", "")))  # fmt: skip
    else:
        row.update(status="crashed", error=(err or "").strip().splitlines()[-1:] or ["no output"])
    if rc is not None and rc < 0:
        row["status"] = "crashed"
    return row


def report(rows: list[dict[str, Any]]) -> str:
    n = len(rows)
    good = [r for r in rows if r.get("status") == "done" and (r.get("chamfer_l1_over_diagonal") or 1) < GOOD]
    by_status: dict[str, list[str]] = {}
    for r in rows:
        by_status.setdefault(str(r.get("status")), []).append(r["part"])
    lines = [f"parts: {n}", f"good fits (Chamfer-L1 < {100 * GOOD:.0f}% of the diagonal): {len(good)} "
             f"({100 * len(good) / max(n, 1):.1f}%)"]  # fmt: skip
    for status, parts in sorted(by_status.items()):
        lines.append(f"status {status}: {len(parts)}")
        if status != "done":
            lines += [f"    {p}" for p in parts[:30]]
    walls = sorted(r["wall_s"] for r in rows)
    if walls:
        lines.append(f"time per part: median {walls[len(walls) // 2]:.1f} s, max {walls[-1]:.1f} s, "
                     f"total {sum(walls) / 60:.1f} min")  # fmt: skip
    return "\n".join(lines)


def _finished(results: Path) -> set[str]:
    """Parts already in results.jsonl (another runner may be filling it from the other end)."""
    if not results.exists():
        return set()
    return {json.loads(line)["part"] for line in results.read_text().splitlines() if line.strip()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a folder holding STL files (searched recursively)")
    p.add_argument("--out", type=Path, default=Path("/tmp/robosuite_fit"), help="where runs and results go")
    p.add_argument("--preset", default="dataset-smoke", help="the preset every part starts from")
    p.add_argument("--set", dest="overrides", action="append", default=None,
                   help=f"a config override KEY=VALUE (repeatable; default {' '.join(DEFAULT_SET)})")  # fmt: skip
    p.add_argument("--limit", type=int, default=0, help="fit only the first N parts")
    p.add_argument("--reverse", action="store_true", help="go through the parts from the end (a second runner)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before a part counts as hung")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per fit (OMP_NUM_THREADS)")
    p.add_argument("--report", action="store_true", help="only print the report of the results so far")
    args = p.parse_args(argv)
    overrides = list(DEFAULT_SET if args.overrides is None else args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.exists() else []
    if args.report:
        print(report(rows))
        return 0
    done = {r["part"] for r in rows}
    parts = sorted(args.folder.rglob("*.stl")) + sorted(args.folder.rglob("*.STL"))
    parts = parts[: args.limit] if args.limit else parts
    order = list(enumerate(parts, 1))[:: -1 if args.reverse else 1]
    for i, part in order:
        name = str(part.relative_to(args.folder)).replace("/", "__")
        if name in done or name in _finished(results):
            continue
        row = run_part(part, args.folder, args.out, args.preset, overrides, args.timeout, args.threads)
        rows.append(row)
        with results.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        c = row.get("chamfer_l1_over_diagonal")
        print(f"[{i}/{len(parts)}] {name}: {row['status']} {'' if c is None else f'{100 * c:.2f}%'} "
              f"{row['wall_s']:.1f} s", flush=True)  # fmt: skip
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    print(report(list({r["part"]: r for r in rows}.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
