"""Structured pruning: remove the least important maps of Convolution layers and units of
Affine layers (by the L1 norm of their weights), making the network itself smaller.

The pruned layers get fewer OutMaps (or a smaller OutShape), and every layer their maps reach is
made consistent: layers that compute each map on its own pass the choice on (ReLU, pooling,
Dropout; BatchNormalization keeps the statistics of the maps that stay), Flatten lays the kept
maps out as features, and the next Convolution or Affine loses the inputs that are gone. Layers
that add maps together (Add2, a residual connection) tie their inputs' maps: the layers that
make them are pruned as one, keeping the same maps, or the pruning is refused with the reason.
Anything else a pruned map reaches (a loss, Softmax, Concatenate, Reshape) refuses it.

The result is an ordinary project with its weights: it trains, fine-tunes and exports as any
other, with the multiply-adds it really costs.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from nodes.initializers import parameter

from designer.core.analysis import analyze
from designer.core.compiler import Compiled, compile_network
from designer.core.project import Network, Node
from designer.core.compress.result import CompressError

SIZE_PROP = {"conv": "OutMaps", "affine": "OutShape"}  # by the fans of the layer's W


@dataclass
class Group:
    """Maps pruned together: every layer in ``makers`` produces them (tied by Add2 and the
    like), ``size`` of them."""

    size: int
    makers: list[str] = field(default_factory=list)  # node ids
    names: list[str] = field(default_factory=list)  # their layer names
    parent: Group | None = None

    def root(self) -> Group:
        group = self
        while group.parent is not None:
            group = group.parent
        return group


@dataclass
class Layout:
    """Where a group's maps lie in a tensor: on its first axis (``flat`` False), each followed
    by ``inner`` values; or laid out one after another as ``inner`` features each (flat)."""

    group: Group
    inner: int
    flat: bool = False


@dataclass
class Plan:
    groups: list[Group]  # the roots
    reads: dict[str, Layout]  # node id -> the layout its weights read (Convolution, Affine)
    learned: dict[str, Layout]  # node id -> layout of a layer with a learned value per map


def prunable(node: Node) -> str:
    """The fans of the layer's W ("conv" or "affine") when it can be pruned, else ""."""
    fans = next((w.fans for w in node.spec.weights if w.name == "W"), "")
    return fans if fans in SIZE_PROP and SIZE_PROP[fans] in node.props else ""


def plan(network: Network, chosen: list[str]) -> Plan:
    """Follow the chosen layers' maps through the network; CompressError says why a layer
    cannot be pruned."""
    analysis = analyze(network)
    if not analysis.ok:
        raise CompressError(f"network {network.name!r} has problems: {analysis.problems[0]}")
    by_id = {n.id: n for n in network.nodes}
    by_name = {n.name: n for n in network.nodes}
    feeds: dict[str, list] = {}
    for link in network.links:
        feeds.setdefault(link.dst, []).append(link)
    has_output = {k.src for k in network.links}
    outputs = {n.id for n in network.nodes if n.id not in has_output
               and not n.spec.is_loss and not n.spec.is_input}
    chosen_ids = set()
    for name in chosen:
        node = by_name.get(name)
        if node is None:
            raise CompressError(f"--layers: the network has no layer named {name!r}")
        _check_maker(node, analysis.nodes[node.id].props, analysis.nodes[node.id].shape)
        chosen_ids.add(node.id)
    layout: dict[str, Layout] = {}
    reads: dict[str, Layout] = {}
    learned: dict[str, Layout] = {}
    groups: list[Group] = []
    for node_id in analysis.order:
        node, info = by_id[node_id], analysis.nodes[node_id]
        links = sorted(feeds.get(node_id, []), key=lambda k: k.port)
        incoming = [layout.get(k.src) for k in links]
        carried = [x for x in incoming if x is not None]
        if prunable(node) and carried:
            reads[node_id] = _read(node, info, carried[0])
        if node_id in chosen_ids:
            group = Group(info.shape[0], [node_id], [node.name])
            groups.append(group)
            layout[node_id] = Layout(group, math.prod(info.shape[1:]))
            continue
        if not carried or prunable(node):
            continue
        layout[node_id] = _pass_on(node, info, incoming, by_id, links)
        if node.spec.channels == "learned":
            learned[node_id] = layout[node_id]
    for node_id, node_layout in layout.items():  # a prediction keeps all its values
        if node_id in outputs:
            raise _reaches(node_layout, by_id[node_id], "gives the network's prediction")
    roots = list({id(g.root()): g.root() for g in groups}.values())
    return Plan(roots, reads, learned)


def _check_maker(node: Node, props: dict, shape) -> None:
    fans = prunable(node)
    if not fans:
        raise CompressError(f"{node.name} ({node.type}) cannot be pruned: only layers with "
                            "output maps or units of their own (Convolution, Affine) can")
    if props.get("Group", 1) != 1:
        raise CompressError(f"{node.name} ({node.type}) cannot be pruned: its maps are split "
                            f"into Group {props['Group']} groups")
    if fans == "affine" and len(props["OutShape"]) != 1:
        raise CompressError(f"{node.name} ({node.type}) cannot be pruned: its OutShape has "
                            "more than one axis")
    if shape[0] < 2:
        raise CompressError(f"{node.name} ({node.type}) has a single output map; there is "
                            "nothing to prune")


def _read(node: Node, info, carried: Layout) -> Layout:
    """A Convolution or Affine reading pruned maps: which of its inputs go."""
    if info.props.get("Group", 1) != 1:
        raise _reaches(carried, node, f"splits its input maps into Group {info.props['Group']} "
                                      "groups")
    if prunable(node) == "conv" and carried.flat:
        raise _reaches(carried, node, "reads them as maps after they were flattened")
    return carried


def _pass_on(node: Node, info, incoming: list, by_id: dict, links: list) -> Layout:
    """The layout of a layer's output whose input carries pruned maps; CompressError when the
    layer cannot keep them apart."""
    carried = [x for x in incoming if x is not None]
    first = carried[0]
    kind = node.spec.channels
    if kind == "flatten" and not first.flat:
        return Layout(first.group, first.inner, flat=True)
    if kind not in ("each", "learned"):
        raise _reaches(first, node, _why_not(node))
    if len(carried) < len(incoming):
        other = by_id[links[incoming.index(None)].src]
        raise _reaches(first, node, f"combines them map by map with the output of "
                                    f"{other.name}, which keeps all its maps; prune the "
                                    "layers that make that input too, so both keep the same "
                                    "maps")
    for extra in carried[1:]:  # several inputs: their maps are tied
        if extra.flat != first.flat or extra.inner != first.inner:
            raise _reaches(first, node, "combines them with maps laid out differently")
        a, b = first.group.root(), extra.group.root()
        if a is not b:
            if a.size != b.size:
                raise _reaches(first, node, f"combines {a.size} maps with {b.size}")
            b.parent = a
            a.makers += b.makers
            a.names += b.names
    source = info.inputs[next(i for i, x in enumerate(incoming) if x is first)]
    if first.flat and info.shape != source or info.shape[:1] != source[:1]:
        raise _reaches(first, node, "changes the shape of its input's first axis")
    inner = first.inner if first.flat else math.prod(info.shape[1:])
    return Layout(first.group, inner, first.flat)


def _why_not(node: Node) -> str:
    if node.spec.is_loss:
        return "compares them with the dataset's targets (a prediction keeps all its values)"
    return "mixes or moves the values of its first axis"


def _reaches(layout: Layout, node: Node, why: str) -> CompressError:
    names = layout.group.root().names
    makers = " and ".join(names) if len(names) < 3 else ", ".join(names)
    whose = "its" if len(names) == 1 else "their"
    return CompressError(f"cannot prune {makers}: {whose} outputs reach {node.name} "
                         f"({node.type}), which {why}")


# ---- choosing the maps and cutting the weights -----------------------------------------------

def importance(compiled: Compiled, group: Group, by_id: dict[str, Node]) -> np.ndarray:
    """Each map's L1 norm of weights, summed over the layers that make it (each layer's norms
    scaled to a mean of 1, so a layer with larger weights does not decide alone)."""
    total = np.zeros(group.size)
    for node_id in group.makers:
        module = compiled.layers.get_submodule(compiled.attr_of[node_id])
        attr = next(w.attr for w in by_id[node_id].spec.weights if w.name == "W")
        w = parameter(module, attr)
        norms = w.detach().abs().flatten(1).sum(1).double().cpu().numpy()
        total += norms / max(norms.mean(), 1e-12)
    return total


def prune(network: Network, compiled: Compiled, chosen: list[str], amount: float
          ) -> tuple[Network, dict[str, torch.Tensor], dict[str, list[int]]]:
    """(the smaller network, its weights, layer name -> the maps kept)."""
    if not 0 < amount < 1:
        raise CompressError(f"--amount must be more than 0 and less than 1 (the share of maps "
                            f"removed), not {amount:g}")
    by_id = {n.id: n for n in network.nodes}
    found = plan(network, chosen)
    keep: dict[int, np.ndarray] = {}
    for group in found.groups:
        count = max(1, round(group.size * (1 - amount)))
        order = np.argsort(-importance(compiled, group, by_id), kind="stable")
        keep[id(group)] = np.sort(order[:count])
    smaller = copy.deepcopy(network)
    state = {k: v.detach().clone() for k, v in compiled.layers.state_dict().items()}
    kept: dict[str, list[int]] = {}
    for group in found.groups:
        maps = keep[id(group)]
        for node_id in group.makers:
            node = smaller.node(node_id)
            fans = prunable(node)
            node.props[SIZE_PROP[fans]] = len(maps) if fans == "conv" else [len(maps)]
            _cut(state, compiled.attr_of[node_id], 0, torch.from_numpy(maps))
            kept[node.name] = maps.tolist()
    for node_id, layout in found.reads.items():  # an Affine reads maps as features
        features = prunable(by_id[node_id]) == "affine"
        _cut_weight(state, compiled.attr_of[node_id], 1,
                    _indices(layout, keep[id(layout.group.root())], features), only="weight")
    for node_id, layout in found.learned.items():
        _cut(state, compiled.attr_of[node_id], 0,
             _indices(layout, keep[id(layout.group.root())], layout.flat))
    return smaller, state, kept


def _indices(layout: Layout, maps: np.ndarray, as_features: bool) -> torch.Tensor:
    """The kept maps' positions: as maps, or as the features they are laid out as."""
    if not as_features:
        return torch.from_numpy(maps)
    return torch.from_numpy((maps[:, None] * layout.inner + np.arange(layout.inner)).ravel())


def _cut(state: dict, attr: str, axis: int, index: torch.Tensor) -> None:
    """Keep ``index`` along ``axis`` of every tensor of the layer that has that many values
    there (weights, biases, running statistics)."""
    _cut_weight(state, attr, axis, index, only="")


def _cut_weight(state: dict, attr: str, axis: int, index: torch.Tensor, only: str) -> None:
    for key in [k for k in state if k.split(".", 1)[0] == attr]:
        tensor = state[key]
        if only and not key.endswith(only) or tensor.dim() <= axis:
            continue
        state[key] = tensor.index_select(axis, index.to(tensor.device)).contiguous()


def check_pruned(network: Network, state: dict) -> Compiled:
    """The smaller network compiled with its weights: shapes and weights must agree."""
    try:
        compiled = compile_network(network)
    except ValueError as e:
        raise CompressError(f"the pruned network has problems: {e}") from None
    compiled.layers.load_state_dict(state)
    return compiled
