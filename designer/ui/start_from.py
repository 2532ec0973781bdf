"""Training → Start From Run… (and the Config workspace's panel, ``StartFromPanel``): the next
run starts from a trained run's weights.

The choice is the project's ``training.init`` setting, set as one undoable edit. Picking the
run shows what it would give: the layers that take its weights, and those left at their
initialisation with the reason (a shape that does not fit names both). A run none of whose
layers fit is refused, and the project stays as it was. The status bar names the run while the
setting holds; the trainer's own report arrives as its run starts.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from designer.core import runs
from designer.core.imports import imported
from designer.ui import dialogs

if TYPE_CHECKING:
    from designer.core.transfer import InitReport
    from designer.ui.main_window import MainWindow


def choose_run(window: MainWindow, tell: bool = True) -> None:
    """Ask for a run folder, check it against the network and set it."""
    project = window.project
    start = runs.runs_folder(project.path) if project.path is not None else Path.home()
    run_dir = dialogs.start_run_folder(window, str(start if start.is_dir() else start.parent))
    if run_dir is not None:
        start_from(window, run_dir, tell=tell)


def start_from(window: MainWindow, run_dir: Path, weights: str | None = None,
               tell: bool = True) -> bool:
    """Set ``training.init`` to ``run_dir`` (its best weights, else its last) after checking
    that layers fit; False (and a message) when none does. ``tell``: show what it takes
    (where no panel shows it already)."""
    transfer = imported("designer.core.transfer")  # torch: not at start-up, one importer

    weights = weights or runs.run_weights(run_dir) or "best"
    project = window.project
    try:
        report = transfer.check(project.network(), run_dir, weights)
    except transfer.InitError as e:
        dialogs.error(window, "Cannot start from this run", str(e))
        return False
    _set_init(window, {"run": _stored(run_dir, project.path), "weights": weights},
              f"Start From Run {runs.run_name(run_dir)}")
    if tell:
        dialogs.info(window, "Start from run", report_text(report))
    return True


def start_fresh(window: MainWindow) -> None:
    """Training → Start From Scratch: the next run starts from fresh initial weights."""
    _set_init(window, None, "Start From Scratch")


def _set_init(window: MainWindow, init: dict | None, text: str) -> None:
    training = copy.deepcopy(window.project.training)
    training.init = init
    window.editor.set_training(training, text)


def _stored(run_dir: Path, project_path: Path | None) -> str:
    """The run as the project keeps it: relative to a saved project file, else absolute."""
    run_dir = run_dir.resolve()
    if project_path is None:
        return str(run_dir)
    try:
        return Path(os.path.relpath(run_dir, project_path.resolve().parent)).as_posix()
    except ValueError:  # another drive (Windows)
        return str(run_dir)


def report_text(report: InitReport) -> str:
    lines = report.lines()
    lines[0] = lines[0][0].upper() + lines[0][1:]
    return "\n".join(lines)


def describe(window: MainWindow) -> str:
    """The status bar's note while ``training.init`` is set ("" when it is not)."""
    init = window.project.training.init
    if not init:
        return ""
    run_dir = window.project.resolve(init["run"])
    return f"Starts from: {runs.run_name(run_dir)} ({init['weights']})"


def init_event_text(event: dict) -> str:
    """The trainer's init report, in one status-bar line."""
    taken, left = event.get("taken") or [], event.get("left") or []
    text = (f"Started from run {Path(str(event.get('run', ''))).name}: {len(taken)} layer"
            f"{'s' * (len(taken) != 1)} taken")
    if left:
        text += "; left at their initialisation: " + "; ".join(
            f"{x.get('layer')} ({x.get('reason')})" for x in left if isinstance(x, dict))
    return text


class StartFromPanel(QWidget):
    """The run the next training starts from, with what it gives each layer: a run to
    choose, its best or last weights, or fresh initial weights. It follows the document (an
    edit of the network or of training.init shows at once)."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None):
        super().__init__(parent)
        self.window = window
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.weights_box = QComboBox()
        for which in runs.WEIGHTS:
            self.weights_box.addItem(f"{which} weights", which)
        self.weights_box.activated.connect(self._weights_chosen)
        self.choose_button = QPushButton("Choose Run…")
        self.choose_button.clicked.connect(lambda: choose_run(window, tell=False))
        self.fresh_button = QPushButton("Start From Scratch")
        self.fresh_button.clicked.connect(lambda: start_fresh(window))
        self.report_label = QLabel()  # the layers taken and left, or why the run does not fit
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        for widget in (self.choose_button, self.weights_box, self.fresh_button):
            row.addWidget(widget)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.run_label)
        layout.addLayout(row)
        layout.addWidget(self.report_label)
        editor = window.editor
        editor.settings_changed.connect(lambda block: block == "training" and self.refresh())
        editor.changed.connect(lambda change: change.affects_analysis and self.refresh())
        editor.project_replaced.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Show the current setting; checking the run waits until the panel is seen (it
        compiles the network's shapes and reads the run's weights)."""
        self._stale = not self.isVisible()
        if self._stale:
            return
        init = self.window.project.training.init
        self.weights_box.setEnabled(bool(init))
        self.fresh_button.setEnabled(bool(init))
        if not init:
            self.run_label.setText("Training starts from fresh initial weights (the layers' "
                                   "initializers, drawn from the seed).")
            self.report_label.setText("Choose a run to start from its weights instead: layers "
                                      "whose names and weight shapes match take them.")
            return
        run_dir = self.window.project.resolve(init["run"])
        self.weights_box.setCurrentIndex(self.weights_box.findData(init["weights"]))
        self.run_label.setText(f"Training starts from run {runs.run_name(run_dir)} "
                               f"({run_dir}).")
        self.report_label.setText(self.report(run_dir, init["weights"]))

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def report(self, run_dir: Path, weights: str) -> str:
        transfer = imported("designer.core.transfer")  # torch: not at start-up, one importer

        try:
            return report_text(transfer.check(self.window.project.network(), run_dir,
                                              weights))
        except transfer.InitError as e:
            return f"Training would stop: {e}"

    def _weights_chosen(self) -> None:
        init = self.window.project.training.init
        which = self.weights_box.currentData()
        if init and which != init["weights"]:
            _set_init(self.window, {**init, "weights": which}, f"Start From {which} Weights")
