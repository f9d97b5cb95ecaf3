"""The worker protocol with a real spawned process: pause, resume, profile, reconstruct now, slices,
probes while training and after it, a failing part, and a cooperative stop."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isoscope.core import config as C
from isoscope.core import events as ev
from isoscope.core.worker import worker_process

from support import PARTS


class Worker:
    def __init__(self, part: Path, cfg: C.RunConfig, run_dir: Path) -> None:
        ctx = mp.get_context("spawn")
        self.cmd, self.evt = ctx.Queue(), ctx.Queue()
        args = ([str(part)], C.to_dict(cfg), [str(run_dir)], self.cmd, self.evt)
        self.proc = ctx.Process(target=worker_process, args=args)
        self.proc.start()
        self.seen: list[Any] = []

    def take(self, item: Any) -> list[Any]:
        """Record one queue item: an event, or a batch (list) of frequent training events."""
        events = item if isinstance(item, list) else [item]
        self.seen.extend(events)
        return events

    def wait_for(self, test, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.evt.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.is_alive() or not self.evt.empty(), "worker exited"
                continue
            for e in self.take(item):
                if test(e):
                    return e
        raise AssertionError(f"timed out; last events: {[type(e).__name__ for e in self.seen[-5:]]}")

    def close(self) -> None:
        self.cmd.put(ev.Stop())
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def _cfg(epochs: int = 6) -> C.RunConfig:
    cfg = C.preset("tiny")
    cfg.device, cfg.train.epochs, cfg.recon.metric_samples = "cpu", epochs, 5000
    return cfg


def test_commands_during_and_after_training(tmp_path, capfd):
    w = Worker(PARTS / "sphere.stl", _cfg(), tmp_path)
    try:
        w.cmd.put(ev.Pause())
        w.wait_for(lambda e: isinstance(e, ev.Log) and e.text == "paused")
        steps = [e.step for e in w.seen if isinstance(e, ev.Progress) and e.stage == "train"]
        time.sleep(1.5)
        while not w.evt.empty():
            w.take(w.evt.get())
        later = [e.step for e in w.seen if isinstance(e, ev.Progress) and e.stage == "train"]
        assert later == steps  # no training while paused
        w.cmd.put(ev.ReconstructNow(24))
        mesh = w.wait_for(lambda e: isinstance(e, ev.Artifact) and e.kind == "mesh")
        assert mesh.info["resolution"] == 24 and Path(mesh.path).exists()
        w.cmd.put(ev.SliceRequest(axis=2, offset=0.0, resolution=32))
        s = w.wait_for(lambda e: isinstance(e, ev.SliceResult))
        assert s.truth.shape == (32, 32) and s.predicted.shape == (32, 32)
        assert s.truth.min() < 0 < s.truth.max()  # the plane through the centre cuts the sphere
        w.cmd.put(ev.ProfileSteps(5))
        w.cmd.put(ev.Resume())
        prof = w.wait_for(lambda e: isinstance(e, ev.Artifact) and e.kind == "profile")
        assert Path(prof.path).read_text().strip() and Path(prof.info["trace"]).exists()
        names = {row["name"] for row in prof.info["top"]}
        assert names and any(n.startswith("aten::") for n in names)
        done = w.wait_for(lambda e: isinstance(e, (ev.Finished, ev.Failed)))
        assert isinstance(done, ev.Finished) and done.status == "done"
        # After training the worker keeps serving requests for the finished run; Profile has nothing left.
        w.cmd.put(ev.ProfileSteps(5))
        late = w.wait_for(lambda e: isinstance(e, ev.Log) and "no steps left" in e.text)
        assert late.level == "warning"
        w.cmd.put(ev.ProbeRequest((0.0, 0.0, 0.0)))
        probe = w.wait_for(lambda e: isinstance(e, ev.PointProbe))
        assert probe.truth == pytest.approx(-1.0, abs=0.01) and probe.predicted < 0
        w.cmd.put(ev.ProbeRequest((2.0, 0.0, 0.0)))
        probe = w.wait_for(lambda e: isinstance(e, ev.PointProbe))
        assert probe.truth == pytest.approx(1.0, abs=0.01)
    finally:
        w.close()
    assert w.proc.exitcode == 0
    err = capfd.readouterr().err  # the profiler's chatter went to the run's log, not the terminal
    assert "gpuGetDeviceCount" not in err and "Warning" not in err, err
    assert "profiler: " in (tmp_path / "log.txt").read_text()


def test_batching_sink_keeps_order_and_sends_important_events_at_once():
    from isoscope.core.worker import BatchingSink

    sent: list[Any] = []
    sink = BatchingSink(sent.append, max_delay_s=60.0)
    m1, m2 = ev.Metrics(1, 1, {"train_loss": 1.0}), ev.Metrics(2, 1, {"train_loss": 0.5})
    p = ev.Progress(2, 10, 1, 1, 100.0, 1.0, "train")
    sink(m1)
    sink(p)
    sink(m2)
    assert sent == []  # frequent training events wait for their batch
    log = ev.Log("info", "paused")
    sink(log)
    assert sent == [[m1, p, m2], log]  # an important event sends the waiting batch first, in order
    sink(m1)
    sink.max_delay_s = 0.0
    sink.poll()
    assert sent[-1] == [m1]
    sink(m2)
    assert sent[-1] is m2  # no delay: every event goes alone, as it comes
    sink(ev.Progress(3, 10, 1, 1, 100.0, 1.0, "sample"))
    assert isinstance(sent[-1], ev.Progress) and sent[-1].stage == "sample"


def test_stop_finishes_cooperatively(tmp_path):
    w = Worker(PARTS / "torus.stl", _cfg(epochs=200), tmp_path)
    try:
        w.wait_for(lambda e: isinstance(e, ev.Progress) and e.stage == "train" and e.step > 10)
        w.cmd.put(ev.Stop())
        done = w.wait_for(lambda e: isinstance(e, (ev.Finished, ev.Failed)))
        assert isinstance(done, ev.Finished) and done.status == "stopped"
        assert done.summary["steps"] < 200 * 32
        assert (tmp_path / "model.pt").exists() and (tmp_path / "summary.json").exists()
    finally:
        w.close()


def test_bad_part_fails_with_a_message(tmp_path):
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"")
    w = Worker(bad, _cfg(), tmp_path / "run")
    try:
        failed = w.wait_for(lambda e: isinstance(e, (ev.Failed, ev.Finished)))
        assert isinstance(failed, ev.Failed) and "the file is empty" in failed.message and failed.traceback == ""
    finally:
        w.close()
    assert w.proc.exitcode == 2 and np.all([not isinstance(e, ev.Finished) for e in w.seen])  # bad input


def test_throughput_and_eta_leave_out_a_pause(tmp_path, monkeypatch):
    """Driven by a fake clock: 10 s of training, a pause of 3 x 60 s, then progress: 100 samples/s, not
    1000 / 190; the ETA from the same active time."""
    import isoscope.core.job as job_module
    from isoscope.core.job import JobBase, Reporter

    now = [0.0]
    monkeypatch.setattr(job_module.time, "sleep", lambda s: now.__setitem__(0, now[0] + 60.0))
    script = iter([[ev.Pause()], [], [], [ev.Resume()]])
    sent: list[Any] = []
    job = JobBase(str(PARTS / "sphere.stl"), _cfg(), tmp_path, Reporter(tmp_path, sent.append, lambda: next(script, []),
                                                                         command_poll_s=0.0))  # fmt: skip
    job.clock = lambda: now[0]
    job._t_train = 0.0
    now[0], job.step, job.total_steps, job.samples = 10.0, 100, 300, 1000
    assert job.handle_commands() is False  # paused for three sleeps of the loop, then resumed
    assert job.paused_s == 180.0
    job.emit_progress(1, "train")
    progress = [e for e in sent if isinstance(e, ev.Progress)][-1]
    assert progress.samples_per_s == pytest.approx(100.0) and progress.eta_s == pytest.approx(20.0)
    job.reporter.close()
