"""A folder run from the window: the same plan as the command line's (parts found below the folder,
grouped by batch_parts, one worker per group), its batch summary and the Dataset tab; reopening its root
refills the tab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()

from support import PARTS  # noqa: E402

pytestmark = pytest.mark.gui
TIMEOUT_MS = 300_000


def five_parts(tmp_path: Path) -> Path:
    """Five parts, two of them both called part.stl in different subfolders."""
    folder = tmp_path / "parts"
    for sub, name in (("a", "sphere"), ("b", "box")):
        (folder / sub).mkdir(parents=True)
        shutil.copy(PARTS / f"{name}.stl", folder / sub / "part.stl")
    for name in ("torus", "bracket", "sphere"):
        shutil.copy(PARTS / f"{name}.stl", folder / f"{name}.stl")
    return folder


def shape(rows: list[dict]) -> list[tuple]:
    return [(r["part"], r["status"], tuple(r)) for r in rows]


def test_folder_run_in_groups_fills_the_dataset_and_reopens(qtbot, tmp_path: Path) -> None:
    from isoscope.app.main_window import MainWindow
    from isoscope.core.cli import train_main

    folder = five_parts(tmp_path)
    settings = {"train.batch_parts": 4, "train.epochs": 1, "recon.metric_samples": 2000}
    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    assert w.setup.set_folder(folder) and len(w.setup.parts) == 5
    w.setup.apply_preset("tiny")
    for path, value in settings.items():
        w.setup.editor.set_value(path, value)
    assert w.setup.set_device("cpu")
    started = []
    w.client.started.connect(lambda e: started.append(list(w.client.run_dirs)))
    with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS) as done:
        assert w.start()
    assert done.args == ["Finished"]

    # Two workers: four parts trained together, then the fifth alone.
    root = w._folder_run.root
    assert [[d.relative_to(root).as_posix() for d in dirs] for dirs in started] == [
        ["a/part", "b/part", "bracket", "sphere"], ["torus"]]  # fmt: skip
    rows = json.loads((root / "batch_summary.json").read_text())["parts"]
    assert [r["part"] for r in rows] == ["a/part.stl", "b/part.stl", "bracket.stl", "sphere.stl", "torus.stl"]
    assert all(r["status"] == "done" for r in rows)

    # The command line's batch summary of the same folder has the same shape.
    out = tmp_path / "cli"
    argv = [str(folder), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"]
    assert train_main(argv + [f"--{k}={v}" for k, v in settings.items()]) == 0
    assert shape(json.loads((out / "batch_summary.json").read_text())["parts"]) == shape(rows)

    # The Dataset tab: five rows, one per part, the same-named parts apart.
    table = w.inspector_dock.dataset
    assert table.model.rowCount() == 5
    names = [r["part"] for r in rows]
    assert sorted(table.model.item(i, 0).text() for i in range(5)) == names
    assert sorted(Path(r["run_dir"]) for r in rows) == sorted(Path(r["run_dir"]) for r in table.rows)

    # Reopening the folder run's root refills it, and the Setup panel shows the run's folder and settings
    # (not whatever was chosen since).
    table.clear()
    assert table.model.rowCount() == 0
    w.setup.apply_preset("default")
    assert w.setup.set_part(PARTS / "torus.stl")
    assert w.open_path(root)
    assert sorted(table.model.item(i, 0).text() for i in range(5)) == names
    assert sorted(Path(r["run_dir"]) for r in rows) == sorted(Path(r["run_dir"]) for r in table.rows)
    assert w.setup.preset_box.currentText() == "tiny"
    assert w.setup.part_edit.text() == str(folder) and w.setup.folder == folder and len(w.setup.parts) == 5
    assert [w.setup.editor.value(p) for p in settings] == list(settings.values())
    assert {w.setup.editor.source(p) for p in settings} == {"run"}
