"""The validation samples of an evaluation as a table: index, input (a thumbnail for images),
true and predicted class and confidence, or target, prediction and error for regression;
sortable, and filtered to the mistakes or to one confusion-matrix cell."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap

from designer.ui.plot_style import RED

THUMBNAIL = 40  # pixels


def thumbnail_image(sample: np.ndarray, value_range: tuple[float, float] | None = None
                    ) -> QImage | None:
    """A QImage of one sample if it is an image (H×W, 1×H×W, 3×H×W); None otherwise.

    Values are stretched to ``value_range``, by default the sample's own range, so raw pixel
    values (0..16, 0..255) and normalised ones (0..1, standardised) all show.
    """
    a = np.asarray(sample, float)
    if a.ndim == 3 and a.shape[0] in (1, 3) and min(a.shape[1:]) >= 4:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    elif not (a.ndim == 2 and min(a.shape) >= 4):
        return None
    a = np.nan_to_num(a)
    lo, hi = value_range if value_range is not None else (float(a.min()), float(a.max()))
    a = np.clip(a, lo, hi)
    a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
    pixels = np.ascontiguousarray(a.astype(np.uint8))
    h, w = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: the numpy buffer goes away


def sample_text(sample: np.ndarray, limit: int = 6) -> str:
    """Inputs that are not images, as their first values."""
    values = np.asarray(sample, float).ravel()
    shown = ", ".join(f"{v:.3g}" for v in values[:limit])
    return shown + (f", … ({values.size} values)" if values.size > limit else "")


class SamplesModel(QAbstractTableModel):
    """Validation samples: index, input, true, predicted, confidence (or error), sortable,
    filterable to the mistakes or to one confusion-matrix cell.

    Regression targets of several values per sample (an autoencoder's images) show as
    thumbnails, or as their first values, with the sample's mean squared error.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.task = "classification"
        self.targets = np.zeros(0)  # class per sample, or target values as evaluated
        self.predictions = np.zeros(0)
        self.target_flat = np.zeros((0, 1))  # regression: N × values
        self.prediction_flat = np.zeros((0, 1))
        self.confidences: np.ndarray | None = None
        self.inputs: np.ndarray | None = None
        self.class_names: list[str] = []
        self.rows = np.zeros(0, int)  # sample indices shown, in order
        self.mistakes_only = False
        self.cell: tuple[int, int] | None = None  # (true, predicted)
        self._sort = (0, Qt.SortOrder.AscendingOrder)
        self._pixmaps: dict[tuple[int, int], QPixmap | None] = {}

    @property
    def scalar(self) -> bool:
        """Regression with one value per sample."""
        return self.target_flat.shape[1] == 1

    def set_data(self, evaluation: Any, class_names: list[str]) -> None:
        self.beginResetModel()
        self.task = evaluation.task
        n = len(evaluation.targets)
        if self.task == "regression":
            self.targets = np.asarray(evaluation.targets, float)
            self.predictions = np.asarray(evaluation.predictions, float)
            self.target_flat = self.targets.reshape(n, -1)
            self.prediction_flat = self.predictions.reshape(n, -1)
        else:
            self.targets = np.asarray(evaluation.targets).astype(int)
            self.predictions = np.asarray(evaluation.predictions).astype(int)
            self.target_flat = self.targets.reshape(n, 1).astype(float)
            self.prediction_flat = self.predictions.reshape(n, 1).astype(float)
        self.confidences = (np.asarray(evaluation.confidences, float)
                            if evaluation.confidences is not None else None)
        self.inputs = getattr(evaluation, "inputs", None)
        self.class_names = class_names
        self.mistakes_only = False
        self.cell = None
        self._pixmaps.clear()
        self._refilter()
        self.endResetModel()

    def set_filter(self, mistakes_only: bool | None = None,
                   cell: tuple[int, int] | None | bool = False) -> None:
        """``cell=False`` keeps the current cell filter; ``None`` clears it."""
        self.beginResetModel()
        if mistakes_only is not None:
            self.mistakes_only = mistakes_only
        if cell is not False:
            self.cell = cell
        self._refilter()
        self.endResetModel()

    def _refilter(self) -> None:
        keep = np.ones(len(self.targets), bool)
        if self.task == "classification":
            if self.mistakes_only:
                keep &= self.targets != self.predictions
            if self.cell is not None:
                keep &= (self.targets == self.cell[0]) & (self.predictions == self.cell[1])
        self.rows = np.flatnonzero(keep)
        self._apply_sort()

    def headers(self) -> list[str]:
        if self.task == "regression":
            return ["#", "Input", "True", "Predicted", "Error" if self.scalar else "Squared error"]
        return ["#", "Input", "True", "Predicted", "Confidence"]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else 5

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        return None

    def errors(self) -> np.ndarray:
        """Regression: predicted − true per sample (one value), else the mean squared error."""
        difference = self.prediction_flat - self.target_flat
        return difference[:, 0] if self.scalar else (difference ** 2).mean(axis=1)

    def _key(self, column: int) -> np.ndarray:
        if column == 2:
            return self.target_flat.mean(axis=1)
        if column == 3:
            return self.prediction_flat.mean(axis=1)
        if column == 4:
            if self.task == "regression":
                return np.abs(self.errors())
            if self.confidences is not None:
                return self.confidences
        return np.arange(len(self.targets))

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._apply_sort()
        self.layoutChanged.emit()

    def _apply_sort(self) -> None:
        column, order = self._sort
        key = self._key(column)[self.rows]
        order_ix = np.argsort(key, kind="stable")
        if order == Qt.SortOrder.DescendingOrder:
            order_ix = order_ix[::-1]
        self.rows = self.rows[order_ix]

    def sample_index(self, row: int) -> int:
        return int(self.rows[row])

    def _class(self, k: int) -> str:
        return self.class_names[k] if 0 <= k < len(self.class_names) else str(k)

    def _array(self, column: int) -> np.ndarray | None:
        """The per-sample values shown in ``column`` when they may be pictures."""
        if column == 1:
            return self.inputs
        if self.task == "regression" and not self.scalar and column in (2, 3):
            return self.targets if column == 2 else self.predictions
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = int(self.rows[index.row()])
        column = index.column()
        values = self._array(column)
        wrong = self.task == "classification" and self.targets[i] != self.predictions[i]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(i)
            if values is not None:
                return None if self._pixmap(column, i) is not None else sample_text(values[i])
            if column == 1:
                return ""
            if self.task == "regression":
                value = {2: self.target_flat[i, 0], 3: self.prediction_flat[i, 0],
                         4: self.errors()[i]}[column]
                return f"{value:.4g}"
            if column == 2:
                return self._class(int(self.targets[i]))
            if column == 3:
                return self._class(int(self.predictions[i]))
            if self.confidences is None:
                return "–"
            return f"{100 * self.confidences[i]:.1f} %"
        if role == Qt.ItemDataRole.DecorationRole and values is not None:
            return self._pixmap(column, i)
        if role == Qt.ItemDataRole.ToolTipRole and values is not None:
            return sample_text(values[i], limit=32)
        if role == Qt.ItemDataRole.ForegroundRole and column == 3 and wrong:
            return QBrush(QColor(RED))
        if role == Qt.ItemDataRole.ToolTipRole and column == 3 and wrong:
            return "Misclassified"
        if role == Qt.ItemDataRole.TextAlignmentRole and values is None:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _pixmap(self, column: int, i: int) -> QPixmap | None:
        values = self._array(column)
        if values is None:
            return None
        if (column, i) not in self._pixmaps:
            value_range = None
            if column in (2, 3):  # true and predicted on one scale, so they compare
                both = np.concatenate([self.target_flat[i], self.prediction_flat[i]])
                value_range = (float(np.nanmin(both)), float(np.nanmax(both)))
            image = thumbnail_image(values[i], value_range)
            self._pixmaps[column, i] = None if image is None else QPixmap.fromImage(image.scaled(
                THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation))  # crisp pixels for tiny images
        return self._pixmaps[column, i]

    def has_thumbnails(self) -> bool:
        return len(self.targets) > 0 and any(self._pixmap(c, 0) is not None for c in (1, 2, 3))


# ---- the view ---------------------------------------------------------------------------------
