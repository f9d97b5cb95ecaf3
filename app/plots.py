"""Live training plots (pyqtgraph): loss, per-epoch phase timings, live phase share, throughput, resources.

Handlers only append to plain lists and mark the panel dirty; a 50 ms timer pushes the data into curves
created once (``setData``), so the plots keep up with any event rate. Live events and the records of a
past run's metrics.jsonl go through the same :meth:`PlotsPanel.handle`.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QWidget

from isoscope.app.plot_style import (  # noqa: F401 - PHASE_COLOURS, LogAxis: the plots' names, re-exported
    LIVE_WINDOW,
    OVERLAY_COLOURS,
    PHASE_COLOURS,
    LogAxis,
    _plot,
    coloured,
    compact,
    format_eta,
    ordered,
    percent,
    phase_colour,
    rate_unit,
    side_legend,
)
from isoscope.core import events as ev
from isoscope.core.resources import describe


class PlotsPanel(QWidget):
    """The grid of live plots; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(4)
        self.loss_plot = _plot("Loss", "loss (log)", "step", log_y=True)
        self.loss_plot.setLogMode(y=True)
        self.loss_legend = side_legend(self.loss_plot)
        self.train_curve = self.loss_plot.plot(name="train", pen=pg.mkPen("#61afef", width=2))
        self.val_curve = self.loss_plot.plot(name="validation", pen=pg.mkPen("#e5a845", width=2), symbol="o",
                                             symbolSize=6, symbolBrush="#e5a845", symbolPen=None)  # fmt: skip
        for c in (self.train_curve, self.val_curve):
            c.setDownsampling(auto=True, method="peak")
            c.setClipToView(True)
        self.epoch_plot = _plot("Epoch time by phase", "seconds", "epoch")
        self.epoch_plot.getPlotItem().getAxis("bottom").setStyle(hideOverlappingLabels=10)  # the last epoch's too
        self.epoch_plot.setToolTip("The phases' colours are those of the Phase share plot beside, which names them")
        self.share_plot = _plot("Phase share (live)", "", "% of wall time")
        self.share_plot.getPlotItem().invertY(True)
        self.rate_plot = _plot("Throughput", "samples/s", "step")
        self.rate_curve = self.rate_plot.plot(pen=pg.mkPen("#98c379", width=2))
        self.res_plot = _plot("Resources", "%", "time (s)")
        self.res_plot.getPlotItem().getAxis("left").setTicks([[(v, str(v)) for v in (0, 25, 50, 75, 100)]])
        res_label = coloured(("util", "#61afef"), ("memory", "#e06c75")) + " %"  # names in colour, no legend
        self.res_plot.getPlotItem().getAxis("left").setLabel(res_label)
        self.util_curve = self.res_plot.plot(name="util", pen=pg.mkPen("#61afef", width=2))
        self.mem_curve = self.res_plot.plot(name="memory", pen=pg.mkPen("#e06c75", width=2))
        grid.addWidget(self.loss_plot, 0, 0, 1, 2)
        grid.addWidget(self.epoch_plot, 1, 0)
        grid.addWidget(self.share_plot, 1, 1)
        grid.addWidget(self.rate_plot, 2, 0)
        grid.addWidget(self.res_plot, 2, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self._epoch_bars: dict[str, Any] = {}
        self._share_rows: list[tuple[Any, list[Any], float]] = []  # (bar, a label per phase, offset) per run
        self._share_names: list[str] = []
        self.overlay_shares: list[tuple[str, str, dict[str, float]]] = []  # (label, colour, % per phase)
        self._titles: dict[int, str] = {}  # the title each plot shows: a title change re-lays the plot out
        self._overlays: list[Any] = []
        self._rate_title_t = 0.0
        self.reset()

    # ------------------------------------------------------------------ data
    def reset(self) -> None:
        """Forget the current run (overlays of other runs stay until clear_overlays)."""
        self.train: tuple[list[float], list[float]] = ([], [])
        self.val: tuple[list[float], list[float]] = ([], [])
        self.rate: tuple[list[float], list[float]] = ([], [])
        self.epochs: dict[int, dict[str, float]] = {}
        self.live: collections.deque[dict[str, float]] = collections.deque(maxlen=LIVE_WINDOW)
        self.total: dict[str, float] | None = None
        self.resources: tuple[list[float], list[float], list[float]] = ([], [], [])
        self.res_title = "Resources"
        self.eta_s: float | None = None
        self.final_rate: float | None = None
        self.unit = "samples"  # what throughput counts: training points (SDF) or rendered views (Gaussians)
        self.loss_log = True  # the loss axis is logarithmic unless a loss reaches 0 or below
        self._dirty = {"train", "val", "epoch", "share", "rate", "res", "axis"}
        for plot in (self.loss_plot, self.epoch_plot, self.share_plot, self.rate_plot, self.res_plot):
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # nothing of the last run's axes
            plot.enableAutoRange()  # the axes fit the next run's data
        self.res_plot.setYRange(0, 105, padding=0)  # percentages
        self.share_plot.setXRange(0, 100)
        self.updates = 0
        self._set_title(self.rate_plot, "Throughput")
        self._set_title(self.res_plot, "Resources")
        self._show_empty()

    def handle(self, event: Any) -> None:
        """Take one event (live or replayed); unknown kinds are ignored."""
        if isinstance(event, ev.Metrics):
            self.on_metrics(event)
        elif isinstance(event, ev.PhaseTimes):
            self.on_phase_times(event)
        elif isinstance(event, ev.Progress):
            self.on_progress(event)
        elif isinstance(event, ev.Resources):
            self.add_resource_sample(event.time_s, *describe(event))
        elif isinstance(event, ev.Finished):
            self.final_rate = event.summary.get("train_samples_per_s")
            self._dirty.add("rate")
        elif isinstance(event, ev.Started):
            self.unit = rate_unit(event.job)
            self.rate_plot.getPlotItem().getAxis("left").setLabel(f"{self.unit}/s", color="#abb2bf")

    def on_metrics(self, m: ev.Metrics) -> None:
        v = m.values
        for key, series, name in (("train_loss", self.train, "train"), ("val_loss", self.val, "val")):
            if v.get(key) is not None:
                series[0].append(m.step)
                series[1].append(float(v[key]))
                self._dirty.add(name)
                if series[1][-1] <= 0 and self.loss_log:  # a loss that reaches 0 or below: a linear axis
                    self.loss_log = False
                    self._dirty |= {"train", "val", "axis"}

    def on_phase_times(self, p: ev.PhaseTimes) -> None:
        seconds = {k: float(s) for k, s in p.seconds.items() if s is not None}
        if p.scope == "epoch":
            self.epochs[p.epoch] = seconds
            self._dirty.add("epoch")
        elif p.scope == "live":
            self.live.append(seconds)
            self._dirty.add("share")
        elif p.scope == "total":
            self.total = seconds
            self._dirty.add("share")

    def pause_gap(self) -> None:
        """The job paused: the throughput curve breaks here (a pause is no training, and is not counted)."""
        if self.rate[0] and np.isfinite(self.rate[1][-1]):
            self.rate[0].append(self.rate[0][-1])
            self.rate[1].append(float("nan"))
            self._dirty.add("rate")

    def on_progress(self, p: ev.Progress) -> None:
        if p.stage == "train" and p.samples_per_s == p.samples_per_s:
            self.rate[0].append(p.step)
            self.rate[1].append(float(p.samples_per_s))
            self.eta_s = p.eta_s
            self._dirty.add("rate")

    def add_resource_sample(self, t: float, util: float, mem: float, title: str) -> None:
        self.resources[0].append(t)
        self.resources[1].append(util)
        self.resources[2].append(mem)
        self.res_title = title
        self._dirty.add("res")

    def add_overlay(self, label: str, events: list[Any]) -> None:
        """Compare another run: its train and validation loss as dashed curves, its phase share as bars
        beside the shown run's (the whole run's share, from its total or its epochs)."""
        colour = OVERLAY_COLOURS[len(self.overlay_shares) % len(OVERLAY_COLOURS)]
        totals = [e for e in events if isinstance(e, ev.PhaseTimes) and e.scope == "total"]
        records = totals[-1:] or [e for e in events if isinstance(e, ev.PhaseTimes) and e.scope == "epoch"]
        self.overlay_shares.append((label, colour, percent([e.seconds for e in records])))
        self._dirty.add("share")
        train = [(e.step, e.values["train_loss"]) for e in events
                 if isinstance(e, ev.Metrics) and e.values.get("train_loss") is not None]  # fmt: skip
        val = [(e.step, e.values["val_loss"]) for e in events
               if isinstance(e, ev.Metrics) and e.values.get("val_loss") is not None]  # fmt: skip
        for rows, name, style in ((train, "train", pg.QtCore.Qt.PenStyle.DashLine),
                                  (val, "val", pg.QtCore.Qt.PenStyle.DotLine)):  # fmt: skip
            if rows:
                x, y = np.asarray(rows, dtype=float).T
                curve = self.loss_plot.plot(x, np.maximum(y, 1e-12), name=f"{label} {name}",
                                            pen=pg.mkPen(colour, width=1.5, style=style))  # fmt: skip
                self._overlays.append(curve)

    def clear_overlays(self) -> None:
        for curve in self._overlays:
            self.loss_plot.removeItem(curve)
        self._overlays.clear()
        self.overlay_shares.clear()
        self._dirty.add("share")

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """Push pending data into the plots: the window's frame clock calls it after each poll of the worker
        (``isoscope.app.pacing``); call it directly after a replay."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        self._draw_loss(dirty)
        if "epoch" in dirty:
            self._draw_epochs()
        if "share" in dirty:
            self._draw_share()
        if "rate" in dirty:
            self.rate_curve.setData(np.asarray(self.rate[0], float), np.asarray(self.rate[1], float), connect="finite")
            if self.final_rate:
                self._set_title(self.rate_plot, self._final_rate_title())
            elif self.rate[1] and np.isfinite(self.rate[1][-1]) and time.monotonic() - self._rate_title_t > 0.5:
                # titles re-layout: 2 per second
                self._rate_title_t = time.monotonic()
                eta = f", ETA {format_eta(self.eta_s)}" if self.eta_s is not None else ""
                self._set_title(self.rate_plot, f"{compact(self.rate[1][-1])} {self.unit}/s{eta}")
        if "res" in dirty:
            t, u, m = (np.asarray(a, float) for a in self.resources)
            self.util_curve.setData(t, u)
            self.mem_curve.setData(t, m)
            self._set_title(self.res_plot, self.res_title)
        self._show_empty()
        self.updates += 1

    def _final_rate_title(self) -> str:
        """A finished run's throughput: the curve's last value (over the training loop's active wall time,
        validation included) and the summary's (over the training steps alone), when they differ."""
        final = compact(self.final_rate)
        last = next((compact(v) for v in reversed(self.rate[1]) if np.isfinite(v)), None)
        if last is None:  # a run that recorded no progress
            return f"{final} {self.unit}/s in training steps"
        if last == final:
            return f"{final} {self.unit}/s overall"
        return f"{last}/s overall, {final}/s in steps"  # the unit is the axis's: the title fits a narrow plot

    def _show_empty(self) -> None:
        """Axes only on the plots that have something to show (an idle plot is its title alone)."""
        self.loss_plot.set_empty(not (self.train[0] or self.val[0] or self._overlays))
        self.epoch_plot.set_empty(not self.epochs)
        self.share_plot.set_empty(not (self.share_data()[1] or self.overlay_shares))
        self.rate_plot.set_empty(not self.rate[0])
        self.res_plot.set_empty(not self.resources[0])

    def _draw_loss(self, dirty: set[str]) -> None:
        """The loss axis (log, or linear once a loss reaches 0 or below), the curves and their legend."""
        if "axis" in dirty:
            self.loss_plot.setLogMode(y=self.loss_log)
            self.loss_plot.getPlotItem().getAxis("left").setLabel("loss (log)" if self.loss_log else "loss",
                                                                  color="#abb2bf")  # fmt: skip
        if "train" in dirty:
            self.train_curve.setData(
                np.asarray(self.train[0], float),
                np.asarray(self.train[1], float),
                symbol="o" if len(self.train[0]) == 1 else None,
            )  # one reading: a dot
        if "val" in dirty:
            self.val_curve.setData(np.asarray(self.val[0], float), np.asarray(self.val[1], float))
            listed = self.loss_legend.getLabel(self.val_curve) is not None
            if self.val[0] and not listed:  # "validation" is in the legend only when the run has it
                self.loss_legend.addItem(self.val_curve, "validation")
            elif not self.val[0] and listed:
                self.loss_legend.removeItem(self.val_curve)

    def _draw_epochs(self) -> None:
        """Stacked bars per phase; the bar items are rebuilt only when the phases change."""
        epochs = sorted(self.epochs)
        names = ordered(n for s in self.epochs.values() for n, v in s.items() if v > 0)
        if names != list(self._epoch_bars):
            for item in self._epoch_bars.values():
                self.epoch_plot.removeItem(item)
            self._epoch_bars.clear()
            for name in names:
                bar = pg.BarGraphItem(x=[], height=[], width=0.7, brush=phase_colour(name), pen=None)
                self.epoch_plot.addItem(bar)
                self._epoch_bars[name] = bar
        if not epochs:
            return
        base = np.zeros(len(epochs))
        for name, bar in self._epoch_bars.items():
            h = np.array([self.epochs[e].get(name, 0.0) for e in epochs])
            bar.setOpts(x=epochs, y0=base, height=h, width=0.7)
            base = base + h
        self.epoch_plot.setXRange(min(epochs) - 0.6, max(epochs) + 0.6, padding=0)
        self.epoch_plot.setYRange(0, float(base.max()) * 1.05 or 1.0, padding=0)
        step = max(1, -(-len(epochs) // 7))  # at most 7 labels: wider numbers would run together
        ticks = [(float(e), str(e)) for e in epochs[::step]]
        self.epoch_plot.getPlotItem().getAxis("bottom").setTicks([ticks])

    def share_data(self) -> tuple[str, dict[str, float]]:
        """(scope, {phase: percent}) as drawn: the whole run once it ended, else the rolling window."""
        if self.total:
            return "run", percent([self.total])
        return "live", percent(self.live)

    def _draw_share(self) -> None:
        """One bar per phase with its percentage, and beside it one per compared run (in that run's colour);
        items are reused while the phases and the runs compared stay the same."""
        scope, share = self.share_data()
        rows = [(None, share)] + [(colour, s) for _, colour, s in self.overlay_shares]
        self._set_title(self.share_plot, f"Phase share ({scope}{', compared' if len(rows) > 1 else ''})")
        names = ordered({n for _, r in rows for n in r})
        if (names, len(rows)) != (self._share_names, len(self._share_rows)):
            self._build_share(names, rows)
        for (bar, texts, offset), (_, row) in zip(self._share_rows, rows, strict=True):
            widths = np.array([row.get(n, 0.0) for n in names])
            bar.setOpts(width=widths)
            for y, (item, w) in enumerate(zip(texts, widths, strict=True)):
                label = f"{w:.1f}%" if w > 0 else ""
                if label != item.toPlainText():  # a label's text is laid out anew on each change
                    item.setText(label)
                    inside = w > 70.0  # only a bar too long for its label beside holds it at its end
                    item.setAnchor((1, 0.5) if inside else (0, 0.5))
                    item.setPos(w - 1.0 if inside else w + 1.0, y + offset)

    def _build_share(self, names: list[str], rows: list[tuple[str | None, dict[str, float]]]) -> None:
        for bar, texts, _ in self._share_rows:
            for item in (bar, *texts):
                self.share_plot.removeItem(item)
        self._share_rows.clear()
        self._share_names = names
        ys = np.arange(len(names))
        height = 0.7 / len(rows)
        for i, (colour, _) in enumerate(rows):
            offset = (i - (len(rows) - 1) / 2) * height
            brushes = [colour or phase_colour(n) for n in names]
            bar = pg.BarGraphItem(x0=0, y=ys + offset, height=height * 0.9, width=np.zeros(len(names)),
                                  brushes=brushes, pen=None)  # fmt: skip
            self.share_plot.addItem(bar)
            texts = [pg.TextItem("", color=QColor("#d7dae0"), anchor=(0, 0.5)) for _ in names]
            for text in texts:
                self.share_plot.addItem(text)
            self._share_rows.append((bar, texts, offset))
        self.share_plot.getPlotItem().getAxis("left").setTicks(
            [[(float(y), n) for y, n in zip(ys, names, strict=True)]]
        )
        self.share_plot.setYRange(-0.6, max(len(names), 1) - 0.4, padding=0)

    def _set_title(self, plot: pg.PlotWidget, title: str) -> None:
        if self._titles.get(id(plot)) != title:
            self._titles[id(plot)] = title
            plot.show_title(title)
