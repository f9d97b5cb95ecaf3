"""The Splats panel and viewport from the window: a small splat run from the Start button, live updates,
eight ground-truth/fit pairs with figures, the Gaussians and the eight cameras in the 3D viewport."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()

from isoscope.core import config as C  # noqa: E402
from isoscope.core import events as ev  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPHERE = ROOT / "resources" / "parts" / "sphere.stl"
SHOTS = os.environ.get("ISOSCOPE_SCREENSHOTS")

pytestmark = pytest.mark.gui


@pytest.mark.slow  # a whole Gaussian fit in the window (27 s); the splat job's own tests stay in the default run
def test_splat_run_from_the_window(qtbot, qapp, tmp_path):
    from isoscope.app.main_window import MainWindow

    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    w.show()
    try:
        assert w.setup.set_part(SPHERE)
        w.setup.apply_preset("splat-smoke")
        small = {"steps": 60, "train_poses": 8, "single_view_steps": 2, "densify_every": 30}
        cfg = C.replace_preset(C.preset("splat-smoke"), "splat-smoke", splat=small)
        w.setup.editor.set_config(cfg)
        assert w.setup.set_device("cpu")
        renders: list[ev.Artifact] = []
        w.client.event.connect(
            lambda e: renders.append(e) if isinstance(e, ev.Artifact) and e.kind == "renders" else None
        )
        with qtbot.waitSignal(w.job_done, timeout=150_000) as done:
            assert w.start()
        assert done.args == ["Finished"]
        # The settings and units of the job that ran: no SDF rows, throughput in rendered views.
        shown = w.setup.editor.shown_paths()
        assert "splat.num_gaussians" in shown and "train.seed" in shown
        assert not [p for p in shown if p.split(".")[0] in ("sampling", "model", "recon") or p == "train.epochs"]
        assert w.status_labels["rate"].text().endswith("views/s") and "views/s" in w.plots.rate_plot.getPlotItem(
        ).getAxis("left").labelText  # fmt: skip
        qtbot.waitUntil(lambda: any(r.info.get("final") for r in renders), timeout=5000)
        assert any(not r.info.get("final") for r in renders), "no live refresh during training"

        panel = w.splat_panel
        assert panel.images_shown == 16  # eight ground-truth and eight fitted renders on screen
        for cell in panel.cells:
            assert not cell.gt.pixmap().isNull() and not cell.fit.pixmap().isNull()
            assert "SSIM" in cell.caption.text() and "coverage" in cell.caption.text()
        assert "final" in panel.header.text()

        vp = w.viewport
        on_screen = set(vp.plotter.renderer.actors.values())
        for name in ("gaussians", "cameras"):
            assert name in vp.actors and vp.actors[name] in on_screen
        mesh = vp.actors["gaussians"].GetMapper().GetInput()
        assert mesh.GetNumberOfPoints() > 1000 and mesh.GetPointData().GetArray("opacity") is not None
        cams = vp.actors["cameras"].GetMapper().GetInput()
        assert cams.GetNumberOfLines() == 8 * 10  # four rays, four edges and a roof per camera

        w.setup.apply_preset("smoke")
        assert "sampling.num_points" in w.setup.editor.shown_paths()
        assert "splat.num_gaussians" not in w.setup.editor.shown_paths()

        if SHOTS:
            w.tabs.setCurrentWidget(panel)
            qapp.processEvents()
            w.grab().save(str(Path(SHOTS) / "splat_panel.png"))
            w.tabs.setCurrentIndex(0)
            qapp.processEvents()
            vp.render()
            w.grab().save(str(Path(SHOTS) / "splat_viewport.png"))
    finally:
        w.close()
        w.deleteLater()
        qapp.processEvents()
