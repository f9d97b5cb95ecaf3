"""``isoscope-run`` on unchanged scripts of each shape (tests/scripts/): phases, steps and the loss series;
exit status, failure, Ctrl-C, a missing script or module, torchrun's ranks, --window without a display."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from isoscope.core import events as ev
from isoscope.core.autorun import run_name
from isoscope.core.runs.follow import read_run

from support import ROOT

SCRIPTS = ROOT / "tests" / "scripts"


def isoscope_run(
    tmp_path: Path, *args: str, cwd: Path = ROOT, **kw: object
) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "isoscope.core.autorun", "--outputDir", str(out), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600, **kw)  # fmt: skip
    runs = [p.parent for p in out.glob("*/config.json")]
    return done, (runs[0] if len(runs) == 1 else out)


def losses(run: Path) -> list[float]:
    return [e.values["train_loss"] for e in read_run(run).events if isinstance(e, ev.Metrics)]


@pytest.mark.parametrize(
    ("script", "steps", "epochs", "data"),
    [("dataloader_adam", 96, 3, True), ("manual_batches", 16, 1, False), ("lbfgs_closure", 6, 1, False),
     ("two_optimizers", 10, 1, False), ("compiled", 16, 2, True), ("accumulate_amp", 4, 1, True)],
)  # fmt: skip
def test_each_shape_of_script_gets_its_phases_steps_and_loss(tmp_path: Path, script: str, steps: int, epochs: int,
                                                             data: bool) -> None:  # fmt: skip
    """Each script runs as ``__main__`` with its own argv; manual_batches as a module (``-m``)."""
    if script == "manual_batches":
        done, run = isoscope_run(tmp_path, "--name", "as-module", "-m", "scripts.manual_batches", cwd=ROOT / "tests")
        assert run.name.endswith("as-module-script")
    else:
        done, run = isoscope_run(tmp_path, str(SCRIPTS / f"{script}.py"), "--flag", "x")
        assert json.loads((run / "config.json").read_text())["config"]["argv"] == ["--flag", "x"]
    assert done.returncode == 0, done.stderr
    if script == "dataloader_adam":
        assert f"argv ['{SCRIPTS / 'dataloader_adam.py'}', '--flag', 'x']" in done.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == steps and summary["epochs"] == epochs
    phases = summary["phases_s"]
    assert all(phases.get(p, 0.0) > 0 for p in ("forward", "backward", "optimizer")), phases
    assert ("data" in phases) == data
    assert sum(phases.values()) == pytest.approx(summary["wall_s"], rel=1e-9)
    values = losses(run)
    assert len(values) == steps and all(v is not None and v >= 0 for v in values)
    epoch_records = [e for e in read_run(run).events if isinstance(e, ev.PhaseTimes) and e.scope == "epoch"]
    assert len(epoch_records) == epochs
    if script == "two_optimizers":
        assert "several optimizers" in (run / "log.txt").read_text()
    if script == "accumulate_amp":  # the loss before the GradScaler's 1024x, the first micro-batch's of a step
        assert max(values) < 100


def test_exit_status_passes_through(tmp_path: Path) -> None:
    done, run = isoscope_run(tmp_path, str(SCRIPTS / "manual_batches.py"), "3")
    assert done.returncode == 3
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["steps"] == 16 and "3" in summary["error"]


def test_a_script_that_raises_is_recorded_failed_with_its_traceback(tmp_path: Path) -> None:
    done, run = isoscope_run(tmp_path, str(SCRIPTS / "manual_batches.py"), "raise")
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert "ValueError: the data ran out" in done.stderr and "autorun.py" not in done.stderr
    assert 'manual_batches.py", line' in done.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "the data ran out" in summary["traceback"]
    assert isinstance(read_run(run).events[-1], ev.Failed)


def test_ctrl_c_stops_the_script_and_records_the_run_as_stopped(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    def as_a_terminal_would() -> None:
        """Ctrl-C as a shell's foreground job gets it: the test process may ignore or block SIGINT (a
        worker or helper started earlier in it does), and a child inherits both."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    proc = subprocess.Popen([sys.executable, "-m", "isoscope.core.autorun", "--outputDir", str(out),
                             str(SCRIPTS / "until_interrupted.py")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=as_a_terminal_would)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "first step done"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)  # stderr read as it comes: a full pipe cannot stall the child
        assert proc.returncode == 130, err[-2000:]
    finally:
        proc.kill()
        proc.wait()
    run = next(out.glob("*/config.json")).parent
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] >= 1 and len(losses(run)) == summary["steps"]


@pytest.mark.parametrize(
    "args", [["no_such_script.py"], ["--name", "n", "no_such_script.py"], ["-m", "no_such_module_here"], [],
             ["--bogus", "x.py"]],
)  # fmt: skip
def test_a_missing_script_or_module_is_one_line_and_status_2(tmp_path: Path, args: list[str]) -> None:
    done, out = isoscope_run(tmp_path, *args)
    assert done.returncode == 2 and done.stderr.startswith("isoscope-run: error: ")
    assert "Traceback" not in done.stderr and not out.exists()


def test_window_without_a_display_is_status_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done, out = isoscope_run(tmp_path, "--window", str(SCRIPTS / "manual_batches.py"), env=env)
    assert done.returncode == 2 and "no display" in done.stderr and not out.exists()


def test_each_torchrun_rank_names_its_own_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert run_name("train") == "train-rank1"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert run_name("train") == "train"
