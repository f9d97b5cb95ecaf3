"""A reopened run is answered by its own model: after a run of the sphere, opening a bracket run and probing
gives the bracket fit's value; "Reconstruct now" on a finished run writes a new file and leaves the run's
mesh and summary as they were; a run without a network says why nothing answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gui_support import isolate_settings, require_display

require_display()

from support import PARTS  # noqa: E402

pytestmark = pytest.mark.gui
TIMEOUT_MS = 120_000


@pytest.fixture
def bracket_run(tmp_path: Path) -> Path:
    from isoscope.core.cli import train_main

    run = tmp_path / "bracket-run"
    argv = [str(PARTS / "bracket.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(run), "--quiet"]
    assert train_main(argv) == 0
    return run


def test_a_reopened_run_is_answered_by_its_own_model(qtbot, tmp_path: Path, bracket_run: Path) -> None:
    import isoscope
    from isoscope.app.main_window import MainWindow
    from isoscope.core import events as ev

    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    assert w.setup.set_part(PARTS / "sphere.stl")
    w.setup.apply_preset("tiny")
    assert w.setup.set_device("cpu")
    with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS):
        assert w.start()
    sphere_worker = w.client.pid
    assert sphere_worker is not None  # run A's worker is serving
    # A Profile request that reaches the worker after the training (a click as the run ends) says so.
    assert w.client.send(ev.ProfileSteps(5))
    qtbot.waitUntil(lambda: "no steps left to profile" in w.log_view.toPlainText(), timeout=TIMEOUT_MS)

    assert w.open_run(bracket_run)
    inspector = w.inspector_dock.inspector
    assert inspector.title.text() == "bracket.stl"
    # Every panel shows run B and nothing of A: curves, throughput, status, resources.
    summary_b = json.loads((bracket_run / "summary.json").read_text())
    records = [json.loads(ln) for ln in (bracket_run / "metrics.jsonl").read_text().splitlines()]
    readings = [r for r in records if r["event"] == "Metrics" and "train_loss" in r["values"]]
    progress = [r for r in records if r["event"] == "Progress"]
    assert len(w.plots.train[0]) == len(readings) and progress  # throughput, recorded twice a second
    assert w.plots.rate == ([r["step"] for r in progress], [r["samples_per_s"] for r in progress])
    assert progress[-1]["step"] == progress[-1]["total_steps"] and w.plots.rate_curve.getData()[0].size == len(progress)
    assert w.status_labels["rate"].text() == f"{summary_b['train_samples_per_s']:,.0f} samples/s"
    config_b = json.loads((bracket_run / "config.json").read_text())
    assert w.setup.part_edit.text() == str(PARTS / "bracket.stl") and w.setup.editor.source("train.epochs") == "run"
    assert w.setup.config().train.epochs == config_b["train"]["epochs"]
    qtbot.waitUntil(lambda: w.client.pid not in (None, sphere_worker), timeout=TIMEOUT_MS)
    point = (30.0, 10.0, 5.0)
    with qtbot.waitSignal(w.client.point_probe, timeout=TIMEOUT_MS) as probed:
        inspector.pick(point)
    probe = probed.args[0]
    expected = isoscope.load_fit(bracket_run).sdf(np.array([point]))[0]
    assert probe.point == point and probe.predicted == pytest.approx(expected, abs=1e-4)
    assert "predicted" in inspector.probe_label.text()
    # The resources are B's own, as its training recorded them (the worker answering for B is not measured).
    assert len(w.plots.resources[0]) == sum(r["event"] == "Resources" for r in records) > 0

    # Reconstruct now on the finished run: a new file; the run's own mesh and summary stay as they were.
    mesh, summary = (bracket_run / "mesh.ply").read_bytes(), (bracket_run / "summary.json").read_bytes()
    w.recon_res.setValue(24)
    with qtbot.waitSignal(w.client.artifact, timeout=TIMEOUT_MS) as made:
        w.reconstruct_now()
    assert made.args[0].kind == "mesh" and Path(made.args[0].path) == bracket_run / "mesh_24.ply"
    assert (bracket_run / "mesh_24.ply").stat().st_size > 0
    assert (bracket_run / "mesh.ply").read_bytes() == mesh and (bracket_run / "summary.json").read_bytes() == summary

    # Continue training: a new run that starts from this one's network.
    assert w.act_continue.isEnabled()
    with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS) as done:
        w.act_continue.trigger()
    assert done.args == ["Finished"] and w.client.run_dir != bracket_run
    config = json.loads((w.client.run_dir / "config.json").read_text())
    assert config["resumed_from"] == str(bracket_run) and config["part"] == str(PARTS / "bracket.stl")


def test_a_run_without_a_network_says_why_nothing_answers(qtbot, tmp_path: Path) -> None:
    from isoscope.app.main_window import MainWindow

    run = tmp_path / "failed-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"job": "sdf", "part": str(PARTS / "box.stl")}))
    (run / "summary.json").write_text(json.dumps({"status": "failed", "part": str(PARTS / "box.stl")}))
    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=tmp_path / "runs", lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    assert w.open_run(run)
    assert w.client.pid is None and w.client.state == "Idle"
    assert w.inspector_dock.inspector.title.text() == "box.stl"
    w.reconstruct_now()
    assert "no model.pt" in w.banner.text()
    w.inspector_dock.inspector.pick((0.0, 0.0, 0.0))
    assert "no model.pt" in w.inspector_dock.inspector.probe_label.text()
