"""Toolbar icons drawn with QPainter in the theme's text colour: crisp at any scale, the same on
every platform, and recoloured when the theme changes (no icon theme or image files needed)."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

Draw = Callable[[QPainter], None]


def _page(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(5, 2.5)
    path.lineTo(13, 2.5)
    path.lineTo(18.5, 8)
    path.lineTo(18.5, 21.5)
    path.lineTo(5, 21.5)
    path.closeSubpath()
    p.drawPath(path)
    p.drawPolyline([QPointF(13, 2.5), QPointF(13, 8), QPointF(18.5, 8)])
    p.drawLine(QPointF(11.75, 11.5), QPointF(11.75, 18))
    p.drawLine(QPointF(8.5, 14.75), QPointF(15, 14.75))


def _folder(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(2.5, 19.5)
    path.lineTo(2.5, 5)
    path.lineTo(9, 5)
    path.lineTo(11, 7.5)
    path.lineTo(19.5, 7.5)
    path.lineTo(19.5, 10.5)
    p.drawPath(path)
    front = QPainterPath()
    front.moveTo(2.5, 19.5)
    front.lineTo(6, 10.5)
    front.lineTo(22, 10.5)
    front.lineTo(18.5, 19.5)
    front.closeSubpath()
    p.drawPath(front)


def _save(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3.5, 3.5, 17, 17), 2, 2)
    p.drawRect(QRectF(7.5, 3.5, 9, 5.5))
    p.drawRect(QRectF(7, 13, 10, 7.5))


def _arrow(p: QPainter, mirrored: bool) -> None:
    if mirrored:
        p.translate(24, 0)
        p.scale(-1, 1)
    path = QPainterPath()
    path.moveTo(5, 9)
    path.lineTo(14.5, 9)
    path.cubicTo(22, 9, 22, 19.5, 14.5, 19.5)
    path.lineTo(9, 19.5)
    p.drawPath(path)
    p.drawPolyline([QPointF(9, 4.5), QPointF(4.5, 9), QPointF(9, 13.5)])


def _arrange(p: QPainter) -> None:
    for x, y in ((8, 2.5), (2.5, 15.5), (13.5, 15.5)):
        p.drawRoundedRect(QRectF(x, y, 8, 6), 1.5, 1.5)
    p.drawLine(QPointF(12, 8.5), QPointF(12, 12))
    p.drawPolyline([QPointF(6.5, 15.5), QPointF(6.5, 12), QPointF(17.5, 12), QPointF(17.5, 15.5)])


def _fit(p: QPainter) -> None:
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cx, cy = 12 - 8.5 * sx, 12 - 8.5 * sy
        p.drawPolyline([QPointF(cx, cy + 5 * sy), QPointF(cx, cy), QPointF(cx + 5 * sx, cy)])
    p.drawRoundedRect(QRectF(8, 8.5, 8, 7), 1.5, 1.5)


def _trash(p: QPainter) -> None:
    p.drawLine(QPointF(3.5, 6), QPointF(20.5, 6))
    p.drawPolyline([QPointF(9, 6), QPointF(9, 3), QPointF(15, 3), QPointF(15, 6)])
    path = QPainterPath()
    path.moveTo(5.5, 6)
    path.lineTo(7, 21)
    path.lineTo(17, 21)
    path.lineTo(18.5, 6)
    p.drawPath(path)
    p.drawLine(QPointF(10, 10), QPointF(10, 17))
    p.drawLine(QPointF(14, 10), QPointF(14, 17))


def _play(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(7, 4.5)
    path.lineTo(19.5, 12)
    path.lineTo(7, 19.5)
    path.closeSubpath()
    p.setBrush(p.pen().color())  # filled, as players draw it: not a checkbox
    p.drawPath(path)


def _stop(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawRoundedRect(QRectF(6, 6, 12, 12), 1.5, 1.5)


DRAWINGS: dict[str, Draw] = {
    "new": _page,
    "open": _folder,
    "save": _save,
    "undo": lambda p: _arrow(p, False),
    "redo": lambda p: _arrow(p, True),
    "arrange": _arrange,
    "fit": _fit,
    "delete": _trash,
    "train": _play,
    "stop": _stop,
}


def icon(name: str, colour: QColor) -> QIcon:
    """The named icon (24-unit drawing) in ``colour``, with a dimmed disabled state."""
    result = QIcon()
    for size in (16, 24, 32, 48):
        for mode, alpha in ((QIcon.Mode.Normal, 255), (QIcon.Mode.Disabled, 90)):
            pix = QPixmap(size, size)
            pix.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pix)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(size / 24, size / 24)
            c = QColor(colour)
            c.setAlpha(alpha)
            pen = QPen(c, 1.6)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            DRAWINGS[name](painter)
            painter.end()
            result.addPixmap(pix, mode)
    return result
