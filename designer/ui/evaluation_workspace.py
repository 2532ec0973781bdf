"""The Evaluation workspace: how the current weights do on a dataset of the project (the run's
validation data, or any other, such as a test set), and trying them on one sample."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from designer.core.runs import run_name
from designer.ui.evaluation_view import EvaluationView
from designer.ui.try_model import TryModelPanel

if TYPE_CHECKING:
    from designer.ui.main_window import MainWindow

RUN_VALIDATION = ""  # the dataset choice "the run's validation data"


class EvaluationWorkspace(QWidget):
    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.run_dir: Path | None = None
        self.view = EvaluationView()
        self.try_panel = TryModelPanel()
        self.dataset_box = QComboBox()
        self.dataset_box.setToolTip("The data to evaluate the weights on: the validation data "
                                    "training held out, or another dataset of the project")
        self.dataset_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(lambda: self.evaluate(self.run_dir))
        self.weights_label = QLabel()
        self.weights_label.setProperty("role", "muted")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Evaluate on"))
        bar.addWidget(self.dataset_box)
        bar.addWidget(self.evaluate_button)
        bar.addSpacing(12)
        bar.addWidget(self.weights_label, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.try_panel)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        window.editor.settings_changed.connect(self._on_settings)
        self.refresh_datasets()
        self.set_weights_run(None)

    def _on_settings(self, block: str) -> None:
        if block == "datasets":
            self.refresh_datasets()

    def refresh_datasets(self) -> None:
        chosen = self.dataset_box.currentData()
        self.dataset_box.clear()
        self.dataset_box.addItem("validation data of the run", RUN_VALIDATION)
        for name, dataset in self.window.project.datasets.items():
            if name != "training":
                self.dataset_box.addItem(f"{name} ({Path(dataset.source).name})", name)
        index = self.dataset_box.findData(chosen)
        self.dataset_box.setCurrentIndex(max(index, 0))

    def choose_dataset(self, name: str) -> None:
        """Evaluate on the project's dataset ``name`` from now on ("" for the run's own)."""
        self.dataset_box.setCurrentIndex(max(self.dataset_box.findData(name), 0))

    def set_weights_run(self, run_dir: Path | None) -> None:
        self.run_dir = run_dir
        self.evaluate_button.setEnabled(run_dir is not None)
        self.weights_label.setText(f"Weights: {run_name(run_dir)}" if run_dir else
                                   "No weights yet: train the project first.")
        self.try_panel.set_run(run_dir)

    def project_replaced(self) -> None:
        self.refresh_datasets()
        self.view.clear("No evaluation of this project yet: train it, or pick a run in the "
                        "Training workspace and press Evaluate.")

    def evaluate(self, run_dir: Path | None) -> None:
        """Evaluate ``run_dir``'s weights on the chosen dataset."""
        if run_dir is None:
            return
        name = self.dataset_box.currentData() or RUN_VALIDATION
        dataset = self.window.project.datasets.get(name) if name else None
        if dataset is None:
            self.view.evaluate_run(run_dir)
            return
        source = dataset.source
        if not source.startswith("embedded:"):
            source = str(self.window.project.resolve(source).resolve())
        self.view.evaluate_run(run_dir, data=source, data_label=name)
