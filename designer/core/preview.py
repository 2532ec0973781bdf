"""A dataset at a glance, without loading it: its variables for previews and validation, and a
CSV file read row by row as a table view scrolls.

:func:`dataset_variables` gives each variable's shape, kind, value range and class counts. For a
CSV file it reads the text once and decodes only the first row's image or data file (for the
shape); ``decode_all`` checks every file, with progress and cancel, for a worker thread.

:class:`CsvPreview` indexes where each row of a CSV file starts in one pass over its bytes; a
row's cells are parsed, and its images decoded, only when asked for, so the first rows of a
60,000-image file show at once. Everything here is safe to call from a worker thread.
"""
from __future__ import annotations

import csv
import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nodes import shape_text
from nodes.spec import quoted

from designer.core.cells import (IMAGE_SUFFIXES, check_file, csv_problem, is_number,
                                  number_problem, read_array, read_image, reason)
from designer.core.data import (EMBEDDED_PREFIX, DataError, DataSet, _Column, _check_indices,
                                 _parse_header, embedded)
from designer.core.preprocessing import MetaError, Step, read_meta
from designer.core.progress import CancelCheck, Progress, Ticker

CLASS_LIMIT = 1000  # a one-value variable of whole numbers 0..CLASS_LIMIT-1 gets class counts


@dataclass
class VariableInfo:
    """What a dataset variable holds, for a preview and for checking a network against it."""

    name: str
    shape: tuple[int, ...]  # per sample
    kind: str  # "numbers" (CSV cells), "image" or "array" (a data CSV file per sample)
    samples: int
    labels: list[str] = field(default_factory=list)  # header labels
    minimum: float | None = None  # as the network sees the values (after ÷255 when normalised)
    maximum: float | None = None
    whole: bool | None = None  # every value a whole number; None when not known
    counted: int = 0  # samples the range covers (1 for images not all decoded)
    class_counts: list[int] | None = None  # samples per class index, for a class variable
    class_names: list[str] = field(default_factory=list)
    preprocessing: Step | None = None
    error: str | None = None  # the first unreadable cell, with file, line and column


def shapes(variables: dict[str, VariableInfo]) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each variable, as designer.core.analysis.analyze takes them."""
    return {name: info.shape for name, info in variables.items()}


def dataset_variables(source: str, folder: str | os.PathLike | None = None,
                      normalize: bool = False, *, decode_all: bool = False,
                      progress: Progress | None = None,
                      cancelled: CancelCheck | None = None) -> dict[str, VariableInfo]:
    """The variables of ``embedded:NAME`` or a dataset CSV file (relative to ``folder``).

    Raises DataError when the file cannot be read at all (missing, no header, bad header, a
    first image that cannot be read); a later cell that cannot be read is reported in its
    variable's ``error``. ``decode_all`` reads every image and data file (slow on big sets).
    """
    if source.startswith(EMBEDDED_PREFIX):
        return _from_dataset(embedded(source[len(EMBEDDED_PREFIX):]))
    path = Path(source)
    if not path.is_absolute() and folder is not None:
        path = Path(folder) / path
    return CsvPreview(path, normalize).variables(decode_all=decode_all, progress=progress,
                                                 cancelled=cancelled)


def _from_dataset(data: DataSet) -> dict[str, VariableInfo]:
    out = {}
    for name, shape in data.variables.items():
        values = data.values(name)
        info = VariableInfo(name, shape, "image" if len(shape) == 3 else "numbers", len(data),
                            list(data.labels.get(name, [])),
                            preprocessing=data.preprocessing.get(name))
        _fill_range(info, values.reshape(len(data), -1), data.class_names)
        out[name] = info
    return out


def _fill_range(info: VariableInfo, values: np.ndarray, class_names: list[str]) -> None:
    """Range, wholeness and (for a one-value variable of small whole numbers) class counts."""
    if not values.size:
        return
    info.minimum, info.maximum = float(values.min()), float(values.max())
    info.whole = bool(np.all(values == np.round(values)))
    info.counted = len(values)
    if (values.shape[1] == 1 and info.whole and info.minimum >= 0
            and info.maximum < CLASS_LIMIT):
        info.class_counts = np.bincount(values[:, 0].astype(np.int64),
                                        minlength=len(class_names)).tolist()
        info.class_names = list(class_names)


@dataclass
class Cell:
    """One cell of a previewed row: its text and, when read, its value or what is wrong."""

    text: str
    kind: str  # "number", "image", "array" or "" (unreadable)
    value: Any = None  # float, C×H×W uint8 image, or R×C float32 array
    error: str | None = None  # file, line, column and reason


class CsvPreview:
    """A dataset CSV file (or a folder holding index.csv), read lazily row by row."""

    CACHE = 512  # decoded files kept

    def __init__(self, path: str | os.PathLike, normalize: bool = False):
        path = Path(path)
        if path.is_dir():
            if not (path / "index.csv").is_file():
                raise DataError(f"{path}: a dataset folder must hold index.csv")
            path = path / "index.csv"
        self.path = path
        self.normalize = normalize
        self._last_row: tuple[int, list[str]] | None = None
        try:
            check_file(path)  # not a pipe, not beyond memory
            self._bytes = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{path}: dataset file not found") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") \
                from None
        self._index_rows()
        if self.row_count < 0:
            raise DataError(f"{path}: the file is empty; the first line must name the "
                            "variables, e.g. x:image,y:label")
        header = self._parse(0)
        self.columns: list[_Column] = _parse_header(header, path)
        groups: dict[str, list[_Column]] = {}
        for column in self.columns:
            groups.setdefault(column.name, []).append(column)
        self.groups = {name: _check_indices(name, g, path) for name, g in groups.items()}
        if self.row_count == 0:
            raise DataError(f"{path}: the file has a header but no samples")
        first = self.texts(0)
        self.kinds = [_kind(first[c.position]) if len(first) == len(self.columns) else "number"
                      for c in self.columns]
        try:
            self.meta = read_meta(path)
        except MetaError as e:
            raise DataError(str(e)) from None
        self._cache: OrderedDict[tuple[int, int], Cell] = OrderedDict()
        self._lock = threading.Lock()

    # ---- the index ----------------------------------------------------------------------------

    def _index_rows(self) -> None:
        """Start and end of every non-blank row (the header first), from the bytes alone: a
        line break ends a row unless it sits inside a quoted cell (an odd count of quotes)."""
        raw = np.frombuffer(self._bytes, dtype=np.uint8)
        breaks = np.flatnonzero(raw == 10)
        ends = breaks
        if b'"' in self._bytes:
            quotes = np.cumsum(raw == 34)
            ends = breaks[quotes[breaks] % 2 == 0]
        starts = np.concatenate([[0], ends + 1])
        ends = np.concatenate([ends, [len(raw)]])
        if len(raw) >= 3 and self._bytes[:3] == b"\xef\xbb\xbf":
            starts[0] = 3  # Excel's byte order mark
        length = ends - starts
        carriage = np.zeros(len(starts), dtype=bool)
        one = np.flatnonzero(length == 1)
        carriage[one] = raw[starts[one]] == 13
        keep = (length > 0) & ~carriage
        self._starts, self._ends = starts[keep], ends[keep]
        self._lines = np.searchsorted(breaks, self._starts) + 1  # 1-based file line
        self.row_count = len(self._starts) - 1  # the header is not a sample

    def _parse(self, k: int) -> list[str]:
        """The cells of row ``k`` of the file (0 is the header). The last row parsed is kept:
        a row's cells are read one by one, and a wide row must not be parsed once per cell."""
        last = self._last_row
        if last is not None and last[0] == k:
            return last[1]
        text = self._bytes[self._starts[k]:self._ends[k]].decode("utf-8", errors="replace")
        try:
            cells = next(csv.reader(io.StringIO(text, newline=""), strict=True), [])
        except csv.Error as e:
            cells = [f"\0{csv_problem(e)}"]
        self._last_row = (k, cells)
        return cells

    def line(self, i: int) -> int:
        """The file line sample ``i`` starts on."""
        return int(self._lines[i + 1])

    def texts(self, i: int) -> list[str]:
        """The cells of sample ``i`` as written."""
        return self._parse(i + 1)

    # ---- cells ---------------------------------------------------------------------------------

    def row(self, i: int) -> list[Cell]:
        """Sample ``i``'s cells in column order, each read (and images decoded) now."""
        return [self.cell(i, j) for j in range(len(self.columns))]

    def cell(self, i: int, j: int) -> Cell:
        """Column ``j`` of sample ``i``; decoded files are cached."""
        key = (i, j)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        cell = self._read_cell(i, j)
        if cell.kind in ("image", "array"):
            with self._lock:
                self._cache[key] = cell
                while len(self._cache) > self.CACHE:
                    self._cache.popitem(last=False)
        return cell

    def _read_cell(self, i: int, j: int) -> Cell:
        column = self.columns[j]
        texts = self.texts(i)
        where = f"{self.path}: line {self.line(i)}"
        if len(texts) == 1 and texts[0].startswith("\0"):
            return Cell("", "", error=f"{where}: {texts[0][1:]}")
        if len(texts) != len(self.columns):
            return Cell(texts[j] if j < len(texts) else "", "",
                        error=f"{where} has {len(texts)} cells; the header has "
                              f"{len(self.columns)}")
        text, kind = texts[j], self.kinds[j]
        where = f"{where}, column {quoted(column.header)}"
        if kind == "number":
            problem = number_problem(text)  # as read_csv says it
            if problem:
                return Cell(text, "", error=f"{where}: {problem}")
            return Cell(text, kind, float(text))
        file = Path(text.strip())
        file = file if file.is_absolute() else self.path.parent / file
        reader = read_image if kind == "image" else read_array
        try:
            return Cell(text, kind, reader(file))
        except FileNotFoundError:
            return Cell(text, kind, error=f"{where}: {kind} file {quoted(text)} not found "
                                          f"(looked for {quoted(str(file))})")
        except (OSError, ValueError, csv.Error) as e:
            return Cell(text, kind, error=f"{where}: cannot read {kind} file {quoted(text)}: "
                                          f"{reason(e)}")

    # ---- the variables ---------------------------------------------------------------------------

    def variables(self, decode_all: bool = False, progress: Progress | None = None,
                  cancelled: CancelCheck | None = None) -> dict[str, VariableInfo]:
        """Each variable's shape, kind and range; see dataset_variables."""
        meta_classes = self.meta.classes if self.meta else {}
        steps = self.meta.preprocessing if self.meta else {}
        table = self._numbers_table()
        ticker = Ticker(self.row_count if decode_all else 0, progress, cancelled)
        out = {}
        for name, group in self.groups.items():
            info = VariableInfo(name, (len(group),), "numbers", self.row_count,
                                [c.label for c in group], preprocessing=steps.get(name))
            j = self.columns.index(group[0])
            if len(group) == 1 and self.kinds[j] != "number":
                self._file_variable(info, j, decode_all, ticker)
            else:
                self._number_variable(info, group, table, meta_classes.get(name, []))
            out[name] = info
        return out

    def _numbers_table(self) -> list[list[str]] | None:
        """Every sample's cells, parsed in one pass (fast, C); None if a row is malformed."""
        text = self._bytes.decode("utf-8-sig", errors="replace")
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
        except csv.Error:
            return None
        return rows[1:] if len(rows) - 1 == self.row_count else None

    def _number_variable(self, info: VariableInfo, group: list[_Column],
                         table: list[list[str]] | None, class_names: list[str]) -> None:
        width = len(self.columns)
        try:
            if table is None or any(len(r) != width for r in table):
                raise ValueError
            values = np.array([[r[c.position] for c in group] for r in table], dtype=np.float64)
            if not np.isfinite(values).all():
                raise ValueError
        except ValueError:
            info.error = self._first_error([self.columns.index(c) for c in group])
            return
        _fill_range(info, values, class_names)

    def _first_error(self, columns: list[int]) -> str | None:
        for i in range(self.row_count):
            for j in columns:
                cell = self._read_cell(i, j)
                if cell.error:
                    return cell.error
        return None

    def _file_variable(self, info: VariableInfo, j: int, decode_all: bool,
                       ticker: Ticker) -> None:
        kind = self.kinds[j]
        first = self.cell(0, j)
        if first.error:
            raise DataError(first.error)
        info.kind = kind
        info.shape = tuple(first.value.shape)
        scale = 1 / 255 if kind == "image" and self.normalize else 1.0
        samples = [first.value]
        if decode_all:
            samples = self._decode_column(j, info, ticker)
        if samples:
            stacked = np.stack(samples).reshape(len(samples), -1).astype(np.float32) * scale
            info.minimum, info.maximum = float(stacked.min()), float(stacked.max())
            info.whole = bool(np.all(stacked == np.round(stacked)))
            info.counted = len(samples)

    def _decode_column(self, j: int, info: VariableInfo, ticker: Ticker) -> list[np.ndarray]:
        """Every sample's file of column ``j``; stops at the first that is unreadable or of
        another shape (recorded in ``info.error``)."""
        stop = threading.Event()

        def read(i: int) -> Cell | None:
            return None if stop.is_set() else self.cell(i, j)

        samples = []
        workers = min(8, os.cpu_count() or 1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                for i, cell in enumerate(pool.map(read, range(self.row_count))):
                    ticker.step()
                    if cell.error or cell.value.shape != info.shape:
                        info.error = cell.error or (
                            f"{self.path}: line {self.line(i)}, column "
                            f"{self.columns[j].header!r}: {cell.kind} {cell.text!r} is "
                            f"{shape_text(cell.value.shape)} but the first sample's is "
                            f"{shape_text(info.shape)}")
                        break
                    samples.append(cell.value)
        finally:
            stop.set()
        return samples


def _kind(text: str) -> str:
    """What a column holds, judged from its first sample's cell (as read_csv does)."""
    if is_number(text) or not text.strip():
        return "number"
    suffix = Path(text.strip()).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".csv":
        return "array"
    return "number"  # reported as "not a number" cell by cell
