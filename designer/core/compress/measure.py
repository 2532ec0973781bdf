"""Measuring a model as it ships: its ONNX file's size, ONNX Runtime's latency on the CPU at
batch sizes 1 and 32, and its accuracy (or error) on the validation data, run in ONNX Runtime.

Latency is the median of repeated runs in a session of one thread, after a warm-up: figures that
compare two models measured on the same machine in the same process. A float model is written
with the legacy (TorchScript) exporter, which names every ONNX node after the layer it came
from (``/Convolution_2/Conv``); quantization reads those names.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from designer.core.export import ExportError, ExportFailed, sample_inputs
from designer.core.export.model import Model, project_data_for
from designer.core.export.onnx_file import check_onnx, write_onnx
from designer.core.session import classify, task_of
from designer.core.compress.result import BATCHES, CompressError, Figures

OPSET = 17  # QDQ with per-channel weights needs 13 or newer; 17 suits current runtimes
CHECK_TOLERANCE = 1e-4  # per unit of the largest output, as exports are checked
SCORE_BATCH = 256
LATENCY_SECONDS = 0.4  # time spent timing each batch size (at least MIN_REPEATS runs)
MIN_REPEATS, MAX_REPEATS, WARMUP = 15, 400, 5


@dataclass
class Validation:
    """The validation samples the figures are measured on, as the network reads them."""

    inputs: list[np.ndarray]  # one per input variable, in the ONNX model's input order
    targets: np.ndarray  # the first loss's target, one row per sample
    what: str  # "validation data" or "training data"


def validation_of(model: Model) -> Validation:
    """The data to measure accuracy on; CompressError when the project's data does not load."""
    problems: list[str] = []
    loaded = project_data_for(model, problems.append)
    if loaded is None:
        why = problems[0] if problems else "the project has no training dataset"
        raise CompressError(f"the figures need the project's validation data: {why}")
    _, data, what = loaded
    target = model.compiled.losses[0].target
    return Validation([data.values(var) for var in model.compiled.input_vars],
                      data.values(target).reshape(len(data), -1), what)


def write_float(model: Model, path: Path) -> None:
    """The float ONNX model, checked against PyTorch on random and real samples."""
    cases = sample_inputs(model)
    try:
        write_onnx(model, path, OPSET, "legacy")
        _, comparisons = check_onnx(model, path, cases)
    except (ExportError, ExportFailed) as e:
        raise CompressError(f"the network does not export to ONNX: {e}") from None
    scale = max([1.0] + [float(t.abs().max()) for _, _, inputs in cases
                         for t in _reference(model, inputs) if t.numel()])
    worst = max(c.max_abs_diff for c in comparisons)
    if worst > CHECK_TOLERANCE * scale:
        raise CompressError(f"the float ONNX model differs from PyTorch by {worst:.3g}; "
                            "compression starts from a model that matches")


def _reference(model: Model, inputs) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = model.compiled.infer(*inputs)
    return out if isinstance(out, tuple) else (out,)


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # one thread: figures that hold on a shared machine
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def predict(path: Path, data: Validation) -> np.ndarray:
    """The first output for every validation sample, run in ONNX Runtime."""
    run = session(path)
    names = [i.name for i in run.get_inputs()]
    parts = []
    for start in range(0, len(data.targets), SCORE_BATCH):
        feed = {n: x[start:start + SCORE_BATCH] for n, x in zip(names, data.inputs)}
        parts.append(run.run(None, feed)[0])
    return np.concatenate(parts)


def chosen_classes(model: Model, outputs: np.ndarray) -> np.ndarray:
    return classify(model.compiled.losses[0].meaning, torch.from_numpy(outputs))[0].numpy()


def latency(path: Path, data: Validation) -> dict[str, float]:
    """Median milliseconds per run at each of BATCHES, on real samples (repeated to fill a
    batch when there are fewer)."""
    run = session(path)
    names = [i.name for i in run.get_inputs()]
    out = {}
    for batch in BATCHES:
        rows = np.arange(batch) % len(data.targets)
        feed = {n: np.ascontiguousarray(x[rows]) for n, x in zip(names, data.inputs)}
        for _ in range(WARMUP):
            run.run(None, feed)
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < MAX_REPEATS and (len(times) < MIN_REPEATS or
                                            time.perf_counter() - started < LATENCY_SECONDS):
            tick = time.perf_counter()
            run.run(None, feed)
            times.append(time.perf_counter() - tick)
        out[str(batch)] = float(np.median(times) * 1000)
    return out


def measure(model: Model, path: Path, label: str, data: Validation,
            outputs: np.ndarray | None = None) -> Figures:
    """An ONNX model's figures; ``outputs`` are its predictions when already computed."""
    outputs = predict(path, data) if outputs is None else outputs
    analysis = model.compiled.analysis
    figures = Figures(label, str(path), path.stat().st_size, latency(path, data), 0.0,
                      params=analysis.total_params, macs=analysis.total_macs)
    if task_of(model.compiled.losses[0])[0] == "classification":
        truth = data.targets.reshape(len(data.targets)).round().astype(np.int64)
        figures.accuracy = float((chosen_classes(model, outputs) == truth).mean())
        figures.error = 1.0 - figures.accuracy
    else:
        predicted = outputs.reshape(len(outputs), -1)
        figures.error = float(np.mean((predicted - data.targets) ** 2))
    return figures
