"""The Config workspace's list of optimizers, monitors and executors (Neural Network Console's
Config): each with its name, the network and dataset it uses, chosen from the project's, and
what it does in words. Optimizers and monitors are added and removed here; the fields above
the list edit the optimizer chosen in "Optimizer to edit". Each change is one undoable edit of
the training settings."""
from __future__ import annotations

import copy

from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QWidget)

from designer.core.config import MonitorConfig, OptimizerConfig, TrainingConfig
from designer.core.project import unused_name

KINDS = (("optimizers", "Optimizer"), ("monitors", "Monitor"), ("executors", "Executor"))
# fixed widths, so the rows line up: name, network, dataset
WIDTHS = (90, 140, 110)


def entries_key(training: TrainingConfig) -> tuple:
    """What the list shows: a change of it rebuilds the list."""
    return tuple((kind, e.name, e.network, e.dataset) for kind, _ in KINDS
                 for e in getattr(training, kind))


def summary(kind: str, index: int, entry, edited: int = 0) -> str:
    if kind == "optimizers":
        solver, schedule = entry.solver, entry.schedule.get("type", "constant")
        text = (f"{solver.get('type')}, learning rate {solver.get('lr', 0.001):g}, {schedule} "
                f"schedule, update every {entry.update_interval} mini-batch"
                f"{'es' * (entry.update_interval > 1)}")
        return text + (" (the fields above)" if index == edited else "")
    if kind == "monitors":
        return "scored every monitor interval; the one on validation picks the best weights"
    return ("what evaluation and export use" if index == 0
            else "kept for Neural Network Console (only the first runs)")


def show_summaries(workspace) -> None:
    """Each entry's words again (an optimizer's follow its settings)."""
    training = workspace.training
    for (kind, index), label in workspace.entry_summaries.items():
        label.setText(summary(kind, index, getattr(training, kind)[index], workspace.current))


def add_entries(workspace, grid: QGridLayout, row: int) -> int:
    """Rows for every optimizer, monitor and executor under a heading, then Add Optimizer and
    Add Monitor; returns the next row."""
    project = workspace.editor.project
    training = project.training
    networks = [n.name for n in project.networks]
    datasets = list(dict.fromkeys([*project.datasets, "validation"]))
    section = QLabel("Optimizers, monitors and executors")
    section.setProperty("role", "section")
    section.setStyleSheet("font-weight: 600; padding-top: 10px;")
    grid.addWidget(section, row, 0, 1, 3)
    row += 1
    workspace.entry_boxes, workspace.entry_names, workspace.remove_buttons = {}, {}, {}
    workspace.entry_summaries = {}
    for kind, title in KINDS:
        for index, entry in enumerate(getattr(training, kind)):
            boxes = QWidget()
            line = QHBoxLayout(boxes)
            line.setContentsMargins(0, 0, 0, 0)
            name = QLineEdit(entry.name)
            name.setFixedWidth(WIDTHS[0])
            name.setToolTip(f"The {title.lower()}'s name (Enter renames it)")
            name.editingFinished.connect(lambda k=kind, i=index, e=name:
                                         _rename(workspace, k, i, e))
            line.addWidget(name)
            workspace.entry_names[(kind, index)] = name
            for attr, names, width in (("network", networks, WIDTHS[1]),
                                       ("dataset", datasets, WIDTHS[2])):
                box = QComboBox()
                box.setFixedWidth(width)
                box.addItems(names if getattr(entry, attr) in names
                             else [*names, getattr(entry, attr)])
                box.setCurrentText(getattr(entry, attr))
                box.setToolTip(f"The {attr} {title.lower()} {entry.name} uses")
                box.activated.connect(lambda _, k=kind, i=index, a=attr, b=box:
                                      _commit(workspace, k, i, a, b.currentText()))
                line.addWidget(box)
                workspace.entry_boxes[(kind, index, attr)] = box
            remove = QPushButton("Remove")
            if kind == "executors":  # NNC's executors come from the project as they are
                policy = remove.sizePolicy()
                policy.setRetainSizeWhenHidden(True)  # hidden, it keeps the summaries in line
                remove.setSizePolicy(policy)
                remove.hide()
                line.addWidget(remove)
            else:
                remove.setToolTip(f"Remove {title.lower()} {entry.name}")
                remove.clicked.connect(lambda _=False, k=kind, i=index: _remove(workspace, k, i))
                line.addWidget(remove)
                workspace.remove_buttons[(kind, index)] = remove
            text = QLabel(wordWrap=True)
            text.setProperty("role", "muted")
            line.addWidget(text, 1)
            workspace.entry_summaries[(kind, index)] = text
            grid.addWidget(QLabel(f"{title}:"), row, 0)
            grid.addWidget(boxes, row, 1, 1, 2)  # beside the form's help, not widening it
            row += 1
    buttons = QWidget()
    line = QHBoxLayout(buttons)
    line.setContentsMargins(0, 0, 0, 0)
    workspace.add_optimizer_button = QPushButton("Add Optimizer")
    workspace.add_optimizer_button.setToolTip(
        "A new Adam optimizer training the first network no optimizer trains yet, on the "
        "training dataset")
    workspace.add_optimizer_button.clicked.connect(lambda: add_optimizer(workspace))
    workspace.add_monitor_button = QPushButton("Add Monitor")
    workspace.add_monitor_button.setToolTip(
        "A new monitor scoring the executor's network on the validation dataset")
    workspace.add_monitor_button.clicked.connect(lambda: add_monitor(workspace))
    line.addWidget(workspace.add_optimizer_button)
    line.addWidget(workspace.add_monitor_button)
    line.addStretch(1)
    grid.addWidget(buttons, row, 1, 1, 2)
    workspace.entries_hint = QLabel(wordWrap=True)
    workspace.entries_hint.setProperty("role", "hint")
    workspace.entries_hint.hide()
    grid.addWidget(workspace.entries_hint, row + 1, 1, 1, 2)
    return row + 2


def _refuse(workspace, reason: str | None) -> None:
    workspace.entries_hint.setText(reason or "")
    workspace.entries_hint.setVisible(bool(reason))


def add_optimizer(workspace) -> None:
    """Adam on the training data, for the first network no optimizer trains yet."""
    training = workspace.training
    trained = {o.network for o in training.optimizers}
    networks = [n.name for n in workspace.editor.project.networks]
    network = next((n for n in networks if n not in trained), networks[0])
    changed = copy.deepcopy(training)
    entry = OptimizerConfig(name=unused_name("Optimizer", {e.name for e in training.optimizers}),
                            network=network, dataset="training")
    changed.optimizers.append(entry)
    _refuse(workspace, None)
    workspace.current = len(changed.optimizers) - 1  # its settings show in the fields
    workspace.editor.set_training(changed, f"Add optimizer {entry.name}")


def add_monitor(workspace) -> None:
    """A monitor of the executor's network (what evaluation uses) on the validation data."""
    training = workspace.training
    network = training.executors[0].network if training.executors else training.network
    changed = copy.deepcopy(training)
    entry = MonitorConfig(name=unused_name("valid_error", {e.name for e in training.monitors}),
                          network=network, dataset="validation")
    changed.monitors.append(entry)
    _refuse(workspace, None)
    workspace.editor.set_training(changed, f"Add monitor {entry.name}")


def _remove(workspace, kind: str, index: int) -> None:
    training = workspace.training
    entry = getattr(training, kind)[index]
    if kind == "optimizers" and len(training.optimizers) == 1:
        _refuse(workspace, f"Optimizer {entry.name} is the only one: training needs at least "
                           "one optimizer (add another first).")
        return
    _refuse(workspace, None)
    changed = copy.deepcopy(training)
    del getattr(changed, kind)[index]
    if kind == "optimizers" and index < workspace.current:
        workspace.current -= 1  # the same optimizer stays in the fields
    workspace.editor.set_training(changed, f"Remove {dict(KINDS)[kind].lower()} {entry.name}")


def _rename(workspace, kind: str, index: int, edit: QLineEdit) -> None:
    training = workspace.training
    entries = getattr(training, kind)
    if index >= len(entries):  # left as the list was rebuilt without it
        return
    old, name = entries[index].name, edit.text().strip()
    if name == old:
        return
    title = dict(KINDS)[kind].lower()
    if not name or any(e.name == name for e in entries):
        _refuse(workspace, f"{title.capitalize()} {old} keeps its name: "
                           + (f"another {title} is named {name}" if name else
                              "a name must not be empty"))
        edit.setText(old)
        return
    _refuse(workspace, None)
    changed = copy.deepcopy(training)
    getattr(changed, kind)[index].name = name
    workspace.editor.set_training(changed, f"Rename {title} {old} to {name}")


def _commit(workspace, kind: str, index: int, attr: str, value: str) -> None:
    training = workspace.editor.project.training
    entry = getattr(training, kind)[index]
    if getattr(entry, attr) == value:
        return
    changed = copy.deepcopy(training)
    setattr(getattr(changed, kind)[index], attr, value)
    title = dict(KINDS)[kind].lower()
    workspace.editor.set_training(changed, f"Set {title} {entry.name}'s {attr} to {value}")
