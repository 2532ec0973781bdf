"""Try the model: drop an image file (or choose one), or type a sample's numbers, and see what
the current weights predict, with every class's probability.

The sample is converted as training converted its data (designer.core.predict); the network
runs in a worker thread, so the window never waits for torch or the weights.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from nodes import shape_text

from designer.core.data import IMAGE_SUFFIXES
from designer.core.imports import imported
from designer.core.project import ProjectError, load
from designer.core.runs import project_path
from designer.ui.samples_table import sample_text, thumbnail_image
from designer.ui.worker import Task

PREVIEW = 112  # pixels: the sample as the network sees it
CLASSES_SHOWN = 10


class TryModelPanel(QWidget):
    """``set_run(run_dir)`` chooses the weights; ``predict(raw)`` scores a path or numbers.
    ``predicted`` fires when a result (or a message) is shown."""

    predicted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.run_dir: Path | None = None
        self.result = None  # the last designer.core.predict.Prediction
        self._predictors: dict[Path, object] = {}
        self._task = Task(self._work, self)
        self._task.done.connect(self._show)
        self._task.failed.connect(self._failed)
        self._raw = None
        self.image_input = False
        self._build()
        self.set_run(None)

    def _build(self) -> None:
        heading = QLabel("Try the model")
        heading.setProperty("role", "heading")
        self.hint = QLabel(wordWrap=True)
        self.hint.setProperty("role", "muted")
        self.drop_area = QLabel("Drop an image file here")
        self.drop_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_area.setMinimumHeight(PREVIEW + 16)
        self.drop_area.setStyleSheet("QLabel { border: 2px dashed palette(mid); "
                                     "border-radius: 6px; }")
        self.choose_button = QPushButton("Choose Image…")
        self.choose_button.clicked.connect(self._choose_image)
        self.numbers = QLineEdit(placeholderText="or type numbers: 5.1, 3.5, 1.4, 0.2")
        self.numbers.returnPressed.connect(lambda: self.predict(self.numbers.text()))
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(lambda: self.predict(self.numbers.text()))
        typed = QHBoxLayout()
        typed.addWidget(self.numbers, 1)
        typed.addWidget(self.predict_button)
        self.answer = QLabel(wordWrap=True)
        self.answer.setTextFormat(Qt.TextFormat.RichText)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.conversion = QLabel(wordWrap=True)
        self.conversion.setProperty("role", "muted")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Class", "Probability"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        for widget in (heading, self.hint, self.drop_area, self.choose_button):
            layout.addWidget(widget)
        layout.addLayout(typed)
        layout.addWidget(self.answer)
        layout.addWidget(self.conversion)
        layout.addWidget(self.table, 1)

    # ---- the weights ---------------------------------------------------------------------------

    def set_run(self, run_dir: Path | None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        ready = self.run_dir is not None
        for widget in (self.choose_button, self.numbers, self.predict_button):
            widget.setEnabled(ready)
        shape = input_shape(self.run_dir) if ready else None
        self.image_input = shape is not None and len(shape) == 3 and shape[0] in (1, 3)
        for widget in (self.drop_area, self.choose_button):
            widget.setVisible(self.image_input or not ready)
        self.numbers.setVisible(not self.image_input)
        self.predict_button.setVisible(not self.image_input)
        if not ready:
            self.hint.setText("Train the project (or open a run's weights in the Training "
                              "workspace) to try the model on a sample of your own.")
        elif self.image_input:
            self.hint.setText(f"Drop an image file on this panel (or choose one) to see what "
                              f"the current weights predict; it is converted to "
                              f"{shape_text(shape)} as in training.")
        else:
            count = math.prod(shape) if shape else 0
            self.hint.setText(f"Type a sample's {count} numbers, separated by commas or spaces, "
                              "to see what the current weights predict.")
        self._clear()

    def _clear(self) -> None:
        self.result = None
        self.answer.setText("")
        self.conversion.setText("")
        self.table.setRowCount(0)
        self.drop_area.setPixmap(QPixmap())
        self.drop_area.setText("Drop an image file here")

    # ---- predicting ----------------------------------------------------------------------------

    def predict(self, raw) -> None:
        """Score ``raw`` (an image path or numbers as text) with the current weights."""
        if self.run_dir is None:
            return
        self._raw = (self.run_dir, raw)
        self.answer.setText("Predicting…")
        self._task.start()

    def _work(self, progress, cancelled):
        predict = imported("designer.core.predict")  # torch loads here, off the GUI thread
        run_dir, raw = self._raw
        predictor = self._predictors.get(run_dir)
        if predictor is None:
            predictor = self._predictors[run_dir] = predict.Predictor(run_dir)
        return predictor, predictor.predict(raw)

    def _show(self, found) -> None:
        predictor, result = found
        self.result = result
        if not predictor.image_input:
            self.hint.setText(f"Type {predictor.wanted}, separated by commas or spaces.")
        self.conversion.setText(f"Converted as in training: {result.conversion}.")
        image = thumbnail_image(result.network_input)
        if image is not None:
            self.drop_area.setPixmap(QPixmap.fromImage(image).scaled(
                PREVIEW, PREVIEW, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation))
        if result.task == "classification":
            best, p = result.probabilities[0]
            self.answer.setText(f"Prediction: <b>{best}</b> ({100 * p:.1f} %)")
            self._show_probabilities(result.probabilities[:CLASSES_SHOWN])
        else:
            self.answer.setText(f"Prediction: <b>{sample_text(np.asarray(result.values))}</b>")
            self.table.setRowCount(0)
        self.predicted.emit()

    def _show_probabilities(self, rows: list[tuple[str, float]]) -> None:
        self.table.setRowCount(len(rows))
        for row, (name, p) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(1000 * p))
            bar.setFormat(f"{100 * p:.1f} %")
            self.table.setCellWidget(row, 1, bar)

    def _failed(self, message: str) -> None:
        self.result = None
        self.answer.setText(f"<span style='color:#dc2626'>{_escape(message)}</span>")
        self.table.setRowCount(0)
        self.predicted.emit()

    # ---- images from files -----------------------------------------------------------------

    def _choose_image(self) -> None:
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Try the model on an image", "",
                                              f"Images ({pattern});;All files (*)")
        if path:
            self.predict(path)

    @staticmethod
    def _dropped_file(event) -> str | None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            return urls[0].toLocalFile()
        return None

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if self.run_dir is not None and self._dropped_file(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802
        path = self._dropped_file(event)
        if path:
            event.acceptProposedAction()
            self.predict(path)


def input_shape(run_dir: Path) -> tuple[int, ...] | None:
    """The Size of the run's (first) Input, read from its project without torch."""
    try:
        network = load(project_path(run_dir)).network()
    except ProjectError:
        return None
    for node in network.nodes:
        if node.spec.is_input:
            return tuple(node.props.get("Size", ()))
    return None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
