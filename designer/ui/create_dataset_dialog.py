"""Create Dataset (as in Neural Network Console): from a folder of images with one sub-folder per
class, or from a table (a CSV file with a header row), with the options of
designer.core.dataset_create. The creation runs on a worker thread with a progress bar and
Cancel; the new folder appears only when it is complete, and can become the project's training
and validation datasets in one undoable step.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QSpinBox, QTabWidget, QVBoxLayout,
                               QWidget)

from designer.core.dataset_create import (TASKS, create_from_images, create_from_table,
                                          read_table, scan_image_folder, table_columns)
from designer.core.preprocessing import FIT_HELP, FITS
from designer.ui import dialogs
from designer.ui.worker import Task

if TYPE_CHECKING:
    from designer.ui.dataset_workspace import DatasetWorkspace
    from designer.ui.main_window import MainWindow

IMAGES, TABLE = 0, 1
# The engine's messages name command-line options; in the window they are these controls.
OPTION_NAMES = {"(--drop-bad-rows)": "(tick “Leave out rows with empty or non-numeric cells”)",
                "(--features)": "(untick it under Feature columns)",
                "(--task classification makes each value a class)":
                    "(Task: classification makes each value a class)",
                "--overwrite": "“Replace the folder if it already holds files”"}
STANDARDIZE = {"when the columns' scales differ": None, "yes": True, "no": False}


class CreateDatasetDialog(QDialog):
    def __init__(self, workspace: DatasetWorkspace, window: MainWindow):
        super().__init__(window)
        self.setWindowTitle("Create Dataset")
        self.workspace = workspace
        self.window_ = window
        self.created = None  # the last Created
        self.table = None  # the table read for the Table page
        self._out_edited = False
        self._task = Task(None, self)
        self._task.progress.connect(self._progress)
        self._task.done.connect(self._done)
        self._task.failed.connect(self._failed)
        self._task.cancelled.connect(lambda: self._finished("Cancelled: nothing was written."))
        self._look = Task(None, self)  # scanning a folder or reading a table
        self._look.done.connect(self._looked)
        self._look.failed.connect(lambda message: self._show(message, error=True))
        self._build()
        self.resize(620, 620)

    # ---- building ----------------------------------------------------------------------------

    def _path_row(self, edit: QLineEdit, browse) -> QHBoxLayout:
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row

    def _build(self) -> None:
        self.pages = QTabWidget()
        self.pages.addTab(self._build_images(), "From Images")
        self.pages.addTab(self._build_table(), "From a Table")
        self.split = QSpinBox(minimum=1, maximum=99, value=80, suffix=" % for training")
        self.split.setToolTip("Of each class alike; the rest validates")
        self.shuffle = QCheckBox("Shuffle before splitting", checked=True)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.out = QLineEdit()
        self.out.textEdited.connect(lambda _: setattr(self, "_out_edited", True))
        self.overwrite = QCheckBox("Replace the folder if it already holds files")
        self.use = QCheckBox("Use it as the project's training and validation datasets",
                             checked=True)
        common = QFormLayout()
        common.addRow("Split:", self.split)
        common.addRow("", self.shuffle)
        common.addRow("Seed:", self.seed)
        common.addRow("Output folder:", self._path_row(self.out, self._browse_out))
        common.addRow("", self.overwrite)
        common.addRow("", self.use)
        self.message = QLabel(wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.hide()
        self.buttons = QDialogButtonBox()
        self.create_button = self.buttons.addButton("Create",
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.create_button.clicked.connect(self.create)
        self.close_button.clicked.connect(self._close_or_cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addLayout(common)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)

    def _build_images(self) -> QWidget:
        self.folder = QLineEdit(placeholderText="a folder with one sub-folder of images per class")
        self.folder.editingFinished.connect(self._look_at_folder)
        self.width_box = QSpinBox(minimum=1, maximum=4096, value=28, suffix=" px wide")
        self.height_box = QSpinBox(minimum=1, maximum=4096, value=28, suffix=" px high")
        size = QHBoxLayout()
        size.addWidget(self.width_box)
        size.addWidget(QLabel("×"))
        size.addWidget(self.height_box)
        size.addStretch(1)
        self.gray = QCheckBox("Gray (one channel); otherwise colour (RGB)")
        self.fit = QComboBox()
        for fit in FITS:
            self.fit.addItem(f"{fit}: {FIT_HELP[fit]}", fit)
        self.found = QLabel(wordWrap=True)
        self.found.setProperty("role", "muted")
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Image folder:", self._path_row(self.folder, self._browse_folder))
        form.addRow("", self.found)
        form.addRow("Size:", size)
        form.addRow("", self.gray)
        form.addRow("Fit:", self.fit)
        return page

    def _build_table(self) -> QWidget:
        self.table_path = QLineEdit(placeholderText="a CSV file with a header row")
        self.table_path.editingFinished.connect(self._look_at_table)
        self.target = QComboBox()
        self.target.setEditable(True)  # a column may also be typed
        self.target.currentTextChanged.connect(self._target_changed)
        self.features = QListWidget()
        self.features.setToolTip("The columns the network reads (x); unticked columns are left "
                                 "out")
        self.task = QComboBox()
        self.task.addItems(TASKS)
        self.task.setToolTip("auto: text targets are classes, numbers are regression targets")
        self.standardize = QComboBox()
        self.standardize.addItems(list(STANDARDIZE))
        self.standardize.setToolTip("(value − mean) / std per feature, with the training rows' "
                                    "statistics, kept with the dataset")
        self.drop_bad = QCheckBox("Leave out rows with empty or non-numeric cells (they are "
                                  "listed)")
        page = QWidget()
        form = QFormLayout(page)
        form.addRow("Table:", self._path_row(self.table_path, self._browse_table))
        form.addRow("Target column (y):", self.target)
        form.addRow("Feature columns (x):", self.features)
        form.addRow("Task:", self.task)
        form.addRow("Standardise:", self.standardize)
        form.addRow("", self.drop_bad)
        return page

    # ---- choosing the source -----------------------------------------------------------------

    def _start_folder(self) -> str:
        project = self.window_.project
        return str(project.folder if project.path else Path.home())

    def _browse_folder(self) -> None:
        path = dialogs.choose_folder(self, "Choose the image folder", self._start_folder())
        if path is not None:
            self.set_image_folder(path)

    def set_image_folder(self, path: str | Path) -> None:
        self.pages.setCurrentIndex(IMAGES)
        self.folder.setText(str(path))
        self._look_at_folder()

    def _browse_table(self) -> None:
        path = dialogs.open_table_path(self, self._start_folder())
        if path is not None:
            self.set_table(path)

    def set_table(self, path: str | Path) -> None:
        self.pages.setCurrentIndex(TABLE)
        self.table_path.setText(str(path))
        self._look_at_table()

    def _browse_out(self) -> None:
        path = dialogs.choose_folder(self, "Choose the output folder", self._start_folder())
        if path is not None:
            self.out.setText(str(path))
            self._out_edited = True

    def _suggest_out(self, source: Path) -> None:
        if not self._out_edited:
            self.out.setText(str(source.parent / f"{source.stem}_dataset"))

    def _look_at_folder(self) -> None:
        text = self.folder.text().strip()
        if not text:
            return
        path = Path(text)
        self._suggest_out(path)
        self.found.setText("Looking at the folder…")
        self._look.start(lambda p, c: ("folder", scan_image_folder(path)))

    def _look_at_table(self) -> None:
        text = self.table_path.text().strip()
        if not text:
            return
        path = Path(text)
        self._suggest_out(path)
        self._show("Reading the table…")
        self._look.start(lambda p, c: ("table", read_table(path)))

    def _looked(self, found) -> None:
        kind, value = found
        if kind == "folder":
            counts = ", ".join(f"{name} ({n})" for name, n in list(value.counts().items())[:12])
            more = ", …" if len(value.classes) > 12 else ""
            skipped = f"; {len(value.skipped)} files are not images" if value.skipped else ""
            self.found.setText(f"{len(value.files):,} images in {len(value.classes)} classes: "
                               f"{counts}{more}{skipped}")
            self._show("")
            return
        self.table = value
        columns = table_columns(value)
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems([c.name for c in columns])
        texts = [c.name for c in columns if c.kind == "text"]
        self.target.setCurrentText(texts[-1] if texts else columns[-1].name)
        self.target.blockSignals(False)
        self.features.clear()
        for c in columns:
            item = QListWidgetItem(f"{c.name} — {c.kind}, {c.distinct} distinct, e.g. "
                                   f"{c.example}")
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.features.addItem(item)
        self._target_changed(self.target.currentText())
        self._show(f"{len(value.rows):,} rows, {len(columns)} columns")

    def _target_changed(self, target: str) -> None:
        for i in range(self.features.count()):
            item = self.features.item(i)
            is_target = item.data(Qt.ItemDataRole.UserRole) == target
            item.setHidden(is_target)

    def feature_names(self) -> list[str]:
        items = [self.features.item(i) for i in range(self.features.count())]
        return [item.data(Qt.ItemDataRole.UserRole) for item in items
                if not item.isHidden() and item.checkState() == Qt.CheckState.Checked]

    # ---- creating ----------------------------------------------------------------------------

    def create(self) -> None:
        if self._task.running:
            return
        out = self.out.text().strip()
        if not out:
            self._show("Choose the output folder first.", error=True)
            return
        common = dict(split=self.split.value(), shuffle=self.shuffle.isChecked(),
                      seed=self.seed.value(), overwrite=self.overwrite.isChecked())
        if self.pages.currentIndex() == IMAGES:
            source = self.folder.text().strip()
            if not source:
                self._show("Choose the image folder first.", error=True)
                return
            options = dict(size=(self.width_box.value(), self.height_box.value()),
                           gray=self.gray.isChecked(), fit=self.fit.currentData(), **common)
            work = lambda p, c: create_from_images(source, out, progress=p,  # noqa: E731
                                                   cancelled=c, **options)
        else:
            source = self.table_path.text().strip()
            if not source:
                self._show("Choose the table first.", error=True)
                return
            table = self.table if self.table is not None else source
            options = dict(target=self.target.currentText(), features=self.feature_names(),
                           task=self.task.currentText(),
                           standardize=STANDARDIZE[self.standardize.currentText()],
                           drop_bad_rows=self.drop_bad.isChecked(), **common)
            work = lambda p, c: create_from_table(table, out, progress=p,  # noqa: E731
                                                  cancelled=c, **options)
        self.created = None
        self.progress.setRange(0, 0)
        self.progress.show()
        self.create_button.setEnabled(False)
        self.close_button.setText("Cancel")
        self._show("Creating the dataset…")
        self._task.start(work)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _done(self, created) -> None:
        self.created = created
        lines = created.summary()
        if self.use.isChecked():
            images = self.pages.currentIndex() == IMAGES
            self.workspace.use_created(created.train, created.validation, images)
            lines.append("It is now the project's training and validation data (undo with "
                         "Ctrl+Z).")
        self._finished("\n".join(lines))

    def _failed(self, message: str) -> None:
        for option, control in OPTION_NAMES.items():
            message = message.replace(option, control)
        self._finished(message, error=True)

    def _finished(self, text: str, error: bool = False) -> None:
        self.progress.hide()
        self.create_button.setEnabled(True)
        self.close_button.setText("Close")
        self._show(text, error)

    def _show(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #dc2626;" if error else "")
        self.message.setText(text)

    def _close_or_cancel(self) -> None:
        if self._task.running:
            self._task.cancel()
        else:
            self.reject()

    def busy(self) -> bool:
        return self._task.running
