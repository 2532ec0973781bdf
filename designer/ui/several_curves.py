"""What the Training view adds for a project of several networks: a loss curve per optimizer
after the first (a GAN's generator beside its discriminator) and per monitor after the first,
and the grid of images the executor's network made after the last epoch."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from designer.ui.plot_style import GREEN, RED

COLORS = ("#8e44ad", GREEN, "#16a085", "#d35400", RED, "#7f8c8d")


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class SeveralCurves:
    """One curve on ``plot`` per optimizer and monitor the main curves do not show."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.values: dict[str, tuple[list[float], list[float]]] = {}

    def reset(self) -> None:
        for name, curve in self.curves.items():
            self.plot.removeItem(curve)
            if self.plot.legend is not None:
                self.plot.legend.removeItem(curve)
        self.curves.clear()
        self.values.clear()

    def epoch(self, event: dict) -> None:
        """Take an epoch event's ``train_losses`` and ``monitors`` (present with several)."""
        epoch = _number(event.get("epoch"))
        optimizers = event.get("train_losses") or {}
        monitors = event.get("monitors") or {}
        named = [(f"optimizer {name}", loss) for name, loss in list(optimizers.items())[1:]]
        named += [(f"monitor {name}", scores.get("loss")) for name, scores in
                  list(monitors.items())[1:] if isinstance(scores, dict)]
        for label, value in named:
            xs, ys = self.values.setdefault(label, ([], []))
            xs.append(epoch)
            ys.append(_number(value))

    def draw(self) -> None:
        for label, (xs, ys) in self.values.items():
            if label not in self.curves:
                color = COLORS[len(self.curves) % len(COLORS)]
                self.curves[label] = self.plot.plot(
                    pen=pg.mkPen(color, width=2), name=label, symbol="o", symbolSize=4,
                    symbolBrush=color, symbolPen=None, connect="finite")
            self.curves[label].setData(np.asarray(xs, float), np.asarray(ys, float))


class SamplesView(QWidget):
    """The latest image grid of the executor's network (``samples`` events), hidden until one
    comes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(160, 160)
        # the label follows the layout, never the picture's size: the picture is fitted to it
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.pixmap = QPixmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.image, 1)
        self.path: Path | None = None
        self.hide()

    def reset(self) -> None:
        self.path = None
        self.pixmap = QPixmap()
        self.image.clear()
        self.hide()

    def show_samples(self, event: dict) -> None:
        path = Path(str(event.get("path", "")))
        pixmap = QPixmap(str(path))
        if pixmap.isNull():  # the run folder moved, or the file is not written yet
            return
        self.path, self.pixmap = path, pixmap
        self.caption.setText(f"Generated after epoch {event.get('epoch', '?')}")
        self.show()
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self.pixmap.isNull():
            size = self.image.size()
            self.image.setPixmap(self.pixmap.scaled(
                max(size.width(), 1), max(size.height(), 1), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
