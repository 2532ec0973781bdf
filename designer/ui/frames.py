"""Repeat blocks drawn as frames: a rectangle behind the layers a RepeatStart … RepeatEnd block
repeats, titled with its Times. The frame is derived from the network after every edit and
never stored."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsSimpleTextItem

from designer.core.expand import repeat_frames
from designer.core.project import Network

MARGIN = 18.0
FILL = QColor(52, 152, 219, 28)
EDGE = QColor(52, 152, 219, 170)


class RepeatFrames:
    def __init__(self, canvas):
        self.canvas = canvas
        self.items: dict[str, QGraphicsRectItem] = {}  # RepeatStart id -> its frame

    def update(self, network: Network) -> None:
        scene = self.canvas.viewer.scene()
        for item in self.items.values():
            scene.removeItem(item)
        self.items.clear()
        for start, members, times in repeat_frames(network):
            views = [self.canvas.items[m].view for m in members if m in self.canvas.items]
            if not views:
                continue
            rect = QRectF()
            for view in views:
                rect = rect.united(view.sceneBoundingRect())
            rect.adjust(-MARGIN, -MARGIN - 14, MARGIN, MARGIN)
            frame = QGraphicsRectItem(rect)
            frame.setBrush(QBrush(FILL))
            frame.setPen(QPen(EDGE, 1.5, Qt.PenStyle.DashLine))
            frame.setZValue(-100)  # behind the layers and links
            frame.setToolTip(f"Repeated {times} times, each with its own weights")
            title = QGraphicsSimpleTextItem(f"×{times}", frame)
            title.setBrush(QBrush(EDGE))
            title.setPos(rect.left() + 6, rect.top() + 2)
            scene.addItem(frame)
            self.items[start] = frame
