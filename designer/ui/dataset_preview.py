"""A dataset at a glance in the Dataset workspace: its samples (image cells as thumbnails), each
variable's shape, kind and value range, the count per class as a bar chart, and a check of
every file with a progress bar and Cancel.

Opening a file, reading its variables and checking its files all run on worker threads; a file
that cannot be read shows the reader's message (file, line, column) in place of the preview.
"""
from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QSplitter, QTableView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from nodes import shape_text

from designer.core.data import EMBEDDED_PREFIX, embedded
from designer.core.preview import CsvPreview, VariableInfo
from designer.ui.dataset_rows import DatasetRowsModel, EmbeddedRows, class_columns
from designer.ui.plot_style import BLUE, style_plot, style_plot_widget
from designer.ui.samples_table import THUMBNAIL
from designer.ui.worker import Task

KINDS = {"numbers": "numbers", "image": "image", "array": "array (CSV file per sample)"}


def open_rows(source: str, folder: Path, normalize: bool):
    """The rows of ``embedded:NAME`` or a dataset CSV file (DataError when unreadable)."""
    if source.startswith(EMBEDDED_PREFIX):
        return EmbeddedRows(embedded(source[len(EMBEDDED_PREFIX):]))
    path = Path(source)
    return CsvPreview(path if path.is_absolute() else folder / path, normalize)


def read_variables(rows, decode_all: bool = False, progress=None, cancelled=None):
    if isinstance(rows, EmbeddedRows):
        from designer.core.preview import dataset_variables

        return dataset_variables(rows.data.source)
    return rows.variables(decode_all=decode_all, progress=progress, cancelled=cancelled)


class DatasetPreview(QWidget):
    """``show_dataset(source, folder, normalize)`` previews a dataset; ``clear(text)``."""

    variables_shown = Signal()  # the variables (or the reader's message) are on screen

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.key: tuple | None = None
        self.rows = None
        self.variables: dict[str, VariableInfo] = {}
        self.error: str | None = None
        self._open_task = Task(None, self)
        self._open_task.done.connect(self._opened)
        self._open_task.failed.connect(self._failed)
        self._variables_task = Task(None, self)
        self._variables_task.done.connect(self._show_variables)
        self._variables_task.failed.connect(self._failed)
        self._check_task = Task(None, self)
        self._check_task.progress.connect(self._checking)
        self._check_task.done.connect(self._checked)
        self._check_task.failed.connect(self._failed)
        self._check_task.cancelled.connect(lambda: self._end_check("Check cancelled."))
        self._build()
        self.clear("")

    def _build(self) -> None:
        self.message = QLabel(wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.hide()
        self.check_button = QPushButton("Check Every File")
        self.check_button.setToolTip("Read every image or data file of the dataset: finds "
                                     "unreadable files and files of another size (the preview "
                                     "reads only those shown)")
        self.check_button.clicked.connect(self._check_or_cancel)
        status = QHBoxLayout()
        status.addWidget(self.message, 1)
        status.addWidget(self.progress)
        status.addWidget(self.check_button)

        self.variables_table = QTableWidget(0, 5)
        self.variables_table.setHorizontalHeaderLabels(
            ["Variable", "Kind", "Shape", "Values", "Notes"])
        self.variables_table.verticalHeader().hide()
        self.variables_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.variables_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.variables_table.setWordWrap(True)
        self.chart = pg.PlotWidget()
        style_plot_widget(self.chart, self)
        self.chart_plot = self.chart.getPlotItem()
        style_plot(self.chart_plot, self, "Samples per class", "", "samples")
        self.chart_plot.setMouseEnabled(x=False, y=False)
        self.chart_plot.hideButtons()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.variables_table)
        left.addWidget(self.chart)
        left.setSizes([140, 400])

        self.model = DatasetRowsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setDefaultSectionSize(110)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.count_label = QLabel()
        self.count_label.setProperty("role", "muted")
        samples = QWidget()
        samples_layout = QVBoxLayout(samples)
        samples_layout.setContentsMargins(0, 0, 0, 0)
        samples_layout.addWidget(self.count_label)
        samples_layout.addWidget(self.table, 1)

        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(left)
        self.body.addWidget(samples)
        self.body.setStretchFactor(0, 2)
        self.body.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(status)
        layout.addWidget(self.body, 1)

    # ---- what is shown ---------------------------------------------------------------------

    def clear(self, text: str) -> None:
        self.key = None
        self.rows = None
        self.variables = {}
        self.error = None
        self._open_task.abandon()
        self._variables_task.abandon()
        self._check_task.abandon()
        self._end_check(text)
        self.model.set_source(None)
        self.variables_table.setRowCount(0)
        self.chart_plot.clear()
        self.count_label.setText("")
        self.check_button.setEnabled(False)

    def show_dataset(self, source: str, folder: Path, normalize: bool) -> None:
        key = (source, Path(folder), normalize)
        if key == self.key and self.error is None:
            return
        self.clear(f"Reading {source}…")
        self.key = key
        self._open_task.start(lambda progress, cancelled: open_rows(*key))

    def _opened(self, rows) -> None:
        self.rows = rows
        self.model.set_source(rows)
        self.table.verticalHeader().setDefaultSectionSize(
            THUMBNAIL + 4 if self.model.has_images() else self.fontMetrics().height() + 8)
        self.count_label.setText(f"{rows.row_count:,} samples")
        self._scrolled()
        self.message.setText(f"{self.key[0]}: reading the variables…")
        if self.model.has_images():  # the first screen first: they share the interpreter
            self.model.screen_loaded.connect(self._read_variables,
                                             Qt.ConnectionType.SingleShotConnection)
        else:
            self._read_variables()

    def _read_variables(self) -> None:
        rows = self.rows
        if rows is not None:
            self._variables_task.start(lambda progress, cancelled: read_variables(rows))

    def _failed(self, message: str) -> None:
        self.error = message
        self._end_check("")
        self._show_message(message)
        self.variables_shown.emit()

    def _show_message(self, text: str, error: bool = True) -> None:
        self.message.setStyleSheet("color: #dc2626;" if error else "")
        self.message.setText(text)

    def _show_variables(self, variables: dict[str, VariableInfo]) -> None:
        self.variables = variables
        table = self.variables_table
        table.setRowCount(len(variables))
        errors = []
        for row, info in enumerate(variables.values()):
            values = (f"{info.minimum:.4g} … {info.maximum:.4g}" if info.minimum is not None
                      else "–")
            if info.kind == "image" and info.counted == 1 and info.samples > 1:
                values += " (first image)"
            notes = info.error or (f"{len(info.class_counts)} classes"
                                   if info.class_counts else "")
            if info.preprocessing is not None:
                notes = f"{notes}; {info.preprocessing.describe()}".lstrip("; ")
            for column, text in enumerate((info.name, KINDS.get(info.kind, info.kind),
                                           shape_text(info.shape), values, notes)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if info.error and column == 4:
                    item.setForeground(Qt.GlobalColor.red)
                table.setItem(row, column, item)
            if info.error:
                errors.append(info.error)
        table.resizeRowsToContents()
        self._show_chart()
        names = [c.name for c in self.rows.columns] if isinstance(self.rows, CsvPreview) else None
        self.model.set_class_names(class_columns(self.model.headers, variables, names))
        self.check_button.setEnabled(isinstance(self.rows, CsvPreview) and any(
            i.kind in ("image", "array") for i in variables.values()))
        if errors:
            self._show_message(errors[0])
        else:
            self._show_message(self.summary(), error=False)
        self.variables_shown.emit()

    def summary(self) -> str:
        described = ", ".join(f"{name} ({shape_text(info.shape)})"
                              for name, info in self.variables.items())
        count = next(iter(self.variables.values())).samples if self.variables else 0
        return f"{count:,} samples; variables {described}"

    def class_variable(self) -> VariableInfo | None:
        counted = [info for info in self.variables.values() if info.class_counts]
        named = [info for info in counted if info.name == "y"]
        return (named or counted or [None])[0]

    def _show_chart(self) -> None:
        plot = self.chart_plot
        plot.clear()
        info = self.class_variable()
        self.chart.setVisible(info is not None)
        if info is None:
            return
        counts = info.class_counts
        names = list(info.class_names) + [str(k) for k in range(len(info.class_names),
                                                               len(counts))]
        plot.addItem(pg.BarGraphItem(x=list(range(len(counts))), height=counts, width=0.7,
                                     brush=pg.mkBrush(BLUE), pen=pg.mkPen(None)))
        step = max(1, math.ceil(len(counts) / 20))  # at most 20 labels: they stay legible
        plot.getAxis("bottom").setTicks([[(k, names[k]) for k in range(0, len(counts), step)]])
        plot.setTitle(f"Samples per class of {info.name} ({sum(counts):,} in all)")
        plot.setRange(xRange=(-0.6, len(counts) - 0.4), yRange=(0, max(counts) * 1.08),
                      padding=0)

    def _scrolled(self, *_) -> None:
        top = self.table.rowAt(0)
        bottom = self.table.rowAt(self.table.viewport().height() - 1)
        first = max(top, 0)
        last = bottom if bottom >= 0 else first + 50
        self.model.set_visible_rows(first, last)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._scrolled()

    # ---- checking every file ---------------------------------------------------------------

    def _check_or_cancel(self) -> None:
        if self._check_task.running:
            self._check_task.cancel()
            return
        self.progress.setRange(0, max(self.rows.row_count, 1))
        self.progress.setValue(0)
        self.progress.show()
        self.check_button.setText("Cancel")
        rows = self.rows
        self._check_task.start(lambda progress, cancelled: read_variables(rows, True, progress,
                                                                          cancelled))

    def _checking(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.message.setStyleSheet("")
        self.message.setText(f"Checking every file: {done:,} of {total:,}…")

    def _checked(self, variables: dict[str, VariableInfo]) -> None:
        self._show_variables(variables)
        self._end_check(None)
        if not any(i.error for i in variables.values()):
            self._show_message(f"Every file is readable. {self.summary()}", error=False)

    def _end_check(self, text: str | None) -> None:
        self.progress.hide()
        self.check_button.setText("Check Every File")
        if text is not None:
            self._show_message(text, error=False)
