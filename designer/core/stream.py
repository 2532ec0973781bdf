"""Datasets bigger than memory: images read as they are needed, by DataLoader worker processes.

``open_csv`` reads a dataset CSV file as ``data.read_csv`` does, but looks at the size of its
images before reading them all:

* small (decoded, at most STREAM_ABOVE bytes) and ``stream`` "auto" or "never": into memory,
  exactly as ``read_csv`` reads them (then moved to the device once, as always);
* with ``cache`` on (NNC's "Enable cache"): decoded once into a memory-mapped file beside the
  CSV (``<csv stem>.cache/``), reused while the CSV and every image keep their size and
  modification time, with progress reported while it is written;
* large, or ``stream`` "always": an image column becomes ``ImageFiles``, an array-like that
  decodes the samples asked for. A cached column is ``CachedImages``, which reads them from the
  cache file.

``StreamFeeder`` hands such a dataset to the trainer batch by batch: a torch DataLoader whose
worker processes decode the next batches while the network trains, in pinned memory for a
CUDA GPU (a cache that fits in memory is read by the training process itself). It takes the same index batches as the in-memory ``session.Feeder``, so a run trains
the same whichever way its data arrives.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Iterator

import numpy as np
import torch

from nodes import shape_text

from nodes.spec import quoted

from designer.core.cells import read_image, reason
from designer.core.data import DataError, DataSet, read_csv
from designer.core.files import atomic_write, available_memory

STREAM_ABOVE = 2 << 30  # bytes of decoded images above which a dataset streams
PREFETCH = 4  # batches each worker reads ahead
CACHE_CHUNK = 256  # images per piece while a cache is written
CACHE_FORMAT = 1
CACHE_INFO = "cache.json"

# (variable, images done, images in all): progress while a cache is written
Progress = Callable[[str, int, int], None]


def open_csv(path: str | os.PathLike, normalize: bool = False, *, cache: bool = False,
             stream: str = "auto", workers: int = 0,
             progress: Progress | None = None) -> DataSet:
    """A dataset CSV file, its images in memory, in the cache or read as needed (see above)."""
    sources: list[ImageSource] = []

    def lazily(files, cells, lines, header, csv_path) -> ImageFiles:
        sources.append(ImageSource.scan(files, cells, lines, header, csv_path))
        return ImageFiles(sources[-1])

    data = read_csv(path, normalize, images=lazily)
    if not sources:
        return data
    if cache:
        data = _cached(data, workers, progress)
    size = sum(a.nbytes for a in data.arrays.values() if isinstance(a, LazyColumn))
    if stream == "always" or (stream == "auto" and size > STREAM_ABOVE):
        return data
    if cache:
        return _with_arrays(data, {k: np.asarray(a) if isinstance(a, LazyColumn) else a
                                   for k, a in data.arrays.items()})
    return read_csv(path, normalize)  # every image now, with read_csv's own checks


def is_streamed(data: DataSet) -> bool:
    return any(isinstance(a, LazyColumn) for a in data.arrays.values())


def _with_arrays(data: DataSet, arrays: dict) -> DataSet:
    return DataSet(data.source, arrays, data.scales, data.labels, data.class_names, data.lines,
                   data.numbers)


# ---- columns read as needed ----------------------------------------------------------------

class LazyColumn:
    """The samples of one variable, read when asked for. Indexing with a slice or an index
    array gives another lazy column (a split keeps streaming); an integer, ``read`` or
    ``np.asarray`` reads samples."""

    dtype = np.dtype(np.uint8)

    def __init__(self, rows: np.ndarray, sample_shape: tuple[int, ...]):
        self.rows = rows  # which samples of the source, in order
        self.sample_shape = tuple(sample_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.sample_shape)

    @property
    def nbytes(self) -> int:
        return len(self.rows) * math.prod(self.sample_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.read(np.asarray([key]))[0]
        return self._with(self.rows[key], self.sample_shape)

    def reshape(self, shape) -> LazyColumn:
        count, *sample = shape
        assert count == len(self) and math.prod(sample) == math.prod(self.sample_shape)
        return self._with(self.rows, tuple(sample))

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def read(self, indices) -> np.ndarray:
        """The samples at ``indices`` (positions in this column), stacked."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        return self._read(rows).reshape((len(rows), *self.sample_shape))

    def _with(self, rows: np.ndarray, sample_shape: tuple[int, ...]) -> LazyColumn:
        raise NotImplementedError

    def _read(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass
class ImageSource:
    """The image files of one column of a dataset CSV, with what messages about them name."""

    csv: Path
    header: str
    files: list[str]
    cells: list[str]
    lines: list[int]
    shape: tuple[int, ...]  # of every image, as the first one is
    stats: list[tuple[int, int]]  # (size, modification time in ns) of each file

    @classmethod
    def scan(cls, files: list[Path], cells: list[str], lines: list[int], header: str,
             csv: Path) -> ImageSource:
        """Check that every file is there (a missing one is named now, not mid-training) and
        read the first to learn the images' shape."""
        stats = []
        for file, cell, line in zip(files, cells, lines):
            where = f"{csv}: line {line}, column {quoted(header)}: image file {quoted(cell)}"
            try:
                st = os.stat(file)
            except OSError:
                raise DataError(f"{where} not found (looked for {quoted(str(file))})") from None
            if not stat.S_ISREG(st.st_mode):
                raise DataError(f"{where}: not a regular file (a folder, a pipe or a device)")
            stats.append((st.st_size, st.st_mtime_ns))
        source = cls(csv, header, [str(f) for f in files], list(cells), list(lines), (),
                     stats)
        source.shape = source.decode(0, check=False).shape
        return source

    def where(self, row: int) -> str:
        return f"{self.csv}: line {self.lines[row]}, column {quoted(self.header)}"

    def decode(self, row: int, check: bool = True) -> np.ndarray:
        try:
            image = read_image(self.files[row], checked=True)  # (a str: Pillow opens it as is)
        except FileNotFoundError:
            raise DataError(f"{self.where(row)}: image file {quoted(self.cells[row])} not found "
                            f"(looked for {quoted(self.files[row])})") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{self.where(row)}: cannot read image file "
                            f"{quoted(self.cells[row])}: {reason(e)}") from None
        if check and image.shape != self.shape:
            cell = quoted(self.cells[row])
            raise DataError(f"{self.where(row)}: image {cell} is {shape_text(image.shape)} but "
                            f"{quoted(self.cells[0])} (line {self.lines[0]}) is "
                            f"{shape_text(self.shape)}; every sample of the variable must have "
                            "the same shape")
        return image

    def key(self) -> str:
        """What the cache of these images depends on: the CSV's and every file's size and
        modification time (and where they are)."""
        digest = hashlib.sha256()
        st = os.stat(self.csv)
        digest.update(f"{self.csv}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        for file, (size, mtime) in zip(self.files, self.stats):
            digest.update(f"{file}\0{size}\0{mtime}\n".encode())
        return digest.hexdigest()


class ImageFiles(LazyColumn):
    """An image column decoded sample by sample from its files."""

    def __init__(self, source: ImageSource, rows: np.ndarray | None = None,
                 sample_shape: tuple[int, ...] | None = None):
        super().__init__(np.arange(len(source.files)) if rows is None else rows,
                         source.shape if sample_shape is None else sample_shape)
        self.source = source

    def _with(self, rows, sample_shape) -> ImageFiles:
        return ImageFiles(self.source, rows, sample_shape)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.source.shape), np.uint8)

        def put(j: int) -> None:
            out[j] = self.source.decode(int(rows[j]))

        if len(rows) > 4 * CACHE_CHUNK:  # a whole set at once: decoding releases the GIL
            with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
                list(pool.map(put, range(len(rows))))
        else:
            for j in range(len(rows)):
                put(j)
        return out


class CachedImages(LazyColumn):
    """An image column read from its cache file (decoded images, one after another)."""

    def __init__(self, path: Path, stored: tuple[int, ...], rows: np.ndarray | None = None,
                 sample_shape: tuple[int, ...] | None = None):
        super().__init__(np.arange(stored[0]) if rows is None else rows,
                         stored[1:] if sample_shape is None else sample_shape)
        self.path, self.stored = Path(path), tuple(stored)
        self._map: np.memmap | None = None

    def _with(self, rows, sample_shape) -> CachedImages:
        return CachedImages(self.path, self.stored, rows, sample_shape)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        if self._map is None:  # opened in the process that reads (each loader worker)
            self._map = np.memmap(self.path, np.uint8, "r", shape=self.stored)
        return self._map[rows]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_map": None}


# ---- the cache -------------------------------------------------------------------------------

def cache_folder(csv: Path) -> Path:
    """Where the images of a dataset CSV are cached: ``<csv stem>.cache/`` beside it."""
    return csv.with_name(f"{csv.stem}.cache")


def _cached(data: DataSet, workers: int, progress: Progress | None) -> DataSet:
    arrays = dict(data.arrays)
    for name, column in data.arrays.items():
        if isinstance(column, ImageFiles):
            arrays[name] = _cache_column(name, column.source, workers, progress)
    return _with_arrays(data, arrays)


def _cache_column(name: str, source: ImageSource, workers: int,
                  progress: Progress | None) -> CachedImages:
    folder = cache_folder(source.csv)
    info_path = folder / CACHE_INFO
    stored = (len(source.files), *source.shape)
    key = source.key()
    file = folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.u8"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        entry = info["columns"][name] if info.get("format") == CACHE_FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        info, entry = {"format": CACHE_FORMAT, "columns": {}}, None
    if (isinstance(entry, dict) and entry.get("key") == key and file.is_file()
            and file.stat().st_size == math.prod(stored)):
        return CachedImages(file, stored)
    try:
        folder.mkdir(exist_ok=True)
        _write_cache(source, file, stored, workers, lambda done: progress and progress(
            name, done, stored[0]))
        columns = info.get("columns") if isinstance(info.get("columns"), dict) else {}
        columns[name] = {"key": key, "file": file.name, "shape": list(stored)}
        atomic_write(info_path, json.dumps({"format": CACHE_FORMAT, "columns": columns},
                                           indent=2) + "\n")
    except OSError as e:
        raise DataError(f"{folder}: cannot write the image cache ({e.strerror or e}); make "
                        f"the folder writable or turn the dataset's cache off") from None
    return CachedImages(file, stored)


def _usable(workers: int) -> int:
    """More loader processes than cores only slow each other down (a laptop, a CI machine)."""
    return min(workers, os.cpu_count() or 1)


def _write_cache(source: ImageSource, file: Path, stored: tuple[int, ...], workers: int,
                 progress: Callable[[int], None]) -> None:
    """Decode every image in order (by ``workers`` loader processes) into ``file``."""
    from torch.utils.data import DataLoader

    partial = file.with_name(file.name + ".part")
    target = np.memmap(partial, np.uint8, "w+", shape=stored)
    starts = range(0, stored[0], CACHE_CHUNK)
    chunks = [np.arange(s, min(s + CACHE_CHUNK, stored[0])) for s in starts]
    column = _Samples([ImageFiles(source)])
    workers = _usable(workers)
    loader = DataLoader(column, batch_sampler=chunks, num_workers=workers,
                        collate_fn=_first_array, prefetch_factor=PREFETCH if workers else None,
                        generator=torch.Generator())
    done, reported = 0, 0.0
    for start, part in zip(starts, loader):
        if isinstance(part, _Failed):
            raise DataError(part.message)
        target[start:start + len(part)] = part
        done += len(part)
        if time.monotonic() - reported > 0.2 or done == stored[0]:
            progress(done)
            reported = time.monotonic()
    target.flush()
    del target
    os.replace(partial, file)


# ---- feeding the trainer -----------------------------------------------------------------------

@dataclass
class _Failed:
    """A worker could not read a batch; the message names the file and line."""

    message: str


class _Samples(torch.utils.data.Dataset):
    """Columns (lazy or arrays) read a batch at a time (``__getitems__``: one call a batch)."""

    def __init__(self, columns: list):
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0])

    def __getitem__(self, index: int):
        return self.__getitems__([index])

    def __getitems__(self, indices) -> list[np.ndarray] | _Failed:
        indices = np.asarray(indices, dtype=np.int64)
        try:
            return [c.read(indices) if isinstance(c, LazyColumn) else c[indices]
                    for c in self.columns]
        except DataError as e:
            return _Failed(str(e))


def _tensors(parts):
    if isinstance(parts, _Failed):
        return parts
    return [torch.from_numpy(np.ascontiguousarray(p)) for p in parts]


def _first_array(parts):
    return parts if isinstance(parts, _Failed) else parts[0]


class _Batches:
    """The batch sampler of a StreamFeeder: the index batches of the pass in progress."""

    def __init__(self):
        self.batches: list = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return (b.numpy() if isinstance(b, torch.Tensor) else b for b in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def as_read(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Stored values as the network reads them: float32, times the dataset's scale (class
    numbers stay int64)."""
    if x.dtype == torch.int64:
        return x
    if x.dtype != torch.float32:
        x = x.float()
    return x * scale if scale != 1.0 else x


def _from_memory(columns: list) -> bool:
    """Whether every column is read from a cache that fits in memory: a batch is then a copy
    from the page cache, far cheaper in the training process than sent by a worker process
    (20× on 28×28 images); decoding, or a cache larger than memory, takes the workers."""
    caches = {c.path for c in columns if isinstance(c, CachedImages)}
    if any(isinstance(c, ImageFiles) for c in columns) or not caches:
        return False
    size = sum(path.stat().st_size for path in caches)
    available = available_memory()
    return available is None or size < available // 2


class StreamFeeder:
    """A streamed dataset's variables, batch by batch, from DataLoader worker processes that
    read ahead (``workers`` 0: read in this process, between steps)."""

    home = torch.device("cpu")  # where index batches live

    def __init__(self, data: DataSet, names: list[str], device: torch.device, workers: int,
                 classes: Collection[str] = ()):
        from torch.utils.data import DataLoader

        self.device = device
        self.scales = [data.scales.get(name, 1.0) for name in names]
        self.classes = [name in classes for name in names]  # class numbers: as int64
        self.samples = _Samples([data.arrays[name] for name in names])
        workers = 0 if _from_memory(self.samples.columns) else _usable(workers)
        self._order = _Batches()
        # its own generator: the workers' seeds must not be drawn from the run's random state
        # (a resumed run draws them at another moment than the run it continues)
        self.loader = DataLoader(
            self.samples, batch_sampler=self._order, num_workers=workers, collate_fn=_tensors,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=PREFETCH if workers else None, generator=torch.Generator())
        self._splits: dict[int, list[torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def batches(self, index_batches: list[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
        """The variables of each index batch, on the device, in order."""
        self._order.batches = index_batches
        for part in self.loader:
            if isinstance(part, _Failed):
                raise DataError(part.message)
            yield [x.to(self.device, non_blocking=True).long() if whole else
                   as_read(x.to(self.device, non_blocking=True), scale)
                   for x, scale, whole in zip(part, self.scales, self.classes)]

    def in_order(self, batch_size: int) -> list[torch.Tensor]:
        if batch_size not in self._splits:
            self._splits[batch_size] = list(torch.arange(len(self)).split(batch_size))
        return self._splits[batch_size]

    def close(self) -> None:
        """End the worker processes now (not whenever the loader is garbage)."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader._iterator = None
