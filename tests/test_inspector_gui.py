"""The inspector in the real window under Xvfb: findings and highlights, a run, slices, probes, the dataset table."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from gui_support import isolate_settings, require_display

require_display()

from isoscope.app.inspect_dock import install_inspector  # noqa: E402
from isoscope.app.main_window import MainWindow  # noqa: E402

pytestmark = pytest.mark.gui
GALLERY = Path(__file__).resolve().parents[1] / "resources" / "gallery"


@pytest.fixture
def window(qtbot, tmp_path):
    isolate_settings(tmp_path / "settings")
    win = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(win)
    dock = install_inspector(win)
    win.show()
    qtbot.waitExposed(win)
    yield win, dock
    dock.shutdown()
    win.close()


def _open(qtbot, win, dock, name: str) -> None:
    assert win.setup.set_part(GALLERY / f"{name}.stl")
    qtbot.waitUntil(lambda: dock.inspector.report is not None and dock.inspector.title.text() == f"{name}.stl",
                    timeout=60_000)  # fmt: skip


def _on_screen(win, actor) -> bool:
    return actor in list(win.viewport.plotter.renderer.actors.values()) and actor.GetVisibility()


def test_findings_highlight_each_kind(qtbot, window) -> None:
    torch_before = "torch" in sys.modules  # earlier tests in this process may have imported the engine
    win, dock = window
    insp = dock.inspector
    cases = {
        "non_manifold_edge": ("non_manifold_edges", "edges", 1),
        "thin_fin": ("thin_features", "points", None),
        "tiny_far_detail": ("small_bodies", "faces", 12),
        "inside_out": ("inverted_bodies", "faces", 12),
    }
    for name, (kind, actor_key, cells) in cases.items():
        _open(qtbot, win, dock, name)
        assert insp.table.rowCount() == len(insp.findings) >= 2
        assert insp.select_finding(kind)
        actor = insp.highlight_actors[actor_key]
        assert _on_screen(win, actor)
        if cells is not None:
            assert actor.GetMapper().GetInput().GetNumberOfCells() == cells
        assert kind.split("_")[0] in insp.detail.text().lower() or insp.findings[0]["title"] in insp.detail.text()
    assert "sphere" not in " ".join(insp.highlight_actors)  # only this part's highlights remain
    assert torch_before or "torch" not in sys.modules  # the inspector itself never imports torch


def test_run_select_slice_probe_and_dataset(qtbot, window, tmp_path) -> None:
    win, dock = window
    insp = dock.inspector
    win.setup.apply_preset("tiny")
    assert win.setup.set_device("cpu")
    _open(qtbot, win, dock, "open_box")
    assert [f["kind"] for f in insp.findings] == ["open_edges", "scale"]

    # select the finding: four red open edges appear in the viewport
    insp.select_finding("open_edges")
    edges = insp.highlight_actors["edges"]
    assert _on_screen(win, edges) and edges.GetMapper().GetInput().GetNumberOfCells() == 4
    assert "1 hole" in insp.detail.text()

    # run it; the dataset table gains a row when it finishes
    with qtbot.waitSignal(win.client.finished, timeout=180_000) as fin:
        assert win.start()
    assert fin.args[0].status == "done"
    qtbot.waitUntil(lambda: len(dock.dataset.rows) == 1, timeout=5000)
    assert dock.dataset.rows[0]["status"] == "done" and "open_edges" in dock.dataset.rows[0]["health"]
    run_dir = Path(win.client.run_dir)
    assert json.loads((run_dir / "health.json").read_text())["checks"] == {"open_edges": 4}

    # move the slice plane: the worker (still serving after training) answers with both SDFs
    with qtbot.waitSignal(dock.slices.slice_shown, timeout=60_000) as got:
        dock.slices.set_plane(2, 0.5)
    s = got.args[0]
    assert s.axis == 2 and s.predicted.shape == (128, 128) and s.truth.shape == (128, 128)
    assert s.offset == pytest.approx(0.5, abs=0.01)
    assert dock.slices.images[0].image is not None and dock.slices.images[1].image is not None
    iso = dock.slices.contours[1]  # the zero contour of the true SDF: the box's outline on the plane
    iso.generatePath()
    assert iso.path is not None and not iso.path.isEmpty()
    assert _on_screen(win, dock.slices.plane_actor)
    assert "mean |error|" in dock.slices.status.text()

    # pick a point on the surface at the centre of the view, read its values
    win.viewport.set_mode("truth")
    win.viewport.render()
    w, h = win.viewport.plotter.window_size
    with qtbot.waitSignal(insp.probe_shown, timeout=30_000) as probe:
        first = insp.pick_at(w // 2, h // 2)
    assert first is not None
    p = probe.args[0]
    assert np.allclose(p.point, first) and abs(p.truth) < 0.05  # a point on the part's surface
    text = insp.probe_label.text()
    assert "true SDF" in text and "predicted" in text and "error" in text
    with qtbot.waitSignal(insp.probe_shown, timeout=30_000):
        second = insp.pick_at(w // 2 + 40, h // 2 + 25)
    assert second is not None and "distance" in insp.probe_label.text()
    assert f"{np.linalg.norm(second - first):.5g}" in insp.probe_label.text()
    assert _on_screen(win, insp.highlight_actors["measure"])

    # fit error view: histograms and the part coloured by distance to the fit
    assert dock.errors.update_error()
    x, y = dock.errors.curves["part → fit"].getData()
    assert len(y) == 60 and y.sum() == pytest.approx(100.0, abs=1.0)  # percent of the samples
    dock.errors.colour_btn.setChecked(True)
    assert _on_screen(win, dock.errors.part_actor)

    # double-click the dataset row: the run and its part open in the inspector
    win.client.stop()
    qtbot.waitUntil(lambda: not win.client.is_active() and win.client.pid is None, timeout=20_000)
    dock.dataset.open_row(0)
    qtbot.waitUntil(lambda: insp.report is not None and insp.title.text() == "open_box.stl", timeout=30_000)
    assert dock.tabs.currentWidget() is insp


def test_dataset_table_fifty_parts(qtbot, tmp_path) -> None:
    from isoscope.app.dataset_table import COLUMNS, DatasetTable

    src = Path(__file__).resolve().parents[1] / "resources" / "gallery"
    table = DatasetTable()
    qtbot.addWidget(table)
    parts = sorted(src.glob("*.stl"))
    for i in range(50):
        pct = 0.004 + 0.0001 * (i % 7) if i != 17 else 0.09
        summary = {"status": "done" if i != 33 else "no_surface", "part": str(parts[i % len(parts)]),
                   "chamfer_l1_over_diagonal": None if i == 33 else pct, "wall_s": 3.0 + i,
                   "validation": {"val_iou": 0.9}, "val_sdf_mae_original": {"val_surface_sdf_mae": 0.001},
                   "health": {"open_edges": 4} if i % 2 else {}}  # fmt: skip
        (tmp_path / f"r{i:02d}").mkdir()
        table.add_summary(summary, tmp_path / f"r{i:02d}")
        qtbot.wait(0)
    assert table.model.rowCount() == 50
    assert table.outliers() == [17, 33]
    assert table.model.item(17, 0).background().color().name() == "#5c1f24"
    chamfer = COLUMNS.index("Chamfer % diag")
    assert table.view.isColumnHidden(COLUMNS.index("node"))  # no part ran on a cluster
    table.view.sortByColumn(chamfer, pytest.importorskip("PySide6.QtCore").Qt.SortOrder.DescendingOrder)
    # Worst first: the part that ended without a surface (no Chamfer), then the worst Chamfer.
    assert table.proxy.index(0, chamfer).data() in ("", None)
    assert float(table.proxy.index(1, chamfer).data()) == pytest.approx(9.0)
    opened = []
    table.open_requested.connect(lambda part, run: opened.append((part, run)))
    table.open_row(1)
    assert opened and opened[0][1].endswith("r17")
    shutil.rmtree(tmp_path / "r00")
