"""The Config workspace's list of optimizers, monitors and executors (Neural Network Console's
Config): each with the network and dataset it uses, chosen from the project's, and what it
does in words. The fields above the list edit the first optimizer; each change here is one
undoable edit of the training settings."""
from __future__ import annotations

import copy

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QWidget

from designer.core.config import TrainingConfig

KINDS = (("optimizers", "Optimizer"), ("monitors", "Monitor"), ("executors", "Executor"))


def entries_key(training: TrainingConfig) -> tuple:
    """What the list shows: a change of it rebuilds the list."""
    return tuple((kind, e.name, e.network, e.dataset) for kind, _ in KINDS
                 for e in getattr(training, kind))


def summary(kind: str, index: int, entry) -> str:
    if kind == "optimizers":
        solver, schedule = entry.solver, entry.schedule.get("type", "constant")
        text = (f"{solver.get('type')}, learning rate {solver.get('lr', 0.001):g}, {schedule} "
                f"schedule, update every {entry.update_interval} mini-batch"
                f"{'es' * (entry.update_interval > 1)}")
        return text + (" (the fields above)" if index == 0 else "")
    if kind == "monitors":
        return "scored every monitor interval; the one on validation picks the best weights"
    return ("what evaluation and export use" if index == 0
            else "kept for Neural Network Console (only the first runs)")


def add_entries(workspace, grid: QGridLayout, row: int) -> int:
    """Rows for every optimizer, monitor and executor under a heading; returns the next row."""
    project = workspace.editor.project
    training = project.training
    networks = [n.name for n in project.networks]
    datasets = list(dict.fromkeys([*project.datasets, "validation"]))
    section = QLabel("Optimizers, monitors and executors")
    section.setProperty("role", "section")
    section.setStyleSheet("font-weight: 600; padding-top: 10px;")
    grid.addWidget(section, row, 0, 1, 3)
    row += 1
    workspace.entry_boxes = {}
    for kind, title in KINDS:
        for index, entry in enumerate(getattr(training, kind)):
            label = QLabel(f"{title} {entry.name}:")
            boxes = QWidget()
            line = QHBoxLayout(boxes)
            line.setContentsMargins(0, 0, 0, 0)
            for attr, names in (("network", networks), ("dataset", datasets)):
                box = QComboBox()
                box.addItems(names if getattr(entry, attr) in names
                             else [*names, getattr(entry, attr)])
                box.setCurrentText(getattr(entry, attr))
                box.setToolTip(f"The {attr} {title.lower()} {entry.name} uses")
                box.activated.connect(lambda _, k=kind, i=index, a=attr, b=box:
                                      _commit(workspace, k, i, a, b.currentText()))
                line.addWidget(box)
                workspace.entry_boxes[(kind, index, attr)] = box
            text = QLabel(summary(kind, index, entry), wordWrap=True)
            text.setProperty("role", "muted")
            grid.addWidget(label, row, 0)
            grid.addWidget(boxes, row, 1)
            grid.addWidget(text, row, 2)
            row += 1
    return row


def _commit(workspace, kind: str, index: int, attr: str, value: str) -> None:
    training = workspace.editor.project.training
    entry = getattr(training, kind)[index]
    if getattr(entry, attr) == value:
        return
    changed = copy.deepcopy(training)
    setattr(getattr(changed, kind)[index], attr, value)
    title = dict(KINDS)[kind].lower()
    workspace.editor.set_training(changed, f"Set {title} {entry.name}'s {attr} to {value}")
