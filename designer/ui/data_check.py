"""The network checked against its data in the window, off the GUI thread.

After an edit of the network or of the datasets (and when a project opens), ``DataChecks``
waits a moment for more edits, then runs designer.core.data_checks.check_project on a copy of
the project in a worker thread, and reports the problems the data adds to what shape
inference found alone (an Input whose Size does not fit the data, class numbers beyond the
outputs, a missing or unreadable dataset). A dataset's variables are read once and kept until
its file changes, so a network edit is checked in milliseconds even for a big image set.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from designer.core.analysis import Problem, analyze
from designer.core.data import EMBEDDED_PREFIX, DataError
from designer.core.data_checks import NO_TRAINING_DATA, check_project
from designer.core.preview import VariableInfo, dataset_variables
from designer.core.project import Project, ProjectError
from designer.ui.worker import Task

DELAY_MS = 250  # edits come in bursts (typing, undo)
NO_DATASET = ("The project has no training dataset: choose one in the Dataset workspace "
              "(Ctrl+2).")


class VariablesCache:
    """Each dataset's variables, read once per version of its file (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._known: dict[tuple, dict[str, VariableInfo]] = {}

    @staticmethod
    def _key(source: str, folder: Path, normalize: bool) -> tuple:
        if source.startswith(EMBEDDED_PREFIX):
            return source, normalize
        path = Path(source) if Path(source).is_absolute() else folder / source
        try:
            stat = os.stat(path / "index.csv" if path.is_dir() else path)
        except OSError:
            return str(path), normalize, None  # missing: read (and fail) every time
        return str(path), normalize, stat.st_mtime_ns, stat.st_size

    def variables(self, source: str, folder: Path, normalize: bool) -> dict[str, VariableInfo]:
        key = self._key(source, folder, normalize)
        with self._lock:
            hit = self._known.get(key)
        if hit is not None:
            return hit
        found = dataset_variables(source, folder, normalize)
        if key[-1] is not None:
            with self._lock:
                self._known[key] = found
        return found


def check(project: Project, cache: VariablesCache) -> list[Problem]:
    """check_project with the training dataset's variables from ``cache``."""
    training = project.datasets.get("training")
    variables = None
    if training is not None:
        try:
            variables = cache.variables(training.source, project.folder, training.normalize)
        except DataError as e:
            try:
                return analyze(project.network()).problems + [Problem(None, None, str(e))]
            except ProjectError as error:
                return [Problem(None, None, str(error))]
    return check_project(project, variables)


def data_only(problems: list[Problem], plain: list[Problem]) -> list[Problem]:
    """The problems the data adds to shape inference's own, in words for the window."""
    known = {(p.node_id, p.message) for p in plain}
    extra = []
    for p in problems:
        if (p.node_id, p.message) in known:
            continue
        extra.append(Problem(None, None, NO_DATASET) if p.message == NO_TRAINING_DATA else p)
    return extra


class DataChecks(QObject):
    """Checks the editor's project against its data after edits; ``checked`` says when
    ``problems`` (the data's own problems, for the training network) are current."""

    checked = Signal()

    def __init__(self, window, delay_ms: int = DELAY_MS):
        super().__init__(window)
        self.window = window
        self.cache = VariablesCache()
        self.problems: list[Problem] = []
        self.network_name: str | None = None  # the network ``problems`` belong to
        self.current = False  # ``problems`` reflect the document as it is
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)
        self._task = Task(self._work, self)
        self._task.done.connect(self._finished)
        self._task.failed.connect(self._failed)
        self._snapshot: Project | None = None

    def schedule(self, data_changed: bool = False) -> None:
        """The document changed: check it again after a moment. When the data changed, what
        was found in the old data is forgotten at once."""
        self.current = False
        if data_changed:
            self.problems = []
        self._timer.start()

    def _work(self, progress, cancelled) -> list[Problem]:
        project = self._snapshot
        problems = check(project, self.cache)
        return data_only(problems, analyze(project.network()).problems)

    def _prepare(self) -> None:
        project = self.window.project
        try:
            self.network_name = project.network().name
        except ProjectError:
            self.network_name = None
        self._snapshot = project.copy()

    def _start(self) -> None:
        self._prepare()
        self._task.start()

    def _finished(self, problems: list[Problem]) -> None:
        if self._timer.isActive():  # edited again meanwhile: that check will report
            return
        self.problems = problems
        self.current = True
        self.checked.emit()

    def _failed(self, message: str) -> None:
        self._finished([Problem(None, None, f"the data could not be checked: {message}")])

    def check_now(self) -> list[Problem]:
        """Check at once in this thread (before training starts) and report."""
        self._timer.stop()
        self._task.abandon()
        self._prepare()
        problems = self._work(None, None)
        self._finished(problems)
        return problems

    def problems_for(self, network_name: str) -> list[Problem]:
        return self.problems if network_name == self.network_name else []
