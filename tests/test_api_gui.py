"""The window follows a run that a script writes through ``isoscope.init``, in another process: every plot
grows while it runs and holds the run's records at the end; a writer killed mid-run shows as stopped
unexpectedly; ``isoscope RUN_DIR --screenshot --exit-when-done`` exits 0 with the picture.

The writer is paused (SIGSTOP) at each look, so what the test sees does not depend on how fast it runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gui_support import isolate_settings, require_display

require_display()

from support import ROOT  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP")]
TIMEOUT_MS = 60_000
EXAMPLE = [str(ROOT / "examples" / "autodecoder.py"), "--points", "4000", "--res", "24"]


def records(run: Path, kind: str, scope: str | None = None) -> list[dict]:
    """The run's complete records of one kind, as written so far."""
    text = (run / "metrics.jsonl").read_text() if (run / "metrics.jsonl").exists() else ""
    out = [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]
    return [r for r in out if r["event"] == kind and (scope is None or r.get("scope") == scope)]


def start_writer(args: list[str], root: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "ISOSCOPE_RUNS": str(root)})  # fmt: skip
    for _ in range(6000):
        runs = list(root.glob("*/config.json"))
        if runs:
            return proc, runs[0].parent
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        subprocess.run(["sleep", "0.05"], check=True)
    raise AssertionError("the writer made no run directory")


def window(qtbot, tmp_path: Path, root: Path):  # noqa: ANN201 - MainWindow, imported late
    from isoscope.app.main_window import MainWindow

    isolate_settings(tmp_path / "qsettings")
    w = MainWindow(runs_root=root, lazy_viewport=False)
    qtbot.addWidget(w)
    w.show()
    return w


def test_the_window_follows_a_script_run_live(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    proc, run = start_writer([*EXAMPLE, "--epochs", "8"], root)
    os.kill(proc.pid, signal.SIGSTOP)  # held until the window follows it
    try:
        w = window(qtbot, tmp_path, root)
        assert w.open_run(run) and w.following
        os.kill(proc.pid, signal.SIGCONT)
        seen: list[tuple[int, int]] = []
        while proc.poll() is None and len(seen) < 4:
            epochs = len(records(run, "PhaseTimes", "epoch"))
            qtbot.waitUntil(lambda n=epochs: len(records(run, "PhaseTimes", "epoch")) > n or proc.poll() is not None,
                            timeout=TIMEOUT_MS)  # fmt: skip
            if proc.poll() is not None:
                break
            os.kill(proc.pid, signal.SIGSTOP)  # hold the writer while the window catches up
            try:
                now = (len([r for r in records(run, "Metrics") if "train_loss" in r["values"]]),
                       len(records(run, "PhaseTimes", "epoch")))  # fmt: skip
                qtbot.waitUntil(lambda now=now: (len(w.plots.train[0]), len(w.plots.epochs)) == now, timeout=TIMEOUT_MS)
                assert w.following and w.plots.train_curve.getData()[0].size == now[0]
                seen.append(now)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
        assert len(seen) >= 3, seen  # three looks while it ran: the curve and the bars grew between them
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(seen, seen[1:], strict=False)), seen
        with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS) as ended:
            assert proc.wait(timeout=TIMEOUT_MS / 1000) == 0
        assert ended.args == ["Finished"] and not w.following
        losses = [r for r in records(run, "Metrics") if "train_loss" in r["values"]]
        assert len(w.plots.train[0]) == len(losses) == json.loads((run / "summary.json").read_text())["logged_steps"]
        assert sorted(w.plots.epochs) == list(range(1, 9))
        assert w.plots.train_curve.getData()[0].size == len(losses)
        resources = records(run, "Resources")
        assert resources and len(w.plots.resources[0]) == len(resources)  # drawn from the run, not sampled
        assert w.plots.util_curve.getData()[0].size == len(resources)
        assert w.status_labels["epoch"].text() == "epoch 8"
        assert w.viewport.actors.get("fit") is not None  # the mesh the script logged
        assert "other" in w.plots.total and w.runs.tree.topLevelItemCount() == 1
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait()


WRITER = textwrap.dedent("""
    import sys, time, isoscope
    run = isoscope.init(name="killed", root=sys.argv[1], report_every_s=0, print_tables=False)
    for step in range(5):
        with run.phase("work"):
            time.sleep(0.01)
        run.log(step, loss=1.0 / (step + 1))
    run.epoch()
    print("written", flush=True)
    time.sleep(600)
""")


def test_a_writer_killed_mid_run_is_shown_stopped_unexpectedly(qtbot, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        run = next(root.glob("*/config.json")).parent
        w = window(qtbot, tmp_path, root)
        assert w.open_run(run) and w.following
        assert len(w.plots.train[0]) == 5 and sorted(w.plots.epochs) == [1]
        with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS) as ended:
            proc.kill()
        assert ended.args == ["Crashed"] and not w.following
        assert "stopped unexpectedly" in w.banner.text()
        w.runs.refresh()
        assert w.runs.tree.topLevelItem(0).text(2) == "stopped unexpectedly"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow  # a second script run in a window (12 s); the live-follow test stays in the default run
def test_screenshot_of_a_script_run_exits_when_done(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    subprocess.run([sys.executable, *EXAMPLE, "--epochs", "2", "--outputDir", str(root)], check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip
    run = next(root.glob("*/config.json")).parent
    shot = tmp_path / "out.png"
    env = {**os.environ, "ISOSCOPE_RUNS": str(root), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-m", "isoscope.app.main", str(run), "--screenshot", str(shot),
                           "--exit-when-done"], capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size[0] > 800 and image.size[1] > 500


PROFILED = textwrap.dedent("""
    import sys, time, torch, isoscope
    from pathlib import Path
    stop = Path(sys.argv[2])
    model = torch.nn.Linear(16, 1)
    with isoscope.init(name="profiled", root=sys.argv[1], report_every_s=0.05, print_tables=False) as run:
        step = 0
        while not stop.exists():
            with run.phase("forward"):
                loss = model(torch.randn(32, 16)).pow(2).mean()
            with run.phase("backward"):
                loss.backward()
            step += 1
            run.log(step, loss=loss)
            time.sleep(0.005)
""")


def test_profile_from_the_window_reaches_a_script_run(qtbot, tmp_path: Path) -> None:
    root, stop = tmp_path / "runs", tmp_path / "stop"
    script = tmp_path / "profiled.py"
    script.write_text(PROFILED)
    proc, run = start_writer([str(script), str(root), str(stop)], root)
    try:
        w = window(qtbot, tmp_path, root)
        assert w.open_run(run) and w.following and w.act_profile.isEnabled()
        w.profile_n.setValue(5)
        w.profile_steps()
        qtbot.waitUntil(lambda: w.profile_table.rowCount() > 0, timeout=TIMEOUT_MS)
        assert (run / "profile" / "trace.json").is_file() and not (run / "requests" / "profile.json").exists()
        assert w.tabs.currentWidget() is w.profile_table
        with qtbot.waitSignal(w.job_done, timeout=TIMEOUT_MS) as ended:
            stop.touch()
        assert ended.args == ["Finished"] and not w.act_profile.isEnabled()
    finally:
        stop.touch()
        proc.wait(timeout=60)
