"""What a created dataset keeps beside its CSV files: class names and how raw inputs become
network inputs.

``python -m designer dataset create`` writes ``dataset.json`` into the dataset folder::

    {"format": "nn-designer-dataset", "version": 1,
     "files": ["train.csv", "validation.csv"],
     "variables": {
       "x": {"standardize": {"columns": ["age", "income"], "mean": [41.2, 5230.0],
                             "std": [12.1, 1804.5]}},
       "y": {"classes": ["no", "yes"]}}}

An image variable records ``{"image": {"width": 28, "height": 28, "color": "gray",
"fit": "pad"}}`` instead. The CSV files hold the values the network sees (already standardised,
images already resized); the file says how to turn a *raw* value (a spreadsheet row, a photo) into
one, so that "try the model", evaluation on new raw data and an export's notes apply exactly the
transform training saw. It covers only the CSV files it lists: a CSV file copied into the folder
later is read as it is. :func:`with_meta` is how ``read_csv`` picks it up.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from designer.core.cells import check_file

META_FILE = "dataset.json"
FORMAT = "nn-designer-dataset"
VERSION = 1
FITS = ("pad", "crop", "resize")
FIT_HELP = {
    "pad": "keep the aspect ratio, fit the whole image inside and fill the margins with black",
    "crop": "keep the aspect ratio, fill the whole frame and cut off what sticks out, centred",
    "resize": "stretch or squeeze the image to the size, changing its aspect ratio",
}


@dataclass(frozen=True)
class Standardize:
    """``(raw - mean) / std`` per feature, with statistics of the training rows."""

    columns: tuple[str, ...]  # the table's column names, in feature order
    mean: tuple[float, ...]
    std: tuple[float, ...]  # never 0: a constant column keeps std 1

    def apply(self, raw: Any) -> np.ndarray:
        """Raw values (one row of len(columns) values, or N rows) as network inputs, float32."""
        values = np.asarray(raw, dtype=np.float64)
        if values.shape[-1:] != (len(self.mean),):
            raise ValueError(f"expected {len(self.mean)} values ({', '.join(self.columns)}), "
                             f"got {values.shape[-1] if values.ndim else 1}")
        return ((values - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def invert(self, values: Any) -> np.ndarray:
        """Network inputs back to raw values (for showing a sample as the user wrote it)."""
        values = np.asarray(values, dtype=np.float64)
        return (values * np.asarray(self.std) + np.asarray(self.mean)).astype(np.float32)

    def describe(self) -> str:
        parts = [f"({name} - {m:.6g}) / {s:.6g}"
                 for name, m, s in zip(self.columns, self.mean, self.std)]
        return "standardised per feature: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"standardize": {"columns": list(self.columns), "mean": list(self.mean),
                                "std": list(self.std)}}


@dataclass(frozen=True)
class ImageFormat:
    """How a picture of any size and mode becomes one sample of an image variable."""

    width: int
    height: int
    gray: bool
    fit: str  # one of FITS

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1 if self.gray else 3, self.height, self.width)

    def convert(self, image):
        """A PIL image in this format (mode L or RGB, width × height)."""
        from PIL import Image, ImageOps

        image = ImageOps.exif_transpose(image)  # phone photos store their rotation apart
        image = _eight_bit(image).convert("L" if self.gray else "RGB")
        size = (self.width, self.height)
        if self.fit == "resize":
            return image.resize(size, Image.Resampling.LANCZOS)
        w, h = image.size
        scale = (min if self.fit == "pad" else max)(self.width / w, self.height / h)
        inner = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = image.resize(inner, Image.Resampling.LANCZOS)
        if self.fit == "crop":
            left, top = (inner[0] - self.width) // 2, (inner[1] - self.height) // 2
            return image.crop((left, top, left + self.width, top + self.height))
        frame = Image.new(image.mode, size)
        frame.paste(image, ((self.width - inner[0]) // 2, (self.height - inner[1]) // 2))
        return frame

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """An image file as C×H×W uint8, converted the way the dataset's images were."""
        from PIL import Image

        with Image.open(path) as image:
            image.draft("L" if self.gray else "RGB", (self.width * 2, self.height * 2))
            pixels = np.asarray(self.convert(image))
        return pixels[None] if self.gray else pixels.transpose(2, 0, 1)

    def describe(self) -> str:
        color = "gray (1 channel)" if self.gray else "colour (3 channels, RGB)"
        return (f"images {self.width}×{self.height}, {color}, fit by {self.fit}: "
                f"{FIT_HELP[self.fit]}")

    def to_json(self) -> dict[str, Any]:
        return {"image": {"width": self.width, "height": self.height,
                          "color": "gray" if self.gray else "rgb", "fit": self.fit}}


Step = Union[Standardize, ImageFormat]


class MetaError(ValueError):
    """A dataset.json is broken or does not fit its CSV file; read_csv reports it as a
    DataError."""


def _eight_bit(image):
    """16-bit and float images as 8-bit gray, scaled by their bit depth rather than clipped."""
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image).astype(np.float64)
        if image.mode == "F":
            top = 1.0 if values.size and values.max() <= 1.0 else 255.0
        else:
            top = 255.0 if values.size and values.max() <= 255 else 65535.0
        scaled = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L")
    return image


@dataclass
class DatasetMeta:
    """The contents of ``dataset.json``."""

    files: list[str] = field(default_factory=list)  # CSV file names it covers
    classes: dict[str, list[str]] = field(default_factory=dict)  # variable -> class names
    preprocessing: dict[str, Step] = field(default_factory=dict)  # variable -> raw → network

    def to_json(self) -> dict[str, Any]:
        variables: dict[str, dict[str, Any]] = {}
        for name, names in self.classes.items():
            variables.setdefault(name, {})["classes"] = list(names)
        for name, step in self.preprocessing.items():
            variables.setdefault(name, {}).update(step.to_json())
        return {"format": FORMAT, "version": VERSION, "files": list(self.files),
                "variables": variables}


def write_meta(folder: str | os.PathLike, meta: DatasetMeta) -> Path:
    path = Path(folder) / META_FILE
    path.write_text(json.dumps(meta.to_json(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def read_meta(csv_path: str | os.PathLike) -> DatasetMeta | None:
    """The ``dataset.json`` beside ``csv_path`` when it covers that file, else None.

    Raises MetaError naming the file and field when the file is there but broken.
    """
    csv_path = Path(csv_path)
    path = csv_path.parent / META_FILE
    if not path.is_file():
        return None
    try:
        check_file(path)  # not a pipe, not beyond memory
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise MetaError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise MetaError(f"{path}: line {e.lineno}, column {e.colno}: {e.msg}") from None
    except (RecursionError, ValueError) as e:  # nested too deep, a number too long, a pipe
        raise MetaError(f"{path}: cannot read ({str(e)[:120] or type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None  # some other tool's dataset.json: not ours to judge
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise MetaError(f"{path}: written by a newer version of the app (version "
                        f"{doc.get('version')!r}; this app reads up to {VERSION})")
    files = doc.get("files", [])
    if not isinstance(files, list) or csv_path.name not in files:
        return None
    meta = DatasetMeta(files=[str(f) for f in files])
    variables = doc.get("variables", {})
    if not isinstance(variables, dict):
        raise MetaError(f"{path}: field 'variables' must be an object")
    for name, entry in variables.items():
        try:
            _read_variable(meta, name, entry)
        except (TypeError, ValueError, KeyError) as e:
            raise MetaError(f"{path}: variables.{name}: {_reason(e)}") from None
    return meta


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error) or type(error).__name__


def _read_variable(meta: DatasetMeta, name: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise TypeError("must be an object")
    if "classes" in entry:
        classes = entry["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise TypeError("classes must be a list of names")
        meta.classes[name] = list(classes)
    if "standardize" in entry:
        s = entry["standardize"]
        mean, std = [float(v) for v in s["mean"]], [float(v) for v in s["std"]]
        columns = [str(c) for c in s.get("columns", [f"x{i}" for i in range(len(mean))])]
        if not len(mean) == len(std) == len(columns):
            raise ValueError("standardize: columns, mean and std must have the same length")
        if not all(math.isfinite(v) for v in mean + std) or any(v <= 0 for v in std):
            raise ValueError("standardize: mean must be finite and std above 0")
        meta.preprocessing[name] = Standardize(tuple(columns), tuple(mean), tuple(std))
    elif "image" in entry:
        i = entry["image"]
        width, height = int(i["width"]), int(i["height"])
        if width < 1 or height < 1:
            raise ValueError("image: width and height must be at least 1")
        if i.get("fit", "pad") not in FITS:
            raise ValueError(f"image: fit must be one of {', '.join(FITS)}")
        meta.preprocessing[name] = ImageFormat(width, height, i.get("color") == "gray",
                                               i.get("fit", "pad"))


def with_meta(data, csv_path: str | os.PathLike):
    """``data`` (a DataSet read from ``csv_path``) with the class names and preprocessing its
    ``dataset.json`` records; checks that they fit the variables (MetaError otherwise)."""
    meta = read_meta(csv_path)
    if meta is None:
        return data
    where = Path(csv_path).parent / META_FILE
    shapes = data.variables
    for name, step in meta.preprocessing.items():
        if name not in shapes:
            raise MetaError(f"{where}: variable {name!r} is not in {csv_path}")
        wanted = (len(step.mean),) if isinstance(step, Standardize) else step.shape
        if math.prod(shapes[name]) != math.prod(wanted):
            raise MetaError(f"{where}: variable {name!r} is described with "
                            f"{math.prod(wanted)} values but {csv_path} holds "
                            f"{math.prod(shapes[name])} per sample")
    data.preprocessing = dict(meta.preprocessing)
    if meta.classes:
        # a dataset has one list of class names: that of its class variable (the target)
        data.class_names = list(meta.classes.get("y", next(iter(meta.classes.values()))))
    return data


def to_network(preprocessing: dict[str, Step], variable: str, raw: Any) -> np.ndarray:
    """A raw sample of ``variable`` as the network input training saw (before image ÷255).

    ``raw`` is numbers for a table variable (one row or N rows) and an image file path or a PIL
    image for an image variable. A variable without preprocessing is returned as float32.
    """
    step = preprocessing.get(variable)
    if isinstance(step, Standardize):
        return step.apply(raw)
    if isinstance(step, ImageFormat):
        if isinstance(raw, (str, os.PathLike)):
            return step.load(raw)
        pixels = np.asarray(step.convert(raw))
        return pixels[None] if step.gray else pixels.transpose(2, 0, 1)
    return np.asarray(raw, dtype=np.float32)


def describe(preprocessing: dict[str, Step]) -> list[str]:
    """One line per variable, for an export's preprocessing notes."""
    return [f"{name}: {step.describe()}" for name, step in preprocessing.items()]
