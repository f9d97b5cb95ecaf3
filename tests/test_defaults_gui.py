"""One source for defaults: the same command line gives the same config in the window as headless, whatever
preset the window used last; the remembered preset only preselects a bare window; each row says where its
value comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()

from support import PARTS  # noqa: E402

pytestmark = pytest.mark.gui


def test_the_same_arguments_give_the_same_config_as_headless(qtbot, tmp_path: Path) -> None:
    from isoscope.app.main import build_parser, make_window
    from isoscope.app.settings import Settings
    from isoscope.core.cli import build_parser as train_parser
    from isoscope.core.cli import config_from_args
    from isoscope.core.config import to_dict

    isolate_settings(tmp_path / "qsettings")
    Settings().set_last_preset("smoke")  # the window last ran another preset
    for argv in ([str(PARTS / "sphere.stl")], [str(PARTS / "sphere.stl"), "--epochs", "3", "--batchSize", "512"]):
        window, code = make_window(build_parser().parse_args(argv))
        qtbot.addWidget(window)
        assert code is None
        shown, headless = to_dict(window.setup.config()), to_dict(config_from_args(train_parser().parse_args(argv)))
        for section in ("sampling", "model", "train", "recon", "splat"):
            assert shown[section] == headless[section], section
        assert shown["preset"] == headless["preset"] == "default"
    editor = window.setup.editor
    assert editor.source("train.epochs") == editor.source("train.batch_size") == "command line"
    assert editor.source("sampling.num_points") == "preset"
    editor.set_value("train.learning_rate", "0.005")
    assert editor.source("train.learning_rate") == "edited"
    assert editor.topLevelItem(0).child(0).text(2) in ("preset", "command line", "edited")

    bare, code = make_window(build_parser().parse_args([]))  # no part, no flags: the remembered preset
    qtbot.addWidget(bare)
    assert code is None and bare.setup.preset_box.currentText() == "smoke"
