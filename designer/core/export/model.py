"""The model to export: a network with its weights, inputs to check it on, and the
preprocessing notes that tell a user of the export what to feed it and what it returns."""
from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import nodes

from designer.core import runs
from designer.core.compiler import Compiled
from designer.core.data import DataError, DataSet
from designer.core.files import check_writable
from designer.core.project import Network, Project, ProjectError, load
from designer.core.session import TrainingError, compile_networks, fit_to_network, project_data
from designer.core.export.result import ExportError

FORMATS = ("onnx", "pytorch", "weights")
WEIGHTS = runs.WEIGHTS
SUFFIXES = {"onnx": ".onnx", "pytorch": ".py", "weights": ".safetensors"}
FORMAT_NAMES = {"onnx": "an ONNX model", "pytorch": "PyTorch code", "weights": "a weights file"}
CHECK_BATCHES = (1, 7)
RANGE_SAMPLES = 10_000  # samples read to state the value range the network was trained on



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
    executors = project.training.executors
    try:  # by default the network the executor runs (a GAN's generator, say)
        net = project.network(network or (executors[0].network if executors else None))
    except ProjectError as e:
        raise ExportError(str(e)) from None
    try:  # untrained weights are the run's initial ones
        compiled = compile_networks(project, {net.name}, "exported")[net.name]
    except TrainingError as e:
        raise ExportError(str(e)) from None
    if path is None:
        source = f"untrained: initial weights from seed {project.training.seed}"
    else:
        try:
            runs.load_into(compiled, net, path, others=len(project.networks) > 1)
        except runs.WeightsError as e:
            raise ExportError(str(e)) from None
        source = f"{path.name} of run {run_dir.name}"
    # the graph module's own flag too: an exporter that restores the mode it found after
    # exporting would otherwise put every layer back into training mode
    compiled.infer.eval()
    return Model(project, net, compiled, source, run_dir)


def inference_nodes(compiled: Compiled, network: Network) -> list:
    """The (written-out) nodes whose modules the inference graph calls, in graph order, each
    once."""
    by_attr = {attr: nid for nid, attr in compiled.attr_of.items()}
    by_id = {n.id: n for n in (compiled.network or network).nodes}
    targets = dict.fromkeys(n.target for n in compiled.infer.graph.nodes
                            if n.op == "call_module")
    return [by_id[by_attr[t]] for t in targets]


# ---- inputs to check an export on ---------------------------------------------------------

def sample_inputs(model: Model, log: Callable[[str], None] = lambda s: None
                  ) -> list[tuple[str, int, tuple[torch.Tensor, ...]]]:
    """(what, batch, inputs) to compare on: random inputs, and real samples when data loads.

    Random values for a variable that an Embed layer reads are valid class indices.
    """
    compiled = model.compiled
    generator = torch.Generator().manual_seed(0)
    index_limits = index_inputs(compiled, model.network)
    data_count = len(compiled.data_inputs)
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
    real = _real_samples(model, max(CHECK_BATCHES), log) if data_count else None
    if real is not None:
        what, arrays = real
        for batch, (_, _, random) in zip(CHECK_BATCHES, cases[:len(CHECK_BATCHES)]):
            if len(arrays[0]) >= batch:  # generated inputs stay drawn
                cases.append((what, batch, tuple(torch.from_numpy(a[:batch].copy())
                                                 for a in arrays) + random[data_count:]))
    return cases


def index_inputs(compiled: Compiled, network: Network) -> dict[str, int]:
    """Input variable -> number of classes, for variables that layers reading class indices
    (such as Embed) read directly."""
    network = compiled.network or network
    by_id = {n.id: n for n in network.nodes}
    limits: dict[str, int] = {}
    for link in network.links:
        src, dst = by_id[link.src], by_id[link.dst]
        reads_classes = dst.spec.input_classes
        if src.spec.is_input and reads_classes is not None:
            var = compiled.analysis.nodes[src.id].props["Dataset"]
            classes = reads_classes(compiled.analysis.nodes[dst.id].props)
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
                model.data = (fit_to_network(train, model.compiled, model.network,
                                             model.project),
                              fit_to_network(data, model.compiled, model.network, model.project),
                              what)
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
    return what, [data.values(var, rows) for var in model.compiled.data_inputs]


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
    classes_of = index_inputs(compiled, model.network)
    loaded = project_data_for(model)
    inputs = []
    for var in compiled.input_vars:
        shape = list(compiled.input_shapes[var])
        entry: dict[str, Any] = {"name": var, "shape": shape, "batch_axis": 0,
                                 "dtype": "float32"}
        generated = compiled.generated.get(var)
        if generated is not None:
            entry["generated"] = {"kind": generated.kind, "multiplier": generated.multiplier}
            entry["normalization"] = {"divide_by": 1.0, "description": (
                f"none: the network was trained on {_drawn(generated)} here")}
            inputs.append(entry)
            continue
        if var in classes_of:
            entry["values"] = (f"class indices 0..{classes_of[var] - 1}, stored as float32")
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
        if loaded is not None and var not in classes_of:
            values = loaded[0].values(var, slice(0, RANGE_SAMPLES))
            low, high = float(values.min()), float(values.max())
            entry["training_range"] = [low, high]
            entry["normalization"]["description"] += (f" (the network was trained on values "
                                                      f"from {low:.4g} to {high:.4g})")
        step = loaded[0].preprocessing.get(var) if loaded is not None else None
        if step is not None:  # how the dataset was made from raw tables or pictures
            entry["raw_input"] = {**step.to_json(), "description": step.describe()}
        inputs.append(entry)
    loss_of = {loss.prediction: loss for loss in compiled.losses}
    outputs = []
    for name, shape in zip(compiled.outputs, _output_shapes(compiled, model.network)):
        loss = loss_of.get(name)
        meaning = loss.meaning if loss is not None else nodes.VALUES  # not trained: values
        entry = {"name": name, "shape": list(shape), "batch_axis": 0, "dtype": "float32",
                 "kind": meaning.kind, "meaning": meaning.description}
        if loss is not None:
            entry["trained_with"] = loss.type
            if loss.target_spec.kind == "index":
                entry["classes"] = loss.target_spec.classes
                if loaded is not None and len(loaded[0].class_names) == entry["classes"]:
                    entry["class_names"] = list(loaded[0].class_names)
        outputs.append(entry)
    return {"model": project.name, "producer": "nn-designer", "weights": model.weights,
            "dataset": training.source if training else None, "inputs": inputs,
            "outputs": outputs}


def _drawn(generated) -> str:
    m = f"{generated.multiplier:g}"
    return {"Normal": f"values drawn from N(0, {m}²)", "Uniform": f"values drawn from "
            f"U(-{m}, {m})"}.get(generated.kind, f"the constant {m}")


def _output_shapes(compiled: Compiled, network: Network) -> list[tuple[int, ...]]:
    network = compiled.network or network
    by_name = {n.name: n.id for n in network.nodes}
    return [tuple(compiled.analysis.nodes[by_name[name]].shape) for name in compiled.outputs]


def preprocessing_path(path: Path) -> Path:
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
    if fmt == "pytorch" and (not path.stem.isidentifier() or keyword.iskeyword(path.stem)):
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
        check_writable(folder)  # leaves nothing beside the model, even when killed
    except OSError as e:
        raise ExportError(f"{path}: cannot write to folder {folder} "
                          f"({e.strerror or e})") from None
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; choose a file name")
    return path


def file_stem(name: str) -> str:
    """A file name for a project's export that is also a Python module name: ``iris_mlp``."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "model"
    if keyword.iskeyword(ident):
        return f"{ident}_model"
    return f"model_{ident}" if ident[0].isdigit() else ident
