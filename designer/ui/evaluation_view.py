"""Evaluation of a trained run: where the network is right, wrong, and how sure it is.

``EvaluationView.set_evaluation(evaluation)`` shows a ``designer.core.evaluation.Evaluation``:

* classification: overall accuracy, a confusion-matrix heatmap (click a cell to list its
  samples), per-class precision / recall / F1, the validation samples (thumbnail for images,
  true and predicted class, confidence; filter to the mistakes) and a reliability chart
  (accuracy per confidence bin: a well-calibrated network sits on the diagonal);
* regression: MSE and MAE, predicted-versus-true scatter, error histogram and the samples.

``evaluate_run(run_dir)`` computes the evaluation in a worker thread and shows it. The samples
table is ``designer.ui.samples_table``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSplitter, QStackedWidget, QTableView, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from designer.ui.plot_style import BLUE, GREEN, RED, recolor_plot, style_plot, style_plot_widget
from designer.ui.samples_table import THUMBNAIL, SamplesModel

RELIABILITY_BINS = 10
SCATTER_POINTS = 20000  # more hide each other and slow the view down


# ---- figures (pure functions; the tests check them against hand counts) ----------------------

def reliability_bins(confidences: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS):
    """Per confidence bin over [0, 1]: (bin edges, accuracy (nan if empty), sample count),
    and the expected calibration error (the count-weighted gap between accuracy and confidence).
    """
    confidences = np.asarray(confidences, float)
    correct = np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    hits = np.bincount(which, weights=correct, minlength=bins)
    confidence_sum = np.bincount(which, weights=confidences, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = hits / counts
        mean_confidence = confidence_sum / counts
    total = counts.sum()
    gaps = np.where(counts > 0, np.abs(np.nan_to_num(accuracy) - np.nan_to_num(mean_confidence)), 0)
    ece = float((counts * gaps).sum() / total) if total else math.nan
    return edges, accuracy, counts, ece


class EvaluationView(QWidget):
    """Shows one Evaluation; ``set_evaluation(evaluation, class_names=None)``, ``clear()``.

    ``evaluate_run(run_dir)`` evaluates in a worker thread; ``evaluation_failed(str)`` carries
    the message if that fails. ``sample_activated(int)`` is the index of a double-clicked
    validation sample.
    """

    evaluation_failed = Signal(str)
    sample_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.evaluation: Any = None
        self.data_label = "validation"  # what the evaluated samples are, for the summary
        self.class_names: list[str] = []
        self._request = 0  # the latest evaluate_run; earlier ones are ignored when they end
        self._runners: set[_RunnerSignals] = set()
        self._class_names_pending: Sequence[str] | None = None
        self._build()
        self.clear()

    def _build(self) -> None:
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        confusion_box = self._build_confusion()
        samples_box = self._build_samples()
        self._build_plots()

        self.tabs = QTabWidget()
        self.tabs.addTab(samples_box, "Samples")
        self.tabs.addTab(self.reliability_widget, "Reliability")
        self.tabs.addTab(self.histogram_widget, "Error histogram")

        self.left = QStackedWidget()
        self.left.addWidget(confusion_box)
        self.left.addWidget(self.scatter_widget)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)

        self.placeholder = QLabel("No evaluation yet: evaluate a finished run to see how the "
                                  "network does on the validation data.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.body = QStackedWidget()
        self.body.addWidget(self.placeholder)
        self.body.addWidget(splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.body, 1)

    def _build_confusion(self) -> QWidget:
        """Classification, left: the confusion matrix over the per-class figures."""
        self.confusion_table = QTableWidget()
        self.confusion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.confusion_table.cellClicked.connect(self._cell_clicked)
        self.confusion_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        self.confusion_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_table.setToolTip("Rows: true class · columns: predicted class. Blue: "
                                        "right, red: wrong; the shade is the share of the true "
                                        "class. Click a cell to list its samples.")
        self.per_class_table = QTableWidget(0, 5)
        self.per_class_table.setHorizontalHeaderLabels(
            ["Class", "Precision", "Recall", "F1", "Support"])
        self.per_class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class_table.verticalHeader().hide()
        self.per_class_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        self.per_class_table.setSortingEnabled(True)
        confusion_box = QWidget()
        confusion_layout = QVBoxLayout(confusion_box)
        confusion_layout.setContentsMargins(0, 0, 0, 0)
        axes = QLabel("Confusion matrix: <b>rows</b> true class, <b>columns</b> predicted")
        confusion_layout.addWidget(axes)
        confusion_layout.addWidget(self.confusion_table, 3)
        confusion_layout.addWidget(QLabel("Per class"))
        confusion_layout.addWidget(self.per_class_table, 2)
        return confusion_box

    def _build_samples(self) -> QWidget:
        """Right: the validation samples, filtered to the mistakes or one matrix cell."""
        self.samples_model = SamplesModel(self)
        self.samples_view = QTableView()
        self.samples_view.setModel(self.samples_model)
        self.samples_view.setSortingEnabled(True)
        self.samples_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.samples_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.samples_view.verticalHeader().hide()
        header = self.samples_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # long vectors
        header.setStretchLastSection(True)
        self.samples_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.samples_view.doubleClicked.connect(
            lambda index: self.sample_activated.emit(self.samples_model.sample_index(index.row())))
        self.mistakes_check = QCheckBox("Only mistakes")
        self.mistakes_check.toggled.connect(
            lambda on: self._set_sample_filter(mistakes_only=on))
        self.cell_label = QLabel()
        self.clear_cell_button = QPushButton("Show all")
        self.clear_cell_button.clicked.connect(lambda: self._set_sample_filter(cell=None))
        self.count_label = QLabel()
        filters = QHBoxLayout()
        filters.addWidget(self.mistakes_check)
        filters.addWidget(self.cell_label)
        filters.addWidget(self.clear_cell_button)
        filters.addStretch(1)
        filters.addWidget(self.count_label)
        samples_box = QWidget()
        samples_layout = QVBoxLayout(samples_box)
        samples_layout.setContentsMargins(0, 0, 0, 0)
        samples_layout.addLayout(filters)
        samples_layout.addWidget(self.samples_view)
        return samples_box

    def _build_plots(self) -> None:
        """Reliability (classification), predicted versus true and errors (regression)."""
        self.reliability_widget = pg.PlotWidget()
        style_plot_widget(self.reliability_widget, self)
        self.reliability_plot = self.reliability_widget.getPlotItem()
        # No legend: it would sit on bars; the title names the two marks.
        self.reliability_widget.setToolTip(
            "For the samples whose confidence falls in each bin, the share predicted right. A "
            "well-calibrated network sits on the dashed line: of the samples it is 90 % sure "
            "of, 90 % are right. Bars below the line: overconfident; above: underconfident.")
        style_plot(self.reliability_plot, self,
                   "Accuracy per confidence bin (dashed: perfectly calibrated)",
                   "confidence", "accuracy")
        self.reliability_plot.setRange(xRange=(0, 1), yRange=(0, 1.08), padding=0.02)
        self.reliability_plot.setMouseEnabled(x=False, y=False)

        self.scatter_widget = pg.PlotWidget()
        style_plot_widget(self.scatter_widget, self)
        self.scatter_plot = self.scatter_widget.getPlotItem()
        style_plot(self.scatter_plot, self, "Predicted versus true", "true value",
                   "predicted value")
        self.scatter_plot.setAspectLocked(True)
        self.histogram_widget = pg.PlotWidget()
        style_plot_widget(self.histogram_widget, self)
        self.histogram_plot = self.histogram_widget.getPlotItem()
        style_plot(self.histogram_plot, self, "Error (predicted − true)", "error", "samples")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "tabs"):
            # The theme changed: plots, heatmap shades and thumbnails' text follow it.
            for widget in (self.reliability_widget, self.scatter_widget, self.histogram_widget):
                style_plot_widget(widget, self)
            for plot in (self.reliability_plot, self.scatter_plot, self.histogram_plot):
                recolor_plot(plot, self)
            if self.evaluation is not None and self.evaluation.task == "classification":
                self._show_confusion()  # cell shades blend into the background colour
                self._show_reliability()

    # ---- content -----------------------------------------------------------------------------

    def clear(self, message: str | None = None) -> None:
        self.evaluation = None
        self.summary.setText("")
        if message:
            self.placeholder.setText(message)
        self.body.setCurrentIndex(0)

    def set_evaluation(self, evaluation: Any, class_names: Sequence[str] | None = None) -> None:
        """Show ``evaluation`` (a designer.core.evaluation.Evaluation or alike)."""
        self.evaluation = evaluation
        classes = int(getattr(evaluation, "classes", 0) or 0)
        names = list(class_names or getattr(evaluation, "class_names", None) or [])
        self.class_names = names + [str(k) for k in range(len(names), classes)]
        classification = evaluation.task == "classification"
        self.samples_model.set_data(evaluation, self.class_names)
        self.mistakes_check.blockSignals(True)
        self.mistakes_check.setChecked(False)
        self.mistakes_check.blockSignals(False)
        self.mistakes_check.setVisible(classification)
        self.samples_view.verticalHeader().setDefaultSectionSize(
            THUMBNAIL + 4 if self.samples_model.has_thumbnails()
            else self.fontMetrics().height() + 8)
        self.samples_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.samples_view.resizeColumnToContents(1)
        self.samples_view.setColumnWidth(1, min(self.samples_view.columnWidth(1), 220))
        if classification:
            self._show_confusion()
            self._show_per_class()
            self._show_reliability()
            self.left.setCurrentIndex(0)
        else:
            self._show_regression()
            self.left.setCurrentIndex(1)
        self.tabs.setTabVisible(1, classification and evaluation.confidences is not None)
        self.tabs.setTabVisible(2, not classification)
        self._show_summary()
        self._update_sample_labels()
        self.body.setCurrentIndex(1)

    def _show_summary(self) -> None:
        ev = self.evaluation
        n = len(ev.targets)
        if ev.task == "classification":
            right = int(np.trace(np.asarray(ev.confusion)))
            parts = [f"<b>Accuracy {100 * ev.accuracy:.2f} %</b> ({right} of {n} "
                     f"{self.data_label} samples right)", f"loss {ev.loss:.4g}"]
            if ev.confidences is not None and n:
                correct = np.asarray(ev.targets) == np.asarray(ev.predictions)
                *_, ece = reliability_bins(ev.confidences, correct)
                parts.append(f"calibration error {100 * ece:.1f} %")
        else:
            parts = [f"<b>MSE {ev.mse:.4g}</b>", f"MAE {ev.mae:.4g}",
                     f"RMSE {math.sqrt(ev.mse):.4g}", f"{n} {self.data_label} samples"]
            if n > 1:
                t, p = self.samples_model.target_flat, self.samples_model.prediction_flat
                ss = float(((t - t.mean()) ** 2).sum())
                if ss > 0:
                    parts.append(f"R² {1 - float(((p - t) ** 2).sum()) / ss:.3f}")
        weights = getattr(ev, "weights", "")
        if weights:
            parts.append(f"weights {Path(weights).name}")
        self.summary.setText(" · ".join(parts))

    def _show_confusion(self) -> None:
        confusion = np.asarray(self.evaluation.confusion, int)
        k = confusion.shape[0]
        table = self.confusion_table
        table.clear()
        table.setRowCount(k)
        table.setColumnCount(k)
        table.setHorizontalHeaderLabels(self.class_names[:k])
        table.setVerticalHeaderLabels(self.class_names[:k])
        totals = confusion.sum(axis=1)
        base = self.palette().color(QPalette.ColorRole.Base)
        for t in range(k):
            for p in range(k):
                count = int(confusion[t, p])
                share = count / totals[t] if totals[t] else 0.0
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                # Any mistake at all shows; the shade then grows with its share of the class.
                amount = 0.3 + 0.7 * share ** 0.6 if count else 0.0
                color = _blend(base, QColor(BLUE if t == p else RED), amount)
                item.setBackground(color)
                item.setForeground(QColor("white") if color.lightnessF() < 0.55
                                   else self.palette().color(QPalette.ColorRole.Text))
                item.setToolTip(f"true {self.class_names[t]}, predicted {self.class_names[p]}: "
                                f"{count} sample{'s' if count != 1 else ''} "
                                f"({100 * share:.1f} % of class {self.class_names[t]})")
                table.setItem(t, p, item)

    def _show_per_class(self) -> None:
        rows = list(self.evaluation.per_class)
        table = self.per_class_table
        table.setSortingEnabled(False)
        table.setRowCount(len(rows))
        for k, row in enumerate(rows):
            values = [row.get("precision"), row.get("recall"), row.get("f1")]
            name = _NumericItem(self.class_names[k] if k < len(self.class_names) else str(k), k,
                                Qt.AlignmentFlag.AlignLeft)
            table.setItem(k, 0, name)
            for column, value in enumerate(values, start=1):
                number = float(value) if value is not None else math.nan
                item = _NumericItem(f"{number:.3f}" if math.isfinite(number) else "–",
                                    number if math.isfinite(number) else -1.0)
                if column == 3 and number < 0.8:
                    item.setForeground(QColor(RED))
                    item.setToolTip("F1 below 0.8: the network struggles with this class")
                table.setItem(k, column, item)
            support = int(row.get("support") or 0)
            table.setItem(k, 4, _NumericItem(str(support), support))
        table.setSortingEnabled(True)
        table.sortItems(0, Qt.SortOrder.AscendingOrder)

    def _show_reliability(self) -> None:
        plot = self.reliability_plot
        plot.clear()
        ev = self.evaluation
        if ev.confidences is None or not len(ev.targets):
            return
        correct = np.asarray(ev.targets) == np.asarray(ev.predictions)
        edges, accuracy, counts, _ = reliability_bins(ev.confidences, correct)
        filled = counts > 0
        centers = (edges[:-1] + edges[1:]) / 2
        width = (edges[1] - edges[0]) * 0.85
        bars = pg.BarGraphItem(x=centers[filled], height=accuracy[filled], width=width,
                               brush=pg.mkBrush(BLUE), pen=pg.mkPen(None), name="accuracy")
        plot.addItem(bars)
        plot.plot([0, 1], [0, 1], pen=pg.mkPen(GREEN, width=2, style=Qt.PenStyle.DashLine),
                  name="perfectly calibrated")
        text = self.palette().color(QPalette.ColorRole.Text)
        for x, acc, n in zip(centers[filled], accuracy[filled], counts[filled]):
            label = pg.TextItem(f"n={int(n)}", color=text, anchor=(0.5, 1))
            label.setPos(float(x), float(acc) + 0.01)
            plot.addItem(label)
        plot.setRange(xRange=(0, 1), yRange=(0, 1.08), padding=0.02)

    def _show_regression(self) -> None:
        t = self.samples_model.target_flat.ravel()
        p = self.samples_model.prediction_flat.ravel()
        errors = p - t
        if len(t) > SCATTER_POINTS:  # an autoencoder has values × samples points
            keep = np.random.default_rng(0).choice(len(t), SCATTER_POINTS, replace=False)
            t, p = t[keep], p[keep]
        self.scatter_plot.clear()
        if len(t):
            lo = float(min(t.min(), p.min()))
            hi = float(max(t.max(), p.max()))
            self.scatter_plot.plot([lo, hi], [lo, hi], pen=pg.mkPen(
                GREEN, width=2, style=Qt.PenStyle.DashLine))
            scatter = pg.ScatterPlotItem(t, p, size=5, pen=pg.mkPen(None),
                                         brush=pg.mkBrush(31, 119, 180, 150))
            self.scatter_plot.addItem(scatter)
        shown = "" if len(t) == len(errors) else f" ({len(t)} of {len(errors)} values)"
        self.scatter_plot.setTitle(f"Predicted versus true{shown}")
        recolor_plot(self.scatter_plot, self)
        self.histogram_plot.clear()
        if len(errors):
            counts, edges = np.histogram(errors, bins=min(40, max(5, len(errors) // 10)))
            self.histogram_plot.addItem(pg.BarGraphItem(
                x0=edges[:-1], x1=edges[1:], height=counts, brush=pg.mkBrush(BLUE),
                pen=pg.mkPen(None)))

    # ---- sample filters ----------------------------------------------------------------------

    def _cell_clicked(self, row: int, column: int) -> None:
        self._set_sample_filter(cell=(row, column))
        self.tabs.setCurrentIndex(0)

    def _set_sample_filter(self, mistakes_only: bool | None = None,
                           cell: tuple[int, int] | None | bool = False) -> None:
        self.samples_model.set_filter(mistakes_only=mistakes_only, cell=cell)
        self._update_sample_labels()

    def show_mistakes_only(self, on: bool) -> None:
        self.mistakes_check.setChecked(on)

    def _update_sample_labels(self) -> None:
        model = self.samples_model
        cell = model.cell
        self.cell_label.setText(f"true {self.class_names[cell[0]]}, predicted "
                                f"{self.class_names[cell[1]]}" if cell else "")
        self.clear_cell_button.setVisible(cell is not None)
        self.count_label.setText(f"{model.rowCount()} of {len(model.targets)} samples")

    # ---- evaluation in the background --------------------------------------------------------

    def evaluate_run(self, run_dir: Path | str, project: Any = None, weights: str = "best",
                     class_names: Sequence[str] | None = None, data: str | None = None,
                     data_label: str = "validation") -> None:
        """Evaluate a run's weights in a worker thread, then show the result.

        ``project`` defaults to the run's own project.nnd (the network as it was trained).
        ``data`` is another dataset to evaluate on (a CSV path or ``embedded:NAME``), called
        ``data_label`` in the summary; by default the validation data of the run.
        """
        run_dir = Path(run_dir)
        self.data_label = data_label
        self.clear(f"Evaluating {run_dir.name} on the {data_label} data…")
        self._request += 1
        self._class_names_pending = class_names
        runner = _EvaluationRunner(self._request, run_dir, project, weights, data)
        # Bound slots of this widget: Qt queues the call into the GUI thread.
        runner.signals.done.connect(self._runner_done)
        runner.signals.failed.connect(self._runner_failed)
        self._runners.add(runner.signals)  # keep the signal object alive until it reports
        QThreadPool.globalInstance().start(runner)

    def _runner_done(self, request: int, evaluation) -> None:
        self._runners = {s for s in self._runners if s.request != request}
        if request == self._request:  # an older request that finished late is dropped
            self.set_evaluation(evaluation, self._class_names_pending)

    def _runner_failed(self, request: int, message: str) -> None:
        self._runners = {s for s in self._runners if s.request != request}
        if request == self._request:
            self.clear(f"Evaluation failed: {message}")
            self.evaluation_failed.emit(message)


class _RunnerSignals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, request: int):
        super().__init__()
        self.request = request


class _EvaluationRunner(QRunnable):
    """Runs evaluate() off the GUI thread; results come back through queued signals."""

    def __init__(self, request: int, run_dir: Path, project: Any, weights: str,
                 data: str | None = None):
        super().__init__()
        self.signals = _RunnerSignals(request)
        self.run_dir, self.project, self.weights, self.data = run_dir, project, weights, data

    def run(self) -> None:
        request = self.signals.request
        try:
            from designer.core.evaluation import evaluate  # torch loads on first use only
            evaluation = evaluate(self.project, self.run_dir, weights=self.weights,
                                  data=self.data)
        except Exception as e:  # the message reaches the user; the editor keeps running
            self.signals.failed.emit(request, str(e) or type(e).__name__)
        else:
            self.signals.done.emit(request, evaluation)


class _NumericItem(QTableWidgetItem):
    """A read-only cell that sorts by a number, not by its text ("10" after "9")."""

    def __init__(self, text: str, key: float, align=Qt.AlignmentFlag.AlignRight):
        super().__init__(text)
        self.key = key
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        self.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.key < getattr(other, "key", 0)


def _blend(base: QColor, color: QColor, amount: float) -> QColor:
    amount = min(1.0, max(0.0, amount))
    return QColor(round(base.red() + (color.red() - base.red()) * amount),
                  round(base.green() + (color.green() - base.green()) * amount),
                  round(base.blue() + (color.blue() - base.blue()) * amount))
