"""The Dataset workspace: the project's datasets (training, validation and any more by name,
such as a test set) in a list, and for the chosen one its source (an embedded dataset, or a
dataset CSV file stored relative to the project), shuffle, image normalisation and a preview.

Every change is an undoable edit of the document (DocumentEditor.set_datasets). A row without
a source (a validation set not chosen yet, a name just added) is not in the document: choosing
its source adds it.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from designer.core.data import EMBEDDED, EMBEDDED_PREFIX
from designer.core.project import DATASET_NAME, DATASET_ROLES, Dataset
from designer.ui import dialogs
from designer.ui.commands import DocumentEditor
from designer.ui.dataset_preview import DatasetPreview
from designer.ui.workspaces import DATASET

if TYPE_CHECKING:
    from designer.ui.main_window import MainWindow

NONE = "(none)"
STREAM_CHOICES = (("auto", "in memory, streamed from their files when too big"),
                  ("always", "always streamed from their files (DataLoader workers)"),
                  ("never", "always in memory"))
ROLE_HELP = {"training": "the samples the network learns from",
             "validation": "samples held out to measure the network after each epoch (without "
                           "one, training holds out part of the training set)"}


def ordered(datasets: dict[str, Dataset]) -> dict[str, Dataset]:
    """Training and validation first, then the others in their order."""
    first = {k: datasets[k] for k in DATASET_ROLES if k in datasets}
    return {**first, **{k: v for k, v in datasets.items() if k not in first}}


class DatasetWorkspace(QWidget):
    def __init__(self, editor: DocumentEditor, window: MainWindow):
        super().__init__()
        self.editor = editor
        self.window = window
        self.current: str = "training"
        self.extra_rows: list[str] = []  # names added in the list, no source chosen yet
        self.create_dialog = None
        self._build()
        editor.settings_changed.connect(self._on_settings)
        window.project_changed.connect(self._on_project)
        self.refresh()

    @property
    def project(self):
        return self.editor.project

    # ---- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_list())
        split.addWidget(self._build_settings())
        split.setStretchFactor(1, 1)
        split.setSizes([260, 1100])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    def _build_list(self) -> QWidget:
        """Left: the datasets, with Add, Rename, Remove and Create Dataset."""
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Dataset", "Source"])
        self.list.setRootIsDecorated(False)
        self.list.setColumnWidth(0, 90)
        self.list.currentItemChanged.connect(self._on_row)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a dataset under a name of its own, e.g. a test set to "
                                   "evaluate on")
        self.add_button.clicked.connect(self._ask_add)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._ask_rename)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.remove_dataset(self.current))
        self.create_button = QPushButton("Create Dataset…")
        self.create_button.setToolTip("Make a dataset from a folder of images (one sub-folder "
                                      "per class) or from a table (CSV with a header row)")
        self.create_button.clicked.connect(self.create_dataset)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.rename_button, self.remove_button):
            buttons.addWidget(button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 6)
        left_layout.addWidget(self.list, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.create_button)
        return left

    def _build_settings(self) -> QWidget:
        """Right: the chosen dataset's source and options, and its preview."""
        self.heading = QLabel()
        self.heading.setProperty("role", "heading")
        self.role_help = QLabel(wordWrap=True)
        self.role_help.setProperty("role", "muted")
        self.source_box = QComboBox()
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source_box.activated.connect(self._source_chosen)
        self.file_button = QPushButton("CSV File…")
        self.file_button.setToolTip("A dataset CSV file in Neural Network Console's format "
                                    "(first line x:image,y:label or x__0,x__1,…,y)")
        self.file_button.clicked.connect(self.choose_csv)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_box, 1)
        source_row.addWidget(self.file_button)
        self.shuffle_check = QCheckBox("Shuffle the samples every epoch")
        self.shuffle_check.clicked.connect(lambda on: self._set_option("shuffle", on))
        self.normalize_check = QCheckBox("Image normalization: divide pixel values by 255")
        self.normalize_check.setToolTip("Images are stored as 0…255; most networks train better "
                                        "on 0…1 (Neural Network Console's Image Normalization)")
        self.normalize_check.clicked.connect(lambda on: self._set_option("normalize", on))
        self.cache_check = QCheckBox("Cache: decode the images once into a file beside the CSV")
        self.cache_check.setToolTip("Later runs read the decoded images from the cache while "
                                    "the CSV and its images are unchanged (Neural Network "
                                    "Console's Enable Cache)")
        self.cache_check.clicked.connect(lambda on: self._set_option("cache", on))
        self.stream_box = QComboBox()
        for value, text in STREAM_CHOICES:
            self.stream_box.addItem(text, value)
        self.stream_box.activated.connect(
            lambda i: self._set_option("stream", self.stream_box.itemData(i)))
        stream_row = QHBoxLayout()
        stream_row.addWidget(self.stream_box)
        stream_row.addStretch(1)
        form = QFormLayout()
        form.addRow("Source:", source_row)
        form.addRow("", self.shuffle_check)
        form.addRow("", self.normalize_check)
        form.addRow("", self.cache_check)
        form.addRow("Images:", stream_row)
        self.preview = DatasetPreview()
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 6, 6, 6)
        right_layout.addWidget(self.heading)
        right_layout.addWidget(self.role_help)
        right_layout.addLayout(form)
        right_layout.addWidget(self.preview, 1)
        return right

    # ---- following the document ------------------------------------------------------------

    def _on_settings(self, block: str) -> None:
        if block == "datasets":
            self.refresh()

    def _on_project(self) -> None:
        self.extra_rows = []
        self.current = "training"
        self.refresh()

    def names(self) -> list[str]:
        """The rows of the list: training and validation always, then the others."""
        names = list(DATASET_ROLES) + [k for k in self.project.datasets if k not in DATASET_ROLES]
        return names + [k for k in self.extra_rows if k not in names]

    def refresh(self) -> None:
        """The list and the chosen dataset's settings, from the document."""
        datasets = self.project.datasets
        self.extra_rows = [k for k in self.extra_rows if k not in datasets]
        if self.current not in self.names():
            self.current = "training"
        self.list.blockSignals(True)
        self.list.clear()
        for name in self.names():
            dataset = datasets.get(name)
            item = QTreeWidgetItem([name, dataset.source if dataset else NONE])
            item.setToolTip(1, dataset.source if dataset else "no source chosen")
            self.list.addTopLevelItem(item)
            if name == self.current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._show_current()

    def _on_row(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.current = item.text(0)
            self._show_current()

    def select(self, name: str) -> None:
        for i in range(self.list.topLevelItemCount()):
            if self.list.topLevelItem(i).text(0) == name:
                self.list.setCurrentItem(self.list.topLevelItem(i))

    def _show_current(self) -> None:
        name = self.current
        dataset = self.project.datasets.get(name)
        self.heading.setText(f"Dataset: {name}")
        self.role_help.setText(ROLE_HELP.get(name, "a dataset of its own: evaluate on it in "
                                                   "the Evaluation workspace; training reads "
                                                   "only training and validation"))
        self._fill_sources(dataset.source if dataset else None)
        for check, value in ((self.shuffle_check, dataset.shuffle if dataset else True),
                             (self.normalize_check, dataset.normalize if dataset else False),
                             (self.cache_check, dataset.cache if dataset else False)):
            check.setChecked(value)
            check.setEnabled(dataset is not None)
        self.stream_box.setCurrentIndex(max(self.stream_box.findData(
            dataset.stream if dataset else "auto"), 0))
        embedded = dataset is not None and dataset.source.startswith(EMBEDDED_PREFIX)
        self.stream_box.setEnabled(dataset is not None and not embedded)
        if embedded:  # in memory, and their images are 0…1 already
            self.normalize_check.setEnabled(False)
            self.cache_check.setEnabled(False)
        self.rename_button.setEnabled(dataset is not None)
        self.remove_button.setEnabled(dataset is not None or name in self.extra_rows)
        if dataset is None:
            self.preview.clear("Choose an embedded dataset, or a dataset CSV file with "
                               "CSV File…, or make one with Create Dataset….")
        else:
            self.preview.show_dataset(dataset.source, self.project.folder, dataset.normalize)

    def _fill_sources(self, source: str | None) -> None:
        box = self.source_box
        box.clear()
        box.addItem(NONE, None)
        for name, (_, description) in EMBEDDED.items():
            box.addItem(f"{EMBEDDED_PREFIX}{name} — {description}", f"{EMBEDDED_PREFIX}{name}")
        if source is not None and box.findData(source) < 0:
            box.addItem(source, source)
        box.setCurrentIndex(max(box.findData(source), 0) if source is not None else 0)

    # ---- edits -----------------------------------------------------------------------------------

    def _source_chosen(self, index: int) -> None:
        source = self.source_box.itemData(index)
        if source is None:
            self.remove_dataset(self.current)
        else:
            self.choose_source(source)

    def choose_source(self, source: str, name: str | None = None) -> None:
        """Give dataset ``name`` (the chosen one by default) ``source``; undoable."""
        name = name or self.current
        datasets = dict(self.project.datasets)
        old = datasets.get(name)
        datasets[name] = replace(old, source=source) if old else Dataset(source)
        self.editor.set_datasets(ordered(datasets), f"Set the {name} dataset to {source}")

    def choose_csv(self) -> None:
        folder = str(self.project.folder if self.project.path else
                     self.window.settings.value("last_folder", str(Path.home())))
        path = dialogs.open_dataset_path(self, folder)
        if path is not None:
            self.choose_source(self.stored_path(path))

    def stored_path(self, path: str | Path) -> str:
        """A path as the project stores it: relative to the project file, when it has one."""
        path = Path(path).absolute()
        if self.project.path is None:
            return str(path)
        try:
            return Path(os.path.relpath(path, self.project.folder)).as_posix()
        except ValueError:  # another drive (Windows)
            return str(path)

    def _set_option(self, option: str, value: bool | str) -> None:
        name = self.current
        datasets = dict(self.project.datasets)
        if name not in datasets:
            return
        datasets[name] = replace(datasets[name], **{option: value})
        if option == "stream":
            text = f"Stream the images of {name}: {value}"
        else:
            what = {"shuffle": "shuffle", "normalize": "image normalization",
                    "cache": "the image cache"}[option]
            text = f"Turn {what} {'on' if value else 'off'} for {name}"
        self.editor.set_datasets(datasets, text)

    def name_problem(self, name: str) -> str | None:
        if not DATASET_NAME.fullmatch(name):
            return f"{name!r}: a dataset name is letters, digits, _ and -"
        if name in self.names():
            return f"there is already a dataset named {name!r}"
        return None

    def _ask_add(self) -> None:
        taken = self.names()
        suggestion = next(n for n in ("test", "test_2", "test_3", "extra") if n not in taken)
        name = dialogs.ask_text(self, "Add a dataset", "Name of the new dataset:", suggestion)
        if name:
            self.add_dataset(name)

    def add_dataset(self, name: str) -> None:
        """A new row named ``name``; it joins the project when its source is chosen."""
        problem = self.name_problem(name)
        if problem:
            dialogs.error(self, "Cannot add the dataset", problem)
            return
        self.extra_rows.append(name)
        self.current = name
        self.refresh()

    def _ask_rename(self) -> None:
        name = dialogs.ask_text(self, "Rename the dataset", f"New name for {self.current}:",
                                self.current)
        if name and name != self.current:
            self.rename_dataset(self.current, name)

    def rename_dataset(self, old: str, new: str) -> None:
        problem = self.name_problem(new)
        if problem and new not in DATASET_ROLES:
            dialogs.error(self, "Cannot rename the dataset", problem)
            return
        if new in self.project.datasets:
            dialogs.error(self, "Cannot rename the dataset",
                          f"there is already a dataset named {new!r}")
            return
        datasets = {new if k == old else k: v for k, v in self.project.datasets.items()}
        self.current = new
        self.editor.set_datasets(ordered(datasets), f"Rename dataset {old} to {new}")

    def remove_dataset(self, name: str) -> None:
        if name in self.extra_rows:
            self.extra_rows.remove(name)
            self.refresh()
            return
        datasets = {k: v for k, v in self.project.datasets.items() if k != name}
        self.editor.set_datasets(datasets, f"Remove the {name} dataset")

    def use_created(self, train: Path, validation: Path, images: bool) -> None:
        """A created dataset becomes the project's training and validation data: one step."""
        datasets = dict(self.project.datasets)
        for name, path in (("training", train), ("validation", validation)):
            old = datasets.get(name)
            datasets[name] = Dataset(self.stored_path(path), old.shuffle if old else True,
                                     images or (old.normalize if old else False))
        self.current = "training"
        self.editor.set_datasets(ordered(datasets), f"Use the dataset in {train.parent.name}")

    def create_dataset(self) -> None:
        from designer.ui.create_dataset_dialog import CreateDatasetDialog

        self.window.show_workspace(DATASET)
        if self.create_dialog is None:
            self.create_dialog = CreateDatasetDialog(self, self.window)
        self.create_dialog.open()
