"""Shape inference and validation of a whole network, run after every edit.

Each node gets its output shape, parameter count and multiply-adds, or an error in words a user
understands, attached to that node. Results per node are memoised on (layer, properties, input
shapes), so re-analysing after one edit recomputes only what the edit changed.

A network with repeat blocks or units is expanded first (``designer.core.expand``): the
written-out network is analysed, and its results are folded back onto the layers as drawn (a
repeated layer's parameters and multiply-adds summed over its copies, a unit's over its
layers). A recurrent block is analysed per time step; its layers' multiply-adds count every
step, their parameters once. Parameters are counted once per distinct tensor: layers sharing
weights (the same ParameterScope) count them once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nodes
from nodes import Shape, ShapeError, shape_text
from nodes import expressions
from nodes.spec import MAX_AXES, is_expression, numel

from designer.core import graph
from designer.core.expand import Expanded, expand, has_structure
from designer.core.files import size_text
from designer.core.network_checks import (NAMES_LISTED, Fix, Problem, check_outputs,
                                          check_sharing, check_variables, count_text,
                                          is_generated, listing, output_layer)
from designer.core.project import Network, Project

__all__ = ["Analysis", "Fix", "NodeInfo", "Problem", "analyze", "count_text", "is_generated",
           "listing", "output_layer"]

# What one network may ask for, so that every size is known to be buildable before anything is
# allocated: one sample's output of one layer (8 GiB of float32; torch indexes some kernels with
# 32-bit numbers), and the weights of the whole network (64 GiB of float32, more than the memory
# of the largest single GPU; training needs about four times that with Adam).
MAX_VALUES = 2**31 - 1
MAX_PARAMS = 2**34
BYTES_PER_VALUE = 4


@dataclass
class NodeInfo:
    shape: Shape | None = None  # None: unknown (this node or one upstream has an error)
    params: int = 0
    macs: int = 0
    error: str | None = None
    props: dict[str, Any] = field(default_factory=dict)  # parsed, with defaults
    inputs: list[Shape] = field(default_factory=list)
    steps: int = 0  # time steps, for a layer inside a recurrent block (its MACs count each)
    copies: int = 1  # repetitions summed into this drawn layer (repeat blocks)


@dataclass
class Analysis:
    nodes: dict[str, NodeInfo]
    problems: list[Problem]
    order: list[str]  # node ids in computing order (nodes on cycles left out)
    # what training may not intend, but may: an unconnected output adds to the loss
    notices: list[Problem] = field(default_factory=list)
    blocks: list[graph.Block] = field(default_factory=list)  # recurrent blocks
    # the weights' key of each layer with weights: layers with the same key share them
    keys: dict[str, str] = field(default_factory=dict)
    # for a network with repeat blocks or units: the written-out network and its analysis
    expanded: Expanded | None = None
    flat: "Analysis | None" = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def written_out(self) -> "Analysis":
        """The analysis of the network as the compiler builds it."""
        return self.flat if self.flat is not None else self

    @property
    def total_params(self) -> int:
        """Parameters of the distinct weight tensors (shared ones once)."""
        if self.flat is not None:
            return self.flat.total_params
        counted: dict[str, int] = {}
        for node_id, info in self.nodes.items():
            counted.setdefault(self.keys.get(node_id, node_id), info.params)
        return sum(counted.values())

    @property
    def total_macs(self) -> int:
        if self.flat is not None:
            return self.flat.total_macs
        return sum(i.macs for i in self.nodes.values())


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
    return tuple((k, tuple(v) if isinstance(v, list) else
                  tuple(sorted(v.items())) if isinstance(v, dict) else v)
                 for k, v in sorted(props.items()))


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


def analyze(network: Network, variables: dict[str, Shape] | None = None, *,
            project: Project | None = None, trained: bool | None = None) -> Analysis:
    """Infer every node's shape and list every problem.

    ``variables`` maps dataset variable names to their per-sample shapes; when given, Input
    sizes and loss targets are checked against the data. ``project`` holds the networks units
    use; ``trained`` says whether an optimizer trains the network (by default: whether one of
    the project's does, or True without a project), which asks for a loss and notes every
    output that feeds nothing (it adds to the loss, as in Neural Network Console).
    """
    if trained is None:
        trained = project is None or any(o.network == network.name
                                          for o in project.training.optimizers)
    if not has_structure(network):
        return _analyze_flat(network, variables, trained)
    expanded = expand(network, project)
    if expanded.problems:
        info = {n.id: NodeInfo() for n in network.nodes}
        problems = []
        for node_id, message in expanded.problems:
            node = next((n for n in network.nodes if n.id == node_id), None)
            problems.append(Problem(node_id, node.name if node else None, message))
            if node is not None and info[node_id].error is None:
                info[node_id].error = message
        return Analysis(info, problems, [n.id for n in network.nodes], expanded=expanded)
    flat = _analyze_flat(expanded.network, variables, trained)
    for start, source, drawn in expanded.kept_shapes:
        takes, gives = flat.nodes[start].shape, flat.nodes[source].shape
        if takes is not None and gives is not None and takes != gives:
            name = next(n.name for n in network.nodes if n.id == drawn)
            flat.problems.append(Problem(start, flat_name(expanded, start), (
                f"repeat block {name} takes {shape_text(takes)} but gives {shape_text(gives)}; "
                "each repetition feeds the next, so the block must keep the shape")))
    return _fold(network, expanded, flat)


def flat_name(expanded: Expanded, node_id: str) -> str:
    return expanded.network.node(node_id).name


def _fold(network: Network, expanded: Expanded, flat: Analysis) -> Analysis:
    """The written-out network's results on the layers as drawn."""
    by_id = {n.id: n for n in network.nodes}
    members: dict[str, list[str]] = {}
    for flat_id in flat.order + [i for i in flat.nodes if i not in set(flat.order)]:
        members.setdefault(expanded.origin[flat_id], []).append(flat_id)
    info: dict[str, NodeInfo] = {}
    for node in network.nodes:
        ids = members.get(node.id, [])
        shown = expanded.exits.get(node.id, ids[0] if ids else None)
        folded = NodeInfo()
        try:
            folded.props = node.spec.parse_props(node.props)
        except (KeyError, ValueError):
            pass
        if shown is not None:
            first = flat.nodes[shown]
            folded.shape, folded.inputs, folded.steps = first.shape, first.inputs, first.steps
        counted: dict[str, int] = {}
        for i in ids:
            counted.setdefault(flat.keys.get(i, i), flat.nodes[i].params)
            folded.macs += flat.nodes[i].macs
            folded.error = folded.error or flat.nodes[i].error
        folded.params = sum(counted.values())
        folded.copies = expanded.copies.get(node.id, 1)
        info[node.id] = folded

    def place(problems: list[Problem]) -> list[Problem]:
        out, seen = [], set()
        for p in problems:
            drawn = expanded.origin.get(p.node_id) if p.node_id else None
            node = by_id.get(drawn)
            if node is None:
                out.append(p)
                continue
            where = expanded.display.get(p.node_id, node.name)
            message = p.message if where == node.name else f"{where}: {p.message}"
            key = (drawn, expanded.unindexed(p.message))
            if key not in seen:
                seen.add(key)
                out.append(Problem(drawn, node.name, message, p.fix if where == node.name
                                   else None, p.network))
        return out

    order = list(dict.fromkeys(expanded.origin[i] for i in flat.order
                               if expanded.origin[i] in by_id))
    return Analysis(info, place(flat.problems), order, place(flat.notices), flat.blocks,
                    {}, expanded, flat)


def _analyze_flat(network: Network, variables: dict[str, Shape] | None,
                  trained: bool) -> Analysis:
    info: dict[str, NodeInfo] = {n.id: NodeInfo() for n in network.nodes}
    problems: list[Problem] = []
    notices: list[Problem] = []
    by_id = {n.id: n for n in network.nodes}

    def problem(node, message: str, fix: Fix | None = None) -> None:
        problems.append(Problem(node.id if node else None, node.name if node else None, message,
                                fix))
        if node is not None and info[node.id].error is None:
            info[node.id].error = message

    links = graph.Links.of(network)
    specs, frozen = _parse_props(network, info, problem)
    names_seen: set[str] = set()
    for node in network.nodes:
        if node.name in names_seen:
            problem(node, f"another node is also named {node.name!r}; names must be unique")
        names_seen.add(node.name)
    roles = {nid: spec.role for nid, spec in specs.items() if spec.role}
    blocks, block_problems = graph.recurrent_blocks(network, roles, links)
    for node_id, message in block_problems:
        problem(by_id[node_id], message)
    order, cycle = graph.order(network, roles, links, blocks)
    if cycle:
        shown = [by_id[i].name for i in cycle[:NAMES_LISTED]]
        if len(cycle) > len(shown):
            shown.append(f"… ({len(cycle) - len(shown)} more)")
        text = " → ".join(shown + [by_id[cycle[0]].name])
        for node_id in cycle:
            problem(by_id[node_id], f"{text} form a cycle without a Delay; only a Delay may "
                                    "feed a value back (it gives the previous time step's "
                                    "value)")
    keys = {nid: info[nid].props.get("ParameterScope") or by_id[nid].name
            for nid, spec in specs.items() if spec.has_weights and info[nid].props}
    _infer_shapes(order, by_id, specs, frozen, links, info, problem, blocks, roles)
    result = Analysis(info, problems, order, notices, blocks, keys)
    total = result.total_params
    if total > MAX_PARAMS:
        problem(None, f"the network would hold {count_text(total)} parameters "
                      f"({size_text(total * BYTES_PER_VALUE)}); a network may hold at most "
                      f"{count_text(MAX_PARAMS)} ({size_text(MAX_PARAMS * BYTES_PER_VALUE)})")
    check_sharing(network, specs, info, keys, problem)
    check_outputs(network, specs, info, links, problem, notices, trained)
    if variables is not None:
        check_variables(network, specs, info, links, problem, variables)
    return result


def _parse_props(network: Network, info: dict[str, NodeInfo], problem) -> tuple[dict, dict]:
    """({node id: spec}, {node id: frozen raw props}); each node's parsed props into ``info``
    (expressions still as text: they are read once the input shape is known)."""
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


def _resolve(spec: nodes.LayerSpec, props: dict, inputs: list[Shape]) -> dict | str:
    """The properties with each expression evaluated on the first input's shape, or the
    error message."""
    resolved = dict(props)
    for prop in spec.props:
        value = props.get(prop.name)
        if not is_expression(prop, value):
            continue
        try:
            values = expressions.evaluate(value, inputs[0] if inputs else None)
        except expressions.ExpressionError as e:
            return f"{prop.name}: {e}"
        if prop.kind in ("int", "shape") and any(v.denominator != 1 for v in values):
            return (f"{prop.name}: {value} is {expressions.described(values)}, not a whole "
                    "number")
        try:
            resolved[prop.name] = prop.parse(expressions.as_text(values))
        except ValueError as e:
            return f"{e} (from {value})"
    return resolved


def _infer_shapes(order, by_id, specs, frozen, links, info, problem, blocks, roles) -> None:
    """Each node's input and output shapes, parameters and multiply-adds, in graph order."""
    block_of = {m: b for b in blocks for m in b.members}
    steps: dict[str, int] = {}  # block start -> time steps
    for node_id in order:
        node, spec, ni = by_id[node_id], specs.get(node_id), info[node_id]
        if spec is None or ni.error:
            continue
        incoming = links.incoming[node_id]
        if not spec.inputs and incoming:
            problem(node, f"{spec.name} takes no inputs")
            continue
        if spec.role == graph.DELAY:  # its value comes from the previous step: see below
            incoming = [k for k in incoming if k.port != 0]
        shapes = _input_shapes(node, spec, incoming, by_id, info, problem)
        if shapes is None:
            continue
        ni.inputs = shapes
        key = frozen[node_id]
        props = ni.props
        if any(is_expression(p, props.get(p.name)) for p in spec.props):
            props = _resolve(spec, props, shapes)
            if isinstance(props, str):
                problem(node, props)
                continue
            ni.props, key = props, _freeze(props)
        if spec.role == graph.RECURRENT_OUTPUT:
            error = _stack_steps(node_id, ni, links, block_of, steps)
        else:
            ni.shape, ni.params, ni.macs, error = _node_result(spec, props, key, shapes)
        if error is None and spec.is_loss and len(shapes) > 1:
            wanted = spec.target(shapes[0], props).shape
            if tuple(shapes[1]) != tuple(wanted):
                error = (f"its target {spec.inputs[1]} is {shape_text(shapes[1])} but a "
                         f"{shape_text(shapes[0])} prediction needs {shape_text(wanted)}")
        if spec.role == graph.RECURRENT_INPUT and error is None:
            steps[node_id] = shapes[0][props["Axis"]]
        block = block_of.get(node_id)
        if block is not None and error is None and block.start in steps:
            ni.steps = steps[block.start]
            ni.macs *= ni.steps
        error = error or size_problem(ni.shape, ni.params)  # before anything is allocated
        if error:
            ni.shape, ni.params, ni.macs = None, 0, 0  # nothing downstream builds on it
            problem(node, error)
    for node_id, role in roles.items():
        if role == graph.DELAY and info[node_id].shape is not None:
            _check_delay(by_id[node_id], info, links, problem)


def _stack_steps(node_id, ni, links, block_of, steps) -> str | None:
    """A RecurrentOutput's shape: its input's step shape with the time axis put in."""
    source = links.incoming[node_id][0].src
    block = block_of.get(source)
    if block is None or block.start not in steps:
        return "a RecurrentOutput stacks the steps of a recurrent block"
    step, axis = ni.inputs[0], ni.props["Axis"]
    if axis > len(step):
        return f"Axis {axis} is beyond the {shape_text(step)} step (axes 0..{len(step)})"
    ni.shape = tuple(step[:axis]) + (steps[block.start],) + tuple(step[axis:])
    return None


def _check_delay(node, info, links, problem) -> None:
    """The value a Delay feeds back must have its Size."""
    fed = [k for k in links.incoming[node.id] if k.port == 0]
    if not fed:
        problem(node, "input x is not connected: a Delay feeds back the value linked to it")
        return
    shape = info[fed[0].src].shape
    size = tuple(info[node.id].props["Size"])
    if shape is not None and tuple(shape) != size:
        problem(node, f"Size is {shape_text(size)} but its input is {shape_text(shape)}",
                Fix(node.id, node.name, "Size", list(shape)))


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
                if port_name in spec.optional_inputs or spec.role == graph.DELAY:
                    continue
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
        shape = info[link.src].shape
        if shape is None:
            return None  # the error is shown on the upstream node
        shapes.append(shape)
    return shapes


