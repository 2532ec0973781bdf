"""The layer palette: every layer of the catalog, grouped by category, searchable.

Drag a layer onto the canvas, double-click it, or press Tab on the canvas and type its name.
"""
from __future__ import annotations

import nodes
from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QLineEdit, QListWidget,
                               QListWidgetItem, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from designer.ui import theme

LAYER_MIME = "application/x-nn-designer-layer"
_LAYER_ROLE = Qt.ItemDataRole.UserRole


def layer_mime(layer_type: str) -> QMimeData:
    """The drag payload for one layer type."""
    mime = QMimeData()
    mime.setData(LAYER_MIME, layer_type.encode())
    mime.setText(layer_type)
    return mime


def layer_from_mime(mime: QMimeData) -> str | None:
    if not mime.hasFormat(LAYER_MIME):
        return None
    name = bytes(mime.data(LAYER_MIME)).decode(errors="replace")
    return name if name in nodes.CATALOG else None


def category_icon(category: str, size: int = 12) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(theme.CATEGORY_COLORS.get(category, "#888888")))
    p.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    p.end()
    return QIcon(pix)


def matches(spec: nodes.LayerSpec, text: str) -> bool:
    """Search by name (any part, any case), then by category."""
    text = text.strip().lower()
    return not text or text in spec.name.lower() or text == spec.category.lower()


def ranked(text: str) -> list[str]:
    """Layer names matching ``text``: names starting with it first, then the rest."""
    t = text.strip().lower()
    hits = [s.name for s in nodes.CATALOG.values() if matches(s, text)]
    return sorted(hits, key=lambda n: (not n.lower().startswith(t), n.lower()))


def tooltip(spec: nodes.LayerSpec) -> str:
    props = "".join(f"<br><b>{p.name}</b>: {p.help}" for p in spec.props)
    return f"<b>{spec.name}</b> <i>({spec.category})</i><br>{spec.help}{props}"


class _LayerTree(QTreeWidget):
    def mimeData(self, items):  # noqa: N802 (Qt naming)
        names = [i.data(0, _LAYER_ROLE) for i in items if i.data(0, _LAYER_ROLE)]
        return layer_mime(names[0]) if names else QMimeData()

    def mimeTypes(self):  # noqa: N802
        return [LAYER_MIME]


class LayerPalette(QWidget):
    """Search box over a category tree of layers."""

    layer_activated = Signal(str)  # double-click or Enter: add this layer

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers…", clearButtonEnabled=True)
        self.tree = _LayerTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        self.tree.setIconSize(QSize(12, 12))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)

        self.items: dict[str, QTreeWidgetItem] = {}
        self.groups: dict[str, QTreeWidgetItem] = {}
        for category in nodes.CATEGORIES:
            group = QTreeWidgetItem([category])
            group.setIcon(0, category_icon(category))
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.tree.addTopLevelItem(group)
            self.groups[category] = group
            for spec in nodes.CATALOG.values():
                if spec.category != category:
                    continue
                item = QTreeWidgetItem([spec.name])
                item.setData(0, _LAYER_ROLE, spec.name)
                item.setToolTip(0, tooltip(spec))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable |
                              Qt.ItemFlag.ItemIsDragEnabled)
                group.addChild(item)
                self.items[spec.name] = item
        self.tree.expandAll()

        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first)
        self.tree.itemActivated.connect(self._on_activated)  # double-click or Enter

    def filter(self, text: str) -> None:
        for category, group in self.groups.items():
            shown = 0
            for i in range(group.childCount()):
                child = group.child(i)
                hit = matches(nodes.CATALOG[child.data(0, _LAYER_ROLE)], text)
                child.setHidden(not hit)
                shown += hit
            group.setHidden(shown == 0)
        if text:
            self.tree.expandAll()

    def visible_layers(self) -> list[str]:
        return [name for name, item in self.items.items()
                if not item.isHidden() and not item.parent().isHidden()]

    def _activate_first(self) -> None:
        shown = self.visible_layers()
        if shown:
            self.layer_activated.emit(ranked(self.search.text())[0] if self.search.text()
                                      else shown[0])

    def _on_activated(self, item: QTreeWidgetItem, column: int = 0) -> None:
        name = item.data(0, _LAYER_ROLE)
        if name:
            self.layer_activated.emit(name)


class LayerSearchPopup(QFrame):
    """The Tab search on the canvas: type part of a name, Enter adds the highlighted layer."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = QLineEdit(placeholderText="Add layer: type a name…")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(260, 300)
        self.edit.textChanged.connect(self.refill)
        self.edit.returnPressed.connect(self.accept_current)
        self.list.itemClicked.connect(lambda item: self._choose(item.text()))
        self.edit.installEventFilter(self)
        self.refill("")

    def refill(self, text: str) -> None:
        self.list.clear()
        for name in ranked(text):
            item = QListWidgetItem(category_icon(nodes.CATALOG[name].category), name)
            item.setToolTip(tooltip(nodes.CATALOG[name]))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def open_at(self, global_pos: QPoint) -> None:
        self.edit.clear()
        self.refill("")
        self.move(global_pos - QPoint(self.width() // 2, 16))
        self.show()
        self.edit.setFocus()

    def accept_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._choose(item.text())

    def _choose(self, name: str) -> None:
        self.hide()
        self.chosen.emit(name)

    def eventFilter(self, obj, event):  # noqa: N802
        """Up and Down in the search box move through the list."""
        if obj is self.edit and event.type() == event.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key.Key_Down else -1)
                if 0 <= row < self.list.count():
                    self.list.setCurrentRow(row)
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
