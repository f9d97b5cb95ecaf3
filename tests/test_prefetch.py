"""A folder run's next group prepared in a helper process while one trains: the same points and results as
preparing each group in turn, per-part failures as before, and no helper left behind however the run ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import psutil
import torch

from isoscope.core import config as C
from isoscope.core.cli import train_main
from isoscope.core.sdf.prefetch import GroupPrefetch, prepare_part, training_threads

from support import PARTS

AHEAD = "ahead in a helper process"


def _fit_folder(folder: Path, out: Path, overlap: bool) -> int:
    return train_main([str(folder), "--preset", "tiny", "--device", "cpu", "--batchParts", "1", "--epochs", "1",
                       "--reconstructionRes", "24", "--recon.metric_samples", "5000", "--outputDir", str(out),
                       "--quiet", "--train.overlap", str(overlap).lower()])  # fmt: skip


def _children() -> set[int]:
    """This process's live children, but multiprocessing's resource tracker (one a process, for its life)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_overlapped_folder_run_fits_the_same(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    shutil.copy(PARTS / "box.stl", folder / "a_box.stl")
    (folder / "b_empty.stl").write_bytes(b"")  # prepared ahead, fails there, then fails in the run as always
    shutil.copy(PARTS / "torus.stl", folder / "c_torus.stl")
    before = _children()
    runs = {flag: tmp_path / f"overlap-{flag}" for flag in (True, False)}
    assert [_fit_folder(folder, out, flag) for flag, out in runs.items()] == [1, 1]  # one part failed
    assert _children() <= before  # the helper has left
    summary = {flag: {p: json.loads((out / p / "summary.json").read_text()) for p in ("a_box", "b_empty", "c_torus")}
               for flag, out in runs.items()}  # fmt: skip
    on, off = summary[True], summary[False]
    assert on["b_empty"]["status"] == off["b_empty"]["status"] == "failed"
    assert on["b_empty"]["error"] == off["b_empty"]["error"] and "empty" in on["b_empty"]["error"]
    for part in ("a_box", "c_torus"):
        assert on[part]["status"] == off[part]["status"] == "done"
        a, b = np.load(runs[True] / part / "points.npz"), np.load(runs[False] / part / "points.npz")
        assert np.array_equal(a["points"], b["points"]) and np.array_equal(a["sdf"], b["sdf"])
        assert on[part]["train_loss"] == off[part]["train_loss"]
        assert on[part]["chamfer_l1"] == off[part]["chamfer_l1"]
    logs = {(flag, p): (out / p / "log.txt").read_text().count(AHEAD) for flag, out in runs.items()
            for p in ("a_box", "c_torus")}  # fmt: skip
    # the first group is prepared in the run; the third was prepared ahead (the second failed there)
    assert logs == {(True, "a_box"): 0, (True, "c_torus"): 1, (False, "a_box"): 0, (False, "c_torus"): 0}
    rows = json.loads((runs[True] / "batch_summary.json").read_text())["parts"]
    assert [r["status"] for r in rows] == ["done", "failed", "done"]


def _training_threads() -> int:
    with training_threads():
        return torch.get_num_threads()


def test_helper_ignores_ctrl_c_and_leaves_when_the_run_stops(tmp_path):
    cfg = C.preset("tiny")
    cfg.device = "cpu"
    groups = [[PARTS / "box.stl"], [PARTS / "torus.stl"], [PARTS / "sphere.stl"]]
    threads = torch.get_num_threads()
    with GroupPrefetch(groups, cfg, overlap=True) as ahead:
        order = iter(ahead)
        first, prepared = next(order)
        assert first == groups[0] and prepared is None  # prepared in the run, while the helper starts
        # on a CPU the training loop leaves the helper its threads while it prepares the next group
        assert _training_threads() == max(1, threads - threads // 2) and torch.get_num_threads() == threads
        helper = psutil.Process(ahead._proc.pid)
        os.kill(helper.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: the helper goes on
        second, prepared = next(order)
        assert second == groups[1] and prepared is not None and ahead.prepared_parts == 1
        here = prepare_part(str(PARTS / "torus.stl"), C.to_dict(cfg))
        assert np.array_equal(prepared[0].points, here.points) and np.array_equal(prepared[0].dist, here.dist)
        assert np.array_equal(prepared[0].gen_state, here.gen_state)
        assert all(np.array_equal(prepared[0].val[k][0], here.val[k][0]) for k in here.val)
        # the run stops here, while the helper prepares the third group
    assert not helper.is_running() or helper.status() == psutil.STATUS_ZOMBIE
    assert ahead._proc is None and _training_threads() == threads  # no helper at work: every thread


def test_no_helper_without_overlap_or_with_one_group():
    cfg = C.preset("tiny")
    cfg.device = "cpu"
    cfg.train.overlap = False
    groups = [[PARTS / "box.stl"], [PARTS / "torus.stl"]]
    with GroupPrefetch(groups, cfg) as ahead:
        assert [p for _, p in ahead] == [None, None] and ahead._proc is None
    cfg.train.overlap = True
    with GroupPrefetch(groups[:1], cfg) as ahead:
        assert [p for _, p in ahead] == [None] and ahead._proc is None
