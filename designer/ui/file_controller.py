"""Project files in the window: New, Open, Save, Save As, recent projects and samples, and the
autosave that protects unsaved work (the recovery file, offered again on the next start).

A broken project file is refused with the loader's message and the open project stays as it
was; closing or replacing a project with unsaved edits asks first.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMenu

import designer
from designer.core import nnc
from designer.core.data import DataError
from designer.core.project import (SUFFIX, Dataset, Project, ProjectError, load,
                                   rebase_datasets)
from designer.core.templates import TemplateError, new_project
from designer.ui import dialogs, recovery

if TYPE_CHECKING:
    from designer.ui.main_window import MainWindow

SAMPLES = Path(designer.__file__).resolve().parent.parent / "projects"
AUTOSAVE_MS = 60_000
MAX_RECENT = 8


class FileController(QObject):
    """Opens, saves and autosaves the window's project; remembers recent files."""

    def __init__(self, window: MainWindow, autosave_ms: int = AUTOSAVE_MS):
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        self.recovery_file: Path | None = None
        self.autosave = QTimer(self)
        self.autosave.setInterval(autosave_ms)
        self.autosave.timeout.connect(self.autosave_now)
        self.autosave.start()

    @property
    def project(self) -> Project:
        return self.window.project

    def show(self, project: Project, modified: bool) -> None:
        """Put ``project`` in the window; modified work is autosaved beside its file."""
        self.recovery_file = recovery.path_for(project.path) if modified else None
        self.window.show_project(project, modified)

    # ---- new, open, save ------------------------------------------------------------------

    def maybe_save(self) -> bool:
        """Before the document is replaced or closed: True when it is fine to go on."""
        if self.window.editor.undo_stack.isClean():
            return True
        answer = dialogs.ask_unsaved(self.window, self.project.name)
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.drop_recovery()
            return True
        return False

    def _may_close_project(self, doing: str) -> bool:
        return self.window.training.stop_training_first(doing) and self.maybe_save()

    def new_project(self) -> None:
        """File → New: a template (empty, or one sized from a dataset) chosen in a dialog."""
        if not self._may_close_project("start a new project"):
            return
        folder = str(self.settings.value("last_folder", str(Path.home())))
        choice = dialogs.choose_new_project(self.window, folder)
        if choice is None:
            return
        datasets = {"training": Dataset(choice.training)} if choice.training else {}
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # reads the dataset
        try:
            project = new_project(choice.template, datasets)
        except (TemplateError, DataError) as e:
            dialogs.error(self.window, "Cannot start the project", str(e))
            return
        finally:
            QApplication.restoreOverrideCursor()
        self.drop_recovery()
        self.show(project, modified=False)

    def open_dialog(self) -> None:
        folder = str(self.project.folder if self.project.path else
                     self.settings.value("last_folder", str(Path.home())))
        path = dialogs.open_path(self.window, folder)
        if path is not None:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike) -> bool:
        """Open a project file. A broken file is refused with the loader's message and the
        open project stays as it was."""
        path = Path(path).absolute()
        if path.suffix.lower() == nnc.SUFFIX:
            return self.open_nnc(path)
        try:
            project = load(path)
        except ProjectError as e:
            dialogs.error(self.window, "Cannot open project", str(e))
            return False
        if not self._may_close_project("open another project"):
            return False
        self.drop_recovery()
        modified = False
        pending = recovery.pending(path)
        if pending is not None:
            restored = self._offer(pending, path.name)
            if restored is not None:
                project, modified = restored, True
        self.show(project, modified)
        self._remember(path)
        return True

    def open_nnc(self, path: Path) -> bool:
        """Open a Neural Network Console project as a new, unsaved project; what could not be
        carried over (and any dataset not found) is said in one message."""
        try:
            imported = nnc.import_project(path)
        except nnc.NncError as e:
            dialogs.error(self.window, "Cannot open Neural Network Console project", str(e))
            return False
        if not self._may_close_project("open another project"):
            return False
        self.drop_recovery()
        self.show(imported.project, modified=True)
        self.settings.setValue("last_folder", str(path.parent))
        message = imported.message()
        if message:
            dialogs.info(self.window, "Opened Neural Network Console project",
                         f"{path.name} opened as a new project.\n\n{message}")
        return True

    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self.save_to(self.project.path)

    def save_as(self) -> bool:
        current = self.project.path
        suggested = str(current if current else
                        Path(str(self.settings.value("last_folder", str(Path.home()))))
                        / f"{self.project.name}.nnd")
        path = dialogs.save_path(self.window, suggested)
        if path is None:
            return False
        if path.suffix.lower() == nnc.SUFFIX:
            return self.save_nnc(path.absolute())
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        return self.save_to(path.absolute())

    def save_nnc(self, path: Path) -> bool:
        """Write a copy for Neural Network Console; the project itself stays as it is (its
        file, its unsaved state)."""
        try:
            notes = nnc.write_project(self.project, path)
        except (nnc.NncError, OSError) as e:
            dialogs.error(self.window, "Cannot save for Neural Network Console", f"{path}: {e}")
            return False
        self.settings.setValue("last_folder", str(path.parent))
        if notes:
            dialogs.info(self.window, "Saved for Neural Network Console",
                         f"Wrote {path}.\n\n" + "\n".join(f"- {n}" for n in notes))
        self.window.statusBar().showMessage(f"Saved a Neural Network Console copy to {path}",
                                            4000)
        return True

    def save_to(self, path: Path) -> bool:
        project, window = self.project, self.window
        old_path, old_name = project.path, project.name
        if old_path is None or path.parent != old_path.parent:
            rebase_datasets(project, path.parent)
        if old_path is None:  # files chosen before the project had a folder: relative now
            relative_datasets(project, path.parent)
        if old_path != path and project.name in ("untitled", old_path.stem if old_path else ""):
            project.name = path.stem
        try:
            project.save(path)
        except (ProjectError, OSError) as e:
            project.name = old_name
            dialogs.error(window, "Cannot save project", f"{path}: {e}")
            return False
        self.drop_recovery()
        window.editor.undo_stack.setClean()
        if path != old_path:
            window.training.project_moved(path)
        self._remember(path)
        window.update_title()
        window.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def close(self) -> None:
        """The window closes after its project was saved or discarded."""
        self.drop_recovery()
        self.autosave.stop()

    # ---- autosave and recovery ------------------------------------------------------------

    def autosave_now(self) -> Path | None:
        """Write unsaved work to the recovery file (every minute, from the timer)."""
        if self.window.editor.undo_stack.isClean():
            return None
        try:
            target = recovery.write(self.project)
        except OSError as e:
            self.window.statusBar().showMessage(f"Autosave failed: {e}", 6000)
            return None
        if self.recovery_file is not None and self.recovery_file != target:
            self.drop_recovery()
        self.recovery_file = target
        pending = self._pending_recoveries()
        if target not in pending:
            self.settings.setValue("recovery/files", [str(p) for p in pending + [target]])
        return target

    def offer_recovery(self) -> bool:
        """At start without a file: offer the work of a session that did not end properly."""
        for rec in self._pending_recoveries():
            original = recovery.original_of(rec)
            if original is not None and recovery.pending(original) != rec:
                continue
            restored = self._offer(rec, original.name if original else "an untitled project")
            if restored is not None:
                self.show(restored, modified=True)
                return True
        return False

    def _offer(self, rec: Path, name: str) -> Project | None:
        """Ask to restore ``rec``; the restored project, or None (the file is then deleted)."""
        if dialogs.ask_restore(self.window, name, recovery.saved_at(rec)):
            try:
                return recovery.read(rec)
            except ProjectError as e:
                dialogs.error(self.window, "Cannot restore",
                              f"The autosaved copy is damaged:\n{e}")
        self._forget_recovery(rec)
        recovery.discard(rec)
        return None

    def _pending_recoveries(self) -> list[Path]:
        files = self.settings.value("recovery/files", []) or []
        if isinstance(files, str):
            files = [files]
        return [Path(f) for f in files if Path(f).is_file()]

    def _forget_recovery(self, rec: Path) -> None:
        self.settings.setValue("recovery/files",
                               [str(p) for p in self._pending_recoveries() if p != rec])

    def drop_recovery(self) -> None:
        if self.recovery_file is not None:
            self._forget_recovery(self.recovery_file)
            recovery.discard(self.recovery_file)
            self.recovery_file = None

    # ---- recent files and samples ---------------------------------------------------------

    def recent_files(self) -> list[Path]:
        files = self.settings.value("recent/files", []) or []
        if isinstance(files, str):
            files = [files]
        return [Path(f) for f in files]

    def _remember(self, path: Path) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent/files", [str(p) for p in files[:MAX_RECENT]])
        self.settings.setValue("last_folder", str(path.parent))

    def fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        files = [p for p in self.recent_files() if p.is_file()]
        for p in files:
            menu.addAction(f"{p.name}  —  {p.parent}", lambda p=p: self.open_path(p))
        if not files:
            menu.addAction("No recent projects").setEnabled(False)

    def samples(self) -> list[Path]:
        return sorted(SAMPLES.glob("*.nnd")) if SAMPLES.is_dir() else []

    def fill_samples(self, menu: QMenu) -> None:
        menu.clear()
        samples = self.samples()
        for p in samples:
            menu.addAction(p.stem, lambda p=p: self.open_path(p))
        if not samples:
            menu.addAction("No samples found").setEnabled(False)


def relative_datasets(project: Project, folder: Path) -> None:
    """Dataset files given by absolute path, stored relative to ``folder`` (the project's)."""
    for dataset in project.datasets.values():
        source = Path(dataset.source)
        if dataset.source.startswith("embedded:") or not source.is_absolute():
            continue
        try:
            dataset.source = Path(os.path.relpath(source, folder)).as_posix()
        except ValueError:  # another drive (Windows)
            pass
