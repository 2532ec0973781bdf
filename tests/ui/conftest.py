"""Fixtures for driving the real designer window on the offscreen platform."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

import designer.ui  # noqa: F401  (before any Qt use: see designer/ui/__init__.py)
from PySide6.QtCore import QCoreApplication, QEvent, QSettings

from designer.ui import dialogs, recovery


@dataclass
class Dialogs:
    """Stands in for every dialog: records what the window showed, answers as told."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    infos: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    unsaved_answer: str = "discard"
    unsaved_asked: int = 0
    restore_answer: bool = True
    restore_asked: list[str] = field(default_factory=list)
    open_answer: Path | None = None
    save_answer: Path | None = None
    stop_training_answer: bool = True
    stop_training_asked: list[str] = field(default_factory=list)
    new_project_answer: object = None  # a new_project_dialog.Choice; None: the empty template
    dataset_answer: Path | None = None  # the dataset CSV file chosen with CSV File…
    folder_answer: Path | None = None
    table_answer: Path | None = None
    text_answers: list[str] = field(default_factory=list)  # names typed, in order


@pytest.fixture
def dialog_answers(monkeypatch) -> Dialogs:
    d = Dialogs()

    def ask_unsaved(parent, name):
        d.unsaved_asked += 1
        return d.unsaved_answer

    def ask_restore(parent, name, when):
        d.restore_asked.append(name)
        return d.restore_answer

    def ask_stop_training(parent, doing):
        d.stop_training_asked.append(doing)
        return d.stop_training_answer

    monkeypatch.setattr(dialogs, "warning",
                        lambda parent, title, text: d.warnings.append((title, text)))
    monkeypatch.setattr(dialogs, "ask_stop_training", ask_stop_training)
    monkeypatch.setattr(dialogs, "error", lambda parent, title, text: d.errors.append((title, text)))
    monkeypatch.setattr(dialogs, "info", lambda parent, title, text: d.infos.append((title, text)))
    monkeypatch.setattr(dialogs, "ask_unsaved", ask_unsaved)
    monkeypatch.setattr(dialogs, "ask_restore", ask_restore)
    monkeypatch.setattr(dialogs, "open_path", lambda parent, folder: d.open_answer)
    monkeypatch.setattr(dialogs, "save_path", lambda parent, suggested: d.save_answer)

    def choose_new_project(parent, folder):
        from designer.ui.new_project_dialog import Choice

        return d.new_project_answer or Choice("empty", "")

    monkeypatch.setattr(dialogs, "choose_new_project", choose_new_project)
    monkeypatch.setattr(dialogs, "open_dataset_path", lambda parent, folder: d.dataset_answer)
    monkeypatch.setattr(dialogs, "open_table_path", lambda parent, folder: d.table_answer)
    monkeypatch.setattr(dialogs, "choose_folder", lambda parent, title, folder: d.folder_answer)
    monkeypatch.setattr(dialogs, "ask_text", lambda parent, title, label, text="":
                        d.text_answers.pop(0) if d.text_answers else None)
    return d


@pytest.fixture
def settings(tmp_path, monkeypatch) -> QSettings:
    monkeypatch.setattr(recovery, "untitled_dir", lambda: tmp_path / "app-data" / "recovery")
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("theme", "dark")
    return s


@pytest.fixture
def make_window(qtbot, settings, dialog_answers):
    from designer.ui.main_window import MainWindow

    made = []

    def make():
        w = MainWindow(settings=settings)
        made.append(w)
        w.show()
        qtbot.waitExposed(w)
        return w

    yield make
    # Close and really delete each window, so later tests do not restyle or repaint it.
    dialog_answers.unsaved_answer = "discard"
    dialog_answers.stop_training_answer = True
    for w in made:
        w.close()
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def window(make_window):
    return make_window()
