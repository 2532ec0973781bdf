"""Training → Start From Run…: the next run starts from a trained run's weights.

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

from designer.core import runs
from designer.ui import dialogs

if TYPE_CHECKING:
    from designer.core.transfer import InitReport
    from designer.ui.main_window import MainWindow


def choose_run(window: MainWindow) -> None:
    """Ask for a run folder, check it against the network and set it."""
    project = window.project
    start = runs.runs_folder(project.path) if project.path is not None else Path.home()
    run_dir = dialogs.run_folder(window, str(start if start.is_dir() else start.parent))
    if run_dir is not None:
        start_from(window, run_dir)


def start_from(window: MainWindow, run_dir: Path, weights: str | None = None) -> bool:
    """Set ``training.init`` to ``run_dir`` (its best weights, else its last) after checking
    that layers fit; False (and a message) when none does."""
    from designer.core.transfer import InitError, check  # torch: not at start-up

    weights = weights or runs.run_weights(run_dir) or "best"
    project = window.project
    try:
        report = check(project.network(), run_dir, weights)
    except InitError as e:
        dialogs.error(window, "Cannot start from this run", str(e))
        return False
    _set_init(window, {"run": _stored(run_dir, project.path), "weights": weights},
              f"Start From Run {runs.run_name(run_dir)}")
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
