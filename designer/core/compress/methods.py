"""The three methods from a run to a compressed model and its before/after report."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from designer.core import runs
from designer.core.export import ExportError, load_model, preprocessing
from designer.core.export.model import Model, file_stem
from designer.core.files import atomic_write, check_writable
from designer.core.project import SUFFIX, Project, ProjectError, load
from designer.core.session import task_of
from designer.core.trainer import train
from designer.core.compress.measure import (Validation, chosen_classes, measure, predict,
                                            validation_of, write_float)
from designer.core.compress.prune import check_pruned, prunable, prune
from designer.core.compress.quantize import CALIBRATION_SAMPLES, quantize
from designer.core.compress.result import CompressError, Compressed, Figures

Log = Callable[[str], None]
Emit = Callable[[dict[str, Any]], None]


def _origin(project: Project, run_dir: str | os.PathLike, weights: str) -> Model:
    """The run's network with its weights; CompressError names what is wrong."""
    try:
        model = load_model(project, run_dir, weights)
    except ExportError as e:
        raise CompressError(str(e)) from None
    if not model.compiled.losses:
        raise CompressError(f"network {model.network.name!r} has no loss layer: its accuracy "
                            "cannot be measured")
    return model


def _float_figures(model: Model, folder: Path, label: str,
                   data: Validation) -> tuple[Path, Figures, np.ndarray]:
    path = folder / f"{file_stem(label)}.onnx"
    write_float(model, path)
    outputs = predict(path, data)
    return path, measure(model, path, label, data, outputs), outputs


def _keep(result: Compressed) -> Compressed:
    result.created = runs.now()
    try:
        runs.add_compression(result.origin, result.to_json())
    except OSError as e:  # the model is made; only the Runs view loses its record
        result.notes.append(f"the report could not be kept in the run ({e.strerror or e})")
    return result


def _writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_writable(path.parent)
    except OSError as e:
        raise CompressError(f"{path}: cannot write to folder {path.parent} "
                            f"({e.strerror or e})") from None


# ---- quantization ------------------------------------------------------------------------------

def quantize_run(project: Project, run_dir: str | os.PathLike, out: str | os.PathLike, *,
                 weights: str = "best", samples: int = CALIBRATION_SAMPLES,
                 keep_float: tuple[str, ...] = (), log: Log = lambda s: None) -> Compressed:
    """An int8 ONNX model of a run, checked against the float model on the validation data."""
    if samples < 1:
        raise CompressError(f"--samples must be at least 1, not {samples}")
    model = _origin(project, run_dir, weights)
    out = _onnx_path(Path(out), model.project)
    data = validation_of(model)
    with tempfile.TemporaryDirectory(prefix="nn-designer-compress-") as tmp:
        log("exporting the float model and measuring it…")
        float_path, before, float_out = _float_figures(model, Path(tmp), "float32", data)
        log("quantizing…")
        how, notes = quantize(model, float_path, out, samples=samples, keep_float=keep_float,
                              log=log)
    atomic_write(out.with_name(f"{out.stem}.preprocessing.json"),
                 json.dumps(preprocessing(model), indent=2) + "\n")
    log("measuring the int8 model…")
    int8_out = predict(out, data)
    after = measure(model, out, "int8", data, int8_out)
    agreement = None
    if task_of(model.compiled.losses[0])[0] == "classification":
        agreement = float((chosen_classes(model, float_out) == chosen_classes(model, int8_out))
                          .mean())
    else:
        notes.append(f"largest difference from the float model on the {data.what}: "
                     f"{float(np.abs(int8_out - float_out).max()):.3g}")
    result = Compressed("quantize", str(Path(run_dir).resolve()), str(out.resolve()), before,
                        after, {"mode": how, "samples": samples, "keep_float": list(keep_float),
                                "weights": weights}, notes=[how] + notes, agreement=agreement)
    return _keep(result)


def _onnx_path(out: Path, project: Project) -> Path:
    if out.is_dir() or str(out).endswith(("/", os.sep)):
        out = out / f"{file_stem(project.name)}_int8.onnx"
    elif out.suffix != ".onnx":
        raise CompressError(f"{out}: a quantized model is an ONNX file; name it "
                            f"{out.with_suffix('.onnx').name}")
    _writable(out)
    return out


# ---- pruning -----------------------------------------------------------------------------------

def prune_run(project: Project, run_dir: str | os.PathLike, out: str | os.PathLike, *,
              layers: list[str] | None = None, amount: float = 0.5, fine_tune: int = 0,
              weights: str = "best", log: Log = lambda s: None, on_event: Emit | None = None,
              stop: threading.Event | None = None) -> Compressed:
    """A smaller project (``out``) and a run with its weights, fine-tuned ``fine_tune`` epochs
    when asked."""
    model = _origin(project, run_dir, weights)
    out = _project_path(Path(out), model.project, "pruned")
    layers = layers or [n.name for n in model.network.nodes if prunable(n) == "conv"]
    if not layers:
        raise CompressError("the network has no Convolution layer; name the layers to prune "
                            "(--layers)")
    smaller, state, kept = prune(model.network, model.compiled, layers, amount)
    check_pruned(smaller, state)
    data = validation_of(model)
    pruned = model.project.copy()
    pruned.name = f"{model.project.name}_pruned"
    pruned.networks = [smaller if net.name == smaller.name else net for net in pruned.networks]
    pruned.training.init = None
    pruned.path = out
    run = runs.new_run_dir(out)
    runs.snapshot(pruned, run)
    for which in runs.WEIGHTS:
        runs.save_tensors(state, runs.weights_path(run, which))
    origin_name = runs.run_name(run_dir)
    runs.record_made_run(run, task_of(model.compiled.losses[0])[0],
                         name=f"pruned from {origin_name}", origin=str(Path(run_dir).resolve()),
                         method="prune")
    pruned.training.init = {"run": Path(os.path.relpath(run, out.parent)).as_posix(),
                            "weights": "best"}
    pruned.save(out)  # last: the project names a run that exists
    result_run = run
    if fine_tune > 0:
        log(f"fine-tuning the pruned network for {fine_tune} epochs…")
        tuned = pruned.copy()
        tuned.training.epochs = fine_tune
        outcome = train(tuned, on_event=on_event, stop=stop)
        if outcome.status == "failed":
            raise CompressError(f"fine-tuning failed: {outcome.message}")
        result_run = outcome.run_dir
    shapes = model.compiled.analysis.nodes
    sizes = {name: f"{len(maps)} of {shapes[model.network.find(name).id].shape[0]}"
             for name, maps in kept.items()}
    result = _trained_result("prune", "pruned", model, data, pruned, result_run, run_dir, log,
                             {"layers": layers, "amount": amount, "fine_tune": fine_tune,
                              "kept": sizes, "weights": weights})
    result.notes.append("kept " + ", ".join(f"{k} of {name}'s maps"
                                             for name, k in sizes.items()))
    return _keep(result)


def _project_path(out: Path, origin: Project, suffix: str) -> Path:
    if out.is_dir() or str(out).endswith(("/", os.sep)):
        out = out / f"{file_stem(origin.name)}_{suffix}{SUFFIX}"
    elif out.suffix != SUFFIX:
        raise CompressError(f"{out}: the {suffix} network is a project file; name it "
                            f"{out.with_suffix(SUFFIX).name}")
    if out.exists():
        raise CompressError(f"{out}: the file exists; choose a new name (nothing is "
                            "overwritten)")
    _writable(out)
    return out


def _trained_result(method: str, label: str, origin: Model, data: Validation,
                    project: Project, result_run: Path, run_dir: str | os.PathLike, log: Log,
                    settings: dict) -> Compressed:
    """Before (the origin run) and after (a run of ``project``), both measured as float ONNX."""
    after_model = _origin(project, result_run, "best" if runs.run_weights(result_run) == "best"
                          else "last")
    after_data = validation_of(after_model)
    with tempfile.TemporaryDirectory(prefix="nn-designer-compress-") as tmp:
        log("measuring the original and the new network…")
        _, before, _ = _float_figures(origin, Path(tmp), f"original ({runs.run_name(run_dir)})",
                                      data)
        _, after, _ = _float_figures(after_model, Path(tmp), label, after_data)
    before.path = after.path = ""  # temporary files: the runs are what stays
    return Compressed(method, str(Path(run_dir).resolve()), str(Path(result_run).resolve()),
                      before, after, settings, project=str(project.path) if project.path
                      else None)


# ---- distillation ------------------------------------------------------------------------------

def distill_run(project: Project, run_dir: str | os.PathLike, student: str | os.PathLike,
                out: str | os.PathLike | None = None, *, temperature: float = 4.0,
                alpha: float = 0.9, epochs: int | None = None, weights: str = "best",
                log: Log = lambda s: None, on_event: Emit | None = None,
                stop: threading.Event | None = None) -> Compressed:
    """Train the student project against the run (the teacher); the student's run is the
    result."""
    teacher = _origin(project, run_dir, weights)
    data = validation_of(teacher)
    try:
        pupil = load(student)
    except ProjectError as e:
        raise CompressError(str(e)) from None
    pupil.training.distill = {"teacher": str(Path(run_dir).resolve()), "weights": weights,
                              "temperature": float(temperature), "alpha": float(alpha)}
    if epochs is not None:
        if epochs < 1:
            raise CompressError(f"--epochs must be at least 1, not {epochs}")
        pupil.training.epochs = epochs
    log(f"training {pupil.name} against the teacher…")
    outcome = train(pupil, out, on_event=on_event, stop=stop)
    if outcome.status == "failed":
        raise CompressError(outcome.message)
    result = _trained_result("distill", "distilled", teacher, data, pupil, outcome.run_dir,
                             run_dir, log,
                             {"student": str(Path(student).resolve()), "temperature": temperature,
                              "alpha": alpha, "epochs": pupil.training.epochs,
                              "weights": weights})
    return _keep(result)

