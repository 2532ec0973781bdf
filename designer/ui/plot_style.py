"""How the plots of the Training, Runs and Evaluation views look: palette colours, axes that
label what they count, legends, and the theme's colours again after a switch."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

# Colours that read on light and dark backgrounds (Tableau 10).
BLUE, ORANGE, GREEN, RED, PURPLE = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"
SERIES_COLORS = [BLUE, ORANGE, GREEN, RED, PURPLE, "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf"]


class LossAxis(pg.AxisItem):
    """A value axis whose log mode labels only 1, 2 and 5 of each decade (they collide else)."""

    def logTickStrings(self, values, scale, spacing):
        strings = super().logTickStrings(values, scale, spacing)
        mantissas = [f"{10 ** v * scale:.0e}"[0] for v in np.asarray(values, float)]
        return [s if m in "125" else "" for s, m in zip(strings, mantissas)]


class EpochAxis(pg.AxisItem):
    """A count axis (epochs): ticks only at whole numbers, never "2.5"."""

    def tickSpacing(self, minVal, maxVal, size):
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)
                  if spacing >= 1 and float(spacing).is_integer()]
        return levels or [(1.0, 0.0)]


def style_plot_widget(widget: pg.GraphicsView, reference: QWidget) -> None:
    """Give a pyqtgraph widget the colours of the application's palette (light or dark)."""
    widget.setBackground(reference.palette().color(QPalette.ColorRole.Base))


def style_plot(plot: pg.PlotItem, reference: QWidget, title: str = "", x: str = "",
               y: str = "") -> None:
    plot.setTitle(title)
    for name, label in (("bottom", x), ("left", y)):
        axis = plot.getAxis(name)
        axis.enableAutoSIPrefix(False)  # "-200 (x0.001)" puzzles more than it helps
        # Major ticks and grid lines only: minor grid lines double the cost of every repaint.
        axis.setStyle(maxTickLevel=0)
        if label:
            axis.setLabel(label)
    plot.showGrid(x=True, y=True, alpha=0.15)
    recolor_plot(plot, reference)


def recolor_plot(plot: pg.PlotItem, reference: QWidget) -> None:
    """Title, axes and legend in the palette's text colour (again after a theme change)."""
    text = reference.palette().color(QPalette.ColorRole.Text)
    plot.setTitle(plot.titleLabel.text or None, color=text, size="10pt")
    for name in ("bottom", "left"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        if axis.labelText:
            axis.setLabel(axis.labelText, color=text.name())
    if plot.legend is not None:
        plot.legend.setLabelTextColor(text)  # for entries added from now on
        for _sample, label in plot.legend.items:
            label.setText(label.text, color=text)
        plot.legend.setBrush(pg.mkBrush(QColor(reference.palette().color(
            QPalette.ColorRole.Base))))


class _LegendBelow(pg.LegendItem):
    """A legend in a strip of its own below the plot, as high as its entries: it never covers
    or clips a curve, however the curves run."""

    def __init__(self, strip: pg.GraphicsWidget, **options):
        self.strip = None
        super().__init__(**options)
        self.strip = strip
        self.setParentItem(strip)
        self.updateSize()

    def updateSize(self):
        super().updateSize()
        if self.strip is not None:
            height = self.height() if self.items else 0
            self.strip.setMinimumHeight(height)
            self.strip.setMaximumHeight(height)


def add_legend(plot: pg.PlotItem, reference: QWidget, columns: int = 4) -> pg.LegendItem:
    """A legend for the named curves of ``plot``, below its x axis, ``columns`` entries a row."""
    strip = pg.GraphicsWidget()
    plot.layout.addItem(strip, 4, 1)
    legend = _LegendBelow(strip, labelTextSize="8pt", colCount=columns, frame=False)
    plot.legend = legend  # plot(name=...) adds to it
    recolor_plot(plot, reference)
    return legend
