"""The live plots keep up with 20 updates per second (real widgets, events fed on a Qt timer)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gui_support import require_display

require_display()

from PySide6.QtCore import QTimer  # noqa: E402

from isoscope.core import events as ev  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.mark.slow  # ten seconds of updates at their real rate
def test_plots_take_every_update_at_20_a_second(qtbot):
    """Ten seconds' worth of updates from a 50 ms timer: every point is plotted. (What an
    update costs is printed; benchmarks/window_overhead.py measures it against training.)"""
    from isoscope.app.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    state = {"step": 0, "busy": 0.0}
    seconds = {"batch": 0.01, "forward": 0.1, "backward": 0.2, "optimizer": 0.05}
    updates = 200

    def feed() -> None:
        if state["step"] >= 10 * updates:
            return
        t0 = time.perf_counter()
        state["step"] += 10
        s = state["step"]
        panel.handle(ev.Metrics(s, 1 + s // 500, {"train_loss": 1.0 / (1 + s)}))
        panel.handle(ev.Progress(s, 10_000, 1 + s // 500, 20, 9000.0, 30.0))
        if s % 100 == 0:
            panel.handle(ev.PhaseTimes("live", 1, seconds, 0.4))
        if s % 500 == 0:
            panel.handle(ev.PhaseTimes("epoch", s // 500, seconds, 0.4))
            panel.handle(ev.Metrics(s, s // 500, {"val_loss": 2.0 / (1 + s)}))
        panel.refresh()
        state["busy"] += time.perf_counter() - t0

    timer = QTimer()
    timer.timeout.connect(feed)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    timer.start(50)  # 20 updates per second
    qtbot.waitUntil(lambda: state["step"] >= 10 * updates, timeout=600_000)
    timer.stop()
    elapsed = time.perf_counter() - t_start
    cpu_ms = 1000 * (time.process_time() - cpu_start)
    per_update = f"handlers {1000 * state['busy'] / updates:.1f} ms, CPU incl. painting {cpu_ms / updates:.1f} ms"
    print(f"\nplots: {updates} updates in {elapsed:.2f} s ({updates / elapsed:.1f}/s); per update: {per_update}")
    x, _ = panel.train_curve.getData()
    assert len(x) == updates  # nothing dropped
    assert sorted(panel.epochs) == list(range(1, 10 * updates // 500 + 1)) and panel.share_data()[1]


def test_log_axis_labels_one_two_five_per_decade(qtbot):
    import math

    from isoscope.app.plots import LogAxis

    axis = LogAxis("left")
    values = [math.log10(v) for v in (0.01, 0.02, 0.03, 0.05, 0.07, 0.09, 0.1, 0.2)]
    labels = axis.logTickStrings(values, 1.0, 1.0)
    assert [bool(s) for s in labels] == [True, True, False, True, False, False, True, True]


def test_captured_step_phase_gets_its_own_bar(qtbot):
    """On CUDA the training step is one graph replay, reported as the phase "step"."""
    from isoscope.app.plots import PHASE_COLOURS, PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    seconds = {"sample": 0.2, "step": 1.5, "validation": 0.1}
    for epoch in (1, 2):
        panel.handle(ev.PhaseTimes("epoch", epoch, seconds, 1.9))
        panel.handle(ev.PhaseTimes("live", epoch, seconds, 1.9))
    panel.refresh()
    assert list(panel._epoch_bars) == ["sample", "step", "validation"]
    opts = panel._epoch_bars["step"].opts
    assert list(opts["height"]) == [1.5, 1.5] and list(opts["y0"]) == [0.2, 0.2]
    assert len(set(PHASE_COLOURS.values())) == len(PHASE_COLOURS)  # every phase its own colour
    assert panel.share_data()[1]["step"] > 80


def test_a_pause_breaks_the_throughput_curve(qtbot):
    from isoscope.app.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.handle(ev.Metrics(5, 1, {"train_loss": 0.5}))
    panel.refresh()
    assert panel.rate_plot.empty and not panel.loss_plot.empty  # an idle plot is its title alone, no axes
    for step in (10, 20):
        panel.handle(ev.Progress(step, 100, 1, 2, 1000.0, 5.0))
    panel.pause_gap()
    panel.pause_gap()  # one gap per pause, however often it is asked
    panel.handle(ev.Progress(30, 100, 1, 2, 1000.0, 5.0))
    panel.refresh()
    x, y = panel.rate_curve.getData()
    assert list(x) == [10, 20, 20, 30] and np.isnan(y[2]) and list(y[[0, 1, 3]]) == [1000.0] * 3
    assert not panel.rate_plot.empty
    # Finished: the curve's own last value (the loop's wall time) beside the summary's (the training steps)
    panel.handle(ev.Finished("done", {"train_samples_per_s": 1234.0}))
    panel.refresh()
    assert panel.rate_plot.full_title == "1k/s overall, 1.23k/s in steps"


def test_a_single_loss_reading_is_drawn(qtbot):
    """A one-epoch run shorter than log_every steps has one loss reading: a dot, not an empty plot."""
    from isoscope.app.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.handle(ev.Metrics(32, 1, {"train_loss": 0.25}))
    panel.refresh()
    x, y = panel.train_curve.getData()
    assert list(x) == [32] and len(y) == 1 and panel.train_curve.opts["symbol"] == "o"
    panel.handle(ev.Metrics(64, 2, {"train_loss": 0.125}))
    panel.refresh()
    assert panel.train_curve.opts["symbol"] is None  # a line from two readings on


def test_a_loss_at_or_below_zero_gets_a_linear_axis_and_validation_is_listed_only_with_readings(qtbot):
    from isoscope.app.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.handle(ev.Metrics(1, 1, {"train_loss": 0.5}))
    panel.refresh()
    assert panel.loss_log and panel.loss_legend.getLabel(panel.val_curve) is None
    panel.handle(ev.Metrics(2, 1, {"train_loss": -1.5, "val_loss": 0.25}))
    panel.refresh()
    assert not panel.loss_log and not panel.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert list(panel.train_curve.getData()[1]) == [0.5, -1.5]  # drawn as it is, not clamped to a floor
    assert panel.loss_legend.getLabel(panel.val_curve) is not None
    panel.reset()
    panel.refresh()
    assert panel.loss_log and panel.loss_legend.getLabel(panel.val_curve) is None


def test_titles_read_whole_at_a_laptops_size(qtbot):
    """At 1366x768 the plots get about 372x540 pixels: every title, the longest live ones included, reads
    whole; a title longer than its plot is elided, with the whole of it as the tooltip."""
    from isoscope.app.plots import PlotsPanel

    panel = PlotsPanel()
    qtbot.addWidget(panel)
    panel.resize(372, 540)
    panel.show()
    qtbot.waitExposed(panel)
    panel.handle(ev.Progress(100, 10_000, 1, 20, 123_456.0, 3599.0))  # "123k samples/s, ETA 59:59"
    panel.handle(ev.PhaseTimes("epoch", 1, {"forward": 1.0, "backward": 2.0}, 3.0))
    panel.handle(ev.PhaseTimes("total", 1, {"forward": 1.0, "backward": 2.0}, 3.0))
    panel.add_resource_sample(1.0, 100.0, 50.0, "CPU 100%, RSS 10.00 GiB")
    panel.refresh()
    plots = (panel.loss_plot, panel.epoch_plot, panel.share_plot, panel.rate_plot, panel.res_plot)
    titles = [p.full_title for p in plots]
    assert titles[1:] == ["Epoch time by phase", "Phase share (run)", "123k samples/s, ETA 59:59",
                          "CPU 100%, RSS 10.00 GiB"]  # fmt: skip
    for plot in plots:
        assert plot.getPlotItem().titleLabel.text == plot.full_title and plot.toolTip() == ""
    long = "CPU 100%, RSS 10.00 GiB of a machine with a very long title"
    panel.res_plot.show_title(long)
    shown = panel.res_plot.getPlotItem().titleLabel.text
    assert shown.endswith("…") and long.startswith(shown[:-1]) and panel.res_plot.toolTip() == long
