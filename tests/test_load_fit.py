"""isoscope.load_fit: a finished fit answers signed distances in the part's original units; bad input is
refused with a message that names the problem."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import isoscope
from isoscope.core.cli import train_main

from support import PARTS


def test_signed_distances_in_original_units(smoke_sphere_run: Path) -> None:
    fit = isoscope.load_fit(smoke_sphere_run)
    near = np.array([[0.9, 0, 0], [1.1, 0, 0], [0, 0.9, 0], [0, 1.1, 0], [0, 0, 0]])
    d = fit.sdf(near)
    assert d.shape == (5,) and d.dtype == np.float64
    np.testing.assert_allclose(d[:4], [-0.1, 0.1, -0.1, 0.1], atol=0.02)
    assert d[4] < 0
    with pytest.warns(isoscope.ExtrapolationWarning, match="1 of 1 points"):
        far = fit.sdf(np.array([[0, 0, 1.5]]))
    assert far[0] > 0
    t = fit.sdf(torch.tensor(near[:2], dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), d[:2], atol=1e-6)
    mesh = fit.mesh(48)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert len(mesh.faces) > 100 and abs(np.median(radii) - 1.0) < 0.03


def test_bad_input_names_the_problem(smoke_sphere_run: Path, tmp_path: Path) -> None:
    fit = isoscope.load_fit(smoke_sphere_run)
    with pytest.raises(isoscope.FitError, match=r"\(N, 3\).*shape \(4,\)"):
        fit.sdf(np.zeros(4))
    with pytest.raises(isoscope.FitError, match="NaN or infinite.*rows \\[1\\]"):
        fit.sdf(np.array([[0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(isoscope.FitError, match="resolution"):
        fit.mesh(3)
    if not torch.cuda.is_available():
        with pytest.raises(isoscope.FitError, match="no usable CUDA GPU"):
            isoscope.load_fit(smoke_sphere_run, device="cuda")
    with pytest.raises(isoscope.FitError, match="no such run directory"):
        isoscope.load_fit(tmp_path / "nowhere")
    splat = tmp_path / "splat"
    splat.mkdir()
    (splat / "config.json").write_text(json.dumps({"job": "splat"}))
    with pytest.raises(isoscope.FitError, match="3D Gaussian run"):
        isoscope.load_fit(splat)
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "config.json").write_text(json.dumps({"job": "sdf"}))
    (failed / "summary.json").write_text(json.dumps({"status": "failed"}))
    with pytest.raises(isoscope.FitError, match="failed before it saved"):
        isoscope.load_fit(failed)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(isoscope.FitError, match="not an isoscope run directory"):
        isoscope.load_fit(other)
    (other / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(isoscope.FitError, match="cannot be read"):
        isoscope.load_fit(other)
    torch.save({"weights": torch.zeros(3)}, other / "model.pt")
    with pytest.raises(isoscope.FitError, match="not an isoscope SDF checkpoint"):
        isoscope.load_fit(other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.sdf(np.zeros((0, 3)))  # no points: no answer, no warning


def train_losses(run: Path) -> list[float]:
    from isoscope.core import events as ev
    from isoscope.core.runs.follow import read_run

    events = read_run(run).events
    return [e.values["train_loss"] for e in events if isinstance(e, ev.Metrics) and "train_loss" in e.values]


def test_resume_continues_from_the_saved_network_and_optimiser(smoke_sphere_run: Path, tmp_path: Path, capsys) -> None:
    more = tmp_path / "more"
    assert train_main(["--resume", str(smoke_sphere_run), "--epochs", "1", "--outputDir", str(more), "--quiet"]) == 0
    config = json.loads((more / "config.json").read_text())
    assert config["resumed_from"] == str(smoke_sphere_run.resolve()) and config["train"]["epochs"] == 1
    old, new = train_losses(smoke_sphere_run), train_losses(more)
    assert new[0] < 3 * old[-1] < old[0] / 3  # near where the old run ended, far from a fresh start
    assert json.loads((more / "summary.json").read_text())["status"] == "done"
    assert isoscope.load_fit(more).sdf(np.zeros((1, 3)))[0] < 0

    moved = tmp_path / "moved"
    shutil.copytree(smoke_sphere_run, moved)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "part": str(tmp_path / "gone.stl")}))
    assert train_main(["--resume", str(moved), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not at" in err and "point at it with --part PATH" in err
    argv = ["--resume", str(moved), "--part", str(PARTS / "sphere.stl"), "--epochs", "1", "--quiet"]
    assert train_main(argv + ["--outputDir", str(tmp_path / "again")]) == 0
