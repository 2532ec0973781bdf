"""The properties panel: the selected layer's name and properties, with an editor that fits
each property's kind, and what the analysis says about it (output, parameters, error).

Editors never change the document themselves: a valid value goes to the DocumentEditor as an
undoable edit; a bad one stays in the editor, outlined in red, with the parser's hint below.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import nodes
from nodes import Prop
from nodes.spec import is_expression
from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame,
                               QLabel, QLineEdit, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from designer.core.analysis import Analysis
from designer.ui import theme
from designer.ui.commands import DocumentEditor, name_problem

_INT_LIMIT = 2**31 - 1


class FloatSpinBox(QDoubleSpinBox):
    """A spin box that shows floats as typed (0.001, 1e-05), not padded to fixed decimals."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)  # keep the value as typed; textFromValue decides the display
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:  # noqa: N802
        return f"{value:.10g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            partial = all(c in "0123456789.eE+-" for c in stripped)
            state = QValidator.State.Intermediate if partial else QValidator.State.Invalid
            return state, text, pos
        if not math.isfinite(value) or not self.minimum() <= value <= self.maximum():
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos


class PropertiesPanel(QScrollArea):
    def __init__(self, editor: DocumentEditor, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}   # property name (and "Name") -> editor
        self.hints: dict[str, QLabel] = {}
        self._setters: dict[str, Callable[[Any], None]] = {}
        self._values: dict[str, Any] = {}
        self.info: dict[str, QLabel] = {}
        self.show_node(None)

    # ---- building ------------------------------------------------------------------------

    def show_node(self, node_id: str | None, count: int = 1) -> None:
        """Show one layer's properties, or a hint when none (or several) are selected."""
        self.node_id = node_id
        self.editors, self.hints, self._setters, self.info = {}, {}, {}, {}
        self._values: dict[str, Any] = {}  # what the editors show, as document values
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()  # an editor may be inside its own signal right now
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        if node_id is None:
            text = (f"{count} layers selected." if count > 1
                    else "Select a layer to see and edit its properties.")
            label = QLabel(text, wordWrap=True)
            label.setProperty("role", "muted")
            layout.addWidget(label)
            layout.addStretch(1)
            self.setWidget(page)
            return

        node = self.editor.network.node(node_id)
        spec = node.spec
        heading = QLabel(node.name)
        heading.setProperty("role", "heading")
        layout.addWidget(heading)
        self.heading = heading
        chip = QLabel(f"<span style='color:{theme.CATEGORY_COLORS.get(spec.category)}'>●</span>"
                      f" {spec.name} · {spec.category}")
        chip.setProperty("role", "muted")
        layout.addWidget(chip)
        help_label = QLabel(spec.help, wordWrap=True)
        help_label.setProperty("role", "muted")
        layout.addWidget(help_label)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(6)
        self._add_name_editor(form, node.name)
        for prop in spec.props:
            self._add_prop_editor(form, prop, node.props.get(prop.name, prop.default))
        layout.addLayout(form)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        facts = QFormLayout()
        facts.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in ("Output", "Parameters", "Mult-adds"):
            self.info[key] = QLabel(textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
            facts.addRow(f"{key}:", self.info[key])
        layout.addLayout(facts)
        self.info["Error"] = QLabel(wordWrap=True)
        self.info["Error"].setProperty("role", "hint")
        layout.addWidget(self.info["Error"])
        layout.addStretch(1)
        self.setWidget(page)

    def _hint(self, key: str) -> QLabel:
        hint = QLabel(wordWrap=True)
        hint.setProperty("role", "hint")
        hint.hide()
        self.hints[key] = hint
        return hint

    def _field(self, editor: QWidget, hint: QLabel | None) -> QWidget:
        if hint is None:
            return editor
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        v.addWidget(editor)
        v.addWidget(hint)
        return box

    def _add_name_editor(self, form: QFormLayout, name: str) -> None:
        edit = QLineEdit(name)
        edit.setObjectName("prop:Name")
        edit.setToolTip("The layer's name: letters, digits and _, unique in the network.")
        hint = self._hint("Name")
        node_id = self.node_id

        def check(text: str) -> str | None:
            return name_problem(self.editor.network, text.strip(), node_id)

        def commit() -> None:
            text = edit.text().strip()
            if node_id not in {n.id for n in self.editor.network.nodes}:
                return  # the layer went away (undo) while its name was being edited
            if check(text) is None and text != self.editor.network.node(node_id).name:
                self.editor.rename(node_id, text)
                self._values["Name"] = text

        edit.textEdited.connect(lambda text: self._mark(edit, hint, check(text)))
        edit.editingFinished.connect(commit)
        self.editors["Name"] = edit
        self._setters["Name"] = lambda value: edit.setText(value)
        self._values["Name"] = name
        form.addRow("Name:", self._field(edit, hint))

    def _add_prop_editor(self, form: QFormLayout, prop: Prop, value: Any) -> None:
        node_id = self.node_id

        def commit(raw: Any) -> None:
            try:
                parsed = prop.parse(raw)
            except ValueError:
                return
            if node_id in {n.id for n in self.editor.network.nodes}:
                self.editor.set_prop(node_id, prop.name, parsed)
                self._values[prop.name] = self.editor.network.node(node_id).props[prop.name]

        hint = None
        if is_expression(prop, value):  # *Maps, Input[0]*2: text, whatever the kind
            widget, setter, hint = self._text_editor(prop, value, commit)
        elif prop.kind == "int":
            box = QSpinBox()
            box.setRange(int(prop.min) if prop.min is not None else -_INT_LIMIT,
                         int(prop.max) if prop.max is not None else _INT_LIMIT)
            box.setKeyboardTracking(False)
            box.setValue(int(value))
            box.valueChanged.connect(commit)
            setter = box.setValue
            widget = box
        elif prop.kind == "float":
            box = FloatSpinBox()
            box.setRange(prop.min if prop.min is not None else -1e12,
                         prop.max if prop.max is not None else 1e12)
            box.setKeyboardTracking(False)
            box.setValue(float(value))
            box.valueChanged.connect(commit)
            setter = box.setValue
            widget = box
        elif prop.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(commit)
            setter = box.setChecked
            widget = box
        elif prop.kind == "choice":
            box = QComboBox()
            box.addItems(list(prop.choices))
            box.setCurrentText(str(value))
            box.currentTextChanged.connect(commit)
            setter = box.setCurrentText
            widget = box
        else:  # shape, str: typed text, checked as the user types
            widget, setter, hint = self._text_editor(prop, value, commit)
        widget.setObjectName(f"prop:{prop.name}")
        widget.setToolTip(prop.help)
        self.editors[prop.name] = widget
        self._setters[prop.name] = setter
        self._values[prop.name] = value
        form.addRow(f"{prop.name}:", self._field(widget, hint))

    def _text_editor(self, prop: Prop, value: Any, commit: Callable[[Any], None]
                     ) -> tuple[QLineEdit, Callable[[Any], None], QLabel]:
        """A typed value (a shape, a text), outlined with the parser's reason while wrong."""
        edit = QLineEdit(prop.format(value))
        if prop.kind == "shape":
            edit.setPlaceholderText("e.g. 3,3")
        elif prop.kind == "map":
            edit.setPlaceholderText(self._arguments_hint() or "Name=value; Name=value")
        hint = self._hint(prop.name)

        def check(text: str) -> str | None:
            try:
                prop.parse(text)
            except ValueError as e:
                return str(e)
            return None

        edit.textEdited.connect(lambda text: self._mark(edit, hint, check(text)))
        edit.editingFinished.connect(lambda: commit(edit.text()))

        def setter(v: Any) -> None:
            edit.setText(prop.format(v))

        return edit, setter, hint

    def _arguments_hint(self) -> str:
        """A Unit's Arguments: what its network's Argument layers take, with their defaults."""
        node = self.editor.network.node(self.node_id)
        target = self.editor.project.find_network(str(node.props.get("Network", "")))
        if node.spec.role != "unit" or target is None:
            return ""
        return "; ".join(f"{a.name}={a.props.get('Value', '')} ({a.props.get('Type', 'Text')})"
                         for a in target.nodes if a.spec.role == "argument")

    @staticmethod
    def _mark(edit: QLineEdit, hint: QLabel, problem: str | None) -> None:
        edit.setProperty("invalid", problem is not None)
        edit.style().unpolish(edit)
        edit.style().polish(edit)
        hint.setText(problem or "")
        hint.setVisible(problem is not None)

    # ---- following the document ------------------------------------------------------------

    def refresh(self, analysis: Analysis | None) -> None:
        """Show the document's current values and the analysis of the shown layer."""
        if self.node_id is None:
            return
        try:
            node = self.editor.network.node(self.node_id)
        except KeyError:
            self.show_node(None)
            return
        values = {"Name": node.name, **node.props}
        self.heading.setText(node.name)
        for key, setter in self._setters.items():
            widget = self.editors[key]
            if key not in values or values[key] == self._values.get(key):
                continue  # unchanged: leave the editor (and any text being typed) alone
            if widget.hasFocus() and key in self.hints:
                continue  # never overwrite text the user is typing
            self._values[key] = values[key]
            widget.blockSignals(True)
            setter(values[key])
            widget.blockSignals(False)
            if key in self.hints and widget.property("invalid"):
                self._mark(widget, self.hints[key], None)
        info = analysis.nodes.get(self.node_id) if analysis else None
        if info is None or not self.info:
            return
        self.info["Output"].setText(nodes.shape_text(info.shape) if info.shape is not None
                                    else "unknown")
        self.info["Parameters"].setText(f"{info.params:,}")
        self.info["Mult-adds"].setText(f"{info.macs:,}")
        self.info["Error"].setText(f"⚠ {info.error}" if info.error else "")
        self.info["Error"].setVisible(bool(info.error))
