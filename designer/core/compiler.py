"""Compile a valid network into ``torch.fx.GraphModule``s.

Two graphs share one set of layer modules (so they share weights):

* ``train``: ``forward(<dataset variables>) -> total loss``; its arguments are the variables of
  the Input layers followed by the loss targets, each variable once (an autoencoder whose input
  is also its target takes it once).
* ``infer``: ``forward(<input variables>) -> prediction`` (a tuple when there are several): the
  losses removed, the layers that feed them kept as outputs.

Both are plain ``nn.Module``s: ONNX export, ``torch.compile`` and ``gm.code`` just work.
"""
from __future__ import annotations

import builtins
import functools
import keyword
import re
from dataclasses import dataclass

import torch
from torch import fx, nn

import nodes
from nodes.initializers import parameter

from designer.core.analysis import Analysis, Problem, analyze, count_text
from designer.core.files import available_memory, size_text
from designer.core.project import Network


class CompileError(ValueError):
    """The network has problems; ``problems`` lists them, the message names the first."""

    def __init__(self, problems):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass
class LossInfo:
    name: str  # the loss node's name
    type: str  # its layer type, e.g. SoftmaxCrossEntropy
    prediction: str  # the name of the node it scores
    target: str  # the dataset variable it compares against
    target_spec: nodes.TargetSpec
    meaning: nodes.Prediction  # what the prediction's values mean, from the loss's spec


@dataclass
class Compiled:
    layers: nn.Module  # holds every layer module; its state_dict is the network's weights
    train: fx.GraphModule
    infer: fx.GraphModule
    input_vars: list[str]  # infer's arguments, in order
    train_vars: list[str]  # train's arguments, in order
    outputs: list[str]  # names of the nodes infer returns
    losses: list[LossInfo]
    analysis: Analysis
    attr_of: dict[str, str]  # node id -> attribute name of its module
    input_shapes: dict[str, tuple[int, ...]]  # per-sample shape of each input variable
    # (learning-rate factor, parameters) per factor, from the layers' <tensor>.LRateMultiplier;
    # frozen tensors (factor 0) are left out and need no gradient
    param_groups: list[tuple[float, list[nn.Parameter]]]


@functools.cache
def _reserved() -> frozenset[str]:
    """Names a layer or variable must not take: what Python, fx's generated code, nn.Module and
    fx.GraphModule already mean by them (a layer named ``graph`` or ``training`` would replace
    the module's own attribute)."""
    module = fx.GraphModule(nn.Module(), fx.Graph())
    return frozenset(set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
                     | set(dir(module)) | set(vars(module)) | set(vars(nn.Module()))
                     | {"self", "torch", "fx_pytree", "pytree", "inf", "nan", "device",
                        "layers"})


def _identifier(name: str, taken: set[str], prefix: str = "layer") -> str:
    """A Python identifier for ``name`` that means nothing else in the generated module; the
    user's name stays as it is everywhere the user sees it."""
    ident = re.sub(r"\W", "_", name, flags=re.ASCII) or prefix
    if ident[0].isdigit() or ident[0] == "_" or ident in _reserved():
        ident = f"{prefix}_{ident}"
    base, i = ident, 2
    while ident in taken:
        ident, i = f"{base}_{i}", i + 1
    taken.add(ident)
    return ident


def compile_network(network: Network, analysis: Analysis | None = None) -> Compiled:
    """Build the graphs. Raises CompileError listing the problems when the network is invalid."""
    analysis = analysis or analyze(network)
    if not analysis.ok:
        raise CompileError(analysis.problems)
    by_id = {n.id: n for n in network.nodes}
    layers, attr_of = _build_layers(analysis, by_id)

    loss_nodes = [by_id[i] for i in analysis.order if nodes.get_spec(by_id[i].type).is_loss]
    feeds = {}
    for link in network.links:
        feeds.setdefault(link.dst, []).append(link)
    for links in feeds.values():
        links.sort(key=lambda k: k.port)  # multi-input ports keep link order (stable sort)

    var_shapes = _input_variables(analysis, by_id)
    input_vars = list(var_shapes)

    losses = []
    for loss in loss_nodes:
        info = analysis.nodes[loss.id]
        pred = by_id[feeds[loss.id][0].src]
        spec = nodes.get_spec(loss.type)
        losses.append(LossInfo(loss.name, loss.type, pred.name, info.props[spec.target_prop],
                               spec.target(info.inputs[0], info.props), spec.prediction))
    train_vars = list(input_vars) + [v for v in dict.fromkeys(l.target for l in losses)
                                     if v not in input_vars]

    has_output = {k.src for k in network.links}
    sinks = [n for n in network.nodes if n.id not in has_output
             and not nodes.get_spec(n.type).is_loss and not nodes.get_spec(n.type).is_input]
    output_ids = [feeds[l.id][0].src for l in loss_nodes] or [n.id for n in sinks]

    needed_for_infer = _ancestors(output_ids, feeds)
    infer = _build_graph(network, analysis, by_id, feeds, attr_of, input_vars,
                         keep=needed_for_infer, outputs=output_ids, losses=[])
    train = _build_graph(network, analysis, by_id, feeds, attr_of, train_vars,
                         keep=_ancestors([l.id for l in loss_nodes], feeds) | needed_for_infer,
                         outputs=[], losses=loss_nodes)
    train_gm = fx.GraphModule(layers, train, class_name="TrainingGraph")
    infer_gm = fx.GraphModule(layers, infer, class_name="InferenceGraph")
    return Compiled(layers, train_gm, infer_gm, input_vars, train_vars,
                    [by_id[i].name for i in output_ids], losses, analysis, attr_of, var_shapes,
                    _param_groups(layers, by_id, attr_of, analysis))


def _param_groups(layers: nn.Module, by_id: dict, attr_of: dict[str, str],
                  analysis: Analysis) -> list[tuple[float, list[nn.Parameter]]]:
    """Each parameter's learning-rate factor; frozen ones stop asking for gradients."""
    factor: dict[int, float] = {}
    for node_id, attr in attr_of.items():
        module, props = layers.get_submodule(attr), analysis.nodes[node_id].props
        for weight in nodes.get_spec(by_id[node_id].type).weights:
            tensor = parameter(module, weight.attr)
            if tensor is not None:
                factor[id(tensor)] = props[f"{weight.name}.LRateMultiplier"]
    groups: dict[float, list[nn.Parameter]] = {}
    for tensor in layers.parameters():
        multiplier = factor.get(id(tensor), 1.0)
        if multiplier == 0:
            tensor.requires_grad_(False)
        else:
            groups.setdefault(multiplier, []).append(tensor)
    return list(groups.items())


def _build_layers(analysis: Analysis, by_id: dict) -> tuple[nn.Module, dict[str, str]]:
    """The layer modules, named after the nodes. All are first built without memory (on
    torch's meta device) to check each holds what the analysis promised and that together they
    fit in the memory this machine has; only then are the weights allocated."""
    built = [(by_id[i], nodes.get_spec(by_id[i].type), analysis.nodes[i]) for i in analysis.order]
    built = [(node, spec, info) for node, spec, info in built if not spec.is_input]
    with torch.device("meta"):
        sizes = [_check_promise(node, spec, info) for node, spec, info in built]
    available = available_memory()
    if sizes and available is not None and sum(sizes) > available:
        largest, node = max(zip(sizes, (node for node, _, _ in built)), key=lambda x: x[0])
        raise CompileError([Problem(node.id, node.name, (
            f"the network's weights need {size_text(sum(sizes))} ({node.name} alone "
            f"{size_text(largest)}) but this machine has {size_text(available)} of memory "
            "available; make the layers smaller"))])
    layers = nn.Module()
    attr_of = attribute_names(analysis, by_id)
    for node, spec, info in built:
        layers.add_module(attr_of[node.id], spec.module(info.inputs, info.props))
    return layers, attr_of


def attribute_names(analysis: Analysis, by_id: dict) -> dict[str, str]:
    """Node id -> the attribute that holds its module: the first part of the keys of its
    weights in a state_dict (``Convolution_2.weight``), known without building anything."""
    taken: set[str] = set()
    return {node_id: _identifier(by_id[node_id].name, taken) for node_id in analysis.order
            if not nodes.get_spec(by_id[node_id].type).is_input}


_PROBED: dict[tuple, tuple[int, int, int]] = {}  # layer, properties, inputs -> its counts


def _check_promise(node, spec, info) -> int:
    """Bytes the layer's weights take, from a module built on the meta device (the caller's
    context); CompileError when it holds more than the analysis said (parameters as counted,
    buffers at most one more than those: BatchNorm keeps 2C + 1). Layers alike are built once:
    networks repeat their blocks."""
    key = (spec.name, repr(sorted(info.props.items())), tuple(info.inputs))
    if key not in _PROBED:
        if len(_PROBED) > 10_000:
            _PROBED.clear()
        probe = spec.build(info.inputs, info.props)
        tensors = [*probe.parameters(), *probe.buffers()]
        _PROBED[key] = (sum(p.numel() for p in probe.parameters()),
                        sum(t.numel() for t in tensors),
                        sum(t.numel() * t.element_size() for t in tensors))
    params, values, size = _PROBED[key]
    if params != info.params or values > 2 * info.params + 1:
        raise CompileError([Problem(node.id, node.name, (
            f"{spec.name} builds {count_text(values)} values where the analysis promised "
            f"{count_text(info.params)} parameters; nothing was allocated"))])
    return size


def _input_variables(analysis: Analysis, by_id: dict) -> dict[str, tuple[int, ...]]:
    """Each dataset variable an Input layer reads, in graph order, with its per-sample shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for node_id in analysis.order:
        if nodes.get_spec(by_id[node_id].type).is_input:
            props = analysis.nodes[node_id].props
            shapes.setdefault(props["Dataset"], tuple(props["Size"]))
    return shapes


def _ancestors(ids: list[str], feeds: dict) -> set[str]:
    seen: set[str] = set()
    stack = list(ids)
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(k.src for k in feeds.get(nid, []))
    return seen


def _build_graph(network, analysis, by_id, feeds, attr_of, variables, keep, outputs, losses):
    graph = fx.Graph()
    taken: set[str] = set()
    placeholders = {v: graph.placeholder(_identifier(v, taken, "var")) for v in variables}
    value: dict[str, fx.Node] = {}
    for node_id in analysis.order:
        if node_id not in keep:
            continue
        node = by_id[node_id]
        spec = nodes.get_spec(node.type)
        if spec.is_input:
            value[node_id] = placeholders[analysis.nodes[node_id].props["Dataset"]]
            continue
        args = [value[k.src] for k in feeds.get(node_id, [])]
        if spec.is_loss:
            args.append(placeholders[analysis.nodes[node_id].props[spec.target_prop]])
        value[node_id] = graph.call_module(attr_of[node_id], tuple(args))
    if losses:
        total = value[losses[0].id]
        for loss in losses[1:]:
            total = graph.call_function(torch.add, (total, value[loss.id]))
        graph.output(total)
    else:
        results = [value[i] for i in outputs]
        graph.output(results[0] if len(results) == 1 else tuple(results))
    graph.lint()
    return graph
