"""One failure path: an exception inside a job gives the same Failed event, failed summary and exit status
from the worker (the window's jobs), the command line and a folder run."""

from __future__ import annotations

import json
import queue
import shutil
from pathlib import Path

import pytest

from isoscope.core import config as C
from isoscope.core import events as ev
from isoscope.core.cli import train_main
from isoscope.core.runs.follow import read_run
from isoscope.core.sdf.job import SDFJob
from isoscope.core.worker import worker_main

from support import PARTS

MESSAGE = "RuntimeError: the sampler broke"


@pytest.fixture
def broken_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    def setup(self: SDFJob) -> None:
        raise RuntimeError("the sampler broke")

    monkeypatch.setattr(SDFJob, "setup", setup)


def failure_of(run_dir: Path) -> tuple[ev.Failed, dict]:
    """The Failed event a run recorded (exactly one) and its summary."""
    run = read_run(run_dir)
    failed = [e for e in run.events if isinstance(e, ev.Failed)]
    assert len(failed) == 1 and not any(isinstance(e, ev.Finished) for e in run.events)
    return failed[0], run.summary


def check(failed: ev.Failed, summary: dict, part: Path) -> None:
    assert failed.message == MESSAGE and "the sampler broke" in failed.traceback
    assert summary == {"status": "failed", "part": str(part), "error": MESSAGE, "bad_input": False}


def test_worker_command_line_and_folder_run_fail_alike(broken_setup, tmp_path: Path) -> None:
    sphere = PARTS / "sphere.stl"

    # The worker, as the window runs it (its process exits with the returned status).
    cmd_q, evt_q = queue.Queue(), queue.Queue()
    cfg = C.preset("tiny")
    cfg.device = "cpu"
    status = worker_main([str(sphere)], C.to_dict(cfg), [str(tmp_path / "worker")], cmd_q, evt_q, serve=False)
    sent = []
    while not evt_q.empty():
        item = evt_q.get()
        sent += item if isinstance(item, list) else [item]
    failed, summary = failure_of(tmp_path / "worker")
    assert status == 1 and [type(e).__name__ for e in sent[-2:]] == ["PartResult", "Failed"] and sent[-1] == failed
    assert sent[-2] == ev.PartResult(str(sphere), str(tmp_path / "worker"), summary)
    check(failed, summary, sphere)

    # The command line, one part.
    args = ["--preset", "tiny", "--device", "cpu", "--quiet"]
    assert train_main([str(sphere), "--outputDir", str(tmp_path / "cli"), *args]) == 1
    check(*failure_of(tmp_path / "cli"), sphere)

    # A folder run, its two parts trained as one group.
    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("sphere", "box"):
        shutil.copy(PARTS / f"{name}.stl", folder / f"{name}.stl")
    assert train_main([str(folder), "--outputDir", str(tmp_path / "folder"), "--batchParts", "2", *args]) == 1
    rows = json.loads((tmp_path / "folder" / "batch_summary.json").read_text())["parts"]
    assert [(r["part"], r["status"]) for r in rows] == [("box.stl", "failed"), ("sphere.stl", "failed")]
    for row in rows:
        check(*failure_of(Path(row["run_dir"])), folder / row["part"])
