"""The cells of a dataset CSV file: numbers, image files and data CSV files.

Whatever a cell or a file holds, reading it takes bounded time and memory and ends in a value
a network can read or a ValueError saying why: a number beyond the range of 32-bit floats, a
decompression bomb, a pipe posing as a file, a damaged image.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from nodes.spec import quoted

from designer.core.files import available_memory, size_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff")
FLOAT32_MAX = float(np.finfo(np.float32).max)  # about 3.4e38
MAX_PIXELS = 8192 * 8192  # per image; Pillow's own bomb check starts at 89 million pixels
CSV_MEMORY_FACTOR = 10  # a CSV file's text takes about this many times its size once split


def check_file(path: Path, factor: float = 1.0) -> None:
    """Refuse what would hang or exhaust memory before reading it: a pipe or a device (read
    for ever), or a file that needs ``factor`` times its size in memory than there is."""
    if path.exists() and not path.is_file():
        raise ValueError("not a regular file (a folder, a pipe or a device)")
    size = path.stat().st_size
    available = available_memory()
    if available is not None and size * factor > available:
        raise ValueError(f"the file is {size_text(size)} and reading it needs about "
                         f"{size_text(size * factor)} of memory; this machine has "
                         f"{size_text(available)} available")


def reason(error: Exception) -> str:
    """Why reading failed, in bounded length: an OSError's reason without the file name (the
    message names the cell already)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)[:300] or type(error).__name__


def csv_row_problem(error: csv.Error, start: int, line: int) -> str:
    """Where and why a CSV row cannot be read: ``start`` is the row's first line, ``line`` the
    line the reader stopped on (a quoted cell may span lines)."""
    if "end of data" in str(error):
        return f"line {start}: a quote (\") opened here is never closed"
    return f"line {line}: {csv_problem(error)}"


def csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "field limit" in text:
        return f"a cell is longer than {csv.field_size_limit():,} characters"
    return text


def number_problem(cell: str) -> str | None:
    """Why a cell is not a number a network can read (a finite float32), or None."""
    if not cell.strip():
        return "is empty"
    if not is_number(cell):
        return f"{quoted(cell)} is not a number"
    value = float(cell)
    if np.isnan(value) or cell.strip().lower().lstrip("+-") in ("inf", "infinity"):
        return f"{quoted(cell)} is not a finite number"
    if abs(value) > FLOAT32_MAX:
        return (f"{quoted(cell)} is beyond the range of 32-bit floats (±{FLOAT32_MAX:.3g}), "
                "which networks compute in")
    return None


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_image(path: Path | str, checked: bool = False) -> np.ndarray:
    """C×H×W uint8: one channel for grayscale, three for color (alpha is dropped). 16-bit
    images are scaled to 8 bits (65535 becomes 255), not clipped. ``checked``: the caller made
    sure ``path`` is a regular file (streaming does, once for all files: the check costs as much
    as decoding a small image)."""
    from PIL import Image, UnidentifiedImageError

    if not checked:
        check_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"the image is {width}×{height} pixels; a dataset image may "
                                 f"have at most {MAX_PIXELS:,} (8192×8192)")
            if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                return _deep_gray(image)[None]
            gray = image.mode in ("1", "L", "LA") or (
                image.mode == "P" and _gray_palette(image))
            pixels = np.asarray(image.convert("L" if gray else "RGB"))
    except (FileNotFoundError, ValueError):
        raise
    except Image.DecompressionBombError:
        raise ValueError(f"the image claims more pixels than Pillow opens safely (a "
                         f"decompression bomb?); a dataset image may have at most "
                         f"{MAX_PIXELS:,} (8192×8192)") from None
    except UnidentifiedImageError:
        raise ValueError("not an image this app can read") from None
    except Exception as e:  # a damaged file can fail anywhere in an image decoder
        raise ValueError(f"the image is damaged ({type(e).__name__}: {str(e)[:100]})") from None
    return pixels[None] if gray else pixels.transpose(2, 0, 1)


def _deep_gray(image) -> np.ndarray:
    """A 16-bit (or 32-bit integer, or float) gray image as 8 bits, its 0..65535 range
    scaled to 0..255 (float images keep 0..255)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _gray_palette(image) -> bool:
    rgb = np.asarray(image.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def read_array(path: Path) -> np.ndarray:
    """An R×C float32 array from a headerless data CSV file."""
    check_file(path, CSV_MEMORY_FACTOR)
    with open(path, encoding="utf-8-sig", newline="") as f:
        try:
            rows = [row for row in csv.reader(f) if row]
        except csv.Error as e:
            raise ValueError(csv_problem(e)) from None
    if not rows:
        raise ValueError("the file is empty")
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"line {i + 1} has {len(row)} values, line 1 has {width}")
    try:
        with np.errstate(over="ignore"):  # a number beyond float32 is named below
            values = np.array(rows, dtype=np.float32)
    except (ValueError, OverflowError):
        values = None
    if values is None or not np.isfinite(values).all():
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                problem = number_problem(cell)
                if problem:
                    raise ValueError(f"line {i + 1}, value {j + 1}: {problem}")
        values = np.array([[float(cell) for cell in row] for row in rows], dtype=np.float32)
    return values
