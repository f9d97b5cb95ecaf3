"""The Python API (``isoscope.init``): phases add up, tensors are read in batches, failures end the run,
artifacts and profiles are written, and the run directory can be followed while it is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import isoscope
from isoscope.core import events as ev
from isoscope.core.runs.follow import RunFollower, read_run, writer_gone
from isoscope.core.runs.rundir import write_json_atomic

from support import PARTS


def of(events: list[Any], cls: type, scope: str | None = None) -> list[Any]:
    return [e for e in events if isinstance(e, cls) and (scope is None or e.scope == scope)]


def adds_up(seconds: dict[str, float], wall: float) -> bool:
    """Top-level phases and ``other`` give the wall time (by construction: only rounding may differ)."""
    return abs(sum(seconds.values()) - wall) <= 1e-6 * wall and seconds["other"] >= 0.0


def busy(n: int = 2000) -> float:
    return float(sum(i * i for i in range(n)))


def run_script(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_nested_phases_and_other_add_up_to_wall(tmp_path: Path) -> None:
    run = isoscope.init(name="phases", root=tmp_path, print_tables=False)
    with run:
        for _ in range(2):
            for step in range(5):
                with run.phase("data"):
                    busy()
                with run.phase("step"):
                    with run.phase("forward"):
                        busy()
                    with run.phase("backward"):
                        busy()
                run.log(step, loss=1.0)
            busy()  # outside every phase: "other"
            seconds = run.epoch()
            assert {"data", "step", "step.forward", "step.backward"} <= set(seconds)
    record = read_run(run.path)
    epochs = of(record.events, ev.PhaseTimes, "epoch")
    assert [e.epoch for e in epochs] == [1, 2]
    for e in epochs:
        assert set(e.seconds) == {"data", "step", "other"} and adds_up(e.seconds, e.wall_s)
    (total,) = of(record.events, ev.PhaseTimes, "total")
    assert set(total.seconds) == {"data", "step", "other"} and adds_up(total.seconds, total.wall_s)
    assert sum(e.wall_s for e in epochs) <= total.wall_s
    for table in record.timings["epochs"]:
        assert table["seconds"]["step.forward"] <= table["seconds"]["step"]
    assert {"step.forward", "step.backward"} <= set(record.timings["total_s"])
    assert adds_up(record.summary["phases_s"], record.summary["wall_s"])
    assert record.summary["epochs"] == 2 and record.summary["logged_steps"] == 10


def test_epoch_prints_its_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with isoscope.init(name="table", root=tmp_path) as run:
        with run.phase("step"), run.phase("forward"):
            busy()
        run.epoch()
    out = capsys.readouterr().out
    assert "=== EPOCH 1 TIMING BREAKDOWN ===" in out and "forward:" in out and "other:" in out


def test_logging_tensors_never_waits_for_a_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU tensor is read as it is logged (nothing to wait for; an in-place change later does not alter
    it); nothing synchronises; values are written at reporting points only, in step order."""
    calls = {"synchronize": 0}

    def counted_sync(*args: Any, **kwargs: Any) -> None:
        calls["synchronize"] += 1

    monkeypatch.setattr(torch.cuda, "synchronize", counted_sync)
    monkeypatch.setattr(torch.cuda.Event, "synchronize", counted_sync)
    run = isoscope.init(name="reads", root=tmp_path, report_every_s=1e9, print_tables=False)
    running = torch.zeros(())
    with run:
        for step in range(200):
            running += 1.0  # changed in place after it was logged
            run.log(step, loss=torch.tensor(float(step)), lr=torch.tensor(0.5 * step), count=running)
            if step in (79, 159):
                run.epoch()
                assert len(of(read_run(run.path).events, ev.Metrics)) == step + 1
            elif step in (40, 120):
                assert len(of(read_run(run.path).events, ev.Metrics)) == 80 * (step // 80)  # not yet written
    assert calls["synchronize"] == 0 and run.values.copies == 0
    record = read_run(run.path)
    assert len(of(record.events, ev.PhaseTimes, "live")) == 3
    metrics = of(record.events, ev.Metrics)
    assert [m.step for m in metrics] == list(range(200))
    for m in metrics:
        assert m.values == {"train_loss": float(m.step), "lr": 0.5 * m.step, "count": m.step + 1.0}
        assert m.epoch == min(m.step // 80, 2) + 1
    assert record.summary["last"] == {"train_loss": 199.0, "lr": 99.5, "count": 200.0}


def test_floats_tensors_and_nan(tmp_path: Path) -> None:
    with isoscope.init(name="values", root=tmp_path, report_every_s=0, print_tables=False) as run:
        run.log(0, loss=float("nan"), val_loss=2.5)
        run.log(1, loss=torch.tensor(float("nan")), val_loss=float("inf"))
        run.log(2, loss=torch.tensor(0.25, requires_grad=True) * 2, acc=torch.tensor(3, dtype=torch.int64), n=7)
    text = (run.path / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    values = [m.values for m in of(read_run(run.path).events, ev.Metrics)]
    assert values == [
        {"train_loss": None, "val_loss": 2.5},
        {"train_loss": None, "val_loss": None},
        {"train_loss": 0.5, "acc": 3.0, "n": 7.0},
    ]


def test_exception_marks_the_run_failed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="boom 42"):
        with isoscope.init(name="fails", root=tmp_path, print_tables=False) as run:
            run.log(0, loss=torch.tensor(1.0))
            raise ValueError("boom 42")
    record = read_run(run.path)
    assert record.status == "failed" and run.status == "failed"
    assert "boom 42" in record.summary["error"] and "boom 42" in record.summary["traceback"]
    last = record.events[-1]
    assert isinstance(last, ev.Failed) and "boom 42" in last.message and "ValueError" in last.traceback
    assert of(record.events, ev.Metrics)[0].values == {"train_loss": 1.0}


def test_keyboard_interrupt_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with isoscope.init(name="ctrl-c", root=tmp_path, print_tables=False) as run:
            run.log(0, loss=1.0)
            raise KeyboardInterrupt
    record = read_run(run.path)
    assert record.status == "stopped" and "error" not in record.summary
    assert isinstance(record.events[-1], ev.Finished) and record.events[-1].status == "stopped"
    assert run.finish() is run.summary  # a later finish changes nothing


def test_artifacts(tmp_path: Path) -> None:
    import trimesh
    from PIL import Image

    vertices = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    xyz, sdf = np.random.default_rng(0).normal(size=(50, 3)), torch.linspace(-1, 1, 50)
    with isoscope.init(name="artifacts", root=tmp_path, print_tables=False) as run:
        ply = run.mesh("tet/shape", vertices, faces)
        npz = run.points("samples", xyz, sdf)
        png = run.image("render", torch.rand(3, 8, 12))
        grey = run.image("grey", np.linspace(0, 1, 6 * 5).reshape(6, 5))
    mesh = trimesh.load(ply, process=False)
    assert len(mesh.vertices) == 4 and len(mesh.faces) == 4
    assert np.array_equal(mesh.faces, faces) and np.allclose(mesh.vertices, vertices.numpy())
    with np.load(npz) as data:
        assert data["points"].shape == (50, 3) and data["sdf"].shape == (50,)
        assert np.allclose(data["points"], xyz, atol=1e-6) and np.allclose(data["sdf"], sdf.numpy())
    with Image.open(png) as im:
        assert im.size == (12, 8) and im.mode == "RGB"
    with Image.open(grey) as im:
        assert im.size == (5, 6) and im.mode == "L"
    artifacts = of(read_run(run.path).events, ev.Artifact)
    assert [(a.kind, Path(a.path)) for a in artifacts] == [("mesh", ply), ("points", npz), ("image", png),
                                                           ("image", grey)]  # fmt: skip
    assert all(p.parent.parent == run.path for p in (ply, npz, png, grey))


def test_profile_request_wraps_the_next_steps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 8), torch.randn(16, 1)
    with isoscope.init(name="profile", root=tmp_path, report_every_s=0, print_tables=False) as run:
        request = run.path / "requests" / "profile.json"
        write_json_atomic(request, {"steps": 3})
        for step in range(10):
            with run.phase("step"):
                with run.phase("forward"):
                    loss = torch.nn.functional.mse_loss(model(x), y)
                with run.phase("backward"):
                    opt.zero_grad()
                    loss.backward()
                with run.phase("optimizer"):
                    opt.step()
            run.log(step, loss=loss.detach())
        assert not request.exists()
    folder = run.path / "profile"
    assert (folder / "key_averages.txt").stat().st_size > 0
    json.loads((folder / "trace.json").read_text())
    record = read_run(run.path)
    (profile,) = [a for a in of(record.events, ev.Artifact) if a.kind == "profile"]
    assert Path(profile.path) == folder / "key_averages.txt" and profile.info["top"]
    assert len(of(record.events, ev.Metrics)) == 10 and record.status == "done"


def test_import_and_float_logging_stay_torch_free(tmp_path: Path) -> None:
    code = """
import sys
import isoscope
run = isoscope.init(name="light", root=sys.argv[1], report_every_s=0, print_tables=False)
for step in range(20):
    with run.phase("step"):
        with run.phase("forward"):
            sum(range(1000))
    run.log(step, loss=1.0 / (step + 1), lr=0.1)
run.epoch()
run.image("grey", [[0.0, 0.5], [1.0, 0.25]])
run.finish()
print("TORCH", "torch" in sys.modules, run.path)
"""
    out = run_script(code, str(tmp_path))
    assert out.returncode == 0, out.stderr
    marker, loaded, path = out.stdout.split()[-3:]
    assert (marker, loaded) == ("TORCH", "False")
    record = read_run(path)
    assert record.status == "done" and len(of(record.events, ev.Metrics)) == 20


def test_the_run_can_be_followed_while_written(tmp_path: Path) -> None:
    run = isoscope.init(name="follow", root=tmp_path, report_every_s=0, print_tables=False)
    follower = RunFollower(run.path)
    for step in range(5):
        with run.phase("step"):
            busy()
        run.log(step, loss=torch.tensor(float(step)))
    run.epoch()
    first = follower.poll()
    assert isinstance(first[0], ev.Started) and [m.step for m in of(first, ev.Metrics)] == list(range(5))
    assert of(first, ev.PhaseTimes, "epoch")
    beat = json.loads((run.path / "heartbeat.json").read_text())
    assert beat["pid"] == os.getpid()
    assert read_run(run.path).status == "running" and writer_gone(run.path) is None
    for step in range(5, 8):
        run.log(step, loss=float(step))
    run.finish()
    rest = follower.poll()
    assert [m.step for m in of(rest, ev.Metrics)] == [5, 6, 7]
    assert isinstance(rest[-1], ev.Finished) and rest[-1].status == "done"
    assert read_run(run.path).status == "done"


def test_a_writer_gone_without_a_summary(tmp_path: Path) -> None:
    code = """
import os, sys
import isoscope
run = isoscope.init(name="gone", root=sys.argv[1], report_every_s=0, print_tables=False)
run.log(0, loss=1.0)
print(run.path, flush=True)
os._exit(0)
"""
    out = run_script(code, str(tmp_path))
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.split()[-1])
    record = read_run(path)
    assert not record.summary and record.status == "stopped unexpectedly"
    reason = writer_gone(path)
    assert isinstance(reason, str) and "gone" in reason
    assert of(record.events, ev.Metrics)[0].values == {"train_loss": 1.0}


def test_isoscope_runs_record_resources_and_a_heartbeat(tmp_path: Path) -> None:
    """isoscope's own jobs write the same resources series and heartbeat as a script's run."""
    from isoscope.core.cli import train_main

    run_dir = tmp_path / "sphere"
    argv = [str(PARTS / "sphere.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(run_dir), "--quiet"]
    assert train_main(argv) == 0
    record = read_run(run_dir)
    samples = of(record.events, ev.Resources)
    assert samples and all(s.values["rss_bytes"] > 0 and s.values["cpus"] >= 1 for s in samples)
    assert json.loads((run_dir / "heartbeat.json").read_text())["pid"] == os.getpid()
    assert record.status == "done" and writer_gone(run_dir) is None
