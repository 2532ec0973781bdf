"""The compressed models of a project's runs, beside the runs they came from.

Each run that was compressed (Runs → Compress…, or ``python -m designer compress``) keeps a
report per result in its ``compressed/`` folder: the model before and after, measured alike
(ONNX file size, ONNX Runtime latency at batch 1 and 32 on the CPU, validation accuracy or
error). The table lists each origin with its results under it; the scatter plot shows error
against size, a line from each origin to what was made of it, so the trade-off reads at a
glance.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from designer.core.compress.result import Compressed, Figures
from designer.core.files import size_text
from designer.core.runs import RunInfo, compressions
from designer.ui.plot_style import (BLUE, GREEN, ORANGE, PURPLE, add_legend, recolor_plot,
                                    style_plot, style_plot_widget)

COLUMNS = ("Model", "Method", "File size", "Latency (batch 1)", "Latency (batch 32)",
           "Validation", "Mult-adds", "Where")
METHOD_STYLE = {  # method -> (colour, symbol, legend name)
    "": (BLUE, "o", "original"),
    "quantize": (ORANGE, "s", "int8 quantized"),
    "prune": (GREEN, "t", "pruned"),
    "distill": (PURPLE, "d", "distilled"),
}


class CompressionPanel(QWidget):
    """``show_runs(runs)`` lists the compressions of those runs; ``rows`` holds what is shown,
    as (origin run name, Compressed or None for the origin's own row)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[tuple[str, Compressed, bool]] = []  # (run name, report, origin row)
        self.points: dict[str, list[tuple[float, float]]] = {}  # legend name -> (KiB, error %)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.empty_label = QLabel("No compressed models yet: select a trained run and press "
                                  "Compress… to quantize, prune or distill it.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.plot_widget = pg.PlotWidget()
        style_plot_widget(self.plot_widget, self)
        self.plot = self.plot_widget.getPlotItem()
        style_plot(self.plot, self, "Error against size", "model file (KiB)",
                   "validation error")
        self.legend = add_legend(self.plot, self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        box = QVBoxLayout(left)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table, 1)
        box.addWidget(self.empty_label, 1)
        splitter.addWidget(left)
        splitter.addWidget(self.plot_widget)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])  # the table's eight columns first; the plot reads small
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.show_runs([])

    def show_runs(self, runs: list[RunInfo]) -> None:
        """The compressions of ``runs`` (newest run first), each origin followed by its
        results."""
        self.rows = []
        for run in runs:
            reports = []
            for data in compressions(run.path):
                try:
                    reports.append(Compressed.from_json(data))
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue  # a damaged report: the run itself is unaffected
            if reports:
                self.rows.append((run.name, reports[-1], True))
                self.rows += [(run.name, report, False) for report in reports]
        self._fill()
        self._draw()

    def _fill(self) -> None:
        self.table.setRowCount(len(self.rows))
        for row, (name, report, origin) in enumerate(self.rows):
            figures = report.before if origin else report.after
            method = "" if origin else report.method
            where = report.origin if origin else report.output
            made = Path(report.project or report.output).stem  # the file a user finds
            cells = [name if origin else f"   ↳ {made}",
                     "trained" if origin else METHOD_STYLE[method][2], size_text(figures.size),
                     _ms(figures.latency_ms.get("1")), _ms(figures.latency_ms.get("32")),
                     _quality(figures), f"{figures.macs:,}" if figures.macs else "–",
                     Path(where).name]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(where if column == len(cells) - 1 else
                                "\n".join(report.notes) if not origin else report.origin)
                if origin:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.table.setVisible(bool(self.rows))
        self.empty_label.setVisible(not self.rows)

    def _draw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.points = {}
        classification = all(r.after.accuracy is not None for _, r, _ in self.rows)
        scale = 100.0 if classification else 1.0
        self.plot.getAxis("left").setLabel("validation error (%)" if classification
                                           else "validation error")
        for _, report, origin in self.rows:
            if origin:
                continue
            start, end = _point(report.before, scale), _point(report.after, scale)
            if start and end:  # the trade-off: from the origin to what was made of it
                self.plot.plot([start[0], end[0]], [start[1], end[1]],
                               pen=pg.mkPen(METHOD_STYLE[report.method][0], width=1,
                                            style=Qt.PenStyle.DashLine))
        for _, report, origin in self.rows:
            method = "" if origin else report.method
            point = _point(report.before if origin else report.after, scale)
            if point is not None:
                self.points.setdefault(METHOD_STYLE[method][2], []).append(point)
        for method, (colour, symbol, name) in METHOD_STYLE.items():
            points = self.points.get(name)
            if points:
                self.plot.plot([p[0] for p in points], [p[1] for p in points], pen=None,
                               symbol=symbol, symbolSize=10, symbolBrush=colour,
                               symbolPen=None, name=name)
        recolor_plot(self.plot, self)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "plot"):
            style_plot_widget(self.plot_widget, self)
            recolor_plot(self.plot, self)


def _point(figures: Figures, scale: float) -> tuple[float, float] | None:
    if not figures.size or figures.error is None or not math.isfinite(figures.error):
        return None
    return figures.size / 1024, figures.error * scale


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g} ms"


def _quality(figures: Figures) -> str:
    if figures.accuracy is not None:
        return f"{figures.accuracy:.2%} accuracy"
    return f"{figures.error:.4g} error"
