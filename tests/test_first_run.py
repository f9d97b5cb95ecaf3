"""The first-run window: without a part, the welcome strip offers the sample parts and a hint; a click on
a sample loads it into the setup panel and the viewport, and the strip makes way. Also the window icon.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()
from PySide6.QtCore import Qt  # noqa: E402

from isoscope import resources  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    isolate_settings(tmp_path / "settings")
    from isoscope.app.first_run import attach_first_run
    from isoscope.app.main_window import MainWindow

    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    attach_first_run(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_first_run_offers_the_samples_and_a_hint(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    panel = window.first_run
    assert panel.isVisible() and panel.geometry().height() > 60
    names = [b.text() for b in panel.sample_buttons]
    assert names == [p.stem for p in resources.sample_parts()] and names[:2] == ["sphere", "torus"]
    assert all(b.isVisible() and b.isEnabled() for b in panel.sample_buttons)
    from PySide6.QtWidgets import QLabel

    texts = " ".join(label.text() for label in panel.findChildren(QLabel))
    assert "Start" in texts and "smoke" in texts and str(tmp_path / "runs") in texts
    assert not panel.findChildren(QLabel)[0].pixmap().isNull()  # the icon

    qtbot.mouseClick(panel.sample_buttons[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=5000)
    assert window.setup.part_edit.text().endswith("sphere.stl")
    assert [Path(p).name for p in window.setup.parts] == ["sphere.stl"]
    assert "truth" in window.viewport.actor_names()


def test_window_icon_has_every_size(qtbot) -> None:  # type: ignore[no-untyped-def]
    from isoscope.app.first_run import app_icon

    icon = app_icon()
    assert not icon.isNull()
    sizes = sorted(s.width() for s in icon.availableSizes())
    assert sizes == list(resources.ICON_SIZES)


def test_the_strip_names_the_preset_shown_and_makes_way_for_a_run(window, qtbot, finished_run) -> None:  # type: ignore[no-untyped-def]
    panel = window.first_run
    window.setup.preset_box.setCurrentText("tiny")
    assert "Choose the <i>smoke</i> preset (the box shows <i>tiny</i>)" in panel.steps.text()
    window.setup.preset_box.setCurrentText("smoke")
    assert "Keep the <i>smoke</i> preset" in panel.steps.text() and "box shows" not in panel.steps.text()
    assert window.open_path(finished_run)  # File ▸ Open run…: the strip goes before the run's views are framed
    assert not panel.isVisible()
