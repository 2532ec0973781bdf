"""A dataset from a folder of images with one sub-folder per class (NNC's "Create Dataset").

``DIR/cat/*.png``, ``DIR/dog/*.jpg`` become ``OUT/data/cat/*.png`` (every image converted to one
size and to gray or colour), ``OUT/train.csv`` and ``OUT/validation.csv`` (``x:image,y:label``,
the class index in ``y``), and ``OUT/dataset.json`` naming the classes after the folders and
recording the conversion, so a new photo can be converted the same way.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from designer.core.data import IMAGE_SUFFIXES, DataError
from designer.core.dataset_create.output import (TRAIN_FILE, VALIDATION_FILE, Created,
                                                 check_split, natural_key, split_rows, staged,
                                                 write_rows)
from designer.core.preprocessing import FITS, DatasetMeta, ImageFormat, write_meta
from designer.core.progress import CancelCheck, Progress, Ticker

MAX_SIDE = 4096


@dataclass
class ImageFolder:
    """What a folder of class sub-folders holds, found without opening an image."""

    folder: Path
    classes: list[str]  # sub-folder names, in natural order; class i is classes[i]
    files: list[Path]  # every image, class by class
    labels: np.ndarray  # class index of each file
    skipped: list[Path] = field(default_factory=list)  # files that are not images

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == i).sum()) for i, name in enumerate(self.classes)}


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def scan_image_folder(folder: str | os.PathLike) -> ImageFolder:
    """The classes and image files of ``folder``; raises DataError naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "not found"
        raise DataError(f"{folder}: {what}; choose a folder with one sub-folder of images per "
                        "class")
    subfolders = sorted((p for p in folder.iterdir() if p.is_dir() and _visible(p.name)),
                        key=lambda p: natural_key(p.name))
    loose = [p for p in folder.iterdir() if p.is_file() and _is_image(p)]
    if not subfolders:
        held = f"; it holds {len(loose)} images directly" if loose else ""
        raise DataError(f"{folder}: no class sub-folders{held}. Put each class's images in a "
                        f"sub-folder named after the class, e.g. {folder / 'cat'}/1.png and "
                        f"{folder / 'dog'}/1.png")
    files: list[Path] = []
    labels: list[int] = []
    skipped: list[Path] = []
    for index, sub in enumerate(subfolders):
        inside = sorted((p for p in sub.rglob("*") if p.is_file()
                         and all(_visible(part) for part in p.relative_to(sub).parts)),
                        key=lambda p: natural_key(str(p.relative_to(sub))))
        images = [p for p in inside if _is_image(p)]
        skipped += [p for p in inside if not _is_image(p)]
        if not images:
            others = (f"; it holds {len(inside)} other files, such as {inside[0].name} "
                      f"(images are {', '.join(IMAGE_SUFFIXES)})") if inside else " (it is empty)"
            raise DataError(f"{sub}: class folder {sub.name!r} has no images{others}")
        files += images
        labels += [index] * len(images)
    return ImageFolder(folder, [p.name for p in subfolders], files,
                       np.asarray(labels, dtype=np.int64), skipped)


def image_format(size: tuple[int, int], gray: bool, fit: str) -> ImageFormat:
    """The conversion for ``size`` = (width, height); DataError for a size or fit out of range."""
    if len(size) != 2 or not all(1 <= int(v) <= MAX_SIDE for v in size):
        raise DataError(f"the image size is width,height, each from 1 to {MAX_SIDE}, not "
                        f"{','.join(str(v) for v in size)}")
    if fit not in FITS:
        raise DataError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
    return ImageFormat(int(size[0]), int(size[1]), bool(gray), fit)


def create_from_images(folder: str | os.PathLike, out: str | os.PathLike, *,
                       size: tuple[int, int] = (28, 28), gray: bool = False, fit: str = "pad",
                       split: float = 80, shuffle: bool = True, seed: int = 0,
                       overwrite: bool = False, progress: Progress | None = None,
                       cancelled: CancelCheck | None = None) -> Created:
    """Convert every image under ``folder``'s class sub-folders and write the dataset to ``out``.

    ``split`` percent of each class trains, the rest validates (drawn with ``seed`` when
    ``shuffle``). ``progress(done, total)`` counts images; when ``cancelled()`` turns true the
    work stops with progress.Cancelled and ``out`` is left as it was. Raises DataError naming
    the folder or file at fault.
    """
    form = image_format(size, gray, fit)
    check_split(split)
    found = scan_image_folder(folder)
    train_rows, validation_rows = split_rows(len(found.files), split, seed, shuffle, found.labels)
    ticker = Ticker(len(found.files), progress, cancelled)
    with staged(out, overwrite) as tmp:
        cells = _output_names(found)
        for name in found.classes:
            (tmp / "data" / name).mkdir(parents=True, exist_ok=True)
        _convert_all(found.files, [tmp / c for c in cells], form, ticker)
        for file, rows in ((TRAIN_FILE, train_rows), (VALIDATION_FILE, validation_rows)):
            write_rows(tmp / file, ["x:image", "y:label"],
                       ((cells[r], int(found.labels[r])) for r in rows))
        write_meta(tmp, DatasetMeta([TRAIN_FILE, VALIDATION_FILE], {"y": found.classes},
                                    {"x": form}))
    final = Path(out).absolute()
    warnings = []
    if found.skipped:
        names = ", ".join(str(p.relative_to(found.folder)) for p in found.skipped[:3])
        what = "1 file that is not an image was" if len(found.skipped) == 1 else \
            f"{len(found.skipped)} files that are not images were"
        warnings.append(f"{what} left out ({names}{', …' if len(found.skipped) > 3 else ''})")
    if len(found.classes) == 1:
        warnings.append(f"there is one class ({found.classes[0]}); a classifier needs two or more")
    return Created(final, final / TRAIN_FILE, final / VALIDATION_FILE, len(train_rows),
                   len(validation_rows), "classification", list(found.classes), {"x": form},
                   warnings)


def _output_names(found: ImageFolder) -> list[str]:
    """``data/CLASS/STEM.png`` per file, relative to the dataset folder, each name once."""
    taken: set[str] = set()
    cells = []
    for file, label in zip(found.files, found.labels):
        base = f"data/{found.classes[label]}/{file.stem}"
        cell, n = f"{base}.png", 2
        while cell.casefold() in taken:  # a.jpg beside a.png; case-blind file systems
            cell, n = f"{base}_{n}.png", n + 1
        taken.add(cell.casefold())
        cells.append(cell)
    return cells


def _convert_all(sources: list[Path], targets: list[Path], form: ImageFormat,
                 ticker: Ticker) -> None:
    """Convert in threads (decoding and resizing release the GIL); the first unreadable file,
    in folder order, stops the work with its name."""
    stop = threading.Event()

    def convert(i: int) -> str | None:
        if stop.is_set():
            return None
        return _convert(sources[i], targets[i], form)

    workers = min(8, os.cpu_count() or 1) if len(sources) > 32 else 1
    try:
        with ThreadPoolExecutor(workers) as pool:
            for i, error in enumerate(pool.map(convert, range(len(sources)))):
                if error is not None:
                    raise DataError(f"{sources[i]}: cannot read this image ({error}); fix or "
                                    "remove the file")
                ticker.step()
    finally:
        stop.set()


def _convert(source: Path, target: Path, form: ImageFormat) -> str | None:
    """Write ``source`` converted to ``target`` (PNG); the reason when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.draft("L" if form.gray else "RGB", (form.width * 2, form.height * 2))
            converted = form.convert(image)
    except UnidentifiedImageError:
        return "not an image this app can read"
    except MemoryError:
        raise
    except Exception as e:  # a broken file raises whatever its decoder raises
        return str(e) or type(e).__name__
    converted.save(target, "PNG")  # a write error (disk full) is not the image's fault
    return None
