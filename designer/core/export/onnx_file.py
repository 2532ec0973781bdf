"""ONNX: which layers an opset cannot express, writing the file, and checking it in ONNX
Runtime against PyTorch."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from designer.core.compiler import CompileError, Compiled, compile_network
from designer.core.files import atomic_path
from designer.core.project import Network
from designer.core.export.model import (Model, index_inputs, inference_nodes, preprocessing,
                                        reference_outputs)
from designer.core.export.result import (Comparison, ExportError, ExportFailed, first_line,
                                         max_diff)

EXPORTERS = ("auto", "dynamo", "legacy")
# Opset 18 is the oldest the dynamo exporter writes without converting versions. The legacy
# exporter writes 11 to 23 (torch 2.13), and ONNX Runtime 1.31 runs all of them.
DEFAULT_OPSET = 18
DYNAMO_MIN_OPSET = 18
MIN_OPSET, MAX_OPSET = 11, 23


# ---- before exporting: what the target cannot express ----------------------------------------

def refusals(network: Network, fmt: str, opset: int = DEFAULT_OPSET,
             compiled: Compiled | None = None) -> list[str]:
    """Each inference layer the format cannot express, as ``Name (Type): why``: for ONNX, the
    layers whose spec needs a newer opset (``onnx_opset``).

    An invalid network has no refusals: compiling it reports its problems.
    """
    if fmt != "onnx":
        return []
    if compiled is None:
        try:
            compiled = compile_network(network)
        except CompileError:
            return []
    analysis = compiled.analysis
    found = []
    for node in inference_nodes(compiled, network):
        need = node.spec.onnx_opset
        info = analysis.nodes[node.id]
        if need is not None and opset < need.opset and need.applies(info.props, info.inputs):
            found.append(f"{node.name} ({node.type}): not supported by ONNX opset {opset}; "
                         f"{need.reason} (choose opset {need.opset} or newer)")
    return found


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"ONNX opset {opset} is not offered; choose {MIN_OPSET} to {MAX_OPSET} "
                          f"({DEFAULT_OPSET} is the default)")


# ---- writing ---------------------------------------------------------------------------------

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
        try:
            name = _export_first_that_works(model, tmp, order, args, inputs, outputs, opset,
                                            failures, log)
        finally:
            # the dynamo exporter writes the weights beside the file too (empty once they
            # are read back into it): that file must not stay behind, hidden, beside the model
            Path(f"{tmp}.data").unlink(missing_ok=True)
    if failures:
        note = f"{failures[0]}; used the {name} exporter"
    return name, note


def _export_first_that_works(model: Model, tmp: Path, order: tuple, args: tuple,
                             inputs: list[str], outputs: list[str], opset: int,
                             failures: list[str], log: Callable[[str], None]) -> str:
    """Write ``tmp`` with the first exporter of ``order`` that works; returns its name. Each
    exporter that fails adds its reason to ``failures``."""
    import onnx

    for dynamo in order:
        name = "dynamo" if dynamo else "legacy"
        log(f"exporting with the {name} exporter (opset {opset})…")
        try:
            with _quiet():
                _run_exporter(model.compiled.infer, args, tmp, inputs, outputs, opset, dynamo)
            written = _file_opset(tmp)
            if written != opset:
                raise ExportFailed(f"it wrote opset {written} instead of {opset}")
        except Exception as e:  # each exporter fails in its own way; the next may work
            failures.append(f"the {name} exporter failed: {first_line(e)}")
            continue
        onnx_model = onnx.load(str(tmp))
        onnx_model.doc_string = f"{model.project.name}, exported by nn-designer"
        for key, value in (("nn-designer.project", model.project.name),
                           ("nn-designer.weights", model.weights),
                           ("nn-designer.preprocessing", json.dumps(preprocessing(model)))):
            entry = onnx_model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(onnx_model, str(tmp))
        return name
    raise ExportFailed("ONNX export failed: " + "; ".join(failures))


def _trace_inputs(compiled: Compiled, network: Network) -> tuple[torch.Tensor, ...]:
    limits = index_inputs(compiled, network)
    out = []
    for var in compiled.input_vars:
        shape = (2,) + tuple(compiled.input_shapes[var])
        out.append(torch.zeros(shape) if var in limits else torch.randn(shape))
    return tuple(out)


# ---- checking --------------------------------------------------------------------------------

def check_onnx(model: Model, path: Path, cases) -> tuple[str, list[Comparison]]:
    """onnx.checker on the file, then ONNX Runtime against PyTorch on each case."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:
        raise ExportFailed(f"{path}: onnx.checker rejects the file: {first_line(e)}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    comparisons = []
    for what, batch, inputs in cases:
        expected = reference_outputs(model, inputs)
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
        comparisons.append(Comparison(what, batch, max_diff(expected, got)))
    return "passed", comparisons
