"""File → Export: write the network as ONNX, PyTorch code or weights, and show the check.

The export runs ``python -m designer export ... --json`` in a child process: the dynamo ONNX
exporter works for seconds, and the window stays responsive (and the export can be cancelled)
while it does. The dialog shows what the command found: the largest difference between ONNX
Runtime (or the exported code) and PyTorch, the onnx.checker result, or the layers the chosen
format cannot express, listed by name before anything is written.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from designer.core import export as ex
from designer.core import runs
from designer.core.project import Project, ProjectError, load
from designer.ui import launcher, theme

UNTRAINED = ""  # the run choice meaning "the initial weights"

FORMAT_LABELS = {
    "onnx": "ONNX model (.onnx)",
    "pytorch": "PyTorch code (.py + .safetensors)",
    "weights": "Weights only (.safetensors)",
}
EXPORTER_LABELS = {
    "auto": "Automatic (dynamo, else legacy)",
    "dynamo": "dynamo (torch.export)",
    "legacy": "legacy (TorchScript, fast)",
}


class ExportDialog(QDialog):
    """Choose the format, weights and file; export in a child process; show the check.

    ``finished_export(dict)`` carries the command's JSON result (``ok`` False and ``error`` on
    failure) once the child has exited.
    """

    finished_export = Signal(dict)

    def __init__(self, project: Project, run_dir: str | os.PathLike | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.project = project
        self.command_runner = launcher.JsonCommand(self)
        self.command_runner.progress.connect(lambda text: self.status_label.setText(text))
        self.command_runner.done.connect(self._finish)
        self.result: dict | None = None
        self._temp: Path | None = None
        self._networks: dict[str, object] = {}  # run folder -> the network it trained
        self.setWindowTitle(f"Export {project.name}")
        self.setMinimumWidth(640)
        form = self._build_choices(Path(run_dir) if run_dir is not None else None)
        self._build_result()
        self._build_buttons()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.refusal_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.headline)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.buttons)

        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.opset_spin.valueChanged.connect(self._update_refusals)
        self.run_box.currentIndexChanged.connect(self._run_changed)
        self._run_changed()
        self._format_changed()

    def _build_choices(self, run_dir: Path | None) -> QFormLayout:
        """Format (with the ONNX options), the run whose weights to ship, and the file."""
        self.format_box = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format_box.addItem(label, key)
        self.opset_spin = QSpinBox()
        self.opset_spin.setRange(ex.MIN_OPSET, ex.MAX_OPSET)
        self.opset_spin.setValue(ex.DEFAULT_OPSET)
        self.opset_spin.setToolTip(f"ONNX operator set {ex.MIN_OPSET}–{ex.MAX_OPSET}; "
                                   f"{ex.DEFAULT_OPSET} suits current runtimes")
        self.exporter_box = QComboBox()
        for key, label in EXPORTER_LABELS.items():
            self.exporter_box.addItem(label, key)
        self.exporter_box.setToolTip("torch's dynamo exporter is the maintained one and takes a "
                                     "few seconds; the legacy exporter is fast but deprecated")
        onnx_row = QHBoxLayout()
        onnx_row.addWidget(QLabel("Opset"))
        onnx_row.addWidget(self.opset_spin)
        onnx_row.addSpacing(12)
        onnx_row.addWidget(QLabel("Exporter"))
        onnx_row.addWidget(self.exporter_box, 1)
        self.onnx_options = QWidget()
        self.onnx_options.setLayout(onnx_row)
        onnx_row.setContentsMargins(0, 0, 0, 0)

        self.run_box = QComboBox()
        self.weights_box = QComboBox()
        self._fill_runs(run_dir)
        run_row = QHBoxLayout()
        run_row.setContentsMargins(0, 0, 0, 0)
        run_row.addWidget(self.run_box, 1)
        run_row.addWidget(self.weights_box)

        self.path_edit = QLineEdit(str(self._default_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.choose_path)
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Format", self.format_box)
        form.addRow("ONNX", self.onnx_options)
        form.addRow("Weights", run_row)
        form.addRow("Save to", path_row)
        return form

    def _build_result(self) -> None:
        """What the format cannot express, the progress, and the check's result."""
        self.refusal_label = QLabel()
        self.refusal_label.setWordWrap(True)
        self.refusal_label.setStyleSheet(f"color: {theme.current().error};")
        self.refusal_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: the exporters report no fraction done
        self.progress.setVisible(False)
        self.status_label = QLabel("Choose a format and press Export.")
        self.status_label.setWordWrap(True)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        bold = self.headline.font()
        bold.setBold(True)
        self.headline.setFont(bold)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.setPlaceholderText("The check result appears here.")
        self.details.setMinimumHeight(140)

    def _build_buttons(self) -> None:
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.cancel_button = self.buttons.addButton("Cancel export",
                                                    QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setEnabled(False)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(lambda: self.command_runner.cancel())
        self.close_button.clicked.connect(self.reject)

    # ---- choices -------------------------------------------------------------------------

    @property
    def fmt(self) -> str:
        return self.format_box.currentData()

    @property
    def run_dir(self) -> Path | None:
        data = self.run_box.currentData()
        return Path(data) if data else None

    def _fill_runs(self, preferred: Path | None) -> None:
        """Runs with saved weights, newest first, then the untrained network."""
        found = runs.list_runs(self.project.path) if self.project.path is not None else []
        folders = [Path(info["path"]) for info in found]
        if preferred is not None and preferred.is_dir() and preferred not in folders:
            try:
                found.insert(0, runs.read_run(preferred))
            except (OSError, ValueError):
                found.insert(0, {"path": str(preferred)})
        for info in found:
            folder = Path(info["path"])
            if runs.run_weights(folder) is None:
                continue
            label = f"Run {folder.name}"
            if info.get("status"):
                label += f" ({info['status']}"
                if info.get("best_val_error") is not None:
                    label += f", best validation error {info['best_val_error']:.4g}"
                label += ")"
            self.run_box.addItem(label, str(folder))
        self.run_box.addItem("Untrained network (initial weights)", UNTRAINED)
        if preferred is not None:
            index = self.run_box.findData(str(preferred))
            if index >= 0:
                self.run_box.setCurrentIndex(index)

    def _run_changed(self) -> None:
        run = self.run_dir
        current = self.weights_box.currentData()
        self.weights_box.clear()
        if run is not None:
            for which in ex.WEIGHTS:
                if runs.weights_path(run, which).is_file():
                    self.weights_box.addItem(f"{which} weights", which)
            index = self.weights_box.findData(current)
            self.weights_box.setCurrentIndex(max(index, 0))
        self.weights_box.setEnabled(run is not None)
        self.weights_box.setVisible(run is not None)
        self._update_refusals()

    def _format_changed(self) -> None:
        self.onnx_options.setEnabled(self.fmt == "onnx")
        text = self.path_edit.text().strip()
        if text:
            path = Path(text)
            wanted = ex.SUFFIXES[self.fmt]
            if path.suffix in ex.SUFFIXES.values() and path.suffix != wanted:
                self.path_edit.setText(str(path.with_suffix(wanted)))
        self._update_refusals()

    def _default_path(self) -> Path:
        folder = self.project.path.parent if self.project.path is not None else Path.home()
        return folder / f"{ex.file_stem(self.project.name)}.onnx"

    def choose_path(self) -> None:
        suffix = ex.SUFFIXES[self.fmt]
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export to", self.path_edit.text(),
            f"{FORMAT_LABELS[self.fmt]} (*{suffix});;All files (*)")
        if chosen:
            self.path_edit.setText(chosen)

    def _network(self):
        """The network that will be exported: the one the chosen run trained, or the editor's."""
        run = self.run_dir
        if run is None or not runs.project_path(run).is_file():
            return self.project.network()
        if str(run) not in self._networks:
            try:
                self._networks[str(run)] = load(runs.project_path(run)).network()
            except ProjectError:
                self._networks[str(run)] = self.project.network()
        return self._networks[str(run)]

    def refusals(self) -> list[str]:
        try:
            return ex.refusals(self._network(), self.fmt, self.opset_spin.value())
        except ProjectError:
            return []

    def _update_refusals(self) -> None:
        found = self.refusals()
        if found:
            self.refusal_label.setText("Cannot export; these layers cannot be expressed:\n" +
                                       "\n".join(f"• {line}" for line in found))
        self.refusal_label.setVisible(bool(found))
        self.export_button.setEnabled(not found and not self.running)

    # ---- the export ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.command_runner.running

    def command(self, project_file: Path) -> list[str]:
        """The export command line for the current choices."""
        args = launcher.designer_command("export", project_file, "--format", self.fmt,
                                         "-o", self.path_edit.text().strip(), "--json")
        if self.run_dir is not None:
            args += ["--run", str(self.run_dir), "--weights", self.weights_box.currentData()]
        if self.fmt == "onnx":
            args += ["--opset", str(self.opset_spin.value()),
                     "--exporter", self.exporter_box.currentData()]
        return args

    def start_export(self) -> None:
        if self.running or self.refusals():
            return
        if not self.path_edit.text().strip():
            self._show_failure("Choose where to save the export.")
            return
        self._temp = Path(tempfile.mkdtemp(prefix="nn-designer-export-"))
        try:
            project_file = runs.snapshot(self.project, self._temp)
        except (OSError, ProjectError) as e:
            self._cleanup()
            self._show_failure(f"Cannot prepare the export: {e}")
            return
        self.result = None
        self.headline.clear()
        self.details.clear()
        self._set_busy(True)
        self.status_label.setText("Starting the export…")
        self.command_runner.start(self.command(project_file), self._temp)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        for widget in (self.format_box, self.onnx_options, self.run_box, self.weights_box,
                       self.path_edit):
            widget.setEnabled(not busy)
        if not busy:
            self.onnx_options.setEnabled(self.fmt == "onnx")
            self.weights_box.setEnabled(self.run_dir is not None)
        self.export_button.setEnabled(not busy and not self.refusals())

    def _finish(self, result: dict) -> None:
        self._cleanup()
        self._set_busy(False)
        self.result = result
        if result.get("cancelled"):
            self.status_label.setText("Export cancelled; nothing was written.")
        elif "error" in result:
            self._show_failure(result["error"], result.get("refusals") or [])
        else:
            self._show_result(result)
        self.finished_export.emit(result)

    def _show_failure(self, message: str, refused: list[str] = ()) -> None:
        self.status_label.setText("The export failed.")
        self.headline.setText("✗ Not exported")
        self.headline.setStyleSheet(f"color: {theme.current().error};")
        text = message if not refused else (
            "These layers cannot be expressed:\n" + "\n".join(f"  {line}" for line in refused))
        self.details.setPlainText(text)

    def _show_result(self, data: dict) -> None:
        comparisons = [ex.Comparison(**c) for c in data.get("comparisons", [])]
        result = ex.ExportResult(**{**data, "comparisons": comparisons})
        self.status_label.setText(f"Wrote {result.path}")
        if result.format == "weights":
            verdict = f"✓ Weights written: {result.message}"
        elif result.format == "onnx":
            verdict = (f"{'✓' if result.ok else '✗'} ONNX Runtime vs PyTorch: max abs difference "
                       f"{result.max_abs_diff:.2g} (allowed {result.tolerance:.2g}); "
                       f"onnx.checker {result.checker}")
        else:
            verdict = (f"{'✓' if result.ok else '✗'} Exported code vs the app (fresh Python): "
                       f"max abs difference {result.max_abs_diff:.2g}"
                       f"{', exactly equal' if result.ok else ''}")
        self.headline.setText(verdict)
        color = theme.SUCCESS_COLOR if result.ok else theme.current().error
        self.headline.setStyleSheet(f"color: {color};")
        self.details.setPlainText(result.summary())

    def _cleanup(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    # ---- closing ---------------------------------------------------------------------------

    def done(self, code: int) -> None:
        """Closing the dialog ends an export still running (its file is not written)."""
        self.command_runner.cancel(wait=True)
        super().done(code)
