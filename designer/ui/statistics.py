"""The network statistics table: per layer its output shape, parameters and multiply-adds,
in the order data flows (as Neural Network Console's statistics)."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from designer.core.analysis import Analysis
from designer.core.project import Network
from designer.ui import theme
from designer.ui.text import shape_label

COLUMNS = ("Name", "Type", "Output", "Parameters", "Mult-adds")


class StatisticsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple] = []  # (node id, name, type, output, params, macs, error)

    def update(self, network: Network, analysis: Analysis) -> None:
        position = {nid: i for i, nid in enumerate(analysis.order)}
        ordered = sorted(network.nodes, key=lambda n: position.get(n.id, len(position)))
        rows = []
        for n in ordered:
            info = analysis.nodes.get(n.id)
            if info is None:
                continue
            shape = shape_label(info.shape)
            rows.append((n.id, n.name, n.type, shape, info.params, info.macs, info.error))
        if [r[0] for r in rows] != [r[0] for r in self.rows]:
            self.beginResetModel()
            self.rows = rows
            self.endResetModel()
        elif rows != self.rows:
            self.rows = rows
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()):  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        node_id, name, kind, shape, params, macs, error = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (name, kind, shape, f"{params:,}", f"{macs:,}")[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and error:
            return QColor(theme.current().error)
        if role == Qt.ItemDataRole.ToolTipRole and error:
            return error
        if role == Qt.ItemDataRole.UserRole:
            return node_id
        return None


class StatisticsPanel(QTableView):
    node_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.stats = StatisticsModel(self)
        self.setModel(self.stats)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        for col, width in enumerate((200, 160, 110, 110, 130)):
            self.setColumnWidth(col, width)
        self.clicked.connect(lambda index: self.node_clicked.emit(
            self.stats.data(index, Qt.ItemDataRole.UserRole)))

    def show_analysis(self, network: Network, analysis: Analysis) -> None:
        self.stats.update(network, analysis)
