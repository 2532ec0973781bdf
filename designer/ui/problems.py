"""The Problems list: every validation error of the network, then its notices (what training
may not intend: an unconnected output adds to the loss); clicking one selects its layer."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QStyle

from designer.core.analysis import Analysis

_NODE_ROLE = Qt.ItemDataRole.UserRole


class ProblemsPanel(QListWidget):
    node_clicked = Signal(str)  # node id

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)  # long messages wrap instead of hiding behind a scroll bar
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._shown: list[tuple] = []
        self._notices: list[tuple] = []
        self.itemClicked.connect(self._on_click)
        self.itemActivated.connect(self._on_click)

    def show_analysis(self, analysis: Analysis) -> None:
        if not analysis.nodes:  # a blank canvas is not a problem yet
            rows = [(None, "")]
        else:
            rows = [(p.node_id, str(p)) for p in analysis.problems]
        notices = [(p.node_id, str(p)) for p in analysis.notices]
        if (rows, notices) == (self._shown, self._notices):
            return
        self._shown, self._notices = rows, notices
        self.clear()
        warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        ok = self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton)
        if rows == [(None, "")]:
            item = QListWidgetItem("An empty network: add layers from the palette to begin.")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addItem(item)
            return
        if not rows:
            item = QListWidgetItem(ok, "No problems: the network is ready to train.")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addItem(item)
        note = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        for icon, (node_id, text) in [(warn, r) for r in rows] + [(note, r) for r in notices]:
            item = QListWidgetItem(icon, text)
            item.setData(_NODE_ROLE, node_id)
            item.setToolTip("Click to select the layer" if node_id else text)
            self.addItem(item)

    def problem_texts(self) -> list[str]:
        return [text for _, text in self._shown if text]

    def notice_texts(self) -> list[str]:
        return [text for _, text in self._notices]

    def _on_click(self, item: QListWidgetItem) -> None:
        node_id = item.data(_NODE_ROLE)
        if node_id:
            self.node_clicked.emit(node_id)
