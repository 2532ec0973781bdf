"""Evaluate a trained run on its validation data, or on another dataset.

``python -m designer evaluate RUN_FOLDER`` prints accuracy and the confusion matrix
(classification) or the squared and absolute errors (regression); ``evaluate(...)`` returns
them, with every sample's target, prediction and confidence for the app's result views.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from designer.core import runs
from designer.core.data import DataError, open_dataset
from designer.core.dataset_choice import add_dataset_option, apply_choices
from designer.core.project import Project, ProjectError, load
from designer.core.session import Prepared, TrainingError, prepare, score

WEIGHTS = runs.WEIGHTS


class EvaluationError(ValueError):
    """The run, its weights or the data cannot be evaluated; the message says which and why."""


@dataclass
class Evaluation:
    task: str  # classification or regression
    loss: float  # mean total loss, as in training
    classes: int  # 0 for regression
    samples: int
    accuracy: float | None  # classification
    mse: float | None  # regression
    mae: float | None  # regression
    confusion: np.ndarray  # [true class][predicted class] counts; 0×0 for regression
    per_class: list[dict[str, float]]  # precision, recall, f1, support per class
    targets: np.ndarray  # class per sample, or target values (N, or N×shape if several values)
    predictions: np.ndarray  # predicted class, or predicted values shaped as targets
    confidences: np.ndarray | None  # probability of the predicted class; None for regression
    inputs: np.ndarray  # the first input variable, N×shape, as the network saw it
    class_names: list[str] = field(default_factory=list)  # when the dataset names its classes
    weights: str = ""  # the weights file evaluated
    data: str = ""  # the dataset evaluated

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "loss": self.loss, "classes": self.classes,
                "samples": self.samples, "accuracy": self.accuracy, "mse": self.mse,
                "mae": self.mae, "confusion": self.confusion.tolist(),
                "per_class": self.per_class, "class_names": self.class_names,
                "weights": self.weights, "data": self.data}


def evaluate(project: Project | None, run_dir: str | Path, weights: str = "best",
             data: str | None = None) -> Evaluation:
    """Evaluate the weights of a run.

    ``project`` is the project whose network the weights belong to; None takes the run's own
    copy (``project.nnd``). ``weights`` is "best", "last" or a .safetensors file. ``data`` is a
    dataset (CSV file or ``embedded:NAME``, relative to the project folder) to evaluate on
    instead of the validation data training held out.
    """
    run_dir = Path(run_dir)
    if project is None:
        try:
            project = load(runs.project_path(run_dir))
        except ProjectError as e:
            raise EvaluationError(f"{run_dir}: not a run folder ({e})") from None
    path = _weights_file(run_dir, weights)
    other = None
    if data is not None:
        training = project.datasets.get("training")
        try:
            other = open_dataset(data, project.folder, training.normalize if training else False)
        except DataError as e:
            raise EvaluationError(str(e)) from None
    try:
        prepared = prepare(project, data=other, purpose="evaluate")
    except TrainingError as e:
        raise EvaluationError(str(e)) from None
    executor = project.training.executors[0]
    first = prepared.compiled.losses[0] if prepared.compiled.losses else None
    if first is None or first.target is None or not prepared.compiled.data_inputs:
        raise EvaluationError(f"network {executor.network} (executor {executor.name}) has no "
                              "loss with a dataset target to evaluate its predictions against "
                              "(a generator's images are shown by the run's samples)")
    try:
        runs.load_into(prepared.compiled, project.network(executor.network), path,
                       others=len(project.networks) > 1)
    except runs.WeightsError as e:
        raise EvaluationError(str(e)) from None
    if not len(prepared.val_data):
        raise EvaluationError("there are no validation samples to evaluate; raise "
                              "training.validation_split above 0, add a validation dataset, or "
                              "name a dataset to evaluate on")
    return _results(prepared, path)


def _weights_file(run_dir: Path, weights: str) -> Path:
    """The weights file ``weights`` names: a run's best or last, or a file of its own."""
    path = runs.weights_path(run_dir, weights) if weights in WEIGHTS else Path(weights)
    if not path.is_file():
        if weights == "best" and runs.weights_path(run_dir, "last").is_file():
            hint = " (the run ended before its first epoch did); evaluate 'last'"
        elif weights not in WEIGHTS and path.suffix != runs.WEIGHTS_SUFFIX:
            hint = "; weights are best, last or a .safetensors file"
        else:
            hint = ""
        raise EvaluationError(f"{path}: no such weights file{hint}")
    return path


def _results(prepared: Prepared, path: Path) -> Evaluation:
    """Score the prepared network on its validation data, sample by sample."""
    dataset = prepared.val_data
    scores = score(prepared, dataset, max(prepared.project.training.batch_size * 2, 256),
                   keep=True)
    first = prepared.compiled.losses[0]
    targets = dataset.values(first.target)
    inputs = dataset.values(prepared.compiled.data_inputs[0])
    common = dict(loss=scores.loss, samples=len(dataset), inputs=inputs, weights=str(path),
                  data=dataset.source, class_names=list(dataset.class_names))
    if prepared.task == "classification":
        truth = targets.reshape(len(dataset)).round().astype(np.int64)
        chosen = scores.chosen.astype(np.int64)
        confusion = confusion_matrix(truth, chosen, prepared.classes)
        return Evaluation("classification", classes=prepared.classes,
                          accuracy=float((truth == chosen).mean()), mse=None, mae=None,
                          confusion=confusion, per_class=per_class(confusion), targets=truth,
                          predictions=chosen, confidences=scores.confidence, **common)
    predicted = scores.predictions[0].reshape(targets.shape)
    if targets[0].size == 1:
        targets, predicted = targets.reshape(-1), predicted.reshape(-1)
    difference = predicted - targets
    return Evaluation("regression", classes=0, accuracy=None,
                      mse=float(np.mean(difference ** 2)), mae=float(np.mean(np.abs(difference))),
                      confusion=np.zeros((0, 0), dtype=np.int64), per_class=[], targets=targets,
                      predictions=predicted, confidences=None, **common)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[t][p]: samples of class t predicted as p."""
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(
        classes, classes)


def per_class(confusion: np.ndarray) -> list[dict[str, float]]:
    out = []
    for c in range(len(confusion)):
        hits = float(confusion[c, c])
        predicted, support = float(confusion[:, c].sum()), float(confusion[c].sum())
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"precision": precision, "recall": recall, "f1": f1, "support": int(support)})
    return out


# ---- command line --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd), or a run folder")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="run folder to evaluate (default: the project's latest run)")
    p.add_argument("--weights", default="best",
                   help="best (default), last, or a .safetensors file")
    p.add_argument("--data", help="evaluate on this dataset instead of the validation data: "
                                  "one of the project's datasets by name (a test set, say), a "
                                  "CSV file or embedded:NAME")
    add_dataset_option(p, "evaluate with this dataset in the project (validation=SOURCE: on "
                          "it; training=SOURCE: on the share training holds out of it)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    data = _project_dataset(args.project, args.data) or args.data
    if data is not None and not data.startswith("embedded:"):
        data = str(Path(data).resolve())  # as typed, from the current folder
    run_dir = args.run or _latest_run(args.project)
    if run_dir is None:
        print(f"error: {args.project}: no finished run to evaluate; train it first "
              "(python -m designer train PROJECT) or name one with --run", file=sys.stderr)
        return 2
    try:
        project = _with_datasets(run_dir, args.dataset) if args.dataset else None
        result = evaluate(project, run_dir, args.weights, data)
    except (EvaluationError, ProjectError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), indent=2) if args.json else format_text(result))
    return 0


def _project_dataset(project_file: str, name: str | None) -> str | None:
    """The source of the project's dataset ``name`` (as the Evaluation workspace offers them),
    or None when the project has none of that name."""
    if name is None or not Path(project_file).is_file():
        return None
    try:
        project = load(project_file)
    except ProjectError:
        return None  # the run's own copy is used; its error is reported there
    dataset = project.datasets.get(name)
    if dataset is None or dataset.source.startswith("embedded:"):
        return dataset.source if dataset is not None else None
    return str(project.resolve(dataset.source).resolve())


def _with_datasets(run_dir: str, choices: list[str]) -> Project:
    """The run's project with the datasets ``--dataset`` names."""
    try:
        project = load(runs.project_path(Path(run_dir)))
    except ProjectError as e:
        raise EvaluationError(f"{run_dir}: not a run folder ({e})") from None
    apply_choices(project, choices)
    return project


def _latest_run(project: str) -> str | None:
    """A run folder given in place of the project, or the project's newest run with weights."""
    if Path(project).is_dir():
        return project
    latest = runs.latest_run(project)
    return str(latest) if latest is not None else None


def format_text(result: Evaluation) -> str:
    lines = [f"{result.samples} samples of {result.data}, weights {result.weights}",
             f"loss      {result.loss:.4f}"]
    if result.task == "regression":
        lines += [f"mse       {result.mse:.6g}", f"mae       {result.mae:.6g}"]
        return "\n".join(lines)
    lines.append(f"accuracy  {result.accuracy:.2%}")
    names = result.class_names if len(result.class_names) == result.classes else [
        str(c) for c in range(result.classes)]
    width = max(max(len(n) for n in names), max(len(str(v)) for v in result.confusion.flat), 4)
    lines += ["", "confusion (rows: true class, columns: predicted class)",
              " " * (width + 2) + " ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, result.confusion):
        lines.append(name.rjust(width) + "  " + " ".join(str(v).rjust(width) for v in row))
    lines += ["", "class".rjust(width) + "  precision  recall     f1  support"]
    for name, stats in zip(names, result.per_class):
        lines.append(f"{name.rjust(width)}  {stats['precision']:9.3f}  {stats['recall']:6.3f}  "
                     f"{stats['f1']:5.3f}  {stats['support']:7d}")
    return "\n".join(lines)
