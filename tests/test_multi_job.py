"""Parts trained together in one batched network end as they would alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from isoscope.core import config as C
from isoscope.core.job import Reporter
from isoscope.core.sdf.group import run_group
from isoscope.core.sdf.job import SDFJob
from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.packed import PackedMLP

from support import PARTS


def _job(part: str, tmp: Path, name: str) -> SDFJob:
    cfg = C.preset("tiny")
    cfg.device = "cpu"
    cfg.recon.metric_samples = 5000
    run = tmp / name
    return SDFJob(str(PARTS / part), cfg, run, Reporter(run, lambda event: None))


def test_batched_forward_equals_each_network():
    torch.manual_seed(0)
    nets = [SDFNet([16, 8], "he_uniform") for _ in range(3)]
    x = torch.randn(3, 50, 3)
    out = PackedMLP(nets, batched=True)(x)
    for p, net in enumerate(nets):
        assert torch.allclose(out[p], net(x[p]), atol=1e-5)


def test_group_equals_alone(tmp_path):
    parts = ["box.stl", "torus.stl", "sphere.stl"]
    alone = [_job(p, tmp_path, f"alone-{p}").run() for p in parts]
    grouped = run_group([_job(p, tmp_path, f"group-{p}") for p in parts])
    for a, g in zip(alone, grouped, strict=True):
        assert g["status"] == a["status"] == "done"
        assert g["steps"] == a["steps"]
        assert g["train_loss"] == pytest.approx(a["train_loss"], rel=2e-2)
        assert g["chamfer_l1"] == pytest.approx(a["chamfer_l1"], rel=0.1)
        assert g["validation"]["val_iou"] == pytest.approx(a["validation"]["val_iou"], abs=0.02)
    assert (tmp_path / "group-torus.stl" / "mesh.stl").exists()


def test_group_goes_on_past_a_broken_part(tmp_path):
    broken = tmp_path / "broken.stl"
    broken.write_bytes(b"")
    jobs = [_job("box.stl", tmp_path, "a"), _job("box.stl", tmp_path, "b")]
    jobs[1].part_path = str(broken)
    out = run_group(jobs)
    assert [o["status"] for o in out] == ["done", "failed"] and "empty" in out[1]["error"]


def test_folder_run_in_groups(tmp_path):
    import json
    import shutil

    from isoscope.core.cli import train_main

    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("box", "torus", "bracket"):
        shutil.copy(PARTS / f"{name}.stl", folder / f"{name}.stl")
    (folder / "empty.stl").write_bytes(b"")
    out = tmp_path / "out"
    argv = [str(folder), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--batchParts", "2"]
    assert train_main(argv + ["--recon.metric_samples", "5000"]) == 1
    rows = {r["part"]: r for r in json.loads((out / "batch_summary.json").read_text())["parts"]}
    assert rows["empty.stl"]["status"] == "failed" and "empty" in rows["empty.stl"]["error"]
    assert all(rows[p]["status"] == "done" for p in ("box.stl", "torus.stl", "bracket.stl"))
    timings = json.loads((out / "box" / "timings.json").read_text())
    assert timings["epochs"][0]["group_parts"] == 2
