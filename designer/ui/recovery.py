"""Autosave to a recovery file, and what the next start offers back.

A saved project ``model.nnd`` autosaves to ``model.nnd.recovery`` beside it (so relative
dataset paths still resolve); an untitled one to the app's data folder. The recovery file is
deleted when the project is saved or its changes are discarded; one left behind means the app
did not close properly.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from designer.core.project import Project, ProjectError, atomic_write, loads

SUFFIX = ".recovery"


def untitled_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "recovery"


def path_for(project_path: Path | None) -> Path:
    if project_path is not None:
        return project_path.with_name(project_path.name + SUFFIX)
    return untitled_dir() / f"untitled.nnd{SUFFIX}"


def original_of(recovery_file: Path) -> Path | None:
    """The project file a recovery file belongs to (None: an untitled project)."""
    if recovery_file.parent == untitled_dir():
        return None
    return recovery_file.with_name(recovery_file.name[:-len(SUFFIX)])


def write(project: Project) -> Path:
    target = path_for(project.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, project.to_json())
    return target


def pending(project_path: Path | None) -> Path | None:
    """The recovery file of ``project_path`` if it holds newer work than the project file."""
    rec = path_for(project_path)
    if not rec.is_file():
        return None
    if project_path is not None and project_path.is_file() and \
            rec.stat().st_mtime < project_path.stat().st_mtime:
        return None
    return rec


def read(recovery_file: Path) -> Project:
    """The autosaved project, with its path set back to the original file's."""
    try:
        text = recovery_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError(f"{recovery_file}: cannot read ({e})") from None
    project = loads(text, source=str(recovery_file))
    project.path = original_of(recovery_file)
    return project


def saved_at(recovery_file: Path) -> str:
    return datetime.fromtimestamp(recovery_file.stat().st_mtime).strftime("%Y-%m-%d %H:%M")


def discard(recovery_file: Path | None) -> None:
    if recovery_file is None:
        return
    try:
        recovery_file.unlink(missing_ok=True)
    except OSError:
        pass  # a stale recovery file is only offered once more; not worth an error
