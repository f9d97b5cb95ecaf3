"""The training monitor window end to end: real QApplication, real widgets, real worker processes.

Runs the ``tiny`` preset on the CPU. Needs a display (run under xvfb-run); skipped cleanly without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()

ROOT = Path(__file__).resolve().parents[1]
SPHERE = ROOT / "resources" / "parts" / "sphere.stl"
TIMEOUT_MS = 90_000

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    """A fresh window per test with the sphere and the tiny preset on the CPU; pytest-qt closes it."""
    from isoscope.app.main_window import MainWindow

    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    assert w.setup.set_part(SPHERE)
    w.setup.apply_preset("tiny")
    assert w.setup.set_device("cpu")
    return w


def run_to_the_end(window, qtbot) -> Path:
    """Start the set-up job and wait for it to finish; its run directory."""
    assert window.start()
    qtbot.waitUntil(lambda: window.client.state == "Finished", timeout=TIMEOUT_MS)
    return window.client.run_dir


def _fit_points(w) -> int:
    vp = w.viewport
    actor = vp.actors.get("fit")
    if actor is None or vp.fit is None:
        return 0
    assert actor in vp.plotter.renderer.actors.values()
    return int(vp.fit.n_points)


def test_window_runs_a_job_without_importing_torch(tmp_path):
    """In a fresh process: build the window, run tiny to the end, check plots, viewport and sys.modules."""
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, sys
        if __name__ == "__main__":
            from PySide6.QtCore import QSettings
            from PySide6.QtWidgets import QApplication
            QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {str(tmp_path)!r})
            app = QApplication([])
            from isoscope.app.main_window import MainWindow
            w = MainWindow(runs_root={str(tmp_path / "runs")!r}, lazy_viewport=False)
            w.show()
            out = {{"torch_after_build": "torch" in sys.modules}}
            w.setup.set_part({str(SPHERE)!r}); w.setup.apply_preset("tiny"); w.setup.set_device("cpu")
            w.job_done.connect(lambda state: (out.update(state=state), app.quit()))
            assert w.start()
            from PySide6.QtCore import QTimer
            QTimer.singleShot(120_000, app.quit)
            app.exec()
            w.plots.refresh()
            x, y = w.plots.train_curve.getData()
            out.update(torch_after_run="torch" in sys.modules, train_points=0 if x is None else len(x),
                       epoch_bars=len(w.plots._epoch_bars), share=w.plots.share_data()[1],
                       fit_points=int(w.viewport.fit.n_points) if w.viewport.fit is not None else 0,
                       fit_shown="fit" in w.viewport.actors, device=w.status_labels["device"].text(),
                       device_tip=w.status_labels["device"].toolTip())
            w.close()
            print("RESULT " + json.dumps(out))
    """)
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env,
                          cwd=ROOT)  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["state"] == "Finished"
    assert out["torch_after_build"] is False
    assert out["torch_after_run"] is False
    assert out["train_points"] >= 3
    assert out["epoch_bars"] >= 3  # stacked bars: one item per phase
    assert abs(sum(out["share"].values()) - 100.0) < 1e-6 and out["share"].get("backward", 0) > 0
    assert out["fit_shown"] and out["fit_points"] > 100
    # The precision the run chose (auto, the default) and why: in the status bar and its tooltip.
    chosen = out["device_tip"].removeprefix("precision auto: ").split()[0]  # the tiny preset: fp32 (too small)
    assert out["device_tip"].startswith("precision auto: ") and chosen in ("fp32", "bf16")
    assert out["device"].startswith("cpu (") and out["device"].endswith(f", {chosen}")


def test_bad_inputs_are_refused_with_a_message(window, tmp_path):
    not_stl = tmp_path / "notes.stl"
    not_stl.write_text("this is not a mesh\n")
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"")
    for bad in (not_stl, empty):
        assert not window.setup.set_part(bad)
        assert window.banner.isVisible() and "cannot use this part" in window.banner.text()
        assert window.setup.parts == [SPHERE]  # the good part is kept
    (tmp_path / "nothing").mkdir()
    assert not window.setup.set_folder(tmp_path / "nothing")
    assert "no usable STL parts" in window.banner.text()
    window.setup.editor.set_value("train.epochs", 0)
    assert not window.start()
    assert "train.epochs must be positive" in window.banner.text()
    window.setup.apply_preset("tiny")
    assert window.client.state == "Idle"


def test_crash_is_reported_a_new_run_works_and_reopens(window, qtbot, tmp_path):
    # long enough to be killed mid-run: the first poll with training points comes 2 s after the start
    window.setup.editor.set_value("train.epochs", 400)
    assert window.start()
    qtbot.waitUntil(lambda: len(window.plots.train[0]) >= 2, timeout=TIMEOUT_MS)
    crashed_run = window.client.run_dir
    window.client.kill()
    qtbot.waitUntil(lambda: window.client.state == "Crashed", timeout=20_000)
    assert "worker crashed" in window.banner.text()
    assert window.status_labels["rate"].text() == window.status_labels["eta"].text() == ""  # no stale figures
    tree = window.runs.tree
    rows = {tree.topLevelItem(i).data(0, 256): tree.topLevelItem(i).text(2) for i in range(tree.topLevelItemCount())}
    assert rows[str(crashed_run)] == "crashed"  # listed as crashed, not running
    assert len(window.plots.train[0]) >= 2  # the curves so far are kept
    assert window.act_start.isEnabled()
    window.setup.apply_preset("tiny")
    run_to_the_end(window, qtbot)
    window.plots.refresh()
    x, _ = window.plots.train_curve.getData()
    assert x is not None and len(x) >= 3
    assert window.plots._epoch_bars and window.plots.epochs
    qtbot.waitUntil(lambda: _fit_points(window) > 100, timeout=10_000)
    assert not window.banner.isVisible()
    reopen_past_run(window, window.client.run_dir, tmp_path)


def reopen_past_run(window, run_dir: Path, tmp_path: Path) -> None:
    """The finished run reopened: its curves, timings and mesh replayed; overlay and CSV export."""
    window.runs.refresh()
    assert str(run_dir) in window.runs.run_paths()
    window.plots.reset()
    window.viewport.clear()
    assert window.open_run(run_dir)
    records = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    n_train = sum(1 for r in records if r["event"] == "Metrics" and "train_loss" in r["values"])
    x, _ = window.plots.train_curve.getData()
    assert len(x) == n_train
    assert sorted(window.plots.epochs) == [1, 2]
    assert window.plots.share_data()[0] == "run"
    assert _fit_points(window) > 100 and "truth" in window.viewport.actors
    window.overlay_run(run_dir)
    assert len(window.plots._overlays) == 2
    from isoscope.core.export import export_run

    rows = export_run(run_dir, tmp_path / "m.csv")  # the Runs panel's CSV (test_export checks its rows)
    assert rows >= sum(len(r["values"]) for r in records if r["event"] == "Metrics")
    assert (tmp_path / "m.csv").read_text().startswith("series,step,epoch,time,value")


def test_stop_a_run(window, qtbot):
    # long enough that the first poll with training points (2 s after the start on the CPU) comes before the end
    window.setup.editor.set_value("train.epochs", 400)
    states: list[str] = []
    window.client.state_changed.connect(states.append)
    assert window.start()
    qtbot.waitUntil(lambda: len(window.plots.train[0]) >= 1, timeout=TIMEOUT_MS)
    window.stop_job()
    qtbot.waitUntil(lambda: window.client.state == "Finished", timeout=TIMEOUT_MS)
    assert "Stopping" in states
    summary = json.loads((window.client.run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["epochs"] < 400
    qtbot.waitUntil(lambda: window.client.pid is None, timeout=15_000)  # the serving loop ended too


def test_cpu_training_draws_once_a_frame_and_input_makes_it_live(window, qtbot):
    """While a job trains on the CPU the window polls, draws and flushes once per frame interval (here the
    fixed 2 s of the View menu; each flush takes CPU from training); mouse input opens the gate at once;
    after the run it draws 20 times a second again."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from isoscope.app.pacing import AUTO, LIVE_FRAME_MS

    pacer = window.pacer
    assert not pacer.gated and window.client._interval_ms == LIVE_FRAME_MS
    pacer.set_cpu_frame_ms(2000)
    window.setup.editor.set_value("train.epochs", 4000)  # runs until stopped below
    assert window.start()
    try:
        qtbot.waitUntil(lambda: pacer.gated and len(window.plots.train[0]) >= 1, timeout=TIMEOUT_MS)
        assert window.client._interval_ms == pacer.cpu_frame_ms == 2000
        flushes, frames, points = pacer.flushes, pacer.frames, len(window.plots.train[0])
        t0 = time.monotonic()
        qtbot.waitUntil(lambda: pacer.frames - frames >= 3, timeout=TIMEOUT_MS)
        # Three frames span at least two intervals of 2 s (a coarse Qt timer may fire up to 5% early).
        assert time.monotonic() - t0 >= 2 * 2.0 * 0.95
        assert window.client.state == "Running"
        assert 1 <= pacer.flushes - flushes <= 3 * (pacer.frames - frames)  # about one flush a frame
        assert len(window.plots.train[0]) > points  # and every point still arrives
        x, _ = window.plots.train_curve.getData()
        assert len(x) == len(window.plots.train[0])  # each frame draws what its poll brought
        QTest.mouseClick(window.plots.loss_plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
        assert pacer._interacting  # the person is using the window: it draws at once for a while
    finally:
        window.stop_job()
        qtbot.waitUntil(lambda: not window.client.is_active(), timeout=TIMEOUT_MS)
    assert window.client.state == "Finished"
    assert not pacer.gated and window.client._interval_ms == LIVE_FRAME_MS
    pacer.set_cpu_frame_ms(AUTO)


def test_auto_interval_keeps_the_budget_and_its_bounds():
    from isoscope.app.pacing import AUTO_FIRST_MS, AUTO_MAX_MS, AUTO_MIN_MS, auto_interval_ms

    assert auto_interval_ms([]) == AUTO_FIRST_MS
    assert auto_interval_ms([0.05, 0.05, 0.05], budget=0.01) == 5000  # 50 ms a frame at 1% of a core: 5 s
    assert auto_interval_ms([0.05, 0.04, 3.0], budget=0.01) == 5000  # one costly frame does not stall it
    assert auto_interval_ms([0.0001]) == AUTO_MIN_MS and auto_interval_ms([5.0]) == AUTO_MAX_MS


def test_cpu_training_paces_the_window_to_its_cpu_budget(window, qtbot):
    """By default the window measures the CPU it used over each frame interval of the training stretch and
    sets the next interval to keep about 1% of one core; the training points wait for the Points box."""
    from isoscope.app.pacing import AUTO, AUTO_FIRST_MS, AUTO_MAX_MS, auto_interval_ms

    pacer = window.pacer
    assert pacer.cpu_frame_ms == AUTO
    window.setup.editor.set_value("train.epochs", 400)
    assert window.start()
    try:
        qtbot.waitUntil(lambda: pacer.gated, timeout=TIMEOUT_MS)
        assert not pacer.costs  # each job learns its frame cost anew
        qtbot.waitUntil(lambda: len(pacer.costs) >= 1, timeout=TIMEOUT_MS)
        assert window.client.state == "Running" and pacer.gated
        assert 0 < pacer.costs[0] < 2.0  # CPU seconds of one interval, not a wall time
        assert pacer.auto_ms == min(auto_interval_ms(pacer.costs), 2 * AUTO_FIRST_MS) <= AUTO_MAX_MS
        assert window.client._interval_ms == pacer.auto_ms
        vp = window.viewport
        qtbot.waitUntil(lambda: vp.points is not None, timeout=TIMEOUT_MS)
        assert "points" not in vp.actors
        vp.points_box.setChecked(True)
        assert vp.actors["points"].GetVisibility() and vp.actors["points"] in vp.plotter.renderer.actors.values()
        vp.points_box.setChecked(False)
        assert not vp.actors["points"].GetVisibility()
    finally:
        window.stop_job()
        qtbot.waitUntil(lambda: not window.client.is_active(), timeout=TIMEOUT_MS)


def test_viewport_is_composed_apart_from_the_window(qapp, qtbot, tmp_path):
    """The OpenGL viewport lives in a native child window, so the rest of the window flushes as plain
    pixels: a status-bar change does not recompose the whole window through OpenGL (costly in software).
    Checked on a window that builds its viewport after it is shown, as the ``isoscope`` command does."""
    from PySide6.QtGui import QSurface

    from isoscope.app.main_window import MainWindow

    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=True)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.viewport is not None, timeout=10_000)
        assert w.setup.set_part(SPHERE)
        qtbot.waitUntil(lambda: "truth" in w.viewport.actors, timeout=10_000)
        qtbot.wait(200)
        assert w.viewport.canvas.windowHandle() is not None
        assert w.viewport.canvas.windowHandle().surfaceType() == QSurface.SurfaceType.OpenGLSurface
        assert w.windowHandle().surfaceType() == QSurface.SurfaceType.RasterSurface
        assert w.viewport.actors["truth"] in w.viewport.plotter.renderer.actors.values()
    finally:
        w.close()
        w.deleteLater()
        qapp.processEvents()
