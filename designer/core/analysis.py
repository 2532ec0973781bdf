"""Shape inference and validation of a whole network, run after every edit.

Each node gets its output shape, parameter count and multiply-adds, or an error in words a user
understands, attached to that node. Results per node are memoised on (layer, properties, input
shapes), so re-analysing after one edit recomputes only what the edit changed.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import nodes
from nodes import Shape, ShapeError, shape_text
from nodes.spec import MAX_AXES, number_text, numel, quoted

from designer.core.files import size_text
from designer.core.project import Network

# What one network may ask for, so that every size is known to be buildable before anything is
# allocated: one sample's output of one layer (8 GiB of float32; torch indexes some kernels with
# 32-bit numbers), and the weights of the whole network (64 GiB of float32, more than the memory
# of the largest single GPU; training needs about four times that with Adam).
MAX_VALUES = 2**31 - 1
MAX_PARAMS = 2**34
BYTES_PER_VALUE = 4
NAMES_LISTED = 3  # names a message lists before "and N more"


@dataclass
class NodeInfo:
    shape: Shape | None = None  # None: unknown (this node or one upstream has an error)
    params: int = 0
    macs: int = 0
    error: str | None = None
    props: dict[str, Any] = field(default_factory=dict)  # parsed, with defaults
    inputs: list[Shape] = field(default_factory=list)


@dataclass
class Fix:
    """An edit that resolves a problem: set property ``prop`` of node ``node_id`` to ``value``
    (in the form the document stores, e.g. a list for a shape)."""

    node_id: str
    node_name: str
    prop: str
    value: Any

    def __str__(self) -> str:
        value = shape_text(self.value) if isinstance(self.value, (list, tuple)) else self.value
        return f"set {self.node_name} {self.prop} to {value}"


@dataclass
class Problem:
    node_id: str | None
    node_name: str | None
    message: str
    fix: Fix | None = None  # offered where one edit obviously resolves it

    def __str__(self) -> str:
        return f"{self.node_name}: {self.message}" if self.node_name else self.message


@dataclass
class Analysis:
    nodes: dict[str, NodeInfo]
    problems: list[Problem]
    order: list[str]  # node ids in topological order (nodes on cycles left out)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_params(self) -> int:
        return sum(i.params for i in self.nodes.values())

    @property
    def total_macs(self) -> int:
        return sum(i.macs for i in self.nodes.values())


def listing(names: list[str], last: str = " and ") -> str:
    """``A and B``, ``A, B and C``, ``A, B, C and 9997 more``: names, in bounded length."""
    if len(names) <= 1:
        return "".join(names)
    if len(names) <= NAMES_LISTED:
        return f"{', '.join(names[:-1])}{last}{names[-1]}"
    return f"{', '.join(names[:NAMES_LISTED])} and {len(names) - NAMES_LISTED} more"


def _plain(name: str) -> str:
    """A name as is when it reads well, else quoted and cut."""
    return name if name.isprintable() and 0 < len(name) <= NAME_SHOWN else quoted(name)


NAME_SHOWN = 40


def count_text(count: int) -> str:
    return f"{count:,}" if count < 10**30 else number_text(count)


def size_problem(shape: Shape, params: int) -> str | None:
    """Why a layer with this output and these weights cannot be built, or None."""
    if len(shape) > MAX_AXES:
        return (f"its output would have {len(shape)} axes; a layer may produce at most "
                f"{MAX_AXES}")
    values = numel(shape)
    if values > MAX_VALUES:
        return (f"its output would hold {count_text(values)} values per sample "
                f"({size_text(values * BYTES_PER_VALUE)}); a layer may produce at most "
                f"{count_text(MAX_VALUES)} ({size_text(MAX_VALUES * BYTES_PER_VALUE)}) per sample")
    if params > MAX_PARAMS:
        return (f"its weights would hold {count_text(params)} parameters "
                f"({size_text(params * BYTES_PER_VALUE)}); a network may hold at most "
                f"{count_text(MAX_PARAMS)} ({size_text(MAX_PARAMS * BYTES_PER_VALUE)})")
    return None


_MEMO: dict[tuple, tuple] = {}
_MEMO_LIMIT = 50_000


def _freeze(props: dict) -> tuple:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(props.items()))


def _parsed(spec: nodes.LayerSpec, raw: dict, frozen: tuple) -> dict | str:
    """The node's properties parsed with defaults, or the error message; memoised."""
    key = (spec.name, frozen)
    hit = _MEMO.get(key)
    if hit is None:
        try:
            hit = spec.parse_props(raw)
        except ValueError as e:
            hit = str(e)
        _remember(key, hit)
    return hit


def _remember(key: tuple, value) -> None:
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = value


def _node_result(spec: nodes.LayerSpec, props: dict, frozen: tuple,
                 inputs: list[Shape]) -> tuple:
    """(shape, params, macs, error) for one node, memoised on its raw properties and inputs."""
    key = (spec.name, frozen, tuple(inputs))
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    try:
        shape = tuple(spec.infer(inputs, props))
        result = (shape, spec.params(inputs, props, shape), spec.macs(inputs, props, shape), None)
    except ShapeError as e:
        result = (None, 0, 0, str(e))
    _remember(key, result)
    return result


def analyze(network: Network, variables: dict[str, Shape] | None = None) -> Analysis:
    """Infer every node's shape and list every problem.

    ``variables`` maps dataset variable names to their per-sample shapes; when given, Input
    sizes and loss targets are checked against the data.
    """
    info: dict[str, NodeInfo] = {n.id: NodeInfo() for n in network.nodes}
    problems: list[Problem] = []
    by_id = {n.id: n for n in network.nodes}

    def problem(node, message: str, fix: Fix | None = None) -> None:
        problems.append(Problem(node.id if node else None, node.name if node else None, message,
                                fix))
        if node is not None and info[node.id].error is None:
            info[node.id].error = message

    incoming: dict[str, list] = {n.id: [] for n in network.nodes}
    outgoing: dict[str, list[str]] = {n.id: [] for n in network.nodes}
    for link in network.links:
        if link.src in by_id and link.dst in by_id:
            incoming[link.dst].append(link)
            outgoing[link.src].append(link.dst)
    specs, frozen = _parse_props(network, info, problem)
    names_seen: set[str] = set()
    for node in network.nodes:
        if node.name in names_seen:
            problem(node, f"another node is also named {node.name!r}; names must be unique")
        names_seen.add(node.name)
    order = _topological(network, incoming, outgoing)
    ordered = set(order)
    on_cycle = [n for n in network.nodes if n.id not in ordered]
    cycle_names = " → ".join(n.name for n in on_cycle[:NAMES_LISTED])
    if len(on_cycle) > NAMES_LISTED:
        cycle_names += f" → … ({len(on_cycle) - NAMES_LISTED} more)"
    for node in on_cycle:
        problem(node, f"is part of a cycle ({cycle_names}); a network must flow one way")
    _infer_shapes(order, by_id, specs, frozen, incoming, info, problem)
    total = sum(i.params for i in info.values())
    if total > MAX_PARAMS:
        problem(None, f"the network would hold {count_text(total)} parameters "
                      f"({size_text(total * BYTES_PER_VALUE)}); a network may hold at most "
                      f"{count_text(MAX_PARAMS)} ({size_text(MAX_PARAMS * BYTES_PER_VALUE)})")
    _check_losses(network, specs, info, incoming, outgoing, problem, by_id, variables)
    return Analysis(info, problems, order)


def _parse_props(network: Network, info: dict[str, NodeInfo], problem) -> tuple[dict, dict]:
    """({node id: spec}, {node id: frozen raw props}); each node's parsed props into ``info``."""
    specs, frozen = {}, {}
    for node in network.nodes:
        try:
            specs[node.id] = spec = nodes.get_spec(node.type)
        except KeyError as e:
            problem(node, e.args[0])
            continue
        frozen[node.id] = _freeze(node.props)
        props = _parsed(spec, node.props, frozen[node.id])
        if isinstance(props, str):
            problem(node, props)
        else:
            info[node.id].props = props
    return specs, frozen


def _infer_shapes(order, by_id, specs, frozen, incoming, info, problem) -> None:
    """Each node's input and output shapes, parameters and multiply-adds, in graph order."""
    for node_id in order:
        node, spec, ni = by_id[node_id], specs.get(node_id), info[node_id]
        if spec is None or ni.error:
            continue
        links = incoming[node_id]
        if not spec.inputs and links:
            problem(node, f"{spec.name} takes no inputs")
            continue
        shapes = _input_shapes(node, spec, links, by_id, info, problem)
        if shapes is None:
            continue
        ni.inputs = shapes
        ni.shape, ni.params, ni.macs, error = _node_result(spec, ni.props, frozen[node_id], shapes)
        error = error or size_problem(ni.shape, ni.params)  # before anything is allocated
        if error:
            ni.shape, ni.params, ni.macs = None, 0, 0  # nothing downstream builds on it
            problem(node, error)


def _topological(network: Network, incoming: dict, outgoing: dict) -> list[str]:
    indegree = {nid: len(links) for nid, links in incoming.items()}
    ready = deque(n.id for n in network.nodes if indegree[n.id] == 0)
    order = []
    while ready:
        nid = ready.popleft()
        order.append(nid)
        for dst in outgoing[nid]:
            indegree[dst] -= 1
            if indegree[dst] == 0:
                ready.append(dst)
    return order


def _input_shapes(node, spec, links, by_id, info, problem) -> list[Shape] | None:
    """Input shapes in port order, or None when an input is missing or unknown."""
    if spec.multi_input:
        if not links:
            problem(node, f"input {spec.inputs[0]} is not connected")
            return None
        ordered = links
    else:
        ordered = []
        for port, port_name in enumerate(spec.inputs):
            at_port = [k for k in links if k.port == port]
            if not at_port:
                problem(node, f"input {port_name} is not connected")
                return None
            if len(at_port) > 1:
                sources = listing([by_id[k.src].name for k in at_port], ", ")
                problem(node, f"input {port_name} has {len(at_port)} links ({sources}); "
                              "it takes one")
                return None
            ordered.append(at_port[0])
        extra = [k for k in links if not 0 <= k.port < len(spec.inputs)]
        if extra:
            problem(node, f"{spec.name} has {len(spec.inputs)} input(s); a link goes to port "
                          f"{count_text(extra[0].port)}")
            return None
    shapes = []
    for link in ordered:
        src = by_id[link.src]
        if nodes.get_spec(src.type).is_loss:
            problem(node, f"takes the output of loss {src.name}; a loss ends the network")
            return None
        shape = info[link.src].shape
        if shape is None:
            return None  # the error is shown on the upstream node
        shapes.append(shape)
    return shapes


def _check_losses(network, specs, info, incoming, outgoing, problem, by_id, variables) -> None:
    losses = [n for n in network.nodes if specs.get(n.id) is not None and specs[n.id].is_loss]
    if not losses:
        problem(None, "the network has no loss layer; add one (e.g. SoftmaxCrossEntropy for "
                      "classification, SquaredError for regression) after the output")
    fed_by: dict[str, list] = {}
    for loss in losses:
        for link in incoming[loss.id]:
            fed_by.setdefault(link.src, []).append(loss)
    for src_id, group in fed_by.items():
        group = list({loss.id: loss for loss in group}.values())  # k links from one loss: once
        if len(group) > 1:
            names = listing([n.name for n in group])
            for loss in group:
                problem(loss, f"{names} {'both' if len(group) == 2 else 'all'} take "
                              f"{by_id[src_id].name}'s output; one prediction feeds one loss")

    if variables is None:
        return
    for node in network.nodes:
        spec, ni = specs.get(node.id), info[node.id]
        if spec is None or not ni.props:
            continue
        if spec.is_input:
            var = ni.props["Dataset"]
            if var not in variables:
                problem(node, f"dataset variable {quoted(var)} does not exist "
                              f"(the dataset has {listing(sorted(map(_plain, variables)), ', ')})")
            elif tuple(variables[var]) != tuple(ni.props["Size"]):
                problem(node, f"Size is {shape_text(ni.props['Size'])} but dataset variable "
                              f"{quoted(var)} holds {shape_text(variables[var])} per sample",
                        Fix(node.id, node.name, "Size", list(variables[var])))
        elif spec.is_loss and ni.inputs and ni.shape is not None:
            var = ni.props[spec.target_prop]
            expected = spec.target(ni.inputs[0], ni.props)
            if var not in variables:
                problem(node, f"target variable {quoted(var)} does not exist "
                              f"(the dataset has {listing(sorted(map(_plain, variables)), ', ')})")
            elif tuple(variables[var]) != tuple(expected.shape):
                scorer = output_layer(network, info, node.id) if expected.kind == "float" \
                    else None
                problem(node, f"expects {expected.describe()} as target, but dataset variable "
                              f"{quoted(var)} holds {shape_text(variables[var])} per sample",
                        scorer and Fix(scorer, by_id[scorer].name, "OutShape",
                                       list(variables[var])))


def output_layer(network: Network, info: dict[str, NodeInfo], loss_id: str) -> str | None:
    """The id of the node whose ``OutShape`` sets the shape of what loss ``loss_id`` scores: the
    nearest layer upstream with parameters and an OutShape (an Affine), reached through layers
    that keep their input's shape (activations, dropout); None when there is none."""
    incoming: dict[str, list] = {}
    for link in network.links:
        incoming.setdefault(link.dst, []).append(link)
    links = incoming.get(loss_id, [])
    current = links[0].src if links else None
    while current is not None:
        node = info[current]
        if "OutShape" in node.props and node.params > 0:
            return current
        links = incoming.get(current, [])
        if len(links) != 1 or info[links[0].src].shape != node.shape:
            return None
        current = links[0].src
    return None
