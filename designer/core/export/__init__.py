"""Export a network to ONNX, PyTorch code or weights, proven to compute what the app computes.

``python -m designer export PROJECT [--run RUN_DIR] [--weights best|last]
--format onnx|pytorch|weights -o PATH [--opset N]``

* ``onnx``: the inference graph (losses removed) with a dynamic batch axis, inputs named after the
  dataset variables and outputs after the prediction layers. The file is checked with
  ``onnx.checker`` and run in ONNX Runtime on random inputs and on real samples of the project's
  data (batch sizes 1 and 7); the largest difference from PyTorch is reported.
* ``pytorch``: one standalone ``.py`` file (an ``nn.Module`` named after the project, its layer
  attributes named after the nodes) that needs only torch, with its weights in a ``.safetensors``
  file beside it. A fresh Python interpreter imports it and must reproduce the app's outputs
  exactly.
* ``weights``: the weights alone, as the app stores them.

Every format writes ``<name>.preprocessing.json`` beside the model: per input its shape, type and
the normalization the model was trained with, per output what its values mean. Layers an ONNX
opset cannot express are listed by name before anything is written.

The package: ``model`` (the network and weights to export, inputs to check on, preprocessing
notes), ``onnx_file``, ``pytorch_code`` (with its text in ``pytorch_template``), ``result``
(errors and what an export reports) and ``command`` (``python -m designer export``). This
module runs an export from start to end.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import torch

from designer.core import runs
from designer.core.project import Project, atomic_write
from designer.core.export.model import (CHECK_BATCHES, FORMAT_NAMES, FORMATS, SUFFIXES, WEIGHTS,
                                        Model, file_stem, load_model, output_path,
                                        preprocessing, preprocessing_path, project_data_for,
                                        reference_outputs, sample_inputs)
from designer.core.export.onnx_file import (DEFAULT_OPSET, DYNAMO_MIN_OPSET, EXPORTERS,
                                            MAX_OPSET, MIN_OPSET, check_onnx, check_opset,
                                            refusals, write_onnx)
from designer.core.export.pytorch_code import (check_pytorch, class_name, constructor,
                                               inference_state, pytorch_source)
from designer.core.export.result import (Comparison, ExportError, ExportFailed, ExportRefused,
                                         ExportResult, identical, number_text)

TOLERANCE = 1e-4  # largest difference ONNX Runtime may show, per unit of the largest output


def export(project: Project, fmt: str, out: str | os.PathLike, *,
           run_dir: str | os.PathLike | None = None, weights: str = "best",
           opset: int = DEFAULT_OPSET, exporter: str = "auto", network: str | None = None,
           log: Callable[[str], None] = lambda s: None) -> ExportResult:
    """Export and check. Raises ExportError (bad input, nothing written), ExportRefused (layers
    the format cannot express) or ExportFailed (the exporter failed); a model that was written
    but does not match comes back with ``ok`` False."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if exporter not in EXPORTERS:
        raise ExportError(f"exporter must be one of {', '.join(EXPORTERS)}, not {exporter!r}")
    if fmt == "onnx":
        check_opset(opset)
    log("loading the network and its weights…")
    model = load_model(project, run_dir, weights, network)
    refused = refusals(model.network, fmt, opset, model.compiled)
    if refused:
        raise ExportRefused(refused)
    path = output_path(out, fmt, model.project)
    log("loading the project's data…")
    project_data_for(model, log)
    started = time.perf_counter()
    result = ExportResult(fmt, str(path), [str(path)], model.project.name, model.weights)
    earlier = {p for p in (path, path.with_suffix(".safetensors"), preprocessing_path(path))
               if p.exists()}
    try:
        _write(model, result, path, opset, exporter, log)
        result.seconds = time.perf_counter() - started
        started = time.perf_counter()
        _check(model, result, path, log)
    except KeyboardInterrupt:  # cancelled, even while checking: the new files go too
        for written in map(Path, result.files):
            if written not in earlier:
                written.unlink(missing_ok=True)
        raise
    result.check_seconds = time.perf_counter() - started
    return result


def _write(model: Model, result: ExportResult, path: Path, opset: int, exporter: str,
           log: Callable[[str], None]) -> None:
    """Write the model file, the files that go with it and the preprocessing notes."""
    if result.format == "onnx":
        result.exporter, result.note = write_onnx(model, path, opset, exporter, log)
        result.opset = opset
    elif result.format == "pytorch":
        weights_path = path.with_suffix(".safetensors")
        atomic_write(path, pytorch_source(model, path.stem))
        runs.save_tensors(inference_state(model), weights_path, _metadata(model))
        result.files.append(str(weights_path))
    else:
        runs.save_tensors(model.compiled.tensors(), path, _metadata(model))
    info_path = preprocessing_path(path)
    atomic_write(info_path, json.dumps(preprocessing(model), indent=2) + "\n")
    result.files.append(str(info_path))


def _check(model: Model, result: ExportResult, path: Path, log: Callable[[str], None]) -> None:
    """Read the weights back, or run the written model against the app on sample inputs."""
    if result.format == "weights":
        log("reading the weights back…")
        _check_weights(model, path)
        result.message = (f"{len(model.compiled.tensors())} tensors, read back "
                          "equal")
        return
    cases = sample_inputs(model, log)
    scale = max(float(t.abs().max()) for _, _, inputs in cases
                for t in reference_outputs(model, inputs) if t.numel())
    if result.format == "onnx":
        log("checking the file (onnx.checker) and running it in ONNX Runtime…")
        result.checker, result.comparisons = check_onnx(model, path, cases)
        result.tolerance = TOLERANCE * max(1.0, scale)
        result.ok = all(c.max_abs_diff <= result.tolerance for c in result.comparisons)
        verdict = "matches PyTorch" if result.ok else "does NOT match PyTorch"
        allowed = f"allowed {number_text(result.tolerance)}"
        if scale > 1:
            allowed += (f": {number_text(TOLERANCE)} per unit of the largest output, "
                        f"{scale:.3g}")
    else:
        log("running the exported code in a fresh Python interpreter…")
        result.comparisons = check_pytorch(model, path, Path(result.files[1]), cases)
        result.tolerance = 0.0
        result.ok = all(c.exact for c in result.comparisons)
        verdict = ("reproduces the app's outputs exactly" if result.ok
                   else "does NOT reproduce the app's outputs exactly")
        allowed = "none allowed"
    result.max_abs_diff = max(c.max_abs_diff for c in result.comparisons)
    result.message = (f"largest difference {number_text(result.max_abs_diff)} ({allowed}): the "
                      f"export {verdict}")


def _metadata(model: Model) -> dict[str, str]:
    return {"format": "pt", "producer": "nn-designer", "project": model.project.name,
            "weights": model.weights}


def _check_weights(model: Model, path: Path) -> None:
    from safetensors.torch import load_file

    again = load_file(str(path))
    own = model.compiled.tensors()
    if again.keys() != own.keys() or not all(torch.equal(again[k], own[k].cpu()) for k in own):
        raise ExportFailed(f"{path}: the weights read back differ from the network's")


__all__ = [
    "CHECK_BATCHES", "DEFAULT_OPSET", "DYNAMO_MIN_OPSET", "EXPORTERS", "FORMATS", "FORMAT_NAMES",
    "MAX_OPSET", "MIN_OPSET", "SUFFIXES", "TOLERANCE", "WEIGHTS", "Comparison", "ExportError",
    "ExportFailed", "ExportRefused", "ExportResult", "Model", "check_onnx", "check_opset",
    "check_pytorch", "class_name", "constructor", "export", "file_stem", "identical",
    "inference_state",
    "load_model", "output_path", "preprocessing", "pytorch_source", "refusals",
    "reference_outputs", "sample_inputs", "write_onnx"]
