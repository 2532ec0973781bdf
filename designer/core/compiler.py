"""Compile a valid network into ``torch.fx.GraphModule``s.

Three graphs share one set of layer modules (so they share weights):

* ``train``: ``forward(<dataset variables>, <generated>) -> loss``; its arguments are the
  variables of the Input layers followed by the loss targets, each variable once (an
  autoencoder whose input is also its target takes it once), then the generated values the
  runner draws (a GAN's noise). The loss is the sum over the outputs that feed nothing of their
  mean, as Neural Network Console defines it; with one loss layer, that loss's mean.
* ``evaluate``: the same arguments -> ``(loss, *predictions)``, for scoring.
* ``infer``: ``forward(<input variables>, <generated>) -> prediction`` (a tuple when there are
  several): the layers that feed the losses (without a loss: the outputs that feed nothing).

A network is compiled as written out (``designer.core.expand``): a repeat block is its copies,
a unit its layers; a recurrent block is unrolled, its layers called once per time step with the
same modules. Layers sharing a ParameterScope are one module called several times, and a
``store`` shared by several compilations ties tensors of the same name across networks, so a
layer drawn in two networks is one set of weights.

All are plain ``nn.Module``s: ONNX export, ``torch.compile`` and ``gm.code`` just work.
"""
from __future__ import annotations

import builtins
import functools
import keyword
import re
from dataclasses import dataclass, field

import torch
from torch import fx, nn

import nodes
from nodes.initializers import parameter
from nodes.modules import constant_like

from designer.core import graph as graphs
from designer.core.analysis import Analysis, Problem, analyze, count_text, is_generated
from designer.core.files import available_memory, size_text
from designer.core.project import Network, Project


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
    target: str | None  # the dataset variable it compares against (None: linked or generated)
    target_spec: nodes.TargetSpec
    meaning: nodes.Prediction  # what the prediction's values mean, from the loss's spec


@dataclass(frozen=True)
class Generated:
    """Values a graph takes as an input that the runner makes (NNC's generators): Normal
    N(0, m²), Uniform U(−m, m) or Constant m, in ``shape`` per sample."""

    kind: str
    multiplier: float
    shape: tuple[int, ...]


@dataclass
class Compiled:
    layers: nn.Module  # holds every layer module; tensors shared by name with other networks
    train: fx.GraphModule  # (data, targets, generated) -> the loss to minimise
    infer: fx.GraphModule  # (inputs, generated) -> the prediction(s)
    input_vars: list[str]  # infer's arguments, in order (dataset variables, then generated)
    train_vars: list[str]  # train's arguments, in order (dataset variables, then generated)
    outputs: list[str]  # names of the nodes infer returns
    losses: list[LossInfo]
    analysis: Analysis  # of the written-out network
    attr_of: dict[str, str]  # written-out node id -> attribute name of its module
    input_shapes: dict[str, tuple[int, ...]]  # per-sample shape of each input variable
    # (learning-rate factor, parameters) per factor, from the layers' <tensor>.LRateMultiplier
    # in this network; frozen tensors (factor 0) are left out
    param_groups: list[tuple[float, list[nn.Parameter]]]
    network: Network | None = None  # the written-out network (repeat blocks, units expanded)
    evaluate: fx.GraphModule | None = None  # train's arguments -> (loss, *loss predictions)
    generated: dict[str, Generated] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # state_dict name -> tensor name
    terminals: list[str] = field(default_factory=list)  # outputs that make the loss

    @property
    def data_inputs(self) -> list[str]:
        """infer's arguments that are dataset variables."""
        return [v for v in self.input_vars if v not in self.generated]

    @property
    def data_vars(self) -> list[str]:
        """train's arguments that are dataset variables (what a Feeder gives)."""
        return [v for v in self.train_vars if v not in self.generated]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The network's weights under their project-wide names (``Affine.linear.weight``,
        ``D/Conv.conv.weight``): what weights files hold."""
        return {self.names.get(k, k): v for k, v in self.layers.state_dict().items()}

    def load_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Copy ``state`` (project-wide names) into the network's tensors."""
        own = self.layers.state_dict()
        self.layers.load_state_dict({k: state[self.names.get(k, k)] for k in own})


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


def compile_network(network: Network, analysis: Analysis | None = None, *,
                    project: Project | None = None, store: dict | None = None) -> Compiled:
    """Build the graphs. Raises CompileError listing the problems when the network is invalid.

    ``project`` holds the networks units use; ``store`` (name -> tensor, filled as networks
    are compiled) makes tensors of the same name one tensor across compilations."""
    analysis = analysis or analyze(network, project=project)
    if not analysis.ok:
        raise CompileError(analysis.problems)
    flat = analysis.written_out
    written = analysis.expanded.network if analysis.expanded is not None else network
    by_id = {n.id: n for n in written.nodes}
    layers, attr_of, names = _build_layers(flat, by_id, store)
    feeds: dict[str, list] = {}
    for link in written.links:
        feeds.setdefault(link.dst, []).append(link)
    for links in feeds.values():
        links.sort(key=lambda k: k.port)  # multi-input ports keep link order (stable sort)
    has_output = {k.src for k in written.links}
    spec_of = {i: nodes.get_spec(n.type) for i, n in by_id.items()}
    loss_ids = [i for i in flat.order if spec_of[i].is_loss]
    terminals = [i for i in flat.order if i not in has_output and spec_of[i].has_output
                 and not spec_of[i].is_input and spec_of[i].role in ("", "recurrent_output")]
    sources = _Sources(flat, by_id, spec_of, feeds)
    losses = [_loss_info(by_id[i], spec_of[i], flat.nodes[i], feeds, by_id, sources)
              for i in loss_ids]
    output_ids = [feeds[i][0].src for i in loss_ids] or terminals
    blocks = flat.blocks
    needed_for_infer = _ancestors(output_ids, feeds, blocks)
    needed_for_train = _ancestors(terminals, feeds, blocks) | needed_for_infer
    data = sources.inputs(needed_for_infer)
    targets = [v for v in dict.fromkeys(sources.targets(needed_for_train)) if v not in data]
    input_vars = data + [g for g in sources.generated if sources.used_by[g] & needed_for_infer]
    train_vars = data + targets + [g for g in sources.generated
                                   if sources.used_by[g] & needed_for_train]
    build = _GraphBuilder(flat, by_id, spec_of, feeds, attr_of, sources, blocks)
    infer = build(input_vars, needed_for_infer, outputs=output_ids)
    train = build(train_vars, needed_for_train, objective=terminals)
    evaluate = build(train_vars, needed_for_train, objective=terminals,
                     outputs=[feeds[i][0].src for i in loss_ids])
    shapes = {**{v: s for v, s in sources.shapes.items() if v in input_vars},
              **{g: spec.shape for g, spec in sources.generated.items() if g in input_vars}}
    return Compiled(layers, fx.GraphModule(layers, train, class_name="TrainingGraph"),
                    fx.GraphModule(layers, infer, class_name="InferenceGraph"), input_vars,
                    train_vars, [by_id[i].name for i in output_ids], losses, flat, attr_of,
                    shapes, _param_groups(layers, by_id, attr_of, flat), written,
                    fx.GraphModule(layers, evaluate, class_name="EvaluationGraph"),
                    dict(sources.generated), names, [by_id[i].name for i in terminals])


class _Sources:
    """Where the graphs' arguments come from: each Input's dataset variable or generator, each
    loss's target, each Delay's generated initial state."""

    def __init__(self, flat: Analysis, by_id: dict, spec_of: dict, feeds: dict):
        self.flat, self.by_id, self.spec_of, self.feeds = flat, by_id, spec_of, feeds
        self.variable: dict[str, str] = {}  # node id -> dataset variable it reads
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.generated: dict[str, Generated] = {}
        self.placeholder: dict[tuple[str, str], str] = {}  # (node id, what) -> argument name
        self.used_by: dict[str, set[str]] = {}
        for node_id in flat.order:
            spec, props = spec_of[node_id], flat.nodes[node_id].props
            if spec.is_input and is_generated(spec, props):
                self._generate(node_id, "value", by_id[node_id].name, props["Generator"],
                               props["GeneratorMultiplier"], tuple(props["Size"]))
            elif spec.is_input:
                self.variable[node_id] = props["Dataset"]
                self.shapes.setdefault(props["Dataset"], tuple(props["Size"]))
            elif spec.is_loss and not self.linked(node_id, 1):
                kind = props[spec.generator_prop]
                target = spec.target(flat.nodes[node_id].inputs[0], props)
                if kind in ("Normal", "Uniform"):
                    self._generate(node_id, "target", f"{by_id[node_id].name}_T", kind,
                                   props[spec.generator_prop + "Multiplier"], target.shape)
                elif kind == "None":
                    self.variable[node_id] = props[spec.target_prop]
            elif spec.role == graphs.DELAY and not self.linked(node_id, 1):
                kind = props["Initial.Generator"]
                if kind != "Constant":
                    self._generate(node_id, "initial", f"{by_id[node_id].name}_Initial", kind,
                                   props["Initial.GeneratorMultiplier"], tuple(props["Size"]))

    def linked(self, node_id: str, port: int) -> bool:
        return any(k.port == port for k in self.feeds.get(node_id, []))

    def _generate(self, node_id, what, name, kind, multiplier, shape) -> None:
        name = name if name not in self.generated else f"{name}_{len(self.generated)}"
        self.generated[name] = Generated(kind, float(multiplier), tuple(shape))
        self.placeholder[(node_id, what)] = name
        self.used_by[name] = {node_id}

    def inputs(self, needed: set[str]) -> list[str]:
        return list(dict.fromkeys(v for i, v in self.variable.items()
                                  if i in needed and self.spec_of[i].is_input))

    def targets(self, needed: set[str]) -> list[str]:
        return [v for i, v in self.variable.items() if i in needed and self.spec_of[i].is_loss]


def _loss_info(node, spec, info, feeds, by_id, sources: _Sources) -> LossInfo:
    pred = by_id[feeds[node.id][0].src]
    return LossInfo(node.name, node.type, pred.name, sources.variable.get(node.id),
                    spec.target(info.inputs[0], info.props), spec.prediction)


def _param_groups(layers: nn.Module, by_id: dict, attr_of: dict[str, str],
                  analysis: Analysis) -> list[tuple[float, list[nn.Parameter]]]:
    """Each parameter's learning-rate factor in this network; frozen ones are left out."""
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
        if multiplier != 0:
            groups.setdefault(multiplier, []).append(tensor)
    return list(groups.items())


_NOT_BUILT = ("recurrent_input", "recurrent_output", "delay", "repeat_start", "repeat_end")


def _build_layers(analysis: Analysis, by_id: dict, store: dict | None
                  ) -> tuple[nn.Module, dict[str, str], dict[str, str]]:
    """The layer modules (one per weights key: layers sharing a scope share it), named after
    the nodes. All are first built without memory (on torch's meta device) to check each holds
    what the analysis promised and that together they fit in the memory this machine has; only
    then are the weights allocated. Returns (layers, node id -> attribute, state_dict name ->
    tensor name)."""
    built, first = [], {}
    for node_id in analysis.order:
        node, spec, info = by_id[node_id], nodes.get_spec(by_id[node_id].type), \
            analysis.nodes[node_id]
        if spec.is_input or spec.role in _NOT_BUILT:
            continue
        key = analysis.keys.get(node_id)
        if key is not None and key in first:
            first[key].append(node_id)
            continue
        if key is not None:
            first[key] = [node_id]
        built.append((node, spec, info, key))
    with torch.device("meta"):
        sizes = [_check_promise(node, spec, info) for node, spec, info, _ in built]
    available = available_memory()
    if sizes and available is not None and sum(sizes) > available:
        largest, node = max(zip(sizes, (node for node, *_ in built)), key=lambda x: x[0])
        raise CompileError([Problem(node.id, node.name, (
            f"the network's weights need {size_text(sum(sizes))} ({node.name} alone "
            f"{size_text(largest)}) but this machine has {size_text(available)} of memory "
            "available; make the layers smaller"))])
    layers = nn.Module()
    attr_of: dict[str, str] = {}
    names: dict[str, str] = {}
    taken: set[str] = set()
    for node, spec, info, key in built:
        attr = _identifier(key or node.name, taken)
        module = spec.module(info.inputs, info.props)
        if key is not None:
            names.update(_tie(module, attr, key, store, node))
        layers.add_module(attr, module)
        for node_id in first.get(key, [node.id]) if key is not None else [node.id]:
            attr_of[node_id] = attr
    return layers, attr_of, names


def _tie(module: nn.Module, attr: str, key: str, store: dict | None, node) -> dict[str, str]:
    """Make the module's tensors those of the same name in ``store`` (or put them there)."""
    names = {}
    for name, tensor in list(module.state_dict(keep_vars=True).items()):
        full = f"{key}.{name}"
        names[f"{attr}.{name}"] = full
        if store is None:
            continue
        shared = store.get(full)
        if shared is None:
            store[full] = tensor
            continue
        if tuple(shared.shape) != tuple(tensor.shape):
            raise CompileError([Problem(node.id, node.name, (
                f"shares weights {full} with a layer of another network (same name or "
                f"ParameterScope) but needs them {_shape(tensor)} where they are "
                f"{_shape(shared)}; rename one, or give one another ParameterScope"))])
        owner_path, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_path) if owner_path else module
        if leaf in owner._parameters:
            owner._parameters[leaf] = shared
        else:
            owner._buffers[leaf] = shared
    return names


def _shape(tensor) -> str:
    return "×".join(map(str, tensor.shape)) or "scalar"


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


def _ancestors(ids: list[str], feeds: dict, blocks: list) -> set[str]:
    """The nodes ``ids`` need; a recurrent block is needed whole (it is unrolled whole)."""
    members = {m: b for b in blocks for m in b.members + b.outputs}
    seen: set[str] = set()
    stack = list(ids)
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(k.src for k in feeds.get(nid, []))
        block = members.get(nid)
        if block is not None:
            stack.extend(block.members)
    return seen


class _GraphBuilder:
    """Writes one fx graph of the network: the layers in order, recurrent blocks unrolled."""

    def __init__(self, flat, by_id, spec_of, feeds, attr_of, sources: _Sources, blocks):
        self.flat, self.by_id, self.spec_of, self.feeds = flat, by_id, spec_of, feeds
        self.attr_of, self.sources = attr_of, sources
        self.blocks = {b.start: b for b in blocks}
        self.in_block = {m for b in blocks for m in b.members + b.outputs}

    def __call__(self, variables: list[str], keep: set[str], outputs: list[str] = (),
                 objective: list[str] | None = None) -> fx.Graph:
        self.graph = graph = fx.Graph()
        taken: set[str] = set()
        self.args = {v: graph.placeholder(_identifier(v, taken, "var")) for v in variables}
        self.value: dict[str, fx.Node] = {}
        for node_id in self.flat.order:
            if node_id not in keep:
                continue
            if node_id in self.blocks:
                self.unroll(self.blocks[node_id])
            elif node_id not in self.in_block:
                self.value[node_id] = self.call(node_id, self.value)
        results = [self.value[i] for i in outputs]
        if objective is not None:
            total = None
            for node_id in objective:
                term = graph.call_method("mean", (self.value[node_id],))
                total = term if total is None else graph.call_function(torch.add, (total, term))
            results = [total, *results] if outputs else [total]
        graph.output(results[0] if len(results) == 1 else tuple(results))
        graph.lint()
        return graph

    def call(self, node_id: str, value: dict[str, fx.Node]) -> fx.Node:
        spec, props = self.spec_of[node_id], self.flat.nodes[node_id].props
        if spec.is_input:
            name = self.sources.variable[node_id] if node_id in self.sources.variable \
                else self.sources.placeholder[(node_id, "value")]
            return self.args[name]
        args = [value.get(k.src, self.value.get(k.src)) for k in self.feeds.get(node_id, [])]
        if spec.role in ("repeat_start", "repeat_end"):
            return args[0]
        if spec.is_loss and len(args) == 1:
            args.append(self.target(node_id, spec, props, args[0]))
        return self.graph.call_module(self.attr_of[node_id], tuple(args))

    def target(self, node_id, spec, props, prediction) -> fx.Node:
        if node_id in self.sources.variable:
            return self.args[self.sources.variable[node_id]]
        if (node_id, "target") in self.sources.placeholder:
            return self.args[self.sources.placeholder[(node_id, "target")]]
        shape = spec.target(self.flat.nodes[node_id].inputs[0], props).shape
        return self.graph.call_function(constant_like, (prediction, tuple(shape),
                                                        props[spec.generator_prop
                                                              + "Multiplier"]))

    def unroll(self, block) -> None:
        """The block's layers once per time step; each Delay gives the step before's value
        of its input (at step 0 its initial value); each RecurrentOutput stacks its input."""
        start = block.start
        x = self.value[self.feeds[start][0].src]
        axis = self.flat.nodes[start].props["Axis"] + 1
        steps = self.flat.nodes[start].inputs[0][axis - 1]
        previous: dict[str, fx.Node] = {}
        stacked: dict[str, list[fx.Node]] = {o: [] for o in block.outputs}
        for t in range(steps):
            now: dict[str, fx.Node] = {}
            for m in block.members:
                role = self.spec_of[m].role
                if m == start:
                    now[m] = self.graph.call_function(torch.select, (x, axis, t))
                elif role == graphs.DELAY:
                    fed = next(k.src for k in self.feeds[m] if k.port == 0)
                    now[m] = previous[fed] if t else self.initial(m, x)
                else:
                    now[m] = self.call(m, now)
            for o in block.outputs:
                stacked[o].append(now[self.feeds[o][0].src])
            previous = now
        for o in block.outputs:
            self.value[o] = self.graph.call_function(
                torch.stack, (stacked[o], self.flat.nodes[o].props["Axis"] + 1))

    def initial(self, delay: str, x: fx.Node) -> fx.Node:
        linked = [k.src for k in self.feeds[delay] if k.port == 1]
        if linked:
            return self.value[linked[0]]
        if (delay, "initial") in self.sources.placeholder:
            return self.args[self.sources.placeholder[(delay, "initial")]]
        props = self.flat.nodes[delay].props
        return self.graph.call_function(constant_like, (x, tuple(props["Size"]),
                                                        props["Initial.GeneratorMultiplier"]))
