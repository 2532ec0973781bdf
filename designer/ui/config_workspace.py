"""The Config workspace: every field of the project's training block as a form, with help text
and range checks. The optimizer's and the schedule's settings follow the chosen type; their
defaults, ranges and help come from designer.core.optim. With several optimizers, "Optimizer to
edit" picks the one whose solver, schedule and update interval the fields show.

The form is generated from field tables (``GENERAL``, ``HARDWARE`` and the optimizer's and
schedule's settings): a new training setting is one more ``Field``. Every accepted edit is an
undoable edit of the document (DocumentEditor.set_training); a value out of range stays in its
editor, outlined in red with the reason below, and changes nothing.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QScrollArea, QSpinBox, QWidget)

from designer.core import optim
from designer.core.config import MAX_UPDATE_INTERVAL, OptimizerConfig
from designer.core.imports import imported
from designer.core.project import (MAX_PROCESSES, MAX_SEED, MAX_WORKERS, PRECISIONS,
                                   SPEED_SWITCHES, Project, TrainingConfig)
from designer.ui.commands import DocumentEditor
from designer.ui.config_entries import add_entries, entries_key, show_summaries
from designer.ui.start_from import StartFromPanel
from designer.ui.worker import run_later

_INT_MAX = 2**31 - 1
EDITOR_WIDTH = 240
MAX_WIDTH = 1100  # help text beyond this is hard to read


@dataclass(frozen=True)
class Field:
    """One setting: ``key`` is a TrainingConfig attribute, or ``optimizer.NAME`` /
    ``schedule.NAME`` for a setting inside the edited optimizer's solver or schedule, or
    ``update_interval`` (the edited optimizer's)."""

    key: str
    label: str
    help: str
    kind: str  # "int", "whole" (an int beyond a spin box's range), "float", "percent" (a
    # fraction shown in percent), "bool" or "choice"
    low: float = -math.inf
    high: float = math.inf
    low_ok: bool = True
    choices: Callable[[Project], list[tuple[Any, str]]] | None = None


def _networks(project: Project) -> list[tuple[str, str]]:
    return [(n.name, n.name) for n in project.networks]


GENERAL = (
    Field("network", "Network to train", "The network the trainer compiles and trains.",
          "choice", choices=_networks),
    Field("epochs", "Epochs", "Passes over the whole training set.", "int", 1, 1_000_000),
    Field("batch_size", "Batch size", "Samples per training step: larger batches take more "
          "memory and fewer, steadier steps.", "int", 1, 10_000_000),
    Field("validation_split", "Validation split", "Share of the training set held out to "
          "validate, used only when the project has no validation dataset.", "percent", 0, 99),
    Field("seed", "Seed", "Starts the random numbers (initial weights, shuffling, the split): "
          "the same seed trains the same network again.", "whole", 0, MAX_SEED),
)
HARDWARE = (
    Field("device", "Device", "Where training runs: auto picks a CUDA GPU, then an Apple GPU, "
          "then the CPU.", "choice"),
    Field("precision", "Precision", "float: 32-bit. half: float16 with a gradient scaler on a "
          "CUDA GPU, bfloat16 elsewhere (faster, less memory). bfloat16 or float16 ask for one "
          "of them (float16 needs CUDA).", "choice",
          choices=lambda project: [(p, p) for p in PRECISIONS]),
)
BIGGER_RUNS = (
    Field("processes", "Processes", "Training processes on this machine (torchrun), each "
          "with a whole batch: one per GPU, or shares of the CPU.", "int", 1, MAX_PROCESSES),
    Field("workers", "Loader workers", "Processes that read a streamed dataset's images while "
          "the network trains (0: the training process reads them).", "int", 0, MAX_WORKERS),
    Field("sync_batchnorm", "Sync batch norm", "Batch statistics over every process's batch "
          "(several processes on CUDA GPUs).", "bool"),
    Field("deterministic", "Deterministic", "Deterministic algorithms only: the same seed "
          "gives bitwise the same run (can be slower).", "bool"),
) + tuple(
    Field(f"speed.{name}", name.replace("_", " ").capitalize(),
          f"{what[0].upper()}{what[1:]}{' (CUDA only)' if devices == ('cuda',) else ''}.",
          "bool")
    for name, (what, devices) in SPEED_SWITCHES.items())
UPDATE_INTERVAL = Field(
    "update_interval", "Update interval", "Mini-batches whose gradients are summed before each "
    "update (gradient accumulation): 1 updates after every mini-batch, 4 trains as on batches "
    "four times larger.", "int", 1, MAX_UPDATE_INTERVAL)
SETTING_LABELS = {"lr": "Learning rate", "beta1": "Beta 1", "beta2": "Beta 2",
                  "eps": "Epsilon", "weight_decay": "Weight decay", "momentum": "Momentum",
                  "rho": "Rho", "gamma": "Gamma", "step": "Step (epochs)",
                  "min_lr": "Final learning rate", "power": "Power",
                  "warmup": "Warm-up (epochs)"}


def setting_fields(block: str, kind: str) -> list[Field]:
    """The settings of optimizer or schedule ``kind``, with their ranges and help."""
    defaults = (optim.OPTIMIZERS[kind][2] if block == "optimizer"
                else optim.SCHEDULE_DEFAULTS[kind])
    ranges = optim.RANGES if block == "optimizer" else optim.SCHEDULE_RANGES
    fields = []
    for name, default in defaults.items():
        low, high, low_ok = ranges[name]
        whole = isinstance(default, int) and name != "warmup"
        fields.append(Field(f"{block}.{name}", SETTING_LABELS.get(name, name),
                            f"{optim.HELP[name][0].upper()}{optim.HELP[name][1:]} "
                            f"(default {default:g}).", "int" if whole else "float",
                            low, high, low_ok))
    return fields


def _block(training: TrainingConfig, block: str, index: int) -> dict:
    """The solver (``block`` "optimizer") or schedule of optimizer ``index``."""
    entry = training.optimizers[index]
    return entry.solver if block == "optimizer" else entry.schedule


def value_of(training: TrainingConfig, key: str, index: int = 0) -> Any:
    """The value of ``key``; optimizer settings are those of optimizer ``index``."""
    block, _, name = key.partition(".")
    if key == "update_interval":
        return training.optimizers[index].update_interval
    if not name:
        return getattr(training, key)
    if block == "speed":
        return training.speed.get(name, False)
    config = _block(training, block, index)
    kind = config.get("type", "constant")
    defaults = (optim.OPTIMIZERS[kind][2] if block == "optimizer"
                else optim.SCHEDULE_DEFAULTS[kind])
    return config.get(name, defaults.get(name))


def with_value(training: TrainingConfig, key: str, value: Any,
               index: int = 0) -> TrainingConfig:
    changed = copy.deepcopy(training)
    block, _, name = key.partition(".")
    if key == "update_interval":
        changed.optimizers[index].update_interval = value
    elif block == "speed":
        if value:
            changed.speed[name] = True
        else:
            changed.speed.pop(name, None)  # a switch is written only when on
    elif name == "type":
        setattr(changed.optimizers[index], "solver" if block == "optimizer" else "schedule",
                changed_type(_block(changed, block, index), block, value))
    elif name:
        _block(changed, block, index)[name] = value
    else:
        setattr(changed, key, value)
    return changed


def config_problem(training: TrainingConfig, index: int = 0) -> str | None:
    """What the trainer would refuse in optimizer ``index``'s settings (ranges, warm-up,
    final rate)."""
    entry = training.optimizers[index]
    try:
        settings = optim.optimizer_settings(entry.solver)
        optim.make_schedule(entry.schedule, settings["lr"], training.epochs)
    except optim.ConfigError as e:
        return str(e)
    return None


def changed_type(config: dict, block: str, kind: str) -> dict:
    """``config`` switched to type ``kind``: settings the new type has and the user changed
    from the old type's defaults are kept."""
    tables = optim.OPTIMIZERS if block == "optimizer" else optim.SCHEDULE_DEFAULTS
    old = config.get("type", "constant")
    old_defaults = tables[old][2] if block == "optimizer" else tables[old]
    new_defaults = tables[kind][2] if block == "optimizer" else tables[kind]
    kept = {k: v for k, v in config.items()
            if k != "type" and k in new_defaults and v != old_defaults.get(k)}
    return {"type": kind, **kept}


class _Editor:
    """One field's editor, the reason it was refused, and how to show a value."""

    def __init__(self, field: Field, widget: QWidget, hint: QLabel):
        self.field, self.widget, self.hint = field, widget, hint

    def show(self, value: Any) -> None:
        w = self.widget
        w.blockSignals(True)
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            index = w.findData(value)
            if index < 0:
                w.addItem(f"{value} (not available here)", value)
                index = w.count() - 1
            w.setCurrentIndex(index)
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(100 * float(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        else:
            w.setText(str(value) if isinstance(value, int) else f"{value:g}")
        w.blockSignals(False)
        self.refuse(None)

    def refuse(self, reason: str | None) -> None:
        self.hint.setText(reason or "")
        self.hint.setVisible(bool(reason))
        self.widget.setProperty("invalid", bool(reason))
        self.widget.style().unpolish(self.widget)
        self.widget.style().polish(self.widget)


class ConfigWorkspace(QScrollArea):
    def __init__(self, editor: DocumentEditor, window=None):
        super().__init__()
        self.editor = editor
        self.editors: dict[str, _Editor] = {}
        self.devices: list[tuple[str, str]] | None = None  # found on this machine, once
        self._shown_types = ("", "")
        self.current = 0  # the optimizer the Optimizer and schedule fields edit
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # where the weights start: a run's (transfer learning) or fresh ones
        self.start_panel = StartFromPanel(window) if window is not None else None
        editor.settings_changed.connect(self._on_settings)
        editor.project_replaced.connect(self.refresh)
        self.refresh()

    @property
    def training(self) -> TrainingConfig:
        return self.editor.project.training

    @property
    def edited(self):
        """The optimizer the fields edit."""
        return self.training.optimizers[self.current]

    # ---- building ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Show the document's values; the form is rebuilt when a type or the list changed."""
        if not self.training.optimizers:  # a file with none: the form edits a new one
            self.training.optimizers.append(OptimizerConfig(network=self.training.network))
        self.current = min(self.current, len(self.training.optimizers) - 1)
        types = (self.edited.solver.get("type"), self.edited.schedule.get("type", "constant"))
        networks = [n.name for n in self.editor.project.networks]
        shown = (networks, entries_key(self.training), self.current)
        if types != self._shown_types or shown != getattr(self, "_networks", None):
            self._build(types)
            self._networks = shown
        for key, editor in self.editors.items():
            editor.show(value_of(self.training, key, self.current))
        show_summaries(self)

    def edit_optimizer(self, index: int) -> None:
        """Show optimizer ``index``'s settings in the Optimizer and schedule fields."""
        self.current = index
        self.refresh()

    def _build(self, types: tuple[str, str]) -> None:
        """One grid for every section: label, editor, help; a refusal shows under its editor."""
        self._shown_types = types
        self.editors = {}
        page = QWidget()
        page.setMaximumWidth(MAX_WIDTH)
        grid = QGridLayout(page)
        grid.setContentsMargins(16, 12, 16, 12)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(2, 1)
        heading = QLabel("Training settings")
        heading.setProperty("role", "heading")
        grid.addWidget(heading, 0, 0, 1, 3)
        optimizer, schedule = types
        several = len(self.training.optimizers) > 1  # each row below names its network
        sections = (
            ("Training", [f for f in GENERAL if not (several and f.key == "network")]),
            ("Optimizer", [Field("optimizer.type", "Optimizer", "How the weights follow the "
                                 "gradients; its settings follow.", "choice",
                                 choices=lambda p: [(k, k) for k in optim.OPTIMIZERS])]
             + setting_fields("optimizer", optimizer) + [UPDATE_INTERVAL]),
            ("Learning-rate schedule", [Field(
                "schedule.type", "Schedule", "How the learning rate changes over the epochs "
                "(after the warm-up).", "choice",
                choices=lambda p: [(k, k) for k in optim.SCHEDULE_DEFAULTS])]
             + setting_fields("schedule", schedule)),
            ("Hardware", HARDWARE),
            ("Bigger runs", BIGGER_RUNS),
        )
        row = 1
        for title, fields in sections:
            row = self._add_section(grid, row, title)
            if title == "Optimizer":
                row = self._add_optimizer_choice(grid, row)
            for field in fields:
                row = self._add_field(grid, row, field)
        row = add_entries(self, grid, row)
        if self.start_panel is not None:  # moves to the new page (the old one is deleted)
            row = self._add_section(grid, row, "Start from a run")
            grid.addWidget(self.start_panel, row, 0, 1, 3)
            row += 1
        grid.setRowStretch(row, 1)
        outer = QWidget()
        box = QHBoxLayout(outer)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(page)
        box.addStretch(1)
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()
        self.setWidget(outer)

    def _add_optimizer_choice(self, grid: QGridLayout, row: int) -> int:
        """"Optimizer to edit", shown only when there are several."""
        self.optimizer_choice = None
        optimizers = self.training.optimizers
        if len(optimizers) < 2:
            return row
        box = QComboBox()
        for index, entry in enumerate(optimizers):
            box.addItem(f"{entry.name} (trains {entry.network})", index)
        box.setCurrentIndex(self.current)
        box.setFixedWidth(EDITOR_WIDTH)
        box.setToolTip("The optimizer whose settings the fields below show and edit")
        box.activated.connect(lambda index: self.edit_optimizer(index))
        label = QLabel("Optimizer to edit:")
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        help_label = QLabel("Each optimizer trains its network with its own solver, schedule "
                            "and update interval; pick the one the fields below edit.",
                            wordWrap=True)
        help_label.setProperty("role", "muted")
        grid.addWidget(label, row, 0)
        grid.addWidget(box, row, 1)
        grid.addWidget(help_label, row, 2)
        self.optimizer_choice = box
        return row + 1

    @staticmethod
    def _add_section(grid: QGridLayout, row: int, title: str) -> int:
        section = QLabel(title)
        section.setProperty("role", "section")
        section.setStyleSheet("font-weight: 600; padding-top: 10px;")
        grid.addWidget(section, row, 0, 1, 3)
        return row + 1

    def _add_field(self, grid: QGridLayout, row: int, field: Field) -> int:
        widget = self._make_editor(field)
        widget.setToolTip(field.help)
        widget.setFixedWidth(EDITOR_WIDTH)
        label = QLabel(f"{field.label}:")
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        help_label = QLabel(field.help, wordWrap=True)
        help_label.setProperty("role", "muted")
        hint = QLabel(wordWrap=True)
        hint.setProperty("role", "hint")
        hint.hide()
        grid.addWidget(label, row, 0)
        grid.addWidget(widget, row, 1)
        grid.addWidget(help_label, row, 2)
        grid.addWidget(hint, row + 1, 1, 1, 2)
        self.editors[field.key] = _Editor(field, widget, hint)
        return row + 2

    def _make_editor(self, field: Field) -> QWidget:
        if field.kind == "bool":
            check = QCheckBox()
            check.clicked.connect(lambda on, f=field: self.commit(f, on))
            return check
        if field.kind == "choice":
            box = QComboBox()
            for value, text in self._choices(field):
                box.addItem(text, value)
            box.activated.connect(lambda _, f=field, b=box: self.commit(f, b.currentData()))
            return box
        if field.kind in ("int", "percent"):
            spin = QSpinBox() if field.kind == "int" else QDoubleSpinBox()
            if field.kind == "percent":
                spin.setDecimals(1)
                spin.setSuffix(" %")
            spin.setRange(int(max(field.low, -_INT_MAX)), int(min(field.high, _INT_MAX)))
            spin.setKeyboardTracking(False)  # one edit on Enter or leaving the box
            scale = 0.01 if field.kind == "percent" else 1
            spin.valueChanged.connect(
                lambda v, f=field, s=scale: self.commit(f, round(v * s, 6) if s != 1 else v))
            return spin
        edit = QLineEdit()
        edit.editingFinished.connect(lambda f=field, e=edit: self.commit_text(f, e.text()))
        return edit

    def _choices(self, field: Field) -> list[tuple[Any, str]]:
        if field.key == "device":
            found = self.devices or [("cpu", "CPU")]
            return [("auto", "auto (the best available)")] + found
        return field.choices(self.editor.project)

    # ---- the devices of this machine, found without delaying the window ----------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.devices is None:
            self.devices = []  # asked once
            run_later(_find_devices, self._found_devices, lambda message: None, self)

    def _found_devices(self, devices: list[tuple[str, str]]) -> None:
        self.devices = devices
        editor = self.editors.get("device")
        if editor is None:
            return
        box = editor.widget
        box.clear()
        for value, text in self._choices(editor.field):
            box.addItem(text, value)
        editor.show(self.training.device)

    # ---- edits ---------------------------------------------------------------------------------

    def commit_text(self, field: Field, text: str) -> None:
        editor = self.editors[field.key]
        whole = field.kind == "whole"
        try:
            value = int(text.strip()) if whole else float(text.strip())
        except ValueError:
            editor.refuse(f"{text.strip()!r} is not a {'whole ' * whole}number")
            return
        low, high = field.low, field.high
        if (not whole and not math.isfinite(value)) or value < low \
                or (value == low and not field.low_ok) \
                or value > high:
            bound = f"at least {low:g}" if field.low_ok else f"more than {low:g}"
            if high != math.inf:
                bound += f" and at most {high if whole else format(high, 'g')}"
            editor.refuse(f"must be {bound}")
            return
        self.commit(field, value)

    def commit(self, field: Field, value: Any) -> None:
        """Set ``field`` to ``value`` as one undoable edit, unless the trainer would refuse
        the settings (the reason then shows under the editor)."""
        editor = self.editors[field.key]
        changed = with_value(self.training, field.key, value, self.current)
        problem = config_problem(changed, self.current)
        if problem:
            editor.refuse(problem)
            return
        editor.refuse(None)
        what = field.label.lower()
        if len(self.training.optimizers) > 1 and (field.key == "update_interval"
                                                  or "." in field.key
                                                  and not field.key.startswith("speed.")):
            what = f"{self.edited.name}'s {what}"  # which optimizer, in the Edit menu
        if isinstance(value, bool):
            text = f"Turn {what} {'on' if value else 'off'}"
        else:
            text = f"Set {what} to {value:g}" if isinstance(value, float) \
                else f"Set {what} to {value}"
        self.editor.set_training(changed, text)

    def _on_settings(self, block: str) -> None:
        if block == "training":
            self.refresh()


def _find_devices() -> list[tuple[str, str]]:
    session = imported("designer.core.session")  # torch loads here, off the GUI thread
    return session.available_devices()
