"""A dataset from an ordinary table: a CSV file with a header row, as spreadsheets export it.

The feature columns become the vector ``x`` and the target column ``y``. A target that holds
text is a class target: its distinct values, in natural order, become class indices 0, 1, ...
and keep their names. A numeric target is a regression target unless the caller asks for
classes (``task="classification"``: then each distinct number is a class named after it). Cells
that are empty or not numbers stop the creation with their file, line and column (or, when
asked, their rows are left out and listed); nothing is dropped silently.

Standardisation (``(value - mean) / std`` per feature, statistics from the training rows only)
is on when asked, off when refused, and by default on when the features are not already on a
small common scale: some value beyond ±10, or one column's spread over 10 times another's. The
statistics go into ``dataset.json`` (see designer.core.preprocessing).
"""
from __future__ import annotations

import csv
import difflib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from designer.core.cells import CSV_MEMORY_FACTOR, check_file, csv_row_problem
from designer.core.data import DataError
from designer.core.dataset_create.output import (TRAIN_FILE, VALIDATION_FILE, Created,
                                                 check_split, natural_key, split_rows, staged,
                                                 write_rows)
from designer.core.preprocessing import DatasetMeta, Standardize, write_meta
from designer.core.progress import CancelCheck, Progress, Ticker

TASKS = ("auto", "classification", "regression")
DELIMITERS = (",", ";", "\t")
SCALE_LIMIT = 10.0  # beyond this (a value, or a ratio of spreads) features are standardised
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SHOWN = 5  # bad cells named in a message


@dataclass
class BadCell:
    line: int
    column: str
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.reason}"


class TableError(DataError):
    """Cells of a table cannot be used; ``cells`` lists every one (file, line, column)."""

    def __init__(self, path: Path, cells: list[BadCell], hint: str):
        shown = "; ".join(str(c) for c in cells[:_SHOWN])
        more = f" (and {len(cells) - _SHOWN} more)" if len(cells) > _SHOWN else ""
        super().__init__(f"{path}: {shown}{more}. {hint}")
        self.path = path
        self.cells = cells


@dataclass
class Table:
    """A table's text, split into cells; numbers are parsed on demand."""

    path: Path
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]  # the file line each row starts on
    delimiter: str

    def index(self, name: str, role: str = "column") -> int:
        """The position of column ``name``; DataError with a did-you-mean otherwise."""
        if name in self.columns:
            return self.columns.index(name)
        folded = {c.casefold(): c for c in self.columns}
        close = [folded[name.casefold()]] if name.casefold() in folded else \
            difflib.get_close_matches(name, self.columns, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"{self.path}: no {role} named {name!r}{hint}; the columns are "
                        f"{', '.join(map(repr, self.columns))}")

    def number(self, text: str) -> float | None:
        """The cell as a number, or None when it is not one. Tables whose cells are separated
        by ';' or tabs may write a decimal comma (1,5), as European spreadsheets do."""
        text = text.strip()
        if self.delimiter != "," and "," in text and "." not in text:
            text = text.replace(",", ".")
        return float(text) if _NUMBER.fullmatch(text) else None


@dataclass
class ColumnInfo:
    """One column of a table, for choosing features and the target."""

    name: str
    kind: str  # "number", "text", "mixed" or "empty"
    distinct: int  # distinct non-empty values
    example: str  # the first non-empty cell


def read_table(path: str | os.PathLike) -> Table:
    """Read a CSV table with a header row (comma, semicolon or tab separated)."""
    path = Path(path)
    try:
        check_file(path, CSV_MEMORY_FACTOR)  # not a pipe, not beyond memory
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: table file not found") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")  # what spreadsheets on Windows export
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not a text table (byte {e.start} is neither UTF-8 nor "
                            "Windows-1252)") from None
    if not text.strip():
        raise DataError(f"{path}: the table is empty; its first line must name the columns")
    first = next(line for line in text.splitlines() if line.strip())
    delimiter = max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"{path}: {csv_row_problem(e, start, reader.line_num)}") from None
        if not any(cell.strip() for cell in row):
            continue  # blank lines, and the ';;;' lines spreadsheets leave at the end
        if header is None:
            header = _header(row, path, start)
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: line {start} has {len(row)} cells; the header has "
                            f"{len(header)}")
        rows.append(row)
        lines.append(start)
    if not rows:
        raise DataError(f"{path}: the table has a header but no rows")
    return Table(path, header, rows, lines, delimiter)


def _header(row: list[str], path: Path, line: int) -> list[str]:
    names = [cell.strip() or f"column {i + 1}" for i, cell in enumerate(row)]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise DataError(f"{path}: line {line}: columns {names.index(name) + 1} and {i + 1} "
                            f"are both named {name!r}; rename one")
    return names


def table_columns(table: Table | str | os.PathLike) -> list[ColumnInfo]:
    """Each column's kind and number of distinct values (for the window's column pickers)."""
    table = table if isinstance(table, Table) else read_table(table)
    infos = []
    for i, name in enumerate(table.columns):
        cells = [row[i].strip() for row in table.rows if row[i].strip()]
        numbers = sum(table.number(c) is not None for c in cells)
        kind = ("empty" if not cells else "number" if numbers == len(cells)
                else "text" if numbers == 0 else "mixed")
        infos.append(ColumnInfo(name, kind, len(set(cells)), cells[0] if cells else ""))
    return infos


def create_from_table(table: Table | str | os.PathLike, out: str | os.PathLike, *, target: str,
                      features: list[str] | None = None, task: str = "auto",
                      split: float = 80, shuffle: bool = True, seed: int = 0,
                      standardize: bool | None = None, drop_bad_rows: bool = False,
                      overwrite: bool = False, progress: Progress | None = None,
                      cancelled: CancelCheck | None = None) -> Created:
    """Write the table's ``features`` (default: every other column) as ``x`` and ``target`` as
    ``y`` into ``out``; see the module's description for the rules. ``standardize`` None decides
    from the training rows. Raises DataError (TableError for bad cells) naming file, line and
    column; progress.Cancelled when ``cancelled()`` turns true (``out`` is then left as it was).
    """
    check_split(split)
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    table = table if isinstance(table, Table) else read_table(table)
    ticker = Ticker(2 * len(table.rows), progress, cancelled)
    target_at = table.index(target, "target column")
    feature_at = _feature_columns(table, target, features)
    values, bad = _features(table, feature_at, ticker)
    y, classes, target_bad, warnings = _target(table, target_at, task)
    bad += target_bad
    keep = np.ones(len(table.rows), dtype=bool)
    if bad:
        if not drop_bad_rows:
            raise TableError(table.path, sorted(bad, key=lambda c: c.line),
                             _hint(table, feature_at, bad))
        line_row = {line: r for r, line in enumerate(table.lines)}
        dropped = sorted({c.line for c in bad})
        keep[[line_row[line] for line in dropped]] = False
        listed = ", ".join(map(str, dropped[:10])) + (", …" if len(dropped) > 10 else "")
        warnings.append(f"{len(dropped)} rows with unusable cells were left out (lines {listed})")
    values, y = values[keep], y[keep]
    train_rows, validation_rows = split_rows(len(y), split, seed, shuffle,
                                             y.astype(np.int64) if classes else None)
    names = [table.columns[i] for i in feature_at]
    scaling, reason = _standardizing(values[train_rows], names, standardize)
    if reason:
        warnings.append(reason)
    written = values if scaling is None else scaling.apply(values)
    header = [f"x:{names[0]}"] if len(names) == 1 else [
        f"x__{i}:{name}" for i, name in enumerate(names)]
    header.append(f"y:{table.columns[target_at]}")
    preprocessing = {"x": scaling} if scaling is not None else {}
    with staged(out, overwrite) as tmp:
        for file, rows in ((TRAIN_FILE, train_rows), (VALIDATION_FILE, validation_rows)):
            write_rows(tmp / file, header, _cells(written, y, rows, bool(classes), ticker))
        write_meta(tmp, DatasetMeta([TRAIN_FILE, VALIDATION_FILE],
                                    {"y": classes} if classes else {}, preprocessing))
    final = Path(out).absolute()
    return Created(final, final / TRAIN_FILE, final / VALIDATION_FILE, len(train_rows),
                   len(validation_rows), "classification" if classes else "regression", classes,
                   preprocessing, warnings)


def _feature_columns(table: Table, target: str, features: list[str] | None) -> list[int]:
    if features is None:
        at = [i for i, name in enumerate(table.columns) if name != target]
    else:
        at = [table.index(name, "feature column") for name in features]
        for i, name in enumerate(features):
            if name == target:
                raise DataError(f"{table.path}: column {name!r} is the target; it cannot also "
                                "be a feature")
            if features.index(name) != i:
                raise DataError(f"{table.path}: feature column {name!r} is named twice")
    if not at:
        raise DataError(f"{table.path}: there are no feature columns; the table has only the "
                        f"target column {target!r}")
    return at


def _features(table: Table, at: list[int], ticker: Ticker) -> tuple[np.ndarray, list[BadCell]]:
    values = np.zeros((len(table.rows), len(at)), dtype=np.float64)
    bad: list[BadCell] = []
    for r, row in enumerate(table.rows):
        for j, c in enumerate(at):
            text = row[c]
            number = table.number(text)
            if number is None or not np.isfinite(number):
                bad.append(BadCell(table.lines[r], table.columns[c], text, _why(text, number)))
            else:
                values[r, j] = number
        if r % 1000 == 999:
            ticker.step(1000)
    ticker.step(len(table.rows) % 1000)
    return values, bad


def _why(text: str, number: float | None) -> str:
    if not text.strip():
        return "the cell is empty"
    if number is not None:
        return f"{text.strip()!r} is too large for a number"
    return f"{text.strip()!r} is not a number"


def _hint(table: Table, feature_at: list[int], bad: list[BadCell]) -> str:
    """What to do, naming a column that holds text throughout when there is one."""
    per_column: dict[str, int] = {}
    for cell in bad:
        per_column[cell.column] = per_column.get(cell.column, 0) + 1
    features = {table.columns[i] for i in feature_at}
    text_columns = [c for c, n in per_column.items() if n == len(table.rows) and c in features]
    if text_columns:
        return (f"Column {text_columns[0]!r} holds no numbers; leave it out of the features "
                "(--features). Or fix the cells, or leave their rows out (--drop-bad-rows)")
    return "Fix those cells in the table, or leave their rows out (--drop-bad-rows)"


def _target(table: Table, at: int, task: str):
    """(y per row, class names or [], bad cells, notes) for the target column."""
    name = table.columns[at]
    texts = [row[at].strip() for row in table.rows]
    numbers = [table.number(t) if t else None for t in texts]
    bad = [BadCell(table.lines[r], name, "", "the target is empty")
           for r, t in enumerate(texts) if not t]
    filled = [r for r, t in enumerate(texts) if t]
    textual = [r for r in filled if numbers[r] is None or not np.isfinite(numbers[r])]
    if task == "auto":
        task = "classification" if len(textual) * 2 > len(filled) else "regression"
    y = np.zeros(len(texts), dtype=np.float64)
    notes: list[str] = []
    if task == "regression":
        for r in textual:
            reason = (f"{texts[r]!r} is not a number; a regression target holds numbers "
                      "(--task classification makes each value a class)")
            bad.append(BadCell(table.lines[r], name, texts[r], reason))
        usable = sorted(set(filled) - set(textual))
        for r in usable:
            y[r] = numbers[r]
        distinct = {numbers[r] for r in usable}
        if distinct and len(distinct) <= 20 and all(float(v).is_integer() for v in distinct):
            notes.append(f"target {name!r} holds {len(distinct)} distinct whole numbers and is "
                         "a regression target; --task classification makes them classes")
        return y, [], bad, notes
    classes = sorted({texts[r] for r in filled}, key=natural_key)
    index = {c: i for i, c in enumerate(classes)}
    for r in filled:
        y[r] = index[texts[r]]
    return y, classes, bad, notes


def _standardizing(train: np.ndarray, names: list[str],
                   wanted: bool | None) -> tuple[Standardize | None, str]:
    """The standardisation to apply (or None) and, when it was decided here, why."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    spread = std[std > 0]
    ratio = float(spread.max() / spread.min()) if len(spread) else 1.0
    largest = float(np.abs(train).max()) if train.size else 0.0
    reason = ""
    if wanted is None:
        wanted = largest > SCALE_LIMIT or ratio > SCALE_LIMIT
        if wanted:
            why = (f"their spreads differ {ratio:.0f}×" if ratio > SCALE_LIMIT
                   else f"values reach {largest:.6g}")
            reason = (f"the features were standardised because {why} (statistics of the "
                      "training rows, kept in dataset.json)")
    if not wanted:
        return None, reason
    constant = [n for n, s in zip(names, std) if s == 0]
    if constant:
        reason = (reason + "; " if reason else "") + (
            f"column {constant[0]!r} has the same value in every training row and carries no "
            "information")
    std = np.where(std > 0, std, 1.0)
    return Standardize(tuple(names), tuple(float(v) for v in mean),
                       tuple(float(v) for v in std)), reason


def _cells(values: np.ndarray, y: np.ndarray, rows: np.ndarray, classes: bool, ticker: Ticker):
    for n, r in enumerate(rows):
        target = str(int(y[r])) if classes else format(y[r], ".9g")
        yield [format(v, ".9g") for v in values[r]] + [target]
        if n % 1000 == 999:
            ticker.step(1000)
    ticker.step(len(rows) % 1000)
