"""Desktop habits of the window: menus and shortcuts per job state, a size that fits a laptop, values on the
slice, exports, the seed-style comparison, and the display glitches they replaced. One finished run (the
session's ``finished_run``) is opened for all but the job the shortcut test starts and stops.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gui_support import isolate_settings, require_display

require_display()

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QLabel, QTableWidget, QTextBrowser, QToolBar  # noqa: E402

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[1]
SPHERE = ROOT / "resources" / "parts" / "sphere.stl"
MENUS = {
    "File": {"Open part…": "Ctrl+O", "Open folder…": "Ctrl+Shift+O", "Open run…": "Ctrl+R", "Recent": "",
             "Export metrics…": "Ctrl+E", "Export mesh…": "Ctrl+Shift+E", "Quit": "Ctrl+Q"},
    "Run": {"Start": "F5", "Pause": "Space", "Stop": "Shift+F5", "Reconstruct now": "Ctrl+M",
            "Profile next steps": "Ctrl+P", "Continue training": "Ctrl+F5", "Compare with seed-style": "Ctrl+Shift+C"},
    "View": {"Job": "Ctrl+1", "Log": "Ctrl+2", "Inspector": "Ctrl+3", "Redraw while training on the CPU": ""},
    "Help": {"Keyboard shortcuts": "Ctrl+/", "README": "F1", "About isoscope": ""},
}  # fmt: skip
ENABLED = {  # per state: the actions of the Run and File menus that are enabled
    "Idle": {"Open part…", "Open folder…", "Open run…", "Quit", "Start"},
    "Running": {"Quit", "Pause", "Stop", "Reconstruct now", "Profile next steps", "Export metrics…"},
    "Paused": {"Quit", "Resume", "Stop", "Reconstruct now", "Export metrics…"},
    "Finished": {"Open part…", "Open folder…", "Open run…", "Quit", "Start", "Stop", "Reconstruct now",
                 "Continue training", "Compare with seed-style", "Export metrics…", "Export mesh…"},
}  # fmt: skip
TIMEOUT_MS = 120_000


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """A window with file dialogs that answer at once: opening finds nothing, saving goes to tmp_path."""
    from isoscope.app.main_window import MainWindow

    isolate_settings(tmp_path / "qsettings")
    saved = iter([(str(tmp_path / "metrics.csv"), ""), (str(tmp_path / "fit.stl"), ""),
                  (str(tmp_path / "fit"), "PLY (*.ply)")])  # fmt: skip
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: next(saved, ("", "")))
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitActive(w)  # shortcuts go to the active window
    return w


def _menu_actions(w) -> dict[str, dict[str, object]]:
    return {name: {a.text().replace("&", ""): a for a in menu.actions() if not a.isSeparator()}
            for name, menu in w.menus.items()}  # fmt: skip


def _enabled(w) -> set[str]:
    acts = _menu_actions(w)
    return {t for m in ("File", "Run") for t, a in acts[m].items() if a.isEnabled() and t != "Recent"}


def _press(qtbot, w, action, key: str, widget=None) -> int:
    """Press ``key`` and count how often ``action`` fired."""
    from PySide6.QtGui import QKeySequence

    fired: list[bool] = []
    action.triggered.connect(lambda *_: fired.append(True))
    if not w.isActiveWindow():  # a dialog shown before took the focus
        w.activateWindow()
        qtbot.waitActive(w)
    seq = QKeySequence(key)[0]
    qtbot.keyClick(widget or w, seq.key(), seq.keyboardModifiers())
    return len(fired)


def test_menus_shortcuts_and_states(qtbot, window, finished_run, tmp_path):
    w = window
    acts = _menu_actions(w)
    listed = {m: {t: (a.shortcut().toString() if a.menu() is None else "") for t, a in items.items()}
              for m, items in acts.items()}  # fmt: skip
    assert listed == MENUS  # every action, its shortcut listed beside it
    toolbar = w.findChild(QToolBar, "run_toolbar")
    for a in (w.act_open, w.act_start, w.act_pause, w.act_stop, w.act_recon, w.act_continue, w.act_profile):
        assert a in toolbar.actions()  # the toolbar's buttons are the menus' actions
    assert w.minimumSizeHint().width() <= 1280 and w.minimumSizeHint().height() <= 720
    assert _enabled(w) == ENABLED["Idle"]

    # the Help menu's dialogs, by their shortcuts
    assert _press(qtbot, w, w.act_shortcuts, "Ctrl+/") == 1
    table = w.help_dialog.findChild(QTableWidget)
    rows = {(table.item(i, 1).text(), table.item(i, 2).text()) for i in range(table.rowCount())}
    assert ("Start", "F5") in rows and ("Pause", "Space (in the plots)") in rows and len(rows) == 18
    w.help_dialog.close()
    assert _press(qtbot, w, w.act_readme, "F1") == 1
    assert "isoscope" in w.help_dialog.findChild(QTextBrowser).toPlainText()
    w.help_dialog.close()
    w.act_about.trigger()
    about = w.help_dialog.findChild(QLabel).text()
    from importlib.metadata import version

    for name in ("isoscope", "Python", "torch", "CUDA (torch build)", "CUDA (driver)", "Qt", "pyvista"):
        assert name in about
    assert version("torch") in about and version("pyvista") in about
    w.help_dialog.close()
    for key, action in (("Ctrl+O", w.act_open), ("Ctrl+Shift+O", w.act_open_folder), ("Ctrl+R", w.act_open_run)):
        assert _press(qtbot, w, action, key) == 1  # the dialogs answer "nothing chosen"

    # a finished run: exports by shortcut, the comparison and Continue offered
    assert w.open_path(finished_run)
    qtbot.waitUntil(lambda: w.client.pid is not None, timeout=30_000)  # its serving worker
    assert w.minimumSizeHint().width() <= 1280 and w.minimumSizeHint().height() <= 720
    assert _enabled(w) == ENABLED["Finished"]
    assert _press(qtbot, w, w.act_export, "Ctrl+E") == 1
    with open(tmp_path / "metrics.csv", newline="") as fh:
        series = {r["series"] for r in csv.DictReader(fh)}
    assert {"train_loss", "phase_epoch/forward", "resources/cpu_percent"} <= series
    assert _press(qtbot, w, w.act_export_mesh, "Ctrl+Shift+E") == 1
    assert (tmp_path / "fit.stl").read_bytes() == (finished_run / "mesh.stl").read_bytes()
    assert _press(qtbot, w, w.act_export_mesh, "Ctrl+Shift+E") == 1  # "fit" typed, PLY chosen: fit.ply
    assert (tmp_path / "fit.ply").read_bytes() == (finished_run / "mesh.ply").read_bytes()
    assert not (tmp_path / "fit").exists()

    # a job of its own: F5 starts it, Space in the plots pauses and resumes it, Shift+F5 stops it
    assert w.setup.set_part(SPHERE)
    w.setup.apply_preset("tiny")
    w.setup.editor.set_value("train.epochs", 2000)
    assert w.setup.set_device("cpu")
    with qtbot.waitSignal(w.client.progress, timeout=TIMEOUT_MS):
        assert _press(qtbot, w, w.act_start, "F5") == 1
    assert _enabled(w) == ENABLED["Running"]
    assert _press(qtbot, w, w.act_pause, "Space") == 0  # Space outside the plots is not Pause
    w.plots.loss_plot.setFocus()
    assert _press(qtbot, w, w.act_pause, "Space", w.plots.loss_plot) == 1
    assert w.client.state == "Paused" and _enabled(w) == ENABLED["Paused"]
    assert _press(qtbot, w, w.act_pause, "Space", w.plots.loss_plot) == 1
    assert w.client.state == "Running"
    with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS):
        assert _press(qtbot, w, w.act_stop, "Shift+F5") == 1
    assert _press(qtbot, w, w.act_quit, "Ctrl+Q") == 1
    assert not w.isVisible()


def _scene_to_viewport(slices, plot, u: float, v: float) -> QPoint:
    scene = plot.vb.mapViewToScene(QPointF(u, v))
    return slices.view.mapFromScene(scene)


def test_slice_readout_comparison_and_glitches(qtbot, window, finished_run):
    w = window
    assert w.open_path(finished_run)
    qtbot.waitUntil(lambda: w.client.pid is not None, timeout=30_000)
    dock = w.inspector_dock
    slices = dock.slices
    dock.tabs.setCurrentWidget(slices)
    with qtbot.waitSignal(slices.slice_shown, timeout=60_000):
        slices.set_plane(2, 0.5)
    s = slices.last
    u0, u1, v0, v1 = s.extent
    # the two views: the plane's proportions, the same axes, filling their panels
    assert slices.plots[0].vb.state["aspectLocked"]  # and the second view shows the first one's ranges
    boxes = [p.vb.sceneBoundingRect() for p in slices.plots]
    assert boxes[0].width() == pytest.approx(boxes[1].width(), abs=2)
    assert boxes[0].height() == pytest.approx(boxes[1].height(), abs=2)
    ranges = [np.asarray(p.vb.viewRange()) for p in slices.plots]
    assert np.allclose(ranges[0], ranges[1], rtol=0.02)
    (x0, x1), (y0, y1) = ranges[0]
    assert x0 <= u0 and x1 >= u1 and y0 <= v0 and y1 >= v1
    assert min((x1 - x0) / (u1 - u0), (y1 - y0) / (v1 - v0)) < 1.1  # the plane fills the panel one way

    # hover: the readout says the true and predicted SDF and the error at the point under the mouse
    u, v = u0 + 0.3 * (u1 - u0), v0 + 0.6 * (v1 - v0)
    qtbot.mouseMove(slices.view.viewport(), _scene_to_viewport(slices, slices.plots[1], u, v))
    qtbot.waitUntil(lambda: "true SDF" in slices.readout.text(), timeout=5000)
    text = slices.readout.text()
    where, _ = text.split(":", 1)  # "x U, y V": the plane point under the mouse
    hu, hv = (float(part.split()[1]) for part in where.split(","))
    assert u0 <= hu <= u1 and v0 <= hv <= v1
    truth, pred = slices.values_at(hu, hv)
    n_v, n_u = np.asarray(s.truth).shape
    iu, iv = int((hu - u0) / (u1 - u0) * n_u), int((hv - v0) / (v1 - v0) * n_v)
    assert truth == float(np.asarray(s.truth)[iv, iu]) and pred == float(np.asarray(s.predicted)[iv, iu])
    for label, value in (("true SDF", truth), ("predicted", pred), ("error", pred - truth)):
        assert f"{label} {value:+.4g}" in text

    # two clicks: the distance between them
    a, b = (u0 + 0.2 * (u1 - u0), v0 + 0.5 * (v1 - v0)), (u0 + 0.7 * (u1 - u0), v0 + 0.5 * (v1 - v0))
    for point in (a, b):
        qtbot.mouseClick(slices.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=_scene_to_viewport(slices, slices.plots[0], *point))  # fmt: skip
    qtbot.waitUntil(lambda: "distance" in slices.readout.text(), timeout=5000)
    measured = float(slices.readout.text().split("distance ")[1].split()[0])
    assert measured == pytest.approx(b[0] - a[0], rel=0.05)
    assert len(slices.marks[0].getData()[0]) == 2

    # the slice plane shows only with the Slice tab; the colour bar goes with the colouring
    assert slices.plane_actor.GetVisibility()
    dock.tabs.setCurrentWidget(dock.errors)
    assert not slices.plane_actor.GetVisibility()
    assert dock.errors.summary.text().startswith("Chamfer-L1") and not dock.errors.plot.empty  # the run's fit
    dock.tabs.setCurrentWidget(slices)
    assert slices.plane_actor.GetVisibility()
    dock.errors.colour_btn.setChecked(True)
    assert "distance to fit" in w.viewport.plotter.scalar_bars.keys()
    dock.errors.colour_btn.setChecked(False)
    assert "distance to fit" not in w.viewport.plotter.scalar_bars.keys()
    # plots with something to show have axes (a reopened run's throughput too); show_vis is not editable
    assert not (w.plots.rate_plot.empty or w.plots.loss_plot.empty or w.plots.epoch_plot.empty)
    assert not w.setup.editor._editors["show_vis"].isEnabled()

    # the seed-style comparison: both breakdowns side by side, on a budget it names
    with qtbot.waitSignal(w.seed_compare.client.finished, timeout=TIMEOUT_MS):
        assert _press(qtbot, w, w.act_compare, "Ctrl+Shift+C") == 1
        assert not w.act_compare.isEnabled() and not w.seed_compare.run_btn.isEnabled()  # one at a time
    table = w.seed_compare.table
    assert [table.verticalHeaderItem(i).text() for i in range(4)] == ["sampling", "training", "reconstruction",
                                                                       "total"]  # fmt: skip
    for i in range(4):
        assert table.item(i, 0).text().endswith(" s") and table.item(i, 2).text().endswith("x")
    assert "small budget" in w.seed_compare.status.text()
    assert w.seed_compare.result["rows"]["seed_style"]["total"] > 0
    qtbot.waitUntil(w.act_compare.isEnabled, timeout=10_000)
