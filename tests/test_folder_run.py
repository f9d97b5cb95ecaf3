"""The one folder run from the command line: parts found in subfolders, named by their path relative to
the folder, grouped by batch_parts, with the batch summary; same-named parts stay apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from isoscope.core.cli import train_main
from isoscope.core.runs.folder import FolderRun, find_parts, read_folder_run

from support import PARTS


def same_named_parts(tmp_path: Path) -> Path:
    folder = tmp_path / "parts"
    for sub, name in (("a", "sphere"), ("b", "box")):
        (folder / sub).mkdir(parents=True)
        shutil.copy(PARTS / f"{name}.stl", folder / sub / "part.stl")
    return folder


def test_parts_are_found_below_the_folder_and_grouped(tmp_path: Path) -> None:
    folder = same_named_parts(tmp_path)
    shutil.copy(PARTS / "torus.stl", folder / "Torus.STL")
    (folder / "notes.txt").write_text("not a part")
    assert [p.relative_to(folder).as_posix() for p in find_parts(folder)] == ["a/part.stl", "b/part.stl", "Torus.STL"]
    run = FolderRun(folder, tmp_path / "out", "sdf", batch_parts=2)
    assert [[run.name(p) for p in g] for g in run.groups()] == [["a/part.stl", "b/part.stl"], ["Torus.STL"]]
    assert run.run_dir(run.parts[0]) == tmp_path / "out" / "a" / "part"
    assert run.run_dir(run.parts[0]) == tmp_path / "out" / "a" / "part"  # empty: used as it is
    assert [len(g) for g in FolderRun(folder, tmp_path / "o2", "splat", batch_parts=4).groups()] == [1, 1, 1]


def test_same_named_parts_in_subfolders_give_two_runs_and_two_rows(tmp_path: Path) -> None:
    folder = same_named_parts(tmp_path)
    out = tmp_path / "out"
    argv = [str(folder), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"]
    assert train_main(argv + ["--batchParts", "2", "--recon.metric_samples", "2000"]) == 0
    rows = json.loads((out / "batch_summary.json").read_text())["parts"]
    assert [(r["part"], r["status"]) for r in rows] == [("a/part.stl", "done"), ("b/part.stl", "done")]
    assert [Path(r["run_dir"]) for r in rows] == [out / "a" / "part", out / "b" / "part"]
    for row, sub in zip(rows, ("a", "b"), strict=True):
        summary = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
        assert summary["part"] == str(folder / sub / "part.stl")
    assert (out / "batch_summary.csv").read_text().count("\n") == 3
    reopened = read_folder_run(out)
    expected = [(f"{s}/part.stl", str(folder / s / "part.stl"), out / s / "part") for s in "ab"]
    assert [(name, s["part"], d) for name, s, d in reopened] == expected
