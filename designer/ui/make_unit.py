"""Make Unit: the selected layers become a network of their own, used in their place by one
Unit layer, in one undo step.

The selection must have one entry (one link into it from outside) and one exit (one layer
whose output leaves it). The new network starts with an Input of the entry's shape; the Unit's
ParameterScope is empty, so its layers keep their names and any trained weights keep theirs.
"""
from __future__ import annotations

import copy

import nodes
from designer.core.analysis import Analysis
from designer.core.project import Link, Network, Node, to_json_props
from designer.ui.commands import AddNodesCommand, DocumentEditor, RemoveCommand
from designer.ui.network_tabs import NetworksCommand, fresh_network_name


def unit_problem(network: Network, ids: list[str]) -> tuple[str | None, tuple | None]:
    """(why the selection cannot become a unit, or None; (entry link, exit id, exit links))."""
    chosen = set(ids)
    if not chosen:
        return "select the layers to make into a unit", None
    if any(network.node(i).spec.is_input or network.node(i).spec.is_loss
           or network.node(i).spec.role == "argument" for i in chosen):
        return "a unit holds neither Inputs nor losses: leave them out of the selection", None
    entering = [k for k in network.links if k.dst in chosen and k.src not in chosen]
    leaving = [k for k in network.links if k.src in chosen and k.dst not in chosen]
    exits = list(dict.fromkeys(k.src for k in leaving))
    if len(entering) != 1:
        return (f"a unit has one input, but {len(entering)} links enter the selection", None)
    if len(exits) != 1:
        return (f"a unit has one output, but {len(exits)} selected layers feed layers outside "
                "it", None)
    return None, (entering[0], exits[0], leaving)


def make_unit(editor: DocumentEditor, ids: list[str], analysis: Analysis | None) -> str | None:
    """Replace the layers ``ids`` of the edited network by a Unit; returns why not instead."""
    network = editor.network
    problem, found = unit_problem(network, ids)
    if problem:
        return problem
    entry, exit_id, leaving = found
    shape = analysis.nodes[entry.src].shape if analysis and entry.src in analysis.nodes else None
    if shape is None:
        return "the shape entering the selection is not known yet: fix the problems above it"
    inside = set(ids)
    unit_net = Network(fresh_network_name(editor.project, "Unit"))
    unit_net.nodes += [copy.deepcopy(n) for n in network.nodes if n.id in inside]
    unit_net.links += [copy.copy(k) for k in network.links
                       if k.src in inside and k.dst in inside]
    x, y = network.node(entry.dst).pos
    unit_input = Node(unit_net.new_id(), "Input", "Input",
                      to_json_props({**nodes.get_spec("Input").defaults(), "Size": list(shape)}),
                      (x, y - 90.0))
    unit_net.nodes.insert(0, unit_input)
    unit_net.links.insert(0, Link(unit_input.id, entry.dst, entry.port))
    unit_props = {**nodes.get_spec("Unit").defaults(), "Network": unit_net.name,
                  "ParameterScope": ""}
    unit = Node(network.new_id(), "Unit", network.unique_name(unit_net.name),
                to_json_props(unit_props), network.node(entry.dst).pos)
    links = [Link(entry.src, unit.id, 0)] + [Link(unit.id, k.dst, k.port) for k in leaving]
    stack = editor.undo_stack
    stack.beginMacro(f"Make unit {unit_net.name}")
    stack.push(NetworksCommand(editor, unit_net, len(editor.project.networks), True,
                               f"Add network {unit_net.name}", show=False))
    stack.push(RemoveCommand(editor, network, ids, [], "Remove the unit's layers"))
    stack.push(AddNodesCommand(editor, network, [unit], links, f"Add {unit.name}"))
    stack.endMacro()
    return None
