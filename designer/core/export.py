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
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import io
import json
import keyword
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from nodes import modules as layer_modules
from nodes import shape_text

from designer.core import runs
from designer.core.compiler import Compiled, CompileError, compile_network
from designer.core.data import DataError, DataSet
from designer.core.project import Network, Project, ProjectError, atomic_path, atomic_write, load
from designer.core.session import TrainingError, compile_seeded, fit_to_network, project_data

FORMATS = ("onnx", "pytorch", "weights")
WEIGHTS = runs.WEIGHTS
EXPORTERS = ("auto", "dynamo", "legacy")
SUFFIXES = {"onnx": ".onnx", "pytorch": ".py", "weights": ".safetensors"}
FORMAT_NAMES = {"onnx": "an ONNX model", "pytorch": "PyTorch code", "weights": "a weights file"}
# Opset 18 is the oldest the dynamo exporter writes without converting versions. The legacy
# exporter writes 11 to 23 (torch 2.13), and ONNX Runtime 1.31 runs all of them.
DEFAULT_OPSET = 18
DYNAMO_MIN_OPSET = 18
MIN_OPSET, MAX_OPSET = 11, 23
TOLERANCE = 1e-4  # largest difference ONNX Runtime may show, per unit of the largest output
CHECK_BATCHES = (1, 7)
RANGE_SAMPLES = 10_000  # samples read to state the value range the network was trained on


@dataclass(frozen=True)
class OpsetNeed:
    """A layer needs ``opset`` or newer, when ``applies(props, input shapes)``."""

    opset: int
    reason: str
    applies: Callable[[dict, list], bool] = lambda props, inputs: True


# Layers that some offered opsets cannot express. Found by exporting every catalog layer in a
# minimal network at every offered opset (tests/core/test_export.py checks each entry fails one
# opset below and works at it): all other layers export at all of them. Below opset 18 the
# legacy exporter does the work, so this is its table.
ONNX_MIN_OPSET: dict[str, OpsetNeed] = {
    "Affine": OpsetNeed(13, "an OutShape of more than one axis needs Unflatten, which ONNX has "
                            "from opset 13", lambda props, inputs: len(props["OutShape"]) > 1),
}

# What the values of a prediction mean, by the loss that trained it.
OUTPUT_MEANING = {
    "SoftmaxCrossEntropy": ("scores", "raw class scores (logits); apply softmax over axis 1 for "
                                      "probabilities, the predicted class is the argmax"),
    "CategoricalCrossEntropy": ("probabilities", "class probabilities (they sum to 1 over axis "
                                                 "1); the predicted class is the argmax"),
    "SigmoidCrossEntropy": ("logits", "raw scores (logits); apply sigmoid for the probability "
                                      "of class 1 (a score above 0 means class 1)"),
    "BinaryCrossEntropy": ("probabilities", "probabilities of class 1, from 0 to 1 (above 0.5 "
                                            "means class 1)"),
    "KLMultinomial": ("probabilities", "a probability distribution over axis 1"),
}
REGRESSION = ("values", "predicted values, in the units of the training target")


class ExportError(ValueError):
    """The export cannot start: a bad run folder, weights file, output path or network.

    The message names the file, tensor or layer at fault.
    """


class ExportRefused(ExportError):
    """Layers the chosen format cannot express; ``refusals`` names each one."""

    def __init__(self, refusals: list[str]):
        self.refusals = refusals
        super().__init__("cannot export: " + "; ".join(refusals))


class ExportFailed(RuntimeError):
    """The exporter failed, or the written model does not compute what the app computes."""


@dataclass
class Comparison:
    inputs: str  # "random" or "validation data" or "training data"
    batch: int
    max_abs_diff: float
    exact: bool = False


@dataclass
class ExportResult:
    format: str
    path: str  # the model file (the .onnx, the .py or the .safetensors)
    files: list[str]  # everything written, the model file first
    project: str
    weights: str  # where the weights came from, in words
    ok: bool = True
    exporter: str | None = None  # onnx: "dynamo" or "legacy"
    opset: int | None = None
    note: str = ""  # why the legacy exporter was used, and other remarks
    checker: str | None = None  # onnx: "passed"
    comparisons: list[Comparison] = field(default_factory=list)
    max_abs_diff: float | None = None
    tolerance: float | None = None
    seconds: float = 0.0  # writing the model
    check_seconds: float = 0.0  # checking it
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """The check result as a user reads it."""
        lines = [f"{'Exported' if self.ok else 'Exported, but the check failed:'} "
                 f"{self.project} ({self.weights}) to {self.path}"]
        if self.format == "onnx":
            lines.append(f"  exporter: {self.exporter}, ONNX opset {self.opset}, dynamic batch "
                         f"axis ({self.seconds:.1f} s)")
            lines.append(f"  onnx.checker: {self.checker}")
        if self.comparisons:
            against = {"onnx": "ONNX Runtime vs PyTorch",
                       "pytorch": "exported code (fresh interpreter) vs the app"}[self.format]
            cells = ", ".join(f"{c.inputs} batch {c.batch}: {_number(c.max_abs_diff)}"
                              for c in self.comparisons)
            lines.append(f"  {against}, max abs difference: {cells}")
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.message:
            lines.append(f"  {self.message}")
        for extra in self.files[1:]:
            lines.append(f"  also wrote {extra}")
        return "\n".join(lines)


def _number(value: float) -> str:
    """Differences as people compare them: 0, 2.4e-07, 1e-04, 0.5."""
    if value == 0:
        return "0"
    if abs(value) >= 1e-3:
        return f"{value:.2g}"
    return f"{value:.1e}".replace(".0e", "e")


# ---- what is exported: the network and its weights -------------------------------------------

@dataclass
class Model:
    """A compiled network with the weights to export loaded into it."""

    project: Project
    network: Network
    compiled: Compiled
    weights: str  # where the weights came from, in words
    run_dir: Path | None = None
    # (training data, data to check on, its name), loaded once; False when there is none
    data: tuple[DataSet, DataSet, str] | bool | None = field(default=None, repr=False)


def load_model(project: Project, run_dir: str | os.PathLike | None = None,
               weights: str = "best", network: str | None = None) -> Model:
    """The network to export, with the weights of a run (or its initial weights when untrained).

    With a run folder, the network is the one the run trained (its ``project.nnd``), so edits
    made to the project since do not break the export. Raises ExportError naming the folder,
    file or tensor at fault.
    """
    if weights not in WEIGHTS:
        raise ExportError(f"weights must be {' or '.join(WEIGHTS)}, not {weights!r}")
    path = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ExportError(f"{run_dir}: run folder not found")
        path = runs.weights_path(run_dir, weights)
        if not path.is_file():
            present = sorted(p.name for p in run_dir.glob(f"*{runs.WEIGHTS_SUFFIX}"))
            hint = (f"; it holds {', '.join(present)} (choose --weights "
                    f"{present[0].split('.')[0]})" if present
                    else "; the run has saved no weights yet (it may have failed or be starting)")
            raise ExportError(f"{path}: weights file not found{hint}")
        snapshot = runs.project_path(run_dir)
        if snapshot.is_file():
            try:
                project = load(snapshot)
            except ProjectError as e:
                raise ExportError(str(e)) from None
    try:
        net = project.network(network)
    except ProjectError as e:
        raise ExportError(str(e)) from None
    try:  # untrained weights are the run's initial ones
        compiled = compile_seeded(net, project.training.seed, "exported")
    except TrainingError as e:
        raise ExportError(str(e)) from None
    if path is None:
        source = f"untrained: initial weights from seed {project.training.seed}"
    else:
        try:
            runs.load_into(compiled, net, path)
        except runs.WeightsError as e:
            raise ExportError(str(e)) from None
        source = f"{path.name} of run {run_dir.name}"
    # the graph module's own flag too: an exporter that restores the mode it found after
    # exporting would otherwise put every layer back into training mode
    compiled.infer.eval()
    return Model(project, net, compiled, source, run_dir)



# ---- before exporting: what the target cannot express ----------------------------------------

def refusals(network: Network, fmt: str, opset: int = DEFAULT_OPSET,
             compiled: Compiled | None = None) -> list[str]:
    """Each inference layer the format cannot express, as ``Name (Type): why``.

    An invalid network has no refusals: compiling it reports its problems.
    """
    if fmt != "onnx":
        return []
    if compiled is None:
        try:
            compiled = compile_network(network)
        except CompileError:
            return []
    found = []
    for node in _inference_nodes(compiled, network):
        need = ONNX_MIN_OPSET.get(node.type)
        info = compiled.analysis.nodes[node.id]
        if need is not None and opset < need.opset and need.applies(info.props, info.inputs):
            found.append(f"{node.name} ({node.type}): not supported by ONNX opset {opset}; "
                         f"{need.reason} (choose opset {need.opset} or newer)")
    return found


def _inference_nodes(compiled: Compiled, network: Network) -> list:
    """The nodes whose modules the inference graph calls, in graph order."""
    by_attr = {attr: nid for nid, attr in compiled.attr_of.items()}
    by_id = {n.id: n for n in network.nodes}
    return [by_id[by_attr[n.target]] for n in compiled.infer.graph.nodes
            if n.op == "call_module"]


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"ONNX opset {opset} is not offered; choose {MIN_OPSET} to {MAX_OPSET} "
                          f"({DEFAULT_OPSET} is the default)")


# ---- inputs to check an export on ---------------------------------------------------------

def sample_inputs(model: Model, log: Callable[[str], None] = lambda s: None
                  ) -> list[tuple[str, int, tuple[torch.Tensor, ...]]]:
    """(what, batch, inputs) to compare on: random inputs, and real samples when data loads.

    Random values for a variable that an Embed layer reads are valid class indices.
    """
    compiled = model.compiled
    generator = torch.Generator().manual_seed(0)
    index_limits = _index_inputs(compiled, model.network)
    cases = []
    for batch in CHECK_BATCHES:
        tensors = []
        for var in compiled.input_vars:
            shape = (batch,) + tuple(compiled.input_shapes[var])
            if var in index_limits:
                tensors.append(torch.randint(0, index_limits[var], shape,
                                             generator=generator).float())
            else:
                tensors.append(torch.randn(shape, generator=generator))
        cases.append(("random", batch, tuple(tensors)))
    real = _real_samples(model, max(CHECK_BATCHES), log)
    if real is not None:
        what, arrays = real
        for batch in CHECK_BATCHES:
            if len(arrays[0]) >= batch:
                cases.append((what, batch, tuple(torch.from_numpy(a[:batch].copy())
                                                 for a in arrays)))
    return cases


def _index_inputs(compiled: Compiled, network: Network) -> dict[str, int]:
    """Input variable -> number of classes, for variables that Embed layers read directly."""
    by_id = {n.id: n for n in network.nodes}
    limits: dict[str, int] = {}
    for link in network.links:
        src, dst = by_id[link.src], by_id[link.dst]
        if src.type == "Input" and dst.type == "Embed":
            var = compiled.analysis.nodes[src.id].props["Dataset"]
            classes = compiled.analysis.nodes[dst.id].props["NumClass"]
            limits[var] = min(limits.get(var, classes), classes)
    return limits


def project_data_for(model: Model, log: Callable[[str], None] = lambda s: None
                     ) -> tuple[DataSet, DataSet, str] | None:
    """(training data, data to check on, "validation data" or "training data"), both in the
    shapes the network reads; None when the project has no dataset or it does not load."""
    if model.data is None:
        model.data = False
        if "training" in model.project.datasets:
            try:
                train, val = project_data(model.project)
                data, what = (val, "validation data") if len(val) else (train, "training data")
                model.data = (fit_to_network(train, model.compiled, model.network),
                              fit_to_network(data, model.compiled, model.network), what)
            except (TrainingError, DataError, OSError) as e:
                log(f"checking on random inputs only: the project's data does not load ({e})")
    return model.data or None


def _real_samples(model: Model, count: int, log: Callable[[str], None]):
    """(what, [array per input variable]) of real samples, or None."""
    loaded = project_data_for(model, log)
    if loaded is None:
        return None
    _, data, what = loaded
    rows = np.arange(min(count, len(data)))
    return what, [data.values(var, rows) for var in model.compiled.input_vars]


def reference_outputs(model: Model, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = model.compiled.infer(*inputs)
    return out if isinstance(out, tuple) else (out,)


# ---- preprocessing.json --------------------------------------------------------------------

def preprocessing(model: Model) -> dict[str, Any]:
    """What a user of the exported model must feed it and what it returns."""
    project, compiled = model.project, model.compiled
    training = project.datasets.get("training")
    normalize = bool(training and training.normalize)
    index_inputs = _index_inputs(compiled, model.network)
    loaded = project_data_for(model)
    inputs = []
    for var in compiled.input_vars:
        shape = list(compiled.input_shapes[var])
        entry: dict[str, Any] = {"name": var, "shape": shape, "batch_axis": 0,
                                 "dtype": "float32"}
        if var in index_inputs:
            entry["values"] = (f"class indices 0..{index_inputs[var] - 1}, stored as float32")
            entry["normalization"] = {"divide_by": 1.0, "description": "none: feed the indices"}
        elif normalize:
            entry["normalization"] = {
                "divide_by": 255.0,
                "description": "divide pixel values (0 to 255) by 255 so they lie in 0..1, as "
                               "the training data was"}
        else:
            entry["normalization"] = {
                "divide_by": 1.0,
                "description": "none: feed values as the dataset stores them"}
        if loaded is not None and var not in index_inputs:
            values = loaded[0].values(var, slice(0, RANGE_SAMPLES))
            low, high = float(values.min()), float(values.max())
            entry["training_range"] = [low, high]
            entry["normalization"]["description"] += (f" (the network was trained on values "
                                                      f"from {low:.4g} to {high:.4g})")
        inputs.append(entry)
    loss_of = {loss.prediction: loss for loss in compiled.losses}
    outputs = []
    for name, shape in zip(compiled.outputs, _output_shapes(compiled, model.network)):
        loss = loss_of.get(name)
        kind, meaning = OUTPUT_MEANING.get(loss.type, REGRESSION) if loss else REGRESSION
        entry = {"name": name, "shape": list(shape), "batch_axis": 0, "dtype": "float32",
                 "kind": kind, "meaning": meaning}
        if loss is not None:
            entry["trained_with"] = loss.type
            if loss.target_spec.kind == "index":
                entry["classes"] = loss.target_spec.classes
        outputs.append(entry)
    return {"model": project.name, "producer": "nn-designer", "weights": model.weights,
            "dataset": training.source if training else None, "inputs": inputs,
            "outputs": outputs}


def _output_shapes(compiled: Compiled, network: Network) -> list[tuple[int, ...]]:
    by_name = {n.name: n.id for n in network.nodes}
    return [tuple(compiled.analysis.nodes[by_name[name]].shape) for name in compiled.outputs]


def _preprocessing_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.preprocessing.json")


# ---- output files ----------------------------------------------------------------------------

def output_path(path: str | os.PathLike, fmt: str, project: Project) -> Path:
    """The model file to write: ``path`` itself, or a file named after the project in it.

    Creates missing folders; raises ExportError when the place cannot be written.
    """
    as_folder = str(path).endswith(("/", os.sep))
    path = Path(path)
    suffix = SUFFIXES[fmt]
    if as_folder or path.is_dir():
        path = path / f"{file_stem(project.name)}{suffix}"
    elif not path.suffix:
        path = path.with_suffix(suffix)
    elif path.suffix != suffix:
        raise ExportError(f"{path}: {FORMAT_NAMES[fmt]} is a {suffix} file; name it "
                          f"{path.with_suffix(suffix).name}")
    if fmt == "pytorch" and not path.stem.isidentifier():
        raise ExportError(f"{path}: the file name must be a Python module name (letters, digits "
                          f"and _, not starting with a digit), e.g. {file_stem(path.stem)}.py")
    folder = path.parent
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"{path}: cannot write there: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".export-", suffix=".tmp"):
            pass
    except OSError as e:
        raise ExportError(f"{path}: cannot write to folder {folder} "
                          f"({e.strerror or e})") from None
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; choose a file name")
    return path


def file_stem(name: str) -> str:
    """A file name for a project's export that is also a Python module name: ``iris_mlp``."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "model"
    return f"model_{ident}" if ident[0].isdigit() else ident


# ---- ONNX ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet():
    """Keep the exporters' progress prints and warnings out of the user's output."""
    captured = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured), \
                contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            yield captured
    finally:
        logging.disable(previous)


def _onnx_names(compiled: Compiled) -> tuple[list[str], list[str]]:
    inputs = list(compiled.input_vars)
    outputs = [name if name not in inputs else f"{name}_output" for name in compiled.outputs]
    return inputs, outputs


def _run_exporter(module: nn.Module, args: tuple, path: Path, inputs: list[str],
                  outputs: list[str], opset: int, dynamo: bool) -> None:
    if dynamo:
        batch = torch.export.Dim("batch")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=True,
                          dynamic_shapes=tuple({0: batch} for _ in args))
    else:
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          opset_version=opset, dynamo=False,
                          dynamic_axes={name: {0: "batch"} for name in inputs + outputs})


def _file_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def write_onnx(model: Model, path: Path, opset: int = DEFAULT_OPSET, exporter: str = "auto",
               log: Callable[[str], None] = lambda s: None) -> tuple[str, str]:
    """Export the inference graph to ``path``; returns (exporter used, note).

    ``auto`` tries the dynamo exporter first and falls back to the legacy one when it fails or
    cannot produce the opset asked for.
    """
    import onnx

    compiled = model.compiled
    inputs, outputs = _onnx_names(compiled)
    # batch 2, so that neither exporter takes the batch size for a constant 1
    args = _trace_inputs(compiled, model.network)
    if exporter == "auto":
        # below its own opsets the dynamo exporter relies on ONNX's version converter, which
        # fails for many graphs (all catalog layers together: 14 and 17 both failed)
        order = (True, False) if opset >= DYNAMO_MIN_OPSET else (False, True)
    else:
        order = {"dynamo": (True,), "legacy": (False,)}[exporter]
    note, failures = "", []
    if order[0] is False and exporter == "auto":
        note = (f"opset {opset} is below the dynamo exporter's own ({DYNAMO_MIN_OPSET} and "
                "newer); used the legacy exporter")
    with atomic_path(path) as tmp:
        for dynamo in order:
            name = "dynamo" if dynamo else "legacy"
            log(f"exporting with the {name} exporter (opset {opset})…")
            try:
                with _quiet():
                    _run_exporter(compiled.infer, args, tmp, inputs, outputs, opset, dynamo)
                written = _file_opset(tmp)
                if written != opset:
                    raise ExportFailed(f"it wrote opset {written} instead of {opset}")
            except Exception as e:  # each exporter fails in its own way; the next may work
                failures.append(f"the {name} exporter failed: {_first_line(e)}")
                continue
            if failures:
                note = f"{failures[0]}; used the {name} exporter"
            onnx_model = onnx.load(str(tmp))
            onnx_model.doc_string = f"{model.project.name}, exported by nn-designer"
            for key, value in (("nn-designer.project", model.project.name),
                               ("nn-designer.weights", model.weights),
                               ("nn-designer.preprocessing", json.dumps(preprocessing(model)))):
                entry = onnx_model.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(onnx_model, str(tmp))
            break
        else:
            raise ExportFailed("ONNX export failed: " + "; ".join(failures))
    return name, note


def _trace_inputs(compiled: Compiled, network: Network) -> tuple[torch.Tensor, ...]:
    limits = _index_inputs(compiled, network)
    out = []
    for var in compiled.input_vars:
        shape = (2,) + tuple(compiled.input_shapes[var])
        out.append(torch.zeros(shape) if var in limits else torch.randn(shape))
    return tuple(out)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def check_onnx(model: Model, path: Path, cases) -> tuple[str, list[Comparison]]:
    """onnx.checker on the file, then ONNX Runtime against PyTorch on each case."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:
        raise ExportFailed(f"{path}: onnx.checker rejects the file: {_first_line(e)}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    comparisons = []
    for what, batch, inputs in cases:
        expected = reference_outputs(model, inputs)
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
        comparisons.append(Comparison(what, batch, _max_diff(expected, got)))
    return "passed", comparisons


def _max_diff(expected: tuple[torch.Tensor, ...], got) -> float:
    worst = 0.0
    for e, g in zip(expected, got, strict=True):
        g = torch.as_tensor(np.asarray(g))
        if tuple(g.shape) != tuple(e.shape):
            return math.inf
        worst = max(worst, float((g.double() - e.double()).abs().max()) if e.numel() else 0.0)
    return worst


def _within_tolerance(comparisons: list[Comparison], scale: float) -> bool:
    return all(c.max_abs_diff <= TOLERANCE * max(1.0, scale) for c in comparisons)


# ---- PyTorch code ------------------------------------------------------------------------

def class_name(project_name: str) -> str:
    """``iris_mlp`` -> ``IrisMlp``; never one of the layer classes the file defines."""
    words = re.findall(r"[A-Za-z0-9]+", project_name)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    if name[0].isdigit():
        name = f"Model{name}"
    if name in _layer_classes():
        name = f"{name}Model"
    return name


def _layer_classes() -> dict[str, type]:
    return {name: obj for name, obj in vars(layer_modules).items()
            if isinstance(obj, type) and obj.__module__ == layer_modules.__name__}


def _recurrent_args(m) -> list:
    cell = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}[m.rnn.mode]
    return [cell, m.rnn.input_size, m.rnn.hidden_size, m.rnn.num_layers, m.rnn.bidirectional,
            m.return_sequences]


# Constructor arguments of the layer classes in nodes/modules.py, read back from an instance.
# Every layer's generated constructor is rebuilt and compared with the original before writing,
# so a class that changes shape is caught (and named) rather than silently mis-exported.
LAYER_ARGS: dict[str, Callable[[nn.Module], list]] = {
    "Affine": lambda m: [m.linear.in_features, m.out_shape, m.linear.bias is not None],
    "Reshape": lambda m: [m.out_shape],
    "Transpose": lambda m: [tuple(a - 1 for a in m.axes[1:])],
    "Slice": lambda m: [tuple(s.start for s in m.index), tuple(s.stop for s in m.index),
                        tuple(s.step for s in m.index)],
    "Concatenate": lambda m: [m.axis - 1],
    "SELU": lambda m: [m.scale, m.alpha],
    "Recurrent": _recurrent_args,
    "Embed": lambda m: [m.embedding.num_embeddings, m.embedding.embedding_dim],
    "HuberLoss": lambda m: [m.delta],
}


def constructor(module: nn.Module) -> str:
    """Python source that builds a module like ``module`` (weights aside).

    Arguments equal to their defaults are left out where the module comes out the same. Raises
    ExportError when the code cannot be written or does not rebuild the same module.
    """
    cls = type(module)
    if cls.__module__ == layer_modules.__name__:
        name = cls.__name__
        values = dict(zip(_parameters(cls), LAYER_ARGS.get(name, lambda m: [])(module)))
    elif getattr(nn, cls.__name__, None) is cls:
        name = f"nn.{cls.__name__}"
        values = _torch_values(module)
    else:
        raise ExportError(f"no PyTorch code is known for {cls.__module__}.{cls.__name__}")
    parameters = _parameters(cls)
    namespace = {"nn": nn, "torch": torch, **_layer_classes()}
    tried = []
    for concise in (True, False):
        source = f"{name}({_arguments(values, parameters, concise)})"
        if source in tried:
            continue
        tried.append(source)
        try:
            rebuilt = eval(source, namespace)  # our own source text, checked before it is written
        except Exception as e:
            raise ExportError(f"the code {source} does not run: {_first_line(e)}") from None
        if _settings(rebuilt) == _settings(module):
            return source
    raise ExportError(f"the code {tried[-1]} does not rebuild the layer's {cls.__name__}")


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The named parameters of a class's constructor (not self, *args, device or dtype)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("device", "dtype")}


def _torch_values(module: nn.Module) -> dict[str, Any]:
    """A torch.nn module's constructor arguments, read from its attributes of the same names."""
    values = {}
    for name, p in _parameters(type(module)).items():
        if not hasattr(module, name):
            if p.default is p.empty:
                raise ExportError(f"cannot read {type(module).__name__}'s {name}")
            continue
        value = getattr(module, name)
        if isinstance(value, torch.Tensor) or (value is None and name == "bias"):
            value = value is not None  # a bias is a parameter or None
        values[name] = value
    return values


def _arguments(values: dict[str, Any], parameters: dict[str, inspect.Parameter],
               concise: bool) -> str:
    """Required arguments by position, the others by name; defaults left out."""
    parts = []
    for name, value in values.items():
        default = parameters[name].default
        if default is inspect.Parameter.empty:
            parts.append(repr(value))
        elif not _is_default(value, default, concise):
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def _is_default(value, default, concise: bool) -> bool:
    """``concise`` also takes ``(1, 1)`` for a default of 1, as torch's convolutions do."""
    if type(value) is type(default) and value == default:
        return True
    return (concise and isinstance(value, tuple) and bool(value)
            and all(type(v) is type(default) and v == default for v in value))


def _settings(module: nn.Module) -> Any:
    """What defines a module apart from its weights: its class, public settings, tensor shapes
    and its children's settings."""
    public = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"
              and not isinstance(v, torch.Tensor)}
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    children = {k: _settings(c) for k, c in module.named_children()}
    return type(module), repr(public), shapes, children


def _modules_source(used: set[str]) -> tuple[list[str], str]:
    """(import lines, class definitions) of nodes/modules.py for the classes ``used``.

    Classes come verbatim, with the classes they name; the file's other top-level statements
    (helpers and constants, if any) come along too.
    """
    text = Path(inspect.getsourcefile(layer_modules)).read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    wanted, stack = set(), list(used)
    while stack:
        name = stack.pop()
        if name in wanted or name not in classes:
            continue
        wanted.add(name)
        stack.extend(n.id for n in ast.walk(classes[name]) if isinstance(n, ast.Name))
    imports, blocks = [], []
    for i, stmt in enumerate(tree.body):
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        segment = "\n".join(lines[start - 1:stmt.end_lineno])
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imports.append(segment)
        elif i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the module docstring
        elif not isinstance(stmt, ast.ClassDef) or stmt.name in wanted:
            blocks.append(segment)
    return imports, "\n\n\n".join(blocks)


def pytorch_source(model: Model, module_name: str) -> str:
    """The standalone .py file: layer classes, the network class, a torch-only weights reader."""
    compiled, project = model.compiled, model.project
    cls = class_name(project.name)
    by_id = {n.id: n for n in model.network.nodes}
    node_of = {attr: by_id[nid] for nid, attr in compiled.attr_of.items()}
    graph = compiled.infer.graph
    init_lines, forward_lines, used, args = [], [], set(), []
    local: dict[Any, str] = {}  # graph node -> its variable in forward
    taken = {"self", "torch", "nn", "F", "math", "json", cls} | set(_layer_classes())
    for fx_node in graph.nodes:
        if fx_node.op == "placeholder":
            local[fx_node] = fx_node.name
            taken.add(fx_node.name)
            args.append(fx_node.name)
        elif fx_node.op == "call_module":
            attr = fx_node.target
            layer = compiled.layers.get_submodule(attr)
            node = node_of[attr]
            try:
                init_lines.append(f"self.{attr} = {constructor(layer)}")
            except ExportError as e:
                raise ExportRefused([f"{node.name} ({node.type}): {e}"]) from None
            if type(layer).__module__ == layer_modules.__name__:
                used.add(type(layer).__name__)
            shape = compiled.analysis.nodes[node.id].shape
            local[fx_node] = _local_name(attr, taken)
            call = (f"{local[fx_node]} = self.{attr}"
                    f"({', '.join(local[a] for a in fx_node.args)})")
            forward_lines.append(f"{call}  # {node.type}, N×{shape_text(shape)}")
        elif fx_node.op == "output":
            result = fx_node.args[0]
            results = list(result) if isinstance(result, (tuple, list)) else [result]
            returns = "outputs" if len(results) > 1 else local[results[0]]
            forward_lines.append(f"return {', '.join(local[r] for r in results)}")
        else:
            raise ExportError(f"cannot write PyTorch code for the graph operation {fx_node.op} "
                              f"{fx_node.target}")
    imports, classes = _modules_source(used)
    info = preprocessing(model)
    inputs_doc = "\n".join(
        f"    {i['name']}: float32 tensor N×{shape_text(i['shape'])}; {i['normalization']['description']}"
        for i in info["inputs"])
    outputs_doc = "\n".join(f"    {o['name']}: N×{shape_text(o['shape'])}, {o['meaning']}"
                            for o in info["outputs"])
    example_inputs = ", ".join(f"torch.randn(2, {', '.join(str(d) for d in i['shape'])})"
                               for i in info["inputs"])
    description = f"\n{project.description.strip()}\n" if project.description.strip() else ""
    header = f'''"""{project.name}: a network exported from nn-designer as standalone PyTorch code.
{description}
It needs only torch. The weights are in {module_name}.safetensors beside this file
({model.weights}):

    import torch
    from {module_name} import {cls}, load_weights

    model = {cls}()
    model.load_state_dict(load_weights("{module_name}.safetensors"))
    model.eval()
    with torch.no_grad():
        {returns} = model({", ".join(args)})

``safetensors.torch.load_file`` reads the weights file as well as ``load_weights`` does.

Inputs (batch axis first):
{inputs_doc}
Outputs:
{outputs_doc}
{module_name}.preprocessing.json says the same for programs.
"""'''
    every_import = set(imports) | {"import json", "import torch", "from torch import nn"}
    standard = sorted(i for i in every_import if i.split()[1] in sys.stdlib_module_names)
    others = sorted(set(every_import) - set(standard),
                    key=lambda line: (not line.startswith("import "), line))
    init = "\n".join(f"        {line}" for line in init_lines)
    forward = "\n".join(f"        {line}" for line in forward_lines)
    sections = [
        header,
        "\n".join(standard) + "\n\n" + "\n".join(others),
        f"# ---- layer classes (nn-designer's layer library) ----\n\n\n{classes}" if classes
        else "",
        f'''# ---- the network ----

class {cls}(nn.Module):
    """{project.name}: inputs {", ".join(compiled.input_vars)}; returns {", ".join(compiled.outputs)}."""

    def __init__(self):
        super().__init__()
{init}

    def forward(self, {", ".join(args)}):
{forward}''',
        _LOADER,
        f'''if __name__ == "__main__":
    import pathlib

    model = {cls}()
    model.load_state_dict(load_weights(pathlib.Path(__file__).with_suffix(".safetensors")))
    model.eval()
    with torch.no_grad():
        result = model({example_inputs})
    for tensor in result if isinstance(result, tuple) else (result,):
        print(tuple(tensor.shape), tensor.flatten()[:5].tolist())''',
    ]
    return "\n\n\n".join(s for s in sections if s) + "\n"


_LOADER = '''# ---- reading the weights with torch alone ----

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
           "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def load_weights(path):
    """The tensors of a .safetensors file (an 8-byte header size, a JSON header, raw
    little-endian data), read without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = (8 + size + offset for offset in entry["data_offsets"])
        dtype = _DTYPES[entry["dtype"]]
        flat = (torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start
                else torch.empty(0, dtype=dtype))
        tensors[name] = flat.reshape(entry["shape"])
    return tensors'''


def _local_name(attr: str, taken: set[str]) -> str:
    """``Affine_2`` -> ``affine_2``: the layer's name in lower case, unique in forward."""
    name = attr.lower()
    while name in taken or keyword.iskeyword(name):
        name += "_"
    taken.add(name)
    return name


def inference_state(model: Model) -> dict[str, torch.Tensor]:
    """The weights of the layers inference uses: the exported class's state_dict."""
    used = {n.target for n in model.compiled.infer.graph.nodes if n.op == "call_module"}
    return {k: v for k, v in model.compiled.layers.state_dict().items()
            if k.split(".")[0] in used}


_CHILD = r'''
import importlib.util, sys
import torch
torch.set_num_threads(int(sys.argv[5]))
path, weights, cls, io_path = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("exported_model", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = getattr(module, cls)()
state = module.load_weights(weights)
try:
    from safetensors.torch import load_file
except ImportError:
    pass
else:
    other = load_file(weights)
    assert other.keys() == state.keys() and all(torch.equal(other[k], state[k]) for k in state), \
        "load_weights and safetensors read different tensors"
model.load_state_dict(state)
model.eval()
stray = sorted(m for m in sys.modules if m.split(".")[0] in ("designer", "nodes"))
assert not stray, f"the exported file imported {stray}"
cases = torch.load(io_path, weights_only=True)
outputs = []
with torch.no_grad():
    for inputs in cases:
        out = model(*inputs)
        outputs.append(list(out) if isinstance(out, tuple) else [out])
torch.save(outputs, io_path)
'''


def check_pytorch(model: Model, py_path: Path, weights_path: Path, cases) -> list[Comparison]:
    """Import the exported file in a fresh interpreter (isolated: the app is not importable
    there), load the weights, run each case; outputs must equal the app's exactly."""
    with tempfile.TemporaryDirectory(prefix="nn-designer-check-") as folder:
        io_path = Path(folder) / "cases.pt"
        torch.save([list(inputs) for _, _, inputs in cases], io_path)
        command = [sys.executable, "-I", "-c", _CHILD, str(py_path.resolve()),
                   str(weights_path.resolve()), class_name(model.project.name), str(io_path),
                   str(torch.get_num_threads())]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise ExportFailed(f"{py_path} does not run in a fresh Python: {last}")
        outputs = torch.load(io_path, weights_only=True)
    comparisons = []
    for (what, batch, inputs), got in zip(cases, outputs, strict=True):
        expected = reference_outputs(model, inputs)
        diff = _max_diff(expected, got)
        exact = len(got) == len(expected) and all(torch.equal(e, g)
                                                   for e, g in zip(expected, got))
        comparisons.append(Comparison(what, batch, diff, exact))
    return comparisons


# ---- the export ----------------------------------------------------------------------------

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
    extra: list[Path] = []
    if fmt == "onnx":
        result.exporter, result.note = write_onnx(model, path, opset, exporter, log)
        result.opset = opset
    elif fmt == "pytorch":
        source = pytorch_source(model, path.stem)
        weights_path = path.with_suffix(".safetensors")
        atomic_write(path, source)
        runs.save_tensors(inference_state(model), weights_path, _metadata(model))
        extra.append(weights_path)
    else:
        runs.save_tensors(model.compiled.layers.state_dict(), path, _metadata(model))
    info_path = _preprocessing_path(path)
    atomic_write(info_path, json.dumps(preprocessing(model), indent=2) + "\n")
    extra.append(info_path)
    result.files += [str(p) for p in extra]
    result.seconds = time.perf_counter() - started

    started = time.perf_counter()
    if fmt == "weights":
        log("reading the weights back…")
        _check_weights(model, path)
        result.message = (f"{len(model.compiled.layers.state_dict())} tensors, read back "
                          "equal")
    else:
        cases = sample_inputs(model, log)
        scale = max(float(t.abs().max()) for _, _, inputs in cases
                    for t in reference_outputs(model, inputs) if t.numel())
        if fmt == "onnx":
            log("checking the file (onnx.checker) and running it in ONNX Runtime…")
            result.checker, result.comparisons = check_onnx(model, path, cases)
            result.tolerance = TOLERANCE * max(1.0, scale)
            result.ok = _within_tolerance(result.comparisons, scale)
            verdict = "matches PyTorch" if result.ok else "does NOT match PyTorch"
        else:
            log("running the exported code in a fresh Python interpreter…")
            result.comparisons = check_pytorch(model, path, extra[0], cases)
            result.tolerance = 0.0
            result.ok = all(c.exact for c in result.comparisons)
            verdict = ("reproduces the app's outputs exactly" if result.ok
                       else "does NOT reproduce the app's outputs exactly")
        result.max_abs_diff = max(c.max_abs_diff for c in result.comparisons)
        if fmt == "pytorch":
            allowed = "none allowed"
        elif scale > 1:
            allowed = (f"allowed {_number(result.tolerance)}: {_number(TOLERANCE)} per unit of "
                       f"the largest output, {scale:.3g}")
        else:
            allowed = f"allowed {_number(result.tolerance)}"
        result.message = (f"largest difference {_number(result.max_abs_diff)} ({allowed}): the "
                          f"export {verdict}")
    result.check_seconds = time.perf_counter() - started
    return result


def _metadata(model: Model) -> dict[str, str]:
    return {"format": "pt", "producer": "nn-designer", "project": model.project.name,
            "weights": model.weights}


def _check_weights(model: Model, path: Path) -> None:
    from safetensors.torch import load_file

    again = load_file(str(path))
    own = model.compiled.layers.state_dict()
    if again.keys() != own.keys() or not all(torch.equal(again[k], own[k].cpu()) for k in own):
        raise ExportFailed(f"{path}: the weights read back differ from the network's")


# ---- command line --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="run folder whose weights to export (default: the untrained network)")
    p.add_argument("--weights", choices=WEIGHTS, default="best",
                   help="the run's best (lowest validation error) or last weights "
                        "(default: best)")
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="onnx: an ONNX model; pytorch: a standalone .py file and its weights; "
                        "weights: the weights alone (safetensors)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="file to write (or a folder: the file is named after the project); "
                        "<name>.preprocessing.json is written beside it")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default: {DEFAULT_OPSET})")
    p.add_argument("--exporter", choices=EXPORTERS, default="auto",
                   help="ONNX exporter: auto tries torch's dynamo exporter first and falls back "
                        "to the legacy (TorchScript) one (default: auto)")
    p.add_argument("--network", help="network to export (default: the one training uses)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object (progress goes to stderr)")


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def fail(message: str, status: int, refused: list[str] | None = None) -> int:
        if args.json:
            print(json.dumps({"ok": False, "error": message, "refusals": refused or [],
                              "status": status}), flush=True)
        elif refused:
            say("error: cannot export; these layers cannot be expressed:\n" +
                "\n".join(f"  {line}" for line in refused))
        else:
            say(f"error: {message}")
        return status

    def interrupt(signum, frame):
        raise KeyboardInterrupt  # unwinds, so half-written files are removed

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        project = load(args.project)
        result = export(project, args.format, args.output, run_dir=args.run,
                        weights=args.weights, opset=args.opset, exporter=args.exporter,
                        network=args.network, log=say)
    except ExportRefused as e:
        return fail(str(e), 2, e.refusals)
    except (ProjectError, ExportError) as e:
        return fail(str(e), 2)
    except ExportFailed as e:
        return fail(str(e), 1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(result.to_json()), flush=True)
    else:
        print(result.summary(), flush=True)
    return 0 if result.ok else 1
