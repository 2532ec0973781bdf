"""The Problems list: every problem of the network and of its data, then its notices (what
training may not intend: an unconnected output adds to the loss). Clicking a problem selects
its layer (or, for a problem of the data, opens the Dataset workspace); a problem with an
obvious fix has a "Fix: …" line below it that applies the fix as an undoable edit."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QStyle

from designer.core.analysis import Problem
from designer.ui import theme

_NODE_ROLE = Qt.ItemDataRole.UserRole
_FIX_ROLE = Qt.ItemDataRole.UserRole + 1
_DATA_ROLE = Qt.ItemDataRole.UserRole + 2


class ProblemsPanel(QListWidget):
    node_clicked = Signal(str)  # node id
    fix_requested = Signal(object)  # analysis.Fix
    dataset_requested = Signal()  # a problem of the data, not of a layer

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)  # long messages wrap instead of hiding behind a scroll bar
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._shown: list[tuple] = []
        self.problems: list[Problem] = []
        self._notices: list[tuple] = []
        self.itemClicked.connect(self._on_click)
        self.itemActivated.connect(self._on_click)

    def show_problems(self, problems: list[Problem], empty: bool = False,
                      data_problems: list[Problem] = (), notices: list[Problem] = ()) -> None:
        """``problems`` of a network (``empty``: it has no layers yet); ``data_problems`` are
        those among them that the data adds; ``notices`` are listed after them."""
        data_ids = {id(p) for p in data_problems}
        rows = [(None, "", False, None)] if empty else [
            (p.node_id, str(p), id(p) in data_ids, p.fix) for p in problems]
        notes = [] if empty else [(p.node_id, str(p)) for p in notices]
        if (rows, notes) == (self._shown, self._notices):
            return
        self._shown, self._notices = rows, notes
        self.problems = [] if empty else list(problems)
        self.clear()
        warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        ok = self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton)
        if empty:
            self._note("An empty network: add layers from the palette to begin.")
            return
        if not rows:
            self._note("No problems: the network is ready to train.", ok)
        for node_id, text, from_data, fix in rows:
            item = QListWidgetItem(warn, text)
            item.setData(_NODE_ROLE, node_id)
            item.setData(_DATA_ROLE, from_data and not node_id)
            item.setToolTip("Click to select the layer" if node_id else
                            "Click to open the Dataset workspace" if from_data else text)
            self.addItem(item)
            if fix is not None:
                self._add_fix(fix)
        info = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        for node_id, text in notes:
            item = QListWidgetItem(info, text)
            item.setData(_NODE_ROLE, node_id)
            item.setToolTip("Click to select the layer" if node_id else text)
            self.addItem(item)

    def _note(self, text: str, icon=None) -> None:
        item = QListWidgetItem(icon, text) if icon is not None else QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.addItem(item)

    def _add_fix(self, fix) -> None:
        text = str(fix)
        item = QListWidgetItem(f"      Fix: {text[0].upper()}{text[1:]}")
        font = QFont(self.font())
        font.setUnderline(True)
        item.setFont(font)
        item.setForeground(theme.current().color("highlight"))
        item.setData(_FIX_ROLE, fix)
        item.setToolTip(f"Click to {text} (undo with Ctrl+Z)")
        self.addItem(item)

    def problem_texts(self) -> list[str]:
        return [text for _, text, _, _ in self._shown if text]

    def fix_items(self) -> list[QListWidgetItem]:
        return [self.item(i) for i in range(self.count()) if self.item(i).data(_FIX_ROLE)]

    def notice_texts(self) -> list[str]:
        return [text for _, text in self._notices]

    def _on_click(self, item: QListWidgetItem) -> None:
        fix = item.data(_FIX_ROLE)
        if fix is not None:
            self.fix_requested.emit(fix)
            return
        node_id = item.data(_NODE_ROLE)
        if node_id:
            self.node_clicked.emit(node_id)
        elif item.data(_DATA_ROLE):
            self.dataset_requested.emit()
