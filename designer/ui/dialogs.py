"""Every question, message and pop-up menu the window puts to the user, in one place.

The window calls these through the module (``dialogs.error(...)``), so tests replace them with
monkeypatch and drive the real window without a modal dialog in the way.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from designer.core.project import SUFFIX

NNC_SUFFIX = ".sdcproj"
NNC_FILTER = f"Neural Network Console projects (*{NNC_SUFFIX})"
OPEN_FILTER = (f"Projects (*{SUFFIX} *{NNC_SUFFIX});;nn-designer projects (*{SUFFIX});;"
               f"{NNC_FILTER};;All files (*)")
SAVE_FILTER = f"nn-designer projects (*{SUFFIX});;{NNC_FILTER}"


def show_menu(menu: QMenu, global_pos: QPoint) -> None:
    menu.exec(global_pos)


def error(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, text)


def info(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)


def warning(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.warning(parent, title, text)


def ask_stop_training(parent: QWidget | None, doing: str) -> bool:
    """A run is training: stop it to go on with ``doing`` (e.g. "open another project")?"""
    box = QMessageBox(QMessageBox.Icon.Question, "Training in progress",
                      f"A training run is in progress. Stop it to {doing}?", parent=parent)
    box.setInformativeText("The run stops after its current step; its weights so far are saved.")
    stop = box.addButton("Stop Training", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is stop


def ask_unsaved(parent: QWidget | None, name: str) -> str:
    """'save', 'discard' or 'cancel'."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                      f"Save the changes to {name} first?", parent=parent)
    box.setInformativeText("Your changes are lost if you don't save them.")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard |
                           QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")


def ask_restore(parent: QWidget | None, name: str, saved_at: str) -> bool:
    """Offer the autosaved copy of a project that was not closed properly."""
    answer = QMessageBox.question(
        parent, "Restore unsaved work?",
        f"nn-designer found unsaved changes to {name} from {saved_at} (the app did not close "
        "properly).\n\nRestore them? If you don't, they are deleted.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


def open_path(parent: QWidget | None, folder: str) -> Path | None:
    """A project to open: ours (.nnd) or Neural Network Console's (.sdcproj)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open project", folder, OPEN_FILTER)
    return Path(path) if path else None


def save_path(parent: QWidget | None, suggested: str) -> Path | None:
    """Where to save: a .nnd project, or a .sdcproj copy for Neural Network Console (chosen by
    the file type; a name without a suffix takes the chosen type's)."""
    path, chosen = QFileDialog.getSaveFileName(parent, "Save project as", suggested, SAVE_FILTER)
    if not path:
        return None
    path = Path(path)
    if path.suffix not in (SUFFIX, NNC_SUFFIX):
        path = path.with_name(path.name + (NNC_SUFFIX if chosen == NNC_FILTER else SUFFIX))
    return path


def start_run_folder(parent: QWidget | None, start: str) -> Path | None:
    """A run folder to start training from (one holding project.nnd and weights)."""
    path = QFileDialog.getExistingDirectory(parent, "Start from the weights of run", start)
    return Path(path) if path else None


def project_file(parent: QWidget | None, title: str, folder: str) -> Path | None:
    """A project file (.nnd) to read, such as the student of a distillation."""
    path, _ = QFileDialog.getOpenFileName(parent, title, folder,
                                          f"nn-designer projects (*{SUFFIX});;All files (*)")
    return Path(path) if path else None


def save_file(parent: QWidget | None, title: str, suggested: str) -> Path | None:
    """Where to write a file the app makes (a compressed model, say)."""
    path, _ = QFileDialog.getSaveFileName(parent, title, suggested)
    return Path(path) if path else None


DATASET_FILTER = "Dataset CSV files (*.csv);;All files (*)"


def open_dataset_path(parent: QWidget | None, folder: str) -> Path | None:
    """A dataset CSV file in Neural Network Console's format."""
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a dataset CSV file", folder,
                                          DATASET_FILTER)
    return Path(path) if path else None


def open_table_path(parent: QWidget | None, folder: str) -> Path | None:
    """A table (CSV with a header row) to create a dataset from."""
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a table", folder,
                                          "Tables (*.csv *.tsv *.txt);;All files (*)")
    return Path(path) if path else None


def choose_folder(parent: QWidget | None, title: str, folder: str) -> Path | None:
    path = QFileDialog.getExistingDirectory(parent, title, folder)
    return Path(path) if path else None


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
    """One line of text, or None when cancelled."""
    from PySide6.QtWidgets import QInputDialog

    value, ok = QInputDialog.getText(parent, title, label, text=text)
    return value.strip() if ok else None


def choose_new_project(parent: QWidget | None, folder: str):
    """File → New: a template and an optional training dataset (new_project_dialog.Choice),
    or None when cancelled."""
    from designer.ui.new_project_dialog import NewProjectDialog

    dialog = NewProjectDialog(parent, folder)
    return dialog.choice() if dialog.exec() else None


def run_folder(parent: QWidget | None, folder: str) -> Path | None:
    """File → Watch Run…: the folder of one run (on a shared or synced disk)."""
    path = QFileDialog.getExistingDirectory(parent, "Watch a run: choose its folder", folder)
    return Path(path) if path else None
