"""The checks of a whole network after its shapes are known: layers sharing weights must be
alike, a trained network needs a loss (and every other output that feeds nothing adds to it),
and Inputs and loss targets must fit the dataset's variables. Also the problem records all
checks report, with the fix one edit makes where there is one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nodes
from nodes import shape_text
from nodes.spec import number_text, quoted

from designer.core.project import Network

NAMES_LISTED = 3  # names a message lists before "and N more"


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
    network: str = ""  # set when a project's networks are checked together

    def __str__(self) -> str:
        text = f"{self.node_name}: {self.message}" if self.node_name else self.message
        return f"[{self.network}] {text}" if self.network else text


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


def check_sharing(network, specs, info, keys, problem) -> None:
    """Layers of one network that share weights must be alike: they are one layer used
    twice (settings that differ could not all hold), learning at one rate."""
    first: dict[str, str] = {}
    for node in network.nodes:
        key = keys.get(node.id)
        if key is None or info[node.id].error or not info[node.id].props:
            continue
        if key not in first:
            first[key] = node.id
            continue
        other = network.node(first[key])
        a, b = info[other.id], info[node.id]
        if other.type != node.type:
            problem(node, f"shares the weights of {other.name} (ParameterScope {key}) but is a "
                          f"{node.type}, not a {other.type}; shared layers must be alike")
            continue
        for name, value in b.props.items():
            if name == "ParameterScope" or a.props.get(name) == value:
                continue
            if name.endswith(".LRateMultiplier"):
                problem(node, f"{node.name} and {other.name} share {name.split('.')[0]} in "
                              f"network {network.name} but learn at different rates there "
                              f"({name} {a.props[name]:g} vs {value:g}); a frozen layer is "
                              "frozen wherever it is used")
            else:
                problem(node, f"shares the weights of {other.name} (ParameterScope {key}) but "
                              f"its {name} differs ({_text(a.props.get(name))} vs "
                              f"{_text(value)}); shared layers must be alike")
            break
        else:
            if a.shape is not None and b.shape is not None and a.params != b.params:
                problem(node, f"shares the weights of {other.name} (ParameterScope {key}) but "
                              f"needs {count_text(b.params)} parameters where {other.name} has "
                              f"{count_text(a.params)} (it takes {shape_text(b.inputs[0])}, "
                              f"{other.name} {shape_text(a.inputs[0])}); shared layers must be "
                              "alike")


def _text(value) -> str:
    return shape_text(value) if isinstance(value, (list, tuple)) else str(value)


def check_outputs(network, specs, info, links, problem, notices, trained) -> None:
    """A trained network needs a loss; every other output that feeds nothing adds to it (a
    notice); two losses on one prediction and one dataset target are one too many."""
    losses = [n for n in network.nodes if specs.get(n.id) is not None and specs[n.id].is_loss]
    if trained and not losses:
        problem(None, "the network has no loss layer; add one (e.g. SoftmaxCrossEntropy for "
                      "classification, SquaredError for regression) after the output")
    if trained:
        for node in network.nodes:
            spec = specs.get(node.id)
            if spec is None or spec.is_loss or spec.is_input or not spec.has_output \
                    or links.outgoing[node.id] or spec.role:
                continue
            notices.append(Problem(node.id, node.name, (
                f"its output feeds nothing, so its mean is added to network {network.name}'s "
                "loss (as in Neural Network Console); connect it or delete it if that is not "
                "intended")))
    fed_by: dict[str, list] = {}
    for loss in losses:
        if target_source(loss, specs[loss.id], info, links) != "dataset":
            continue
        for link in links.incoming[loss.id]:
            if link.port == 0:
                fed_by.setdefault(link.src, []).append(loss)
    by_id = {n.id: n for n in network.nodes}
    for src_id, group in fed_by.items():
        group = list({loss.id: loss for loss in group}.values())  # k links from one loss: once
        if len(group) > 1:
            names = listing([n.name for n in group])
            for loss in group:
                problem(loss, f"{names} {'both' if len(group) == 2 else 'all'} take "
                              f"{by_id[src_id].name}'s output; one prediction feeds one loss")


def target_source(node, spec, info, links) -> str:
    """Where a loss's target comes from: "link" (its T input), "generated" or "dataset"."""
    if any(k.port == 1 for k in links.incoming[node.id]):
        return "link"
    props = info[node.id].props
    if props and props.get(spec.generator_prop, "None") != "None":
        return "generated"
    return "dataset"


def is_generated(spec: nodes.LayerSpec, props: dict) -> bool:
    """An Input whose values are generated rather than read from the dataset."""
    return spec.is_input and props.get("Generator", "None") != "None"


def check_variables(network, specs, info, links, problem, variables) -> None:
    by_id = {n.id: n for n in network.nodes}
    for node in network.nodes:
        spec, ni = specs.get(node.id), info[node.id]
        if spec is None or not ni.props:
            continue
        if spec.is_input and not is_generated(spec, ni.props):
            var = ni.props["Dataset"]
            if var not in variables:
                problem(node, f"dataset variable {quoted(var)} does not exist "
                              f"(the dataset has {listing(sorted(map(_plain, variables)), ', ')})")
            elif tuple(variables[var]) != tuple(ni.props["Size"]):
                problem(node, f"Size is {shape_text(ni.props['Size'])} but dataset variable "
                              f"{quoted(var)} holds {shape_text(variables[var])} per sample",
                        Fix(node.id, node.name, "Size", list(variables[var])))
        elif spec.is_loss and ni.inputs and ni.shape is not None \
                and target_source(node, spec, info, links) == "dataset":
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


def output_layer(network: Network, info: dict, loss_id: str) -> str | None:
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
