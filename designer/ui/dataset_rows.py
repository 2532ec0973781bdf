"""The samples of a dataset as a table that stays fast on a 60,000-image CSV file.

``DatasetRowsModel`` shows a row source: a CSV file read lazily (designer.core.preview's
CsvPreview: a row's cells are parsed when the row is shown) or an embedded dataset in memory.
Number cells are parsed as their rows come into view; image cells show a thumbnail that a
``ThumbnailLoader`` decodes on worker threads, newest request first, skipping rows that have
scrolled out of view meanwhile. Until its thumbnail arrives a cell shows "…"; the window never
waits for a file.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QRunnable, Qt,
                            QThreadPool, Signal)
from PySide6.QtGui import QColor, QImage, QPixmap

from designer.core.data import DataSet
from designer.core.preview import Cell
from designer.ui.plot_style import RED
from designer.ui.samples_table import THUMBNAIL, sample_text, thumbnail_image

MARGIN = 20  # rows beyond the visible ones still worth decoding (a short scroll)
ROWS_KEPT = 4000  # rows whose cells stay parsed
THUMBS_KEPT = 6000  # thumbnails kept


class EmbeddedRows:
    """An embedded dataset as rows: one column per variable."""

    def __init__(self, data: DataSet):
        self.data = data
        self.row_count = len(data)
        self.headers = list(data.arrays)
        self.kinds = ["image" if len(shape) == 3 else "number" if math.prod(shape) == 1
                      else "values" for shape in data.variables.values()]

    def texts(self, i: int) -> list[str]:
        out = []
        for name, kind in zip(self.headers, self.kinds):
            value = self.data.values(name, slice(i, i + 1))[0]
            out.append(f"{float(value.ravel()[0]):g}" if kind == "number" else
                       "" if kind == "image" else sample_text(value))
        return out

    def cell(self, i: int, j: int) -> Cell:
        name = self.headers[j]
        value = self.data.values(name, slice(i, i + 1))[0]
        return Cell("", self.kinds[j], value)


class ThumbnailLoader(QObject):
    """Decodes image cells on two worker threads, the most recently asked for first."""

    loaded = Signal(int, list)  # generation, [(row, column, QImage or None, error or None)]
    BATCH = 6

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, int]] = deque()
        self._workers = 0
        self.generation = 0
        self.source = None
        self.visible = (0, -1)  # rows in view (written by the GUI thread, read by workers)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)

    def reset(self, source) -> None:
        with self._lock:
            self.generation += 1
            self.source = source
            self._queue.clear()

    def want(self, key: tuple[int, int]) -> None:
        with self._lock:
            self._queue.append(key)
            start = self._workers < self._pool.maxThreadCount()
            if start:
                self._workers += 1
        if start:
            self._pool.start(_LoaderRun(self))

    def _next(self):
        with self._lock:
            if not self._queue:
                self._workers -= 1
                return None
            batch = [self._queue.pop() for _ in range(min(self.BATCH, len(self._queue)))]
            return self.generation, self.source, batch

    def work(self) -> None:
        """Worker thread: decode batches until the queue is empty."""
        while (job := self._next()) is not None:
            generation, source, batch = job
            first, last = self.visible
            results = []
            for i, j in batch:
                if not first - MARGIN <= i <= last + MARGIN:
                    results.append((i, j, None, None, False))  # scrolled away: ask again later
                    continue
                cell = source.cell(i, j)
                image = None if cell.error or cell.value is None else thumbnail_image(cell.value)
                image = _fit(image) if image is not None else None
                results.append((i, j, image, cell.error, True))
            self.loaded.emit(generation, results)

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.waitForDone(msecs)


class _LoaderRun(QRunnable):
    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader

    def run(self) -> None:
        self.loader.work()


class DatasetRowsModel(QAbstractTableModel):
    """A dataset's samples; ``set_source(rows)`` with a CsvPreview or EmbeddedRows."""

    thumbnails_loaded = Signal()  # some thumbnails arrived (tests and the benchmark wait on it)
    screen_loaded = Signal()  # every file cell in view has its thumbnail (once per source)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.source = None
        self.headers: list[str] = []
        self.kinds: list[str] = []
        self.class_names: dict[int, list[str]] = {}  # column -> names of its class numbers
        self.loader = ThumbnailLoader(self)
        self.loader.loaded.connect(self._loaded)
        self._rows: OrderedDict[int, list[Cell]] = OrderedDict()
        self._thumbs: OrderedDict[tuple[int, int], tuple[QPixmap | None, str | None]] = \
            OrderedDict()
        self._pending: set[tuple[int, int]] = set()
        self._screen_reported = False

    def set_source(self, source) -> None:
        self.beginResetModel()
        self.source = source
        self.loader.reset(source)
        self._rows.clear()
        self._thumbs.clear()
        self._pending.clear()
        self._screen_reported = False
        self.class_names = {}
        if source is None:
            self.headers, self.kinds = [], []
        elif isinstance(source, EmbeddedRows):
            self.headers, self.kinds = list(source.headers), list(source.kinds)
        else:
            self.headers = [c.header for c in source.columns]
            self.kinds = list(source.kinds)
        self.endResetModel()

    def set_class_names(self, names: dict[int, list[str]]) -> None:
        self.class_names = names
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1,
                                                               self.columnCount() - 1))

    def has_images(self) -> bool:
        return any(kind in ("image", "array") for kind in self.kinds)

    def set_visible_rows(self, first: int, last: int) -> None:
        self.loader.visible = (first, last)

    # ---- Qt model ----------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.source is None else self.source.row_count

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.headers[section] if section < len(self.headers) else None
        return str(section)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i, j = index.row(), index.column()
        if self.kinds[j] in ("image", "array"):
            return self._file_data(i, j, role)
        cell = self.row(i)[j]
        if role == Qt.ItemDataRole.DisplayRole:
            names = self.class_names.get(j)
            if cell.error is None and names and cell.value is not None \
                    and float(cell.value).is_integer() and 0 <= int(cell.value) < len(names) \
                    and names[int(cell.value)] != cell.text:
                return f"{cell.text} · {names[int(cell.value)]}"
            return f"⚠ {cell.text}" if cell.error else cell.text
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell.error
        if role == Qt.ItemDataRole.ForegroundRole and cell.error:
            return QColor(RED)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _file_data(self, i: int, j: int, role):
        found = self._thumbs.get((i, j))
        if found is None:
            if role == Qt.ItemDataRole.DisplayRole:
                self._want(i, j)
                return "…"
            return None
        pixmap, error = found
        if role == Qt.ItemDataRole.DecorationRole:
            return pixmap
        if role == Qt.ItemDataRole.DisplayRole:
            text = self.text(i, j)
            return f"⚠ {text}" if error else ("" if pixmap is not None else text)
        if role == Qt.ItemDataRole.ToolTipRole:
            return error or self.text(i, j)
        if role == Qt.ItemDataRole.ForegroundRole and error:
            return QColor(RED)
        return None

    # ---- cells --------------------------------------------------------------------------------

    def text(self, i: int, j: int) -> str:
        texts = self.source.texts(i)
        return texts[j] if j < len(texts) else ""

    def row(self, i: int) -> list[Cell]:
        """Row ``i``'s number cells parsed (files are left to the loader); kept for a while."""
        found = self._rows.get(i)
        if found is not None:
            self._rows.move_to_end(i)
            return found
        texts = self.source.texts(i)
        cells = []
        for j, kind in enumerate(self.kinds):
            text = texts[j] if j < len(texts) else ""
            if kind != "number":
                cells.append(Cell(text, kind))
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            cells.append(Cell(text, kind, value) if math.isfinite(value)
                         and len(texts) == len(self.kinds) else self.source.cell(i, j))
        self._rows[i] = cells
        if len(self._rows) > ROWS_KEPT:
            self._rows.popitem(last=False)
        return cells

    def thumbnail(self, i: int, j: int) -> tuple[QPixmap | None, str | None] | None:
        """The loaded thumbnail of cell (i, j) and its error, or None while it loads."""
        return self._thumbs.get((i, j))

    def _want(self, i: int, j: int) -> None:
        if (i, j) not in self._pending:
            self._pending.add((i, j))
            self.loader.want((i, j))

    def _loaded(self, generation: int, results: list) -> None:
        if generation != self.loader.generation:
            return
        rows = []
        for i, j, image, error, done in results:
            self._pending.discard((i, j))
            if not done:
                continue
            pixmap = QPixmap.fromImage(image) if isinstance(image, QImage) else None
            self._thumbs[(i, j)] = (pixmap, error)
            rows.append(i)
        while len(self._thumbs) > THUMBS_KEPT:
            self._thumbs.popitem(last=False)
        if rows:
            columns = [j for _, j, *_ in results]
            self.dataChanged.emit(self.index(min(rows), min(columns)),
                                  self.index(max(rows), max(columns)))
            self.thumbnails_loaded.emit()
            if not self._screen_reported and self.screen_complete():
                self._screen_reported = True
                self.screen_loaded.emit()

    def screen_complete(self) -> bool:
        """Every file cell of the rows in view has its thumbnail (or its error)."""
        first, last = self.loader.visible
        last = min(last, self.rowCount() - 1)
        files = [j for j, kind in enumerate(self.kinds) if kind in ("image", "array")]
        return all((i, j) in self._thumbs for i in range(first, last + 1) for j in files)


def _fit(image: QImage) -> QImage:
    """A thumbnail at most THUMBNAIL pixels high, pixels kept sharp (small images grow)."""
    if image.height() == THUMBNAIL:
        return image
    return image.scaledToHeight(THUMBNAIL, Qt.TransformationMode.FastTransformation)


def class_columns(headers: list[str], variables: dict, column_names=None) -> dict[int, list[str]]:
    """Columns holding a class variable (one value per sample, with class names)."""
    out = {}
    for j, header in enumerate(headers):
        name = column_names[j] if column_names else header
        info = variables.get(name)
        if info is not None and info.class_names and math.prod(info.shape) == 1:
            out[j] = list(info.class_names)
    return out

