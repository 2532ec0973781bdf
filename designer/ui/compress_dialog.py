"""Runs → Compress…: quantize, prune or distill the selected run, and show before and after.

The work runs as ``python -m designer compress ... --json`` in a child process (quantizing takes
seconds, pruning with fine-tuning and distilling train), so the window stays responsive and the
work can be cancelled. The dialog shows the command's table: file size, ONNX Runtime latency
at batch 1 and 32 on the CPU, validation accuracy (or error), parameters and multiply-adds.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from designer.core import runs
from designer.core.imports import imported
from designer.core.compress.result import Compressed
from designer.core.project import SUFFIX, Network, ProjectError, load
from designer.ui import dialogs, launcher, theme

METHOD_LABELS = {
    "quantize": "Quantize to int8 (ONNX Runtime)",
    "prune": "Prune maps and units (a smaller network)",
    "distill": "Distill into a smaller project (train a student)",
}


class CompressDialog(QDialog):
    """Compress one run. ``finished_compress(dict)`` carries the command's JSON result."""

    finished_compress = Signal(dict)

    def __init__(self, run_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.result: dict | None = None
        try:
            self.origin = load(runs.project_path(self.run_dir))
            self.network: Network | None = self.origin.network()
        except ProjectError:
            self.origin, self.network = None, None
        self.command_runner = launcher.JsonCommand(self)
        self.command_runner.progress.connect(lambda text: self.status_label.setText(text))
        self.command_runner.done.connect(self._finish)
        self.setWindowTitle(f"Compress run {runs.run_name(self.run_dir)}")
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_choices())
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.status_label = QLabel("Choose a method and press Compress.")
        self.status_label.setWordWrap(True)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.table = QTableWidget(0, 4)  # the before/after figures
        self.table.setHorizontalHeaderLabels(["", "before", "after", "after / before"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.hide()
        self.details = QPlainTextEdit()  # notes, or what went wrong
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setPlaceholderText("The before/after figures appear here.")
        self.details.setMinimumHeight(90)
        for widget in (self.progress, self.status_label, self.headline):
            layout.addWidget(widget)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.details, 1)
        self.buttons = QDialogButtonBox()
        self.compress_button = self.buttons.addButton("Compress",
                                                      QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setEnabled(False)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.compress_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(lambda: self.command_runner.cancel())
        close.clicked.connect(self.reject)
        layout.addWidget(self.buttons)

    # ---- choices ---------------------------------------------------------------------------

    def _build_choices(self) -> QFormLayout:
        self.method_box = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.method_box.addItem(label, key)
        self.weights_box = QComboBox()
        for which in runs.WEIGHTS:
            if runs.weights_path(self.run_dir, which).is_file():
                self.weights_box.addItem(f"{which} weights", which)
        self.pages = QStackedWidget()
        for page in (self._quantize_page(), self._prune_page(), self._distill_page()):
            self.pages.addWidget(page)
        self.method_box.currentIndexChanged.connect(self._method_changed)
        self.output_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        row = QHBoxLayout()
        row.addWidget(self.output_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Method", self.method_box)
        form.addRow("Weights", self.weights_box)
        form.addRow(self.pages)
        form.addRow("Save to", row)
        self._method_changed()
        return form

    def _quantize_page(self) -> QWidget:
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(1, 100_000)
        self.samples_spin.setValue(300)
        self.samples_spin.setToolTip("Training samples whose activations set the int8 ranges")
        self.keep_float_edit = QLineEdit()
        self.keep_float_edit.setPlaceholderText("layers ONNX Runtime cannot quantize, e.g. GRU")
        return _form(("Calibration samples", self.samples_spin),
                     ("Keep in float", self.keep_float_edit))

    def _prune_page(self) -> QWidget:
        prune = imported("designer.core.compress.prune")  # torch: one importer at a time
        self.layers_edit = QLineEdit(", ".join(
            n.name for n in (self.network.nodes if self.network else [])
            if prune.prunable(n) == "conv"))  # as the command's default
        self.layers_edit.setToolTip("Convolution or Affine layers whose least important maps "
                                    "(L1 norm of weights) are removed")
        self.amount_spin = QDoubleSpinBox()
        self.amount_spin.setRange(0.05, 0.95)
        self.amount_spin.setSingleStep(0.05)
        self.amount_spin.setValue(0.5)
        self.amount_spin.setToolTip("The share of each layer's maps removed")
        self.fine_tune_spin = QSpinBox()
        self.fine_tune_spin.setRange(0, 10_000)
        self.fine_tune_spin.setValue(3)
        self.fine_tune_spin.setSuffix(" epochs")
        return _form(("Layers", self.layers_edit), ("Remove", self.amount_spin),
                     ("Fine-tune", self.fine_tune_spin))

    def _distill_page(self) -> QWidget:
        self.student_edit = QLineEdit()
        self.student_edit.setPlaceholderText("the smaller project to train (.nnd)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_student)
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.student_edit, 1)
        box.addWidget(browse)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.1, 100.0)
        self.temperature_spin.setValue(4.0)
        self.temperature_spin.setToolTip("Softens the teacher's outputs: higher shows more of "
                                         "how alike it finds the classes")
        self.alpha_spin = QDoubleSpinBox()
        self.alpha_spin.setRange(0.0, 1.0)
        self.alpha_spin.setSingleStep(0.05)
        self.alpha_spin.setValue(0.9)
        self.alpha_spin.setToolTip("The share of the loss from the teacher; the rest from the "
                                   "true labels")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1_000_000)
        self.epochs_spin.setSpecialValueText("the student's own")
        return _form(("Student", row), ("Temperature", self.temperature_spin),
                     ("Teacher's share", self.alpha_spin), ("Epochs", self.epochs_spin))

    @property
    def method(self) -> str:
        return self.method_box.currentData()

    def _method_changed(self) -> None:
        self.pages.setCurrentIndex(self.method_box.currentIndex())
        self.output_edit.setText(str(self.default_output()))

    def default_output(self) -> Path:
        """Beside the project file the run belongs to: ``<project>_int8.onnx``, a new
        ``<project>_pruned.nnd``, or a new run folder of the student."""
        folder = self.run_dir.parent
        name = (folder.name.removesuffix(".runs") if folder.name.endswith(".runs")
                else self.origin.name if self.origin else "model")
        project_file = folder.parent / f"{name}{SUFFIX}"
        stem = project_file.stem
        if self.method == "quantize":
            return project_file.with_name(f"{stem}_int8.onnx")
        if self.method == "prune":
            path, count = project_file.with_name(f"{stem}_pruned{SUFFIX}"), 2
            while path.exists():
                path, count = project_file.with_name(f"{stem}_pruned_{count}{SUFFIX}"), count + 1
            return path
        student = Path(self.student_edit.text().strip() or project_file)
        return runs.runs_folder(student) / datetime.now().strftime("%Y%m%d-%H%M%S-distilled")

    def _browse_output(self) -> None:
        chosen = dialogs.save_file(self, "Save the compressed model to", self.output_edit.text())
        if chosen is not None:
            self.output_edit.setText(str(chosen))

    def _browse_student(self) -> None:
        chosen = dialogs.project_file(self, "The student project", str(self.run_dir.parent))
        if chosen is not None:
            self.student_edit.setText(str(chosen))
            self.output_edit.setText(str(self.default_output()))

    def command(self) -> list[str]:
        """The compress command line for the current choices."""
        args = ["compress", runs.project_path(self.run_dir), "--run", self.run_dir,
                "--method", self.method, "--weights", self.weights_box.currentData() or "best",
                "-o", self.output_edit.text().strip(), "--json"]
        if self.method == "quantize":
            args += ["--samples", str(self.samples_spin.value())]
            if self.keep_float_edit.text().strip():
                args += ["--keep-float", self.keep_float_edit.text().strip()]
        elif self.method == "prune":
            args += ["--layers", self.layers_edit.text().replace(" ", ""),
                     "--amount", f"{self.amount_spin.value():g}",
                     "--fine-tune", str(self.fine_tune_spin.value())]
        else:
            args += ["--student", self.student_edit.text().strip(),
                     "--temperature", f"{self.temperature_spin.value():g}",
                     "--alpha", f"{self.alpha_spin.value():g}"]
            if self.epochs_spin.value():
                args += ["--epochs", str(self.epochs_spin.value())]
        return launcher.designer_command(*args)

    # ---- the work --------------------------------------------------------------------------

    def start(self) -> None:
        if self.command_runner.running:
            return
        if self.method == "distill" and not self.student_edit.text().strip():
            self._show({"ok": False, "error": "Choose the student project to train."})
            return
        self.result = None
        self.headline.clear()
        self.details.clear()
        self.table.hide()
        self._set_busy(True)
        self.status_label.setText("Starting…")
        self.command_runner.start(self.command(), self.run_dir)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        self.compress_button.setEnabled(not busy)
        for widget in (self.method_box, self.weights_box, self.pages, self.output_edit):
            widget.setEnabled(not busy)

    def _finish(self, result: dict) -> None:
        self._set_busy(False)
        self.result = result
        self._show(result)
        self.finished_compress.emit(result)

    def _show(self, result: dict) -> None:
        if result.get("cancelled"):
            self.status_label.setText("Cancelled.")
            return
        if not result.get("ok"):
            self.status_label.setText("The compression failed.")
            self.table.hide()
            self.headline.setText("✗ Not compressed")
            self.headline.setStyleSheet(f"color: {theme.current().error};")
            self.details.setPlainText(str(result.get("error", "")))
            return
        report = Compressed.from_json(result)
        self.status_label.setText(f"Wrote {report.output}")
        before, after = report.before, report.after
        ratio = after.size / before.size if before.size else 1.0
        quality = (f"accuracy {before.accuracy:.2%} → {after.accuracy:.2%}"
                   if before.accuracy is not None and after.accuracy is not None
                   else f"error {before.error:.4g} → {after.error:.4g}")
        self.headline.setText(f"✓ {ratio:.0%} of the file size, {quality}")
        self.headline.setStyleSheet(f"color: {theme.SUCCESS_COLOR};")
        rows = report.rows()
        self.table.setHorizontalHeaderLabels(["", before.label, after.label, "after / before"])
        self.table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 4
                                    + sum(self.table.rowHeight(r) for r in range(len(rows))))
        self.table.show()
        lines = [f"{report.method}: {report.output}"]
        if report.agreement is not None:
            lines.append(f"The int8 model classifies {report.agreement:.2%} of the validation "
                         "samples as the float model does.")
        self.details.setPlainText("\n".join(lines + report.notes))

    def done(self, code: int) -> None:
        """Closing the dialog ends the work still running (nothing half-written stays)."""
        self.command_runner.cancel(wait=True)
        super().done(code)


def _form(*rows: tuple[str, QWidget]) -> QWidget:
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    for label, widget in rows:
        form.addRow(label, widget)
    return page
