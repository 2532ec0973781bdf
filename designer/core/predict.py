"""Try the model: a run's weights on raw samples (image files, or numbers as a user types them).

Each sample is converted exactly as training saw its data.

    predictor = Predictor(run_dir)          # the run's own network and weights
    result = predictor.predict("cat.png")   # or "5.1, 3.5, 1.4, 0.2", or [5.1, 3.5, 1.4, 0.2]
    result.chosen, result.probabilities     # ("setosa", [("setosa", 0.97), ...])

The conversion comes from the training dataset: its ``dataset.json`` (a table's
standardisation, an image size and fit; designer.core.preprocessing.to_network), and pixel
values scaled to 0..1 where the network was trained on 0..1 (image normalisation, or an
embedded image set). A picture of another size is fitted to the Input's size (padded).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nodes import shape_text

from designer.core import runs
from designer.core.data import IMAGE_SUFFIXES, DataError
from designer.core.preprocessing import ImageFormat, Standardize, to_network
from designer.core.preview import VariableInfo, dataset_variables
from designer.core.project import Project, ProjectError, load
from designer.core.session import TrainingError, classify, compile_seeded, task_of

_SEPARATORS = re.compile(r"[,;\s]+")


class PredictError(ValueError):
    """The sample or the run cannot be used; the message says which and why."""


@dataclass
class Prediction:
    task: str  # "classification" or "regression"
    chosen: str | None  # the predicted class's name (classification)
    probabilities: list[tuple[str, float]]  # every class with its probability, best first
    values: np.ndarray | None  # the predicted values (regression)
    network_input: np.ndarray  # the sample as the network read it
    conversion: str  # how the raw sample became the network's input, in words


class Predictor:
    """A run's network with its weights, on the CPU, ready to score single samples."""

    def __init__(self, run_dir: str | Path, weights: str = "best",
                 project: Project | None = None):
        import torch

        run_dir = Path(run_dir)
        try:
            self.project = project or load(runs.project_path(run_dir))
            network = self.project.network()
        except ProjectError as e:
            raise PredictError(f"{run_dir}: not a run folder ({e})") from None
        path = runs.weights_path(run_dir, weights)
        if not path.is_file():
            path = runs.weights_path(run_dir, "last")
        if not path.is_file():
            raise PredictError(f"{run_dir}: the run has no weights yet")
        try:
            self.compiled = compile_seeded(network, self.project.training.seed, "tried")
            runs.load_into(self.compiled, network, path)
        except (TrainingError, runs.WeightsError) as e:
            raise PredictError(str(e)) from None
        self.compiled.layers.eval()
        self.weights = path
        if len(self.compiled.input_vars) != 1:
            raise PredictError(f"the network reads {len(self.compiled.input_vars)} variables "
                               f"({', '.join(self.compiled.input_vars)}); trying it takes "
                               "networks with one Input")
        self.variable = self.compiled.input_vars[0]
        self.shape = tuple(self.compiled.input_shapes[self.variable])
        self.loss = self.compiled.losses[0]
        self.task, self.classes = task_of(self.loss)
        self.info, self.class_names, self.normalize = self._data_facts()
        self._torch = torch

    def _data_facts(self) -> tuple[VariableInfo | None, list[str], bool]:
        """The input variable as the training dataset holds it, the class names, and whether
        images are divided by 255."""
        training = self.project.datasets.get("training")
        if training is None:
            return None, [], False
        try:
            variables = dataset_variables(training.source, self.project.folder,
                                          training.normalize)
        except DataError:
            return None, [], training.normalize
        target = variables.get(self.loss.target)
        names = list(target.class_names) if target is not None else []
        return variables.get(self.variable), names, training.normalize

    @property
    def image_input(self) -> bool:
        return len(self.shape) == 3 and self.shape[0] in (1, 3)

    @property
    def wanted(self) -> str:
        """What a sample must be, in words."""
        if self.image_input:
            return f"an image ({shape_text(self.shape)})"
        labels = self.info.labels if self.info is not None else []
        count = math.prod(self.shape)
        named = f": {', '.join(labels)}" if labels and len(labels) == count else ""
        return f"{count} number{'s' * (count != 1)}{named}"

    def network_input(self, raw: Any) -> tuple[np.ndarray, str]:
        """(the sample as the network reads it, how it was converted)."""
        step = self.info.preprocessing if self.info is not None else None
        if isinstance(raw, (str, Path)) and Path(str(raw).strip()).suffix.lower() in \
                IMAGE_SUFFIXES:
            return self._image(Path(str(raw).strip()), step)
        values = _numbers(raw) if isinstance(raw, str) else np.asarray(raw, dtype=np.float64)
        count = math.prod(self.shape)
        if values.size != count:
            raise PredictError(f"{self.variable} takes {self.wanted}; got {values.size}")
        converted = to_network({self.variable: step} if step else {}, self.variable,
                               values.reshape(-1))
        said = step.describe() if isinstance(step, Standardize) else "the numbers as typed"
        return converted.reshape(self.shape), said

    def _image(self, path: Path, step) -> tuple[np.ndarray, str]:
        if not self.image_input:
            raise PredictError(f"{self.variable} takes {self.wanted}, not an image")
        channels, height, width = self.shape
        form = step if isinstance(step, ImageFormat) else \
            ImageFormat(width, height, channels == 1, "pad")
        try:
            pixels = to_network({self.variable: form}, self.variable, path).astype(np.float32)
        except FileNotFoundError:
            raise PredictError(f"{path}: file not found") from None
        except (OSError, ValueError) as e:
            raise PredictError(f"{path}: cannot read the image ({e})") from None
        said = [form.describe()]
        maximum = self.info.maximum if self.info is not None else None
        if self.normalize or (maximum is not None and maximum <= 1.0):
            pixels /= 255.0
            said.append("pixel values divided by 255")
        if pixels.shape != self.shape:
            raise PredictError(f"{path}: the image becomes {shape_text(pixels.shape)} but "
                               f"{self.variable} is {shape_text(self.shape)}")
        return pixels, "; ".join(said)

    def predict(self, raw: Any) -> Prediction:
        """Score one raw sample: an image file path, numbers as text, or a list of numbers."""
        torch = self._torch
        sample, conversion = self.network_input(raw)
        with torch.no_grad():
            output = self.compiled.infer.forward(torch.from_numpy(np.ascontiguousarray(
                sample, dtype=np.float32))[None])
        output = output[0] if isinstance(output, tuple) else output
        if self.task != "classification":
            return Prediction(self.task, None, [], output[0].float().numpy(), sample, conversion)
        probabilities = _class_probabilities(self.loss.meaning, output)
        names = list(self.class_names) + [str(k) for k in
                                          range(len(self.class_names), len(probabilities))]
        chosen, _ = classify(self.loss.meaning, output)
        ranked = sorted(zip(names, probabilities.tolist()), key=lambda pair: -pair[1])
        return Prediction(self.task, names[int(chosen[0])], ranked, None, sample, conversion)


def _class_probabilities(meaning, output) -> np.ndarray:
    import torch

    if meaning.pick == "threshold":
        p = output.reshape(-1)[0].float()
        p = torch.sigmoid(p) if meaning.kind == "logits" else p
        return np.array([1 - float(p), float(p)])
    scores = output.float().flatten(1)[0]
    if meaning.kind == "scores":
        scores = torch.softmax(scores, dim=0)
    return scores.numpy()


def _numbers(text: str) -> np.ndarray:
    """Numbers separated by commas, semicolons, spaces or line breaks."""
    words = [w for w in _SEPARATORS.split(text.strip()) if w]
    if not words:
        raise PredictError("type the sample's numbers, separated by commas or spaces")
    values = []
    for i, word in enumerate(words, 1):
        try:
            value = float(word)
        except ValueError:
            raise PredictError(f"value {i}, {word!r}, is not a number") from None
        if not math.isfinite(value):
            raise PredictError(f"value {i}, {word!r}, is not a finite number")
        values.append(value)
    return np.asarray(values, dtype=np.float64)



# ---- command line --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd), or a run folder")
    p.add_argument("samples", nargs="+", metavar="SAMPLE",
                   help="an image file, or the input's numbers as one argument "
                        "('5.1,3.5,1.4,0.2')")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="run folder whose weights to use (default: the project's latest run)")
    p.add_argument("--weights", default="best", choices=("best", "last"),
                   help="the run's best (default) or last weights")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")


def run(args: argparse.Namespace) -> int:
    run_dir = args.run or (args.project if Path(args.project).is_dir()
                           else runs.latest_run(args.project))
    if run_dir is None:
        print(f"error: {args.project}: no run with weights; train it first "
              "(python -m designer train PROJECT) or name one with --run", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(run_dir, args.weights)
        predictions = [(raw, predictor.predict(raw)) for raw in args.samples]
    except PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for raw, p in predictions:
        if args.json:
            print(json.dumps({"sample": raw, "task": p.task, "chosen": p.chosen,
                              "probabilities": p.probabilities,
                              "values": None if p.values is None else p.values.tolist(),
                              "conversion": p.conversion}))
        elif p.task == "classification":
            best = ", ".join(f"{name} {prob:.1%}" for name, prob in p.probabilities[:3])
            print(f"{raw}: {p.chosen}  ({best})")
        else:
            print(f"{raw}: {' '.join(f'{v:.6g}' for v in p.values.reshape(-1))}")
    return 0
