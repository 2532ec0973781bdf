"""int8 quantization with ONNX Runtime (``onnxruntime.quantization``).

Convolutional and fully connected networks are quantized statically: QDQ format, int8 weights
per output channel, int8 activations whose ranges are calibrated on a few hundred samples of
the project's own training data. Networks with recurrent layers are quantized dynamically
(int8 weights; activations quantized on the fly), which is what ONNX Runtime offers for them.

Every layer with weights must come out in int8; one ONNX Runtime leaves in float (it has no
int8 form of its operator, such as GRU) is named and the quantization refused, unless the user
keeps it in float on purpose (``keep_float``). The file's internal names are shortened (graph
inputs and outputs keep theirs): in a model this small the names are a tenth of the file.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from designer.core.export.model import Model, inference_nodes, project_data_for
from designer.core.files import atomic_path
from designer.core.compress.result import CompressError

CALIBRATION_SAMPLES = 300
CALIBRATION_BATCH = 32
_INT8 = (2, 3)  # onnx.TensorProto.UINT8, INT8


def is_recurrent(model: Model) -> bool:
    return any(node.spec.category == "Recurrent"
               for node in inference_nodes(model.compiled, model.network))


def quantize(model: Model, float_path: Path, out: Path, *, samples: int = CALIBRATION_SAMPLES,
             keep_float: tuple[str, ...] = (), log: Callable[[str], None] = lambda s: None
             ) -> tuple[str, list[str]]:
    """Quantize the float ONNX model at ``float_path`` into ``out``; returns (how, notes).
    Raises CompressError naming the layers ONNX Runtime cannot quantize."""
    import onnx

    scope_of = _layer_scopes(model)
    unknown = [name for name in keep_float if name not in scope_of.values()]
    if unknown:
        raise CompressError(f"--keep-float: no layer of the network is named {unknown[0]!r}")
    excluded = [node.name for node in onnx.load(str(float_path)).graph.node
                if scope_of.get(_scope(node.name)) in keep_float]
    with tempfile.TemporaryDirectory(prefix="nn-designer-quantize-") as tmp, _quiet():
        tmp_out = Path(tmp) / "int8.onnx"
        if is_recurrent(model):
            how = _dynamic(float_path, tmp_out, excluded)
        else:
            how = _static(model, float_path, Path(tmp), tmp_out, samples, excluded, log)
        quantized = onnx.load(str(tmp_out))
    left = _left_in_float(onnx.load(str(float_path)), quantized, scope_of)
    refused = [name for name in left if name not in keep_float]
    if refused:
        raise CompressError("ONNX Runtime cannot quantize " + "; ".join(
            f"{name} ({left[name]}): it has no int8 form of its ONNX operator"
            f"{'s' * (len(left[name].split(', ')) > 1)} {left[name]}, so its weights would "
            "stay in float" for name in refused)
            + f". Leave {'it' if len(refused) == 1 else 'them'} in float with --keep-float "
              f"{','.join(refused)}, or use other layers")
    weighted = _weighted_layers(onnx.load(str(float_path)), scope_of)
    if weighted and set(weighted) <= set(left):
        raise CompressError("no layer with weights would be quantized (all are kept in float: "
                            f"{', '.join(weighted)})")
    notes = [f"kept in float: {', '.join(sorted(left))}"] if left else []
    _compact(quantized)
    with atomic_path(out) as tmp_file:
        onnx.save(quantized, str(tmp_file))
    return how, notes


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's quantizer logs advice and warnings the user cannot act on."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _static(model: Model, float_path: Path, tmp: Path, out: Path, samples: int,
            excluded: list[str], log: Callable[[str], None]) -> str:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    loaded = project_data_for(model)
    if loaded is None:
        raise CompressError("static quantization calibrates on the project's training data, "
                            "which does not load")
    train = loaded[0]
    rows = np.sort(np.random.default_rng(0).permutation(len(train))[:samples])
    inputs = [train.values(var, rows) for var in model.compiled.input_vars]
    names = list(model.compiled.input_vars)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{n: x[i:i + CALIBRATION_BATCH] for n, x in zip(names, inputs)}
                                 for i in range(0, len(rows), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    source = tmp / "prepared.onnx"
    try:  # shape inference and graph clean-up, as ONNX Runtime advises before quantizing
        quant_pre_process(str(float_path), str(source))
    except Exception:  # a graph its tools cannot optimise quantizes as it is
        source = float_path
    log(f"calibrating on {len(rows)} training samples…")
    quantize_static(str(source), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    return (f"static int8 (QDQ, per-channel weights), calibrated on {len(rows)} samples of "
            "the training data")


def _dynamic(float_path: Path, out: Path, excluded: list[str]) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(float_path), str(out), weight_type=QuantType.QInt8,
                     nodes_to_exclude=excluded)
    return "dynamic int8 (int8 weights, activations quantized as they run): a recurrent network"


# ---- which layer each ONNX node belongs to ------------------------------------------------

def _scope(node_name: str) -> str:
    """``/Convolution_2/Conv`` → ``Convolution_2``: the legacy exporter names each node after
    the module path it came from, whose first part is the layer's attribute."""
    parts = node_name.split("/")
    return parts[1] if len(parts) > 2 and not parts[0] else ""


def _layer_scopes(model: Model) -> dict[str, str]:
    """Layer attribute -> layer name."""
    by_id = {n.id: n.name for n in model.network.nodes}
    return {attr: by_id[node_id] for node_id, attr in model.compiled.attr_of.items()}


def _weighted_layers(float_model, scope_of: dict[str, str]) -> dict[str, str]:
    """Layer name -> its ONNX operators that multiply by a weight tensor (an initializer of
    two or more axes) in the float model."""
    weights = {i.name for i in float_model.graph.initializer if len(i.dims) >= 2}
    found: dict[str, list[str]] = {}
    for node in float_model.graph.node:
        layer = scope_of.get(_scope(node.name))
        if layer is not None and any(name in weights for name in node.input):
            found.setdefault(layer, [])
            if node.op_type not in found[layer]:
                found[layer].append(node.op_type)
    return {layer: ", ".join(ops) for layer, ops in found.items()}


def _left_in_float(float_model, quantized, scope_of: dict[str, str]) -> dict[str, str]:
    """Layer name -> its weighted operators, for each layer with weights none of which is
    stored in int8 in the quantized model."""
    consumers: dict[str, list] = {}
    for node in quantized.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    int8_layers: set[str] = set()
    for init in quantized.graph.initializer:
        if init.data_type not in _INT8 or len(init.dims) < 2:
            continue
        stack = list(consumers.get(init.name, []))
        while stack:
            node = stack.pop()
            if node.op_type == "DequantizeLinear":
                stack += [c for out in node.output for c in consumers.get(out, [])]
            elif scope_of.get(_scope(node.name)) is not None:
                int8_layers.add(scope_of[_scope(node.name)])
    weighted = _weighted_layers(float_model, scope_of)
    return {layer: ops for layer, ops in weighted.items() if layer not in int8_layers}


def _compact(model) -> None:
    """Short internal names: node names dropped, tensors renamed, shape annotations removed.
    Graph inputs and outputs keep their names; a graph with sub-graphs is left as it is."""
    graph = model.graph
    if any(a.type in (5, 10) for node in graph.node for a in node.attribute):  # GRAPH(S)
        return
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for init in graph.initializer:
        init.name = short(init.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del graph.value_info[:]
