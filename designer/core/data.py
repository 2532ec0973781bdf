"""Datasets: CSV files in Neural Network Console's format and the embedded sample sets.

A dataset is a table of samples. Its columns form *variables* (``x``, ``y``, ...); every sample of
a variable has the same shape, and an Input layer or a loss names the variable it reads. The
header cell of a column is ``NAME[__INDEX][:LABEL]``: ``y:label`` is a one-value variable,
``x__0:sepal length`` ... ``x__3`` make a 4-value vector. A cell holds a number, an image file
(grayscale becomes 1×H×W, color 3×H×W) or a data CSV file (an R×C array), with paths relative to
the dataset CSV file. A folder holding ``index.csv`` names that file.

Everything is loaded into memory once, unless the caller reads image columns its own way
(``read_csv(..., images=...)``: ``designer.core.stream`` reads them as they are needed). Images
stay 8-bit (``scales`` says how to turn stored values into the values a network sees), so a
large image set costs a quarter of its float size.
"""
from __future__ import annotations

import csv
import difflib
import functools
import importlib.util
import io
import os
import sys
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nodes import shape_text
from nodes.spec import quoted

from designer.core.cells import (CSV_MEMORY_FACTOR, IMAGE_SUFFIXES, check_file, csv_problem,
                                  csv_row_problem, is_number, number_problem, read_array,
                                  read_image, reason)
from designer.core.files import available_memory, size_text
from designer.core.imports import imported

EMBEDDED_PREFIX = "embedded:"
MAX_INDEX_DIGITS = 9  # x__123456789 is the largest vector index a header may name


class DataError(ValueError):
    """A dataset is unusable. The message names the file, line, column or variable."""


@dataclass
class DataSet:
    source: str  # what the user chose: a CSV path or ``embedded:NAME``
    arrays: dict[str, np.ndarray]  # variable -> N × sample shape (uint8 images, else float32)
    scales: dict[str, float] = field(default_factory=dict)  # value = stored × scale (default 1)
    labels: dict[str, list[str]] = field(default_factory=dict)  # header labels per variable
    class_names: list[str] = field(default_factory=list)  # names of class indices, when known
    lines: np.ndarray | None = None  # CSV line of each sample, for messages
    numbers: np.ndarray | None = None  # each sample's number in the whole set, once split
    # variable -> how a raw value becomes a network input (preprocessing.Standardize or
    # ImageFormat), from the dataset folder's dataset.json
    preprocessing: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    @property
    def variables(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each variable."""
        return {name: tuple(a.shape[1:]) for name, a in self.arrays.items()}

    def where(self, index: int) -> str:
        """Where sample ``index`` comes from, in words: ``line 18 of data/index.csv``."""
        if self.lines is not None:
            return f"line {int(self.lines[index])} of {self.source}"
        number = index if self.numbers is None else int(self.numbers[index])
        return f"sample {number} of {self.source}"

    def values(self, name: str, indices: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Samples of one variable as float32, scaled as the network sees them."""
        stored = self.arrays[name][indices]
        scale = self.scales.get(name, 1.0)
        out = stored.astype(np.float32)
        return out * np.float32(scale) if scale != 1.0 else out

    def subset(self, indices: np.ndarray) -> DataSet:
        indices = np.asarray(indices, dtype=np.int64)
        numbers = indices if self.numbers is None else self.numbers[indices]
        return DataSet(self.source, {k: a[indices] for k, a in self.arrays.items()},
                       dict(self.scales), self.labels, self.class_names,
                       None if self.lines is None else self.lines[indices], numbers,
                       self.preprocessing)

    def reshaped(self, name: str, shape: tuple[int, ...]) -> DataSet:
        """The same samples with variable ``name`` viewed as ``shape`` (same number of values)."""
        arrays = dict(self.arrays)
        arrays[name] = arrays[name].reshape((len(self),) + tuple(shape))
        return DataSet(self.source, arrays, self.scales, self.labels, self.class_names,
                       self.lines, self.numbers, self.preprocessing)


# ---- opening a dataset -----------------------------------------------------------------------

def open_dataset(source: str, folder: str | os.PathLike | None = None,
                 normalize: bool = False) -> DataSet:
    """Load ``embedded:NAME``, a dataset CSV file, or a folder holding ``index.csv``.

    Relative paths are taken from ``folder`` (the project's folder). ``normalize`` divides image
    pixel values by 255.
    """
    if source.startswith(EMBEDDED_PREFIX):
        return embedded(source[len(EMBEDDED_PREFIX):])
    if "\0" in source:
        raise DataError(f"{quoted(source)}: a file name cannot hold the NUL character")
    if source.startswith("{SDCPATH}") or "\\" in source:
        raise DataError(f"{source}: a dataset of Neural Network Console on Windows, which is "
                        "not on this computer; point the project at a local copy of the CSV "
                        "file (Neural Network Console's dataset format)")
    path = Path(source)
    if not path.is_absolute() and folder is not None:
        path = Path(folder) / path
    return read_csv(path, normalize=normalize)


def embedded(name: str) -> DataSet:
    """One of the sample datasets that ship with the app (no download)."""
    if name not in EMBEDDED:
        close = difflib.get_close_matches(name, EMBEDDED, n=1)
        hint = f" (did you mean {EMBEDDED_PREFIX}{close[0]}?)" if close else ""
        raise DataError(f"{EMBEDDED_PREFIX}{name}: no such embedded dataset{hint}; the embedded "
                        f"datasets are {', '.join(EMBEDDED)}")
    make, _ = EMBEDDED[name]
    arrays, labels, class_names = make()
    return DataSet(f"{EMBEDDED_PREFIX}{name}", arrays, {}, labels, class_names)


def split(data: DataSet, fraction: float, seed: int) -> tuple[DataSet, DataSet]:
    """(rest, held out): ``fraction`` of the samples, drawn with ``seed``, held out for validation.

    Both parts keep the original sample order. The same data, fraction and seed always give the
    same parts, so evaluation finds the samples training held out.
    """
    n = len(data)
    held = round(n * fraction)
    if fraction > 0 and n >= 2:
        held = min(max(held, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return data.subset(np.sort(order[held:])), data.subset(np.sort(order[:held]))


# ---- the CSV format --------------------------------------------------------------------------

_HEADER = re.compile(r"(?P<name>[^:]*?)(?:__(?P<index>[0-9]+))?(?::(?P<label>.*))?", re.DOTALL)


@dataclass
class _Column:
    position: int  # 0-based column in the file
    header: str
    name: str
    index: int | None
    label: str


# (image files, their cells, their lines, the column's header, the CSV file) -> an array-like
ImageColumn = Callable[[list[Path], list[str], list[int], str, Path], Any]


def read_csv(path: str | os.PathLike, normalize: bool = False,
             images: ImageColumn | None = None) -> DataSet:
    """Read a dataset CSV file (Neural Network Console's format). ``images`` makes each image
    column's array instead of reading every image now."""
    path, text = _csv_text(path)
    columns, rows, lines = _csv_rows(text, path)
    groups: dict[str, list[_Column]] = {}
    for column in columns:
        groups.setdefault(column.name, []).append(column)
    arrays: dict[str, np.ndarray] = {}
    scales: dict[str, float] = {}
    labels: dict[str, list[str]] = {}
    for name, group in groups.items():
        group = _check_indices(name, group, path)
        labels[name] = [c.label for c in group]
        if len(group) == 1:
            arrays[name], is_image = _read_cells(name, group[0], rows, lines, path, images)
            if is_image and normalize:
                scales[name] = 1 / 255
        else:
            arrays[name] = _read_numbers(group, rows, lines, path)
    from designer.core.preprocessing import MetaError, with_meta

    try:  # class names and standardisation from the folder's dataset.json
        return with_meta(DataSet(str(path), arrays, scales, labels, [], np.asarray(lines)), path)
    except MetaError as e:
        raise DataError(str(e)) from None


def _csv_text(path: str | os.PathLike) -> tuple[Path, str]:
    """The dataset file (``index.csv`` in a dataset folder) and its text."""
    path = Path(path)
    if path.is_dir():
        if not (path / "index.csv").is_file():
            raise DataError(f"{path}: a dataset folder must hold index.csv")
        path = path / "index.csv"
    try:
        check_file(path, CSV_MEMORY_FACTOR)
        return path, path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: dataset file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a CSV text file (byte {e.start} is not UTF-8)") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None


def _csv_rows(text: str, path: Path) -> tuple[list[_Column], list[list[str]], list[int]]:
    """(the header's columns, every sample's cells, the line each sample starts on)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty; the first line must name the variables, "
                        "e.g. x:image,y:label") from None
    except csv.Error as e:
        raise DataError(f"{path}: line 1: {csv_problem(e)}") from None
    columns = _parse_header(header, path)
    rows: list[list[str]] = []
    lines: list[int] = []
    while True:
        start = reader.line_num + 1  # a quoted cell may span lines; a row is named by its first
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"{path}: {csv_row_problem(e, start, reader.line_num)}") from None
        if not row:
            continue
        if len(row) != len(columns):
            raise DataError(f"{path}: line {start} has {len(row)} cells; the header has "
                            f"{len(columns)}")
        rows.append(row)
        lines.append(start)
    if not rows:
        raise DataError(f"{path}: the file has a header but no samples")
    return columns, rows, lines


def _parse_header(header: list[str], path: Path) -> list[_Column]:
    columns = []
    for i, cell in enumerate(header):
        match = _HEADER.fullmatch(cell)
        name = match["name"] if match else ""
        if not name.strip():
            raise DataError(f"{path}: line 1, column {i + 1}: header {quoted(cell)} names no "
                            "variable; write NAME, NAME:LABEL or NAME__INDEX:LABEL, e.g. x:image")
        if name != name.strip():
            raise DataError(f"{path}: line 1, column {i + 1}: header {quoted(cell)} has spaces "
                            f"around the variable name, which would become part of it; write "
                            f"{quoted(name.strip())}")
        if match["index"] is not None and len(match["index"]) > MAX_INDEX_DIGITS:
            raise DataError(f"{path}: line 1, column {i + 1}: header {quoted(cell)} has an "
                            f"index of {len(match['index'])} digits; indices run from 0 to the "
                            "number of columns of the variable")
        index = int(match["index"]) if match["index"] is not None else None
        columns.append(_Column(i, cell, name, index, match["label"] or ""))
    return columns


def _check_indices(name: str, group: list[_Column], path: Path) -> list[_Column]:
    """The columns of one variable in index order; their indices must be 0..n-1, once each."""
    if len(group) == 1 and group[0].index is None:
        return group
    plain = [c for c in group if c.index is None]
    short = name if name.isprintable() and len(name) <= 40 else "NAME"
    if plain:
        raise DataError(f"{path}: line 1: variable {quoted(name)} has column "
                        f"{quoted(plain[0].header)} without an index beside indexed columns; "
                        f"write {short}__0, {short}__1, ...")
    by_index: dict[int, _Column] = {}
    for c in group:
        if c.index in by_index:
            raise DataError(f"{path}: line 1: columns {quoted(by_index[c.index].header)} and "
                            f"{quoted(c.header)} both hold {short}__{c.index}")
        by_index[c.index] = c
    missing = sorted(set(range(len(group))) - set(by_index))
    if missing:
        raise DataError(f"{path}: line 1: variable {quoted(name)} has no column "
                        f"{short}__{missing[0]}; its indices must run 0 to {len(group) - 1} "
                        "without gaps")
    return [by_index[i] for i in range(len(group))]


def _cell_error(path: Path, line: int, column: _Column, message: str) -> DataError:
    return DataError(f"{path}: line {line}, column {quoted(column.header)}: {message}")


def _read_numbers(group: list[_Column], rows, lines, path: Path) -> np.ndarray:
    """N × len(group) float32 values; names the first cell that is not a finite number."""
    table = [[row[c.position] for c in group] for row in rows]
    try:
        with np.errstate(over="ignore"):  # a number beyond float32 is named below
            values = np.array(table, dtype=np.float32)
    except (ValueError, OverflowError):
        values = None
    if values is None or not np.isfinite(values).all():
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                problem = number_problem(cell)
                if problem:
                    raise _cell_error(path, lines[r], group[c], problem)
        # numpy refused a spelling Python reads (1_000, full-width digits)
        values = np.array([[float(cell) for cell in row] for row in table], dtype=np.float32)
    return values


def _read_cells(name: str, column: _Column, rows, lines, path: Path,
                images: ImageColumn | None = None) -> tuple[np.ndarray, bool]:
    """One column: numbers (N×1), images (N×C×H×W uint8) or data CSV files (N×R×C)."""
    first = rows[0][column.position]
    if is_number(first) or not first.strip():
        return _read_numbers([column], rows, lines, path), False
    suffix = Path(first.strip()).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        kind, reader = "image", read_image
    elif suffix == ".csv":
        kind, reader = "data CSV", read_array
    else:
        raise _cell_error(path, lines[0], column,
                          f"{quoted(first)} is not a number, an image "
                          f"({', '.join(IMAGE_SUFFIXES)}) or a data CSV file (.csv)")
    files = []
    for r, row in enumerate(rows):
        cell = row[column.position]
        wanted = IMAGE_SUFFIXES if kind == "image" else (".csv",)
        if Path(cell.strip()).suffix.lower() not in wanted:
            raise _cell_error(path, lines[r], column,
                              f"{quoted(cell)} is not a {kind} file like the samples above it; "
                              f"every sample of variable {quoted(name)} must be the same kind")
        file = Path(cell)
        files.append(file if file.is_absolute() else path.parent / file)
    if images is not None and kind == "image":
        return images(files, [row[column.position] for row in rows], lines, column.header,
                      path), True

    def load(r: int) -> np.ndarray:
        cell = quoted(rows[r][column.position])
        try:
            return reader(files[r])
        except FileNotFoundError:
            raise _cell_error(path, lines[r], column, f"{kind} file {cell} not found (looked "
                                                      f"for {quoted(str(files[r]))})") from None
        except (OSError, ValueError, csv.Error) as e:
            raise _cell_error(path, lines[r], column,
                              f"cannot read {kind} file {cell}: {reason(e)}") from None

    first_sample = load(0)
    _check_memory(first_sample, len(files), kind, path, lines[0], column)
    # decoding is mostly native code that releases the GIL, so threads help on big image sets
    workers = min(8, os.cpu_count() or 1) if len(files) > 64 else 1
    with ThreadPoolExecutor(workers) as pool:
        samples = [first_sample] + list(pool.map(load, range(1, len(files))))
    shape = samples[0].shape
    for r, sample in enumerate(samples):
        if sample.shape != shape:
            raise _cell_error(path, lines[r], column,
                              f"{kind} {quoted(rows[r][column.position])} is "
                              f"{shape_text(sample.shape)} but {quoted(rows[0][column.position])} "
                              f"(line {lines[0]}) is {shape_text(shape)}; every sample of "
                              f"variable {quoted(name)} must have the same shape")
    return np.stack(samples), kind == "image"


def _check_memory(sample: np.ndarray, count: int, kind: str, path: Path, line: int,
                  column: _Column) -> None:
    """Refuse a column whose samples would not fit in memory, before reading the rest."""
    needed = 2 * sample.nbytes * count  # the samples, then stacked into one array
    available = available_memory()
    if available is not None and needed > available:
        raise _cell_error(path, line, column,
                          f"{count:,} {kind} files of {shape_text(sample.shape)} would need "
                          f"{size_text(needed)} of memory; this machine has "
                          f"{size_text(available)} available")


# ---- embedded datasets -----------------------------------------------------------------------
# Each returns (arrays, labels, class names). They are made from the data scikit-learn bundles or
# generated with a fixed seed, so they never need a download and are the same on every machine.

def _frozen(make):
    """Cache the arrays and make them read-only, so no caller can change another's data."""
    @functools.cache
    def cached():
        arrays, labels, classes = make()
        for a in arrays.values():
            a.setflags(write=False)
        return arrays, labels, classes
    return cached


def _bundled(name: str) -> Path | None:
    """A data file that scikit-learn bundles, found without importing scikit-learn (which takes
    seconds); None if this scikit-learn keeps it elsewhere."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / name
        if path.is_file():
            return path
    return None


IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@_frozen
def _iris():
    path = _bundled("iris.csv")
    if path is None:
        from sklearn.datasets import load_iris

        bunch = load_iris()
        table, names = np.column_stack([bunch.data, bunch.target]), list(bunch.target_names)
    else:  # first line: samples, features, class names
        names = path.read_text(encoding="utf-8").splitlines()[0].split(",")[2:]
        table = np.loadtxt(path, delimiter=",", skiprows=1)
    return ({"x": table[:, :4].astype(np.float32), "y": table[:, 4:].astype(np.float32)},
            {"x": list(IRIS_FEATURES), "y": ["species"]}, names)


def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    path = _bundled("digits.csv.gz")
    if path is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        table = np.column_stack([bunch.data, bunch.target])
    else:
        table = np.loadtxt(path, delimiter=",")
    images = (table[:, :64].astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return images, table[:, 64].astype(np.float32)


@_frozen
def _digits():
    x, y = _digit_images()
    return {"x": x, "y": y[:, None]}, {"x": ["image"], "y": ["digit"]}, [str(d) for d in range(10)]


@_frozen
def _digits28():
    torch = imported("torch")  # torch loads here, maybe on a worker thread of the window
    import torch.nn.functional as F

    x, y = _digit_images()
    # 8×8 → 24×24 smoothly, then a 2-pixel margin as in MNIST's 28×28 frames
    big = F.interpolate(torch.from_numpy(x), size=(24, 24), mode="bilinear", align_corners=False)
    framed = F.pad(big.clamp(0, 1), (2, 2, 2, 2)).numpy()
    return ({"x": np.ascontiguousarray(framed), "y": y[:, None]},
            {"x": ["image"], "y": ["digit"]}, [str(d) for d in range(10)])


@_frozen
def _xor():
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 2, size=(400, 2))
    x = (corners * 2 - 1 + rng.normal(0, 0.25, size=(400, 2))).astype(np.float32)
    y = (corners[:, 0] ^ corners[:, 1]).astype(np.float32)[:, None]
    return {"x": x, "y": y}, {"x": ["a", "b"], "y": ["a xor b"]}, ["false", "true"]


@_frozen
def _sine():
    """Predict the next value of a sine wave from the 50 values before it."""
    rng = np.random.default_rng(0)
    n, steps = 1000, 50
    freq = rng.uniform(0.1, 0.4, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amplitude = rng.uniform(0.5, 1.0, size=(n, 1))
    wave = (amplitude * np.sin(freq * np.arange(steps + 1) + phase)).astype(np.float32)
    return ({"x": wave[:, :steps, None], "y": wave[:, steps:]},
            {"x": ["wave"], "y": ["next value"]}, [])


@_frozen
def _spirals():
    """Two interleaved spirals, 300 points each: a classic non-linear 2-class problem."""
    rng = np.random.default_rng(0)
    n = 300
    t = np.sqrt(rng.uniform(0, 1, size=n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, size=(2 * n, 2))
    y = np.repeat([0.0, 1.0], n)[:, None]
    return ({"x": x.astype(np.float32), "y": y.astype(np.float32)},
            {"x": ["x1", "x2"], "y": ["arm"]}, ["arm 1", "arm 2"])


@_frozen
def _signs():
    """Sequences of 15 steps of +1 or −1: is their sum positive? (A recurrent network has to
    count: no single step decides.)"""
    rng = np.random.default_rng(0)
    steps = rng.choice([-1.0, 1.0], size=(2000, 15, 1)).astype(np.float32)
    y = (steps.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    return ({"x": steps, "y": y}, {"x": ["step"], "y": ["sum positive"]}, ["no", "yes"])


EMBEDDED = {
    "iris": (_iris, "150 iris flowers: 4 measurements (x) → one of 3 species (y)"),
    "xor": (_xor, "400 noisy points (x, 2 values) → 1 when exactly one is positive (y)"),
    "digits": (_digits, "1,797 handwritten digits, 1×8×8 images scaled 0..1 (x) → 0-9 (y)"),
    "digits28": (_digits28, "the digits enlarged to 1×28×28, like MNIST (x) → 0-9 (y)"),
    "sine": (_sine, "1,000 sine waves: 50 steps (x, 50×1) → the next value (y)"),
    "spirals": (_spirals, "600 points on two interleaved spirals (x, 2 values) → arm 0/1 (y)"),
    "signs": (_signs, "2,000 sequences of 15 steps of ±1 (x, 15×1) → 1 when their sum is "
                      "positive (y)"),
}


# ---- writing a dataset out -------------------------------------------------------------------

def write_csv(data: DataSet, folder: str | os.PathLike) -> Path:
    """Write ``data`` in Neural Network Console's format: ``folder/index.csv`` plus ``data/``.

    C×H×W variables with 1 or 3 channels become PNG images (read them back with image
    normalization on), other matrices one CSV file per sample, vectors one column per value
    (``x__0``, ``x__1``, ...). Returns the path of index.csv.
    """
    from PIL import Image

    folder = Path(folder)
    header: list[str] = []
    columns: list[list[str]] = []
    for name, array in data.arrays.items():
        shape, labels = array.shape[1:], data.labels.get(name, [])
        if len(shape) == 3 and shape[0] in (1, 3):
            (folder / "data" / name).mkdir(parents=True, exist_ok=True)
            pixels = data.values(name)
            if array.dtype != np.uint8:
                pixels = pixels * 255.0
            pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
            cells = []
            for i, image in enumerate(pixels):
                relative = f"data/{name}/{i}.png"
                mode_image = image[0] if shape[0] == 1 else image.transpose(1, 2, 0)
                Image.fromarray(mode_image).save(folder / relative)
                cells.append(relative)
            header.append(f"{name}:{labels[0]}" if labels else name)
            columns.append(cells)
        elif len(shape) >= 2:
            (folder / "data" / name).mkdir(parents=True, exist_ok=True)
            cells = []
            for i, sample in enumerate(data.values(name)):
                relative = f"data/{name}/{i}.csv"
                np.savetxt(folder / relative, sample.reshape(shape[0], -1), delimiter=",",
                           fmt="%.9g")
                cells.append(relative)
            header.append(f"{name}:{labels[0]}" if labels else name)
            columns.append(cells)
        else:
            values = data.values(name).reshape(len(data), -1)
            width = values.shape[1]
            for j in range(width):
                cell = name if width == 1 else f"{name}__{j}"
                label = labels[j] if len(labels) == width else ""
                header.append(f"{cell}:{label}" if label else cell)
                columns.append([str(v) for v in values[:, j]])  # float32's shortest exact text
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "index.csv"
    with open(index, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns))
    return index


# ---- command line: python -m designer dataset --------------------------------------------------

# ``python -m designer dataset create ...`` is parsed by its own module (see designer.core.cli)
SUBCOMMANDS = {"create": ("designer.core.dataset_create.command",
                          "create a dataset from a folder of images or a table")}


def add_arguments(p) -> None:
    p.epilog = ("python -m designer dataset create --help: create a dataset from a folder of "
                "images (one sub-folder per class) or from a table (CSV with a header row)")
    p.add_argument("name", nargs="?", help="embedded dataset to write out (omit to list them)")
    p.add_argument("-o", "--out", metavar="FOLDER",
                   help="folder to write index.csv and data/ into (default: ./NAME)")


def run(args) -> int:
    if args.name is None:
        for name, (_, description) in EMBEDDED.items():
            print(f"{EMBEDDED_PREFIX}{name:<10} {description}")
        return 0
    try:
        data = embedded(args.name)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    folder = Path(args.out or args.name)
    try:
        index = write_csv(data, folder)
    except OSError as e:
        print(f"error: cannot write {folder}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote {len(data)} samples to {index}")
    return 0

