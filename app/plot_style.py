"""The look of the window's plots: phase colours and order, the dark plot with its title that fits, number
formats for narrow titles. Used by :mod:`isoscope.app.plots` and the other panels that plot.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics

from isoscope.core.phases import PHASE_ORDER

PHASES = PHASE_ORDER  # report order
PHASE_COLOURS = {
    "load": "#8c8c8c", "sample": "#e6a23c", "cache": "#b07aa1", "batch": "#76b7b2",
    "step": "#86bcb6", "forward": "#4e79a7", "backward": "#f28e2b", "optimizer": "#59a14f",
    "validation": "#edc948", "reconstruct": "#e15759", "metrics": "#9c755f", "render": "#ff9da7",
    "write": "#bab0ac", "groundtruth": "#d37295", "init": "#a0cbe8", "project": "#8cd17d",
    "composite": "#2f6fb0", "densify": "#ffbe7d", "evaluate": "#b6992d", "data": "#17becf", "other": "#5c6370",
}  # fmt: skip
_PALETTE = tuple(PHASE_COLOURS.values())  # other phases get one of these
OVERLAY_COLOURS = ("#c678dd", "#56b6c2", "#98c379", "#e5c07b")
TITLE_PT = 9  # the plots' titles: a laptop's narrow plots show them whole
LIVE_WINDOW = 20  # live PhaseTimes records (about 10 s at 2 per second) in the rolling share


def phase_colour(name: str) -> str:
    if name in PHASE_COLOURS:
        return PHASE_COLOURS[name]
    return _PALETTE[hash(name) % len(_PALETTE)]


def ordered(names: Any) -> list[str]:
    names = set(names)
    return [p for p in PHASES if p in names] + sorted(names - set(PHASES))


class LogAxis(pg.AxisItem):
    """A log-scale axis that labels 1, 2 and 5 times each power of ten only: pyqtgraph labels every minor
    tick it has room for in total, and in a short plot 0.06, 0.07, 0.08 and 0.09 run into each other."""

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        strings = super().logTickStrings(values, scale, spacing)
        mantissa = [round(10 ** (float(v) % 1.0), 3) for v in values]
        return [s if m in (1.0, 2.0, 5.0, 10.0) else "" for s, m in zip(strings, mantissa, strict=True)]


def rate_unit(job: str) -> str:
    """What a job's throughput counts: training points for an SDF fit, rendered views for Gaussians, steps
    for a script's run."""
    return {"splat": "views", "script": "steps"}.get(job, "samples")


class TitledPlot(pg.PlotWidget):
    """A dark plot whose title is elided to its width (and re-elided when it is resized), and which hides its
    axes while it has nothing to show (``set_empty``), so an idle plot is not an empty 0-1 frame."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(background="#1e2127", **kwargs)
        self.full_title = ""
        self.empty = False
        item = self.getPlotItem()
        item.layout.removeItem(item.titleLabel)  # the title spans the axes' columns too, not the data's alone
        item.layout.addItem(item.titleLabel, 0, 0, 1, 3)
        item.layout.setContentsMargins(1, 1, 8, 1)  # room for the last tick label of the bottom axis

    def show_title(self, text: str) -> None:
        self.full_title = text
        self._fit_title()

    def _fit_title(self) -> None:
        font = QFont()
        font.setPointSize(TITLE_PT)
        room = max(self.width() - 16, 40)  # the plot's whole width
        text = QFontMetrics(font).elidedText(self.full_title, Qt.TextElideMode.ElideRight, room)
        self.setTitle(text, color="#d7dae0", size=f"{TITLE_PT}pt")
        self.setToolTip(self.full_title if text != self.full_title else "")

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self.__dict__.get("full_title"):  # (none yet while the base class builds itself)
            self._fit_title()

    def set_empty(self, empty: bool) -> None:
        """Hide the axes (and their labels) while there is no data; show them with the first data."""
        if empty != self.empty:
            self.empty = empty
            for name in ("left", "bottom"):
                self.getPlotItem().showAxis(name, not empty)
            if self.getPlotItem().legend is not None:  # no names of curves not drawn yet
                self.getPlotItem().legend.setVisible(not empty)
            self._fit_title()


class SideLegend(pg.LegendItem):
    """A legend whose rows keep together at the top of its cell, each name level with its line (pyqtgraph's
    rows spread over the cell's height, the names at their tops)."""

    def updateSize(self) -> None:  # noqa: N802 - pyqtgraph API
        super().updateSize()
        height = 0.0
        for sample, label in self.items:
            self.layout.setAlignment(label, Qt.AlignmentFlag.AlignVCenter)
            height += max(label.preferredHeight(), sample.boundingRect().height()) + self.layout.verticalSpacing()
        self.setMaximumHeight(max(height, 1.0))


def side_legend(plot: pg.PlotWidget) -> pg.LegendItem:
    """A legend beside the plot's data (right of it, in the plot's layout), never over a curve; curves
    plotted with a name join it."""
    item = plot.getPlotItem()
    legend = SideLegend(labelTextColor="#d7dae0", verSpacing=-4)
    legend.setLabelTextSize("8pt")
    item.layout.addItem(legend, 2, 3)
    item.layout.setAlignment(legend, Qt.AlignmentFlag.AlignTop)
    item.legend = legend
    return legend


def coloured(*pairs: tuple[str, str]) -> str:
    """Rich text naming curves in their colours, for an axis label (instead of a legend over the data)."""
    return " / ".join(f'<span style="color:{c}">{t}</span>' for t, c in pairs)


def _plot(title: str, left: str, bottom: str, log_y: bool = False) -> TitledPlot:
    axes = {"left": LogAxis("left")} if log_y else None
    w = TitledPlot(axisItems=axes)
    w.show_title(title)
    font = QFont()
    font.setPointSize(8)
    for name, label in (("left", left), ("bottom", bottom)):
        axis = w.getPlotItem().getAxis(name)
        axis.setLabel(label, color="#abb2bf")
        axis.setTickFont(font)
        axis.setTextPen("#abb2bf")
        axis.setPen("#5c6370")
        axis.enableAutoSIPrefix(False)
    w.setMinimumSize(150, 100)
    return w


def percent(records: Any) -> dict[str, float]:
    """Each phase's share in percent of the seconds of all ``records`` ({phase: seconds} each), in order."""
    seconds: dict[str, float] = {}
    for rec in records:
        for k, v in rec.items():
            seconds[k] = seconds.get(k, 0.0) + float(v or 0.0)
    total = sum(seconds.values())
    return {k: 100.0 * seconds[k] / total for k in ordered(seconds) if seconds[k] > 0} if total > 0 else {}


def compact(n: float) -> str:
    """A rate short enough for a narrow plot title: 950, 12.3k, 111k, 6.02M."""
    if n >= 1e6:
        return f"{n / 1e6:.3g}M"
    if n >= 1e3:
        return f"{n / 1e3:.3g}k"
    return f"{n:.0f}"


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
