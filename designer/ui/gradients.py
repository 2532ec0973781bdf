"""Colour each layer by the gradient norm of its parameters (log scale).

Vanishing gradients show blue, healthy ones green, exploding ones red; a NaN or infinite norm is
magenta. The scale is fixed (not relative to the run) so a colour means the same in every run:
``LOW`` and below is "vanishing", ``HIGH`` and above is "exploding".

``gradient_colors(event["norms"])`` -> {node name: (r, g, b)} is all the canvas needs;
``GradientLegend`` explains the colours beside it.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

LOW = 1e-6
HIGH = 1e2

# Stops along log10(norm) from LOW (0.0) to HIGH (1.0).
STOPS = [
    (0.0, (49, 54, 149)),     # vanishing: deep blue
    (0.25, (69, 117, 180)),
    (0.45, (116, 196, 118)),  # small but alive: green
    (0.65, (26, 152, 80)),    # healthy
    (0.8, (254, 224, 139)),   # large: yellow
    (0.9, (244, 109, 67)),
    (1.0, (165, 0, 38)),      # exploding: dark red
]
NOT_FINITE = (214, 39, 219)  # NaN or infinite: the run is diverging here
NO_GRADIENT = (150, 150, 150)  # exactly zero: frozen, or cut off from the loss


def scale_position(norm: float, low: float = LOW, high: float = HIGH) -> float:
    """Where ``norm`` sits on the colour scale, 0.0 (``low`` or less) to 1.0 (``high`` or more)."""
    if norm <= 0:
        return 0.0
    t = (math.log10(norm) - math.log10(low)) / (math.log10(high) - math.log10(low))
    return min(1.0, max(0.0, t))


def color_for_norm(norm: float, low: float = LOW, high: float = HIGH) -> tuple[int, int, int]:
    if not math.isfinite(norm):
        return NOT_FINITE
    if norm == 0:
        return NO_GRADIENT
    t = scale_position(norm, low, high)
    for (t0, c0), (t1, c1) in zip(STOPS, STOPS[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return STOPS[-1][1]


def gradient_colors(norms: dict[str, float], low: float = LOW,
                    high: float = HIGH) -> dict[str, tuple[int, int, int]]:
    """{node name: (r, g, b)} for the ``norms`` of a ``gradients`` event."""
    return {name: color_for_norm(_as_float(norm), low, high) for name, norm in norms.items()}


def describe_norm(norm: float, low: float = LOW, high: float = HIGH) -> str:
    """A tooltip: the value and what it means."""
    norm = _as_float(norm)
    if not math.isfinite(norm):
        return f"gradient norm {norm}: exploded (the loss is diverging)"
    if norm == 0:
        return "gradient norm 0: no gradient reaches this layer"
    verdict = ("vanishing" if norm <= low * 10 else "exploding" if norm >= high / 10
               else "healthy")
    return f"gradient norm {norm:.3g} ({verdict})"


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class GradientLegend(QWidget):
    """A horizontal colour bar from "vanishing" to "exploding" with decade ticks."""

    def __init__(self, parent: QWidget | None = None, low: float = LOW, high: float = HIGH):
        super().__init__(parent)
        self.low, self.high = low, high
        self.setMinimumSize(260, 44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Gradient norm of each layer's parameters, on a log scale: blue layers "
                        "barely learn (vanishing), red ones may blow up (exploding), magenta "
                        "ones already produced NaN or infinity.")

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        metrics = painter.fontMetrics()
        line = metrics.height()
        swatch = 14
        extra_w = metrics.horizontalAdvance("NaN/inf") + swatch + 12
        bar = QRectF(4, line + 2, self.width() - 8 - extra_w, 12)

        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for t, rgb in STOPS:
            gradient.setColorAt(t, QColor(*rgb))
        painter.fillRect(bar, gradient)
        painter.setPen(text)
        painter.drawText(QRectF(bar.left(), 0, bar.width(), line),
                         Qt.AlignmentFlag.AlignLeft, "vanishing")
        painter.drawText(QRectF(bar.left(), 0, bar.width(), line),
                         Qt.AlignmentFlag.AlignCenter, "gradient norm")
        painter.drawText(QRectF(bar.left(), 0, bar.width(), line),
                         Qt.AlignmentFlag.AlignRight, "exploding")

        first, last = round(math.log10(self.low)), round(math.log10(self.high))
        step = 2 if last - first > 6 else 1
        for exponent in range(first, last + 1, step):
            x = bar.left() + bar.width() * scale_position(10.0 ** exponent, self.low, self.high)
            painter.drawLine(int(x), int(bar.bottom()), int(x), int(bar.bottom()) + 3)
            label = f"1e{exponent}"
            w = metrics.horizontalAdvance(label)
            left = min(max(x - w / 2, bar.left()), bar.right() - w)
            painter.drawText(QRectF(left, bar.bottom() + 3, w, line),
                             Qt.AlignmentFlag.AlignLeft, label)

        box = QRectF(bar.right() + 10, bar.top(), swatch, bar.height())
        painter.fillRect(box, QColor(*NOT_FINITE))
        painter.drawText(QRectF(box.right() + 3, bar.top() - 2, extra_w, line),
                         Qt.AlignmentFlag.AlignLeft, "NaN/inf")
        painter.end()

    def sizeHint(self) -> QSize:
        return QSize(320, 2 * self.fontMetrics().height() + 20)
