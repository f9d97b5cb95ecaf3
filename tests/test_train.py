"""End to end: the headless trainer on real sample parts, its run directory, units, winding, folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import trimesh

from isoscope.core.cli import train_main
from isoscope.core.mesh.part import load_part
from isoscope.core.runs.follow import read_run

from support import PARTS

RUN_FILES = ("config.json", "metrics.jsonl", "timings.json", "summary.json", "model.pt", "mesh.ply", "mesh.stl")


def test_smoke_run_directory(smoke_sphere_run, capsys):
    for name in RUN_FILES:
        assert (smoke_sphere_run / name).is_file(), name
    summary = json.loads((smoke_sphere_run / "summary.json").read_text())
    assert summary["status"] == "done"
    assert summary["bbox_diagonal"] == pytest.approx(2 * np.sqrt(3), rel=1e-3)
    for key in ("chamfer_l1", "chamfer_l2", "normal_consistency", "hausdorff95"):
        assert key in summary and key in summary["metrics_normalised"]
    # Sphere of radius 1: Chamfer-L1 below 1% of the diameter, in original units.
    assert summary["chamfer_l1"] < 0.02
    assert summary["chamfer_l1"] == pytest.approx(summary["metrics_normalised"]["chamfer_l1"] / 0.9, rel=1e-6)
    assert summary["normal_consistency"] > 0.95
    timings = json.loads((smoke_sphere_run / "timings.json").read_text())
    assert len(timings["epochs"]) == 16 and timings["total_s"]["forward"] > 0


def test_exported_mesh_is_outward_and_in_original_units(smoke_sphere_run):
    mesh = trimesh.load(smoke_sphere_run / "mesh.stl")
    assert mesh.volume > 0  # outward-facing
    radius = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(np.median(radius) - 1.0) < 0.02  # the part's radius, not the normalised 0.9
    ply = trimesh.load(smoke_sphere_run / "mesh.ply")
    assert np.allclose(np.sort(ply.vertices, axis=0), np.sort(mesh.vertices, axis=0), atol=1e-4)


def test_checkpoint_holds_weights_scaler_and_transform(smoke_sphere_run):
    state = torch.load(smoke_sphere_run / "model.pt", weights_only=False)
    assert state["widths"] == [64, 64, 64, 64]
    assert state["scaler"]["name"] == "none"
    assert state["transform"]["scale"] == pytest.approx(0.9)
    assert state["config"]["preset"] == "smoke"


def test_metrics_log_replays(smoke_sphere_run):
    run = read_run(smoke_sphere_run)
    kinds = {type(e).__name__ for e in run.events}
    assert {"Started", "Metrics", "PhaseTimes", "Artifact", "Finished"} <= kinds
    losses = [e.values["train_loss"] for e in run.events if type(e).__name__ == "Metrics" and "train_loss" in e.values]
    assert len(losses) > 10 and losses[-1] < losses[0]


def test_existing_output_dir_is_not_overwritten(smoke_sphere_run, tmp_path):
    before = (smoke_sphere_run / "summary.json").read_text()
    out = tmp_path / "copy"
    shutil.copytree(smoke_sphere_run, out)
    assert train_main([str(PARTS / "box.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out),
                       "--quiet"]) == 0  # fmt: skip
    assert (out / "summary.json").read_text() == before
    fresh = [p for p in out.iterdir() if p.is_dir() and (p / "summary.json").exists()]
    assert len(fresh) == 1 and "box" in fresh[0].name


def test_folder_with_a_broken_part(tmp_path, capsys):
    folder = tmp_path / "parts"
    folder.mkdir()
    shutil.copy(PARTS / "box.stl", folder / "a_box.stl")
    (folder / "b_broken.stl").write_bytes(b"solid broken\n  facet normal 0 0 1\n")
    shutil.copy(PARTS / "torus.stl", folder / "c_torus.stl")
    out = tmp_path / "out"
    code = train_main([str(folder), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"])
    assert code == 1  # a part failed, the batch went on
    rows = json.loads((out / "batch_summary.json").read_text())["parts"]
    assert [r["part"] for r in rows] == ["a_box.stl", "b_broken.stl", "c_torus.stl"]
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "truncated or malformed" in rows[1]["error"]
    assert (out / "batch_summary.csv").read_text().count("\n") == 4
    assert (out / "c_torus" / "mesh.stl").exists()


def test_empty_surface_keeps_the_model(tmp_path, monkeypatch, capsys):
    import isoscope.core.sdf.job

    monkeypatch.setattr(isoscope.core.sdf.job, "extract_surface", lambda volume: None)
    out = tmp_path / "run"
    assert train_main([str(PARTS / "box.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "no_surface" and "zero level set is empty" in summary["advice"]
    assert (out / "model.pt").exists() and not (out / "mesh.stl").exists()
    assert "warning" in capsys.readouterr().err


@pytest.mark.parametrize("scaler", ["StandardScaler", "PowerTransformer", "QuantileTransformer"])
def test_scalers_train_and_reconstruct(scaler, tmp_path):
    out = tmp_path / scaler
    assert train_main([str(PARTS / "box.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out),
                       "--scaler", scaler, "--quiet", "--recon.metric_samples", "5000"]) == 0  # fmt: skip
    state = torch.load(out / "model.pt", weights_only=False)
    assert state["scaler"]["name"] == scaler
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in ("done", "no_surface")


def test_original_units_on_an_offset_part(tmp_path):
    box = trimesh.creation.box(extents=(40.0, 20.0, 10.0))
    box.apply_translation((100.0, -50.0, 7.0))
    path = tmp_path / "offset_box.stl"
    box.export(path)
    out = tmp_path / "run"
    assert train_main([str(path), "--preset", "smoke", "--device", "cpu", "--outputDir", str(out), "--quiet",
                       "--epochs", "6"]) == 0  # fmt: skip
    mesh = trimesh.load(out / "mesh.stl")
    part = load_part(path)
    lo, hi = np.array(part.bbox)
    assert np.allclose(mesh.bounds, [lo, hi], atol=0.05 * part.bbox_diagonal)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bbox_diagonal"] == pytest.approx(np.linalg.norm([40, 20, 10]), rel=1e-6)
    assert summary["chamfer_l1"] < 0.02 * summary["bbox_diagonal"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--sampleMethod", "surface"],
        ["--sampleMethod", "uniform"],
        ["--sampling.resample_every_epoch", "1"],
        ["--loss", "clamped"],
        ["--loss", "l2", "--init", "glorot_uniform", "--precision", "bf16"],
    ],
)
def test_options_train(flags, tmp_path):
    out = tmp_path / "run"
    argv = [str(PARTS / "torus.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"]
    assert train_main(argv + flags + ["--recon.metric_samples", "5000"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in ("done", "no_surface") and summary["steps"] > 0


def test_same_seed_same_run(tmp_path):
    losses = []
    for name in ("a", "b"):
        out = tmp_path / name
        argv = [str(PARTS / "box.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"]
        assert train_main(argv + ["--seed", "7", "--recon.metric_samples", "5000"]) == 0
        losses.append(json.loads((out / "summary.json").read_text())["train_loss"])
    assert losses[0] == losses[1]


def test_every_loss_reading_is_recorded(tmp_path):
    """The loss is read back every log_every steps and at each epoch's end; metrics.jsonl holds every reading
    (thinning is the plots' business), however fast the machine."""
    import math

    from isoscope.core import events as ev
    from isoscope.core.cli import train_main

    out = tmp_path / "run"
    argv = [str(PARTS / "sphere.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"]
    assert train_main(argv + ["--epochs", "3", "--logEvery", "7", "--recon.metric_samples", "2000"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    steps = math.ceil(cfg["sampling"]["num_points"] / cfg["train"]["batch_size"])
    per_epoch = steps // 7 + (1 if steps % 7 else 0)
    losses = [e for e in read_run(out).events if isinstance(e, ev.Metrics) and "train_loss" in e.values]
    assert len(losses) == 3 * per_epoch
    assert [e.epoch for e in losses] == [k for k in (1, 2, 3) for _ in range(per_epoch)]
