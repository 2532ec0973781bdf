"""File → New: a template (designer.core.templates) and, optionally, a training dataset that
sizes it, so the new project trains at once."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout)

from designer.core.data import EMBEDDED, EMBEDDED_PREFIX
from designer.core.templates import TEMPLATES
from designer.ui import dialogs

NO_DATASET = ""


@dataclass
class Choice:
    template: str
    training: str  # a dataset source ("" for none): embedded:NAME or a CSV file's path


class NewProjectDialog(QDialog):
    def __init__(self, parent=None, folder: str = ""):
        super().__init__(parent)
        self.setWindowTitle("New Project")
        self.folder = folder
        self.templates = QListWidget()
        for template in TEMPLATES.values():
            item = QListWidgetItem(f"{template.name}\n    {template.description}")
            item.setData(Qt.ItemDataRole.UserRole, template.name)
            self.templates.addItem(item)
        self.templates.setCurrentRow(0)
        self.dataset = QComboBox()
        self.dataset.addItem("none (choose one later in the Dataset workspace)", NO_DATASET)
        for name, (_, description) in EMBEDDED.items():
            self.dataset.addItem(f"{EMBEDDED_PREFIX}{name} — {description}",
                                 f"{EMBEDDED_PREFIX}{name}")
        file_button = QPushButton("CSV File…")
        file_button.clicked.connect(self._choose_file)
        row = QHBoxLayout()
        row.addWidget(self.dataset, 1)
        row.addWidget(file_button)
        note = QLabel("With a training dataset, the template sizes its Input and its output "
                      "from the data, so the project trains at once.", wordWrap=True)
        note.setProperty("role", "muted")
        form = QFormLayout()
        form.addRow("Training data:", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.templates.itemDoubleClicked.connect(lambda _: self.accept())
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Template:"))
        layout.addWidget(self.templates, 1)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(560, 460)

    def _choose_file(self) -> None:
        path = dialogs.open_dataset_path(self, self.folder)
        if path is not None:
            self.dataset.addItem(str(path), str(path))
            self.dataset.setCurrentIndex(self.dataset.count() - 1)

    def choose(self, template: str, training: str = NO_DATASET) -> None:
        for i in range(self.templates.count()):
            if self.templates.item(i).data(Qt.ItemDataRole.UserRole) == template:
                self.templates.setCurrentRow(i)
        index = self.dataset.findData(training)
        if index < 0:
            self.dataset.addItem(training, training)
            index = self.dataset.count() - 1
        self.dataset.setCurrentIndex(index)

    def choice(self) -> Choice:
        item = self.templates.currentItem()
        return Choice(item.data(Qt.ItemDataRole.UserRole) if item else "empty",
                      self.dataset.currentData() or NO_DATASET)

