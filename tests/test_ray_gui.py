"""A folder run from the window on a real two-node Ray cluster (loopback): the followed group's curves
live, the Dataset tab filled with each part's node, the batch summary written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from ray_support import LocalCluster

from gui_support import isolate_settings, require_display

require_display()

from support import PARTS  # noqa: E402

pytestmark = pytest.mark.gui


def test_the_window_runs_a_folder_on_the_cluster(qtbot, tmp_path: Path, ray_cluster: LocalCluster) -> None:
    from isoscope.app.main_window import MainWindow

    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("box", "bracket", "sphere", "torus"):
        shutil.copy(PARTS / f"{name}.stl", folder / f"{name}.stl")
    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.show()
    assert not w.setup.cluster_edit.isEnabled()  # one part runs here
    assert w.setup.set_folder(folder) and w.setup.cluster_edit.isEnabled()
    w.setup.apply_preset("tiny")
    w.setup.editor.set_value("train.batch_parts", 2)
    assert w.setup.set_device("cpu")
    w.setup.cluster_edit.setText(ray_cluster.address)
    curve: list[int] = []
    pausable: list[bool] = []
    w.client.metrics.connect(lambda e: (curve.append(e.step), pausable.append(w.act_pause.isEnabled())))
    said: list[str] = []
    w.client.log.connect(lambda e: said.append(e.text))
    with qtbot.waitSignal(w.job_done, timeout=300_000) as done:
        assert w.start()
    assert done.args == ["Finished"]

    table = w.inspector_dock.dataset
    col = {table.model.headerData(c, Qt.Orientation.Horizontal): c for c in range(table.model.columnCount())}
    shown = {table.model.item(r, col["part"]).text(): table.model.item(r, col["node"]).text()
             for r in range(table.model.rowCount())}  # fmt: skip
    summary = {r["part"]: r for r in json.loads((w._folder_run.root / "batch_summary.json").read_text())["parts"]}
    assert sorted(shown) == sorted(summary) == ["box.stl", "bracket.stl", "sphere.stl", "torus.stl"]
    assert all(r["status"] == "done" for r in summary.values())
    assert {shown[n] for n in shown} == {summary[n]["node_id"][:8] for n in summary} and len(set(shown.values())) == 2
    assert curve and len(w.plots.train[0]) > 0  # a group's training was followed live
    assert sum("running on node" in line for line in said) == 2  # one line per group
    assert not any(pausable)  # a cluster run can be stopped, not paused
