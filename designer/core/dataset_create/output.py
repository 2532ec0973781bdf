"""What every dataset creation shares: the result, the split, the CSV files and a staged folder
that only appears, complete, when the creation succeeds."""
from __future__ import annotations

import contextlib
import csv
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from designer.core.data import DataError
from designer.core.preprocessing import Step

TRAIN_FILE = "train.csv"
VALIDATION_FILE = "validation.csv"


@dataclass
class Created:
    """A dataset folder written by create_from_images or create_from_table."""

    folder: Path
    train: Path  # folder/train.csv
    validation: Path  # folder/validation.csv
    train_count: int
    validation_count: int
    task: str  # "classification" or "regression"
    classes: list[str]  # class names by index; empty for regression
    preprocessing: dict[str, Step] = field(default_factory=dict)  # as in folder/dataset.json
    warnings: list[str] = field(default_factory=list)  # things the user should know

    def summary(self) -> list[str]:
        lines = [f"{self.train_count} training and {self.validation_count} validation samples "
                 f"in {self.folder}"]
        if self.classes:
            shown = ", ".join(f"{i} {name}" for i, name in enumerate(self.classes[:20]))
            more = f", … ({len(self.classes)} in all)" if len(self.classes) > 20 else ""
            lines.append(f"classes (y): {shown}{more}")
        else:
            lines.append("y is a regression target (numbers)")
        lines += [f"{name}: {step.describe()}" for name, step in self.preprocessing.items()]
        return lines + [f"note: {w}" for w in self.warnings]


def check_split(split: float) -> None:
    if not 1 <= split <= 99:
        raise DataError(f"the split must be from 1 to 99 (percent of the samples for training; "
                        f"the rest validate), not {split:g}")


def split_rows(count: int, split: float, seed: int, shuffle: bool,
               labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows): ``split`` percent of the rows for training, and of each
    class as nearly as whole rows allow (largest remainders get the odd rows).

    Drawn with ``seed`` when ``shuffle``, else the first rows of each class train; the rows of
    each part are then shuffled (or kept in order). Raises DataError when a part would be empty.
    """
    if count < 2:
        raise DataError(f"{count} sample{'s' if count != 1 else ''} cannot be split into "
                        "training and validation; add samples")
    rng = np.random.default_rng(seed)
    groups = [np.arange(count)] if labels is None else [
        np.flatnonzero(labels == c) for c in np.unique(labels)]
    wanted = min(max(int(count * split / 100 + 0.5), 1), count - 1)
    quotas = np.array([len(g) * split / 100 for g in groups])
    keep = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - keep), kind="stable")[:wanted - keep.sum()]:
        keep[i] += 1
    train, validation = [], []
    for rows, k in zip(groups, keep):
        if shuffle:
            rows = rng.permutation(rows)
        train.append(rows[:k])
        validation.append(rows[k:])
    train_rows, validation_rows = np.concatenate(train), np.concatenate(validation)
    if shuffle:
        return rng.permutation(train_rows), rng.permutation(validation_rows)
    return np.sort(train_rows), np.sort(validation_rows)


def write_rows(path: Path, header: list[str], rows: Iterable[Iterable]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@contextlib.contextmanager
def staged(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A hidden folder beside ``out`` to write into; it becomes ``out`` when the block ends
    without error and is removed otherwise (an error, a cancel, Ctrl+C), leaving ``out`` as it
    was. An existing non-empty ``out`` is replaced only when ``overwrite``."""
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            raise DataError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not overwrite:
            raise DataError(f"{out}: the folder exists and is not empty; choose a new folder "
                            "or allow overwriting it (--overwrite)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.creating-{secrets.token_hex(4)}"
        tmp.mkdir()  # not mkdtemp: the dataset gets the user's usual permissions
    except OSError as e:
        raise DataError(f"{out}: cannot create the folder ({e.strerror or e})") from None
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.replaced-{secrets.token_hex(4)}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def natural_key(text: str) -> list:
    """Sort "class2" before "class10"."""
    return [int(part) if part.isdigit() else part.casefold()
            for part in re.split(r"(\d+)", text)]
