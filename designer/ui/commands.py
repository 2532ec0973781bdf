"""Every edit of the document is a QUndoCommand: it changes the project document, then says
what changed so the views (canvas, panels) can follow.

The document in ``designer.core.project`` is the source of truth; nothing here keeps a second
copy of the network. Undo restores the document exactly (list order included), so a project
that is edited and undone saves byte for byte as before.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import nodes
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from designer.core.analysis import Fix
from designer.core.project import (Dataset, Link, Network, Node, Project, TrainingConfig,
                                   to_json_props, unused_name)

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CLIPBOARD_FORMAT = "nn-designer-nodes"


@dataclass
class Change:
    """What one edit changed in ``network``, for the views to follow."""

    network: Network
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    inputs: set[str] = field(default_factory=set)  # nodes whose incoming links changed
    props: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    select: list[str] | None = None  # ids to select afterwards (None: leave the selection)

    @property
    def affects_analysis(self) -> bool:
        """Moves alone change no shape, parameter count or problem."""
        return bool(self.added or self.removed or self.inputs or self.props or self.renamed)


class DocumentEditor(QObject):
    """Owns the project being edited and the undo stack that edits it."""

    changed = Signal(object)  # Change
    project_replaced = Signal()  # a new, opened or restored project
    settings_changed = Signal(str)  # "datasets" or "training": that block of the project

    def __init__(self, project: Project | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.project = project or empty_project()
        self.network = self.project.network()

    # ---- whole-document operations ------------------------------------------------------

    def replace(self, project: Project, modified: bool = False) -> None:
        self.project = project
        self.network = project.network()
        self.undo_stack.clear()
        if modified:
            self.undo_stack.resetClean()
        self.project_replaced.emit()

    def show_network(self, name: str) -> None:
        """Edit another network of the project (the undo history spans all of them)."""
        self.network = self.project.network(name)
        self.project_replaced.emit()

    def notify(self, change: Change) -> None:
        if change.network is not self.network:
            self.network = change.network
            self.project_replaced.emit()
        self.changed.emit(change)

    # ---- edits: each pushes one undo step -----------------------------------------------

    def add_layer(self, layer_type: str, pos: tuple[float, float],
                  connect_from: str | None = None) -> Node:
        """Add a layer with default properties; optionally fed by ``connect_from``."""
        net = self.network
        spec = nodes.get_spec(layer_type)
        node = Node(net.new_id(), layer_type, net.unique_name(layer_type),
                    to_json_props(spec.defaults()), (float(pos[0]), float(pos[1])))
        links = []
        if connect_from is not None and spec.inputs and has_output(net.node(connect_from)):
            links.append(Link(connect_from, node.id, 0))
        self.undo_stack.push(AddNodesCommand(self, net, [node], links, f"Add {node.name}"))
        return node

    def remove(self, node_ids: list[str], links: list[Link] = ()) -> None:
        """Delete nodes (with their links) and single links, as one undo step."""
        if not node_ids and not links:
            return
        what = (f"Delete {self.network.node(node_ids[0]).name}" if len(node_ids) == 1
                else f"Delete {len(node_ids)} layers" if node_ids else "Delete link")
        self.undo_stack.push(RemoveCommand(self, self.network, node_ids, list(links), what))

    def move(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
             text: str = "Move") -> None:
        """``moves``: node id → (old position, new position)."""
        moves = {k: (tuple(map(float, a)), tuple(map(float, b)))
                 for k, (a, b) in moves.items() if tuple(a) != tuple(b)}
        if moves:
            self.undo_stack.push(MoveCommand(self, self.network, moves, text))

    def relink(self, removed: list[Link], added: list[Link]) -> None:
        """Disconnect ``removed`` (links of the document) and connect ``added``."""
        if not removed and not added:
            return
        text = "Connect" if added else "Disconnect"
        self.undo_stack.push(RelinkCommand(self, self.network, removed, added, text))

    def set_prop(self, node_id: str, name: str, value: Any) -> None:
        """Set a property to a value already parsed by its Prop."""
        node = self.network.node(node_id)
        value = to_json_props({name: value})[name]
        if node.props.get(name) == value:
            return
        self.undo_stack.push(SetPropCommand(self, self.network, node_id, name, value))

    def rename(self, node_id: str, name: str) -> str | None:
        """Rename a node; returns a message instead when the name is not usable."""
        node = self.network.node(node_id)
        problem = name_problem(self.network, name, node_id)
        if problem:
            return problem
        if name != node.name:
            self.undo_stack.push(RenameCommand(self, self.network, node_id, name))
        return None

    def set_datasets(self, datasets: dict[str, Dataset], text: str) -> None:
        """Replace the project's datasets (all of them, in order) as one undo step."""
        if datasets != self.project.datasets:
            self.undo_stack.push(SetDatasetsCommand(self, datasets, text))

    def set_training(self, training: TrainingConfig, text: str) -> None:
        """Replace the project's training settings as one undo step."""
        if training != self.project.training:
            self.undo_stack.push(SetTrainingCommand(self, training, text))

    def apply_fix(self, fix: Fix) -> None:
        """A problem's fix, in the training network (where the data checks found it)."""
        network = self.project.network()
        value = to_json_props({fix.prop: fix.value})[fix.prop]
        if network.node(fix.node_id).props.get(fix.prop) != value:
            command = SetPropCommand(self, network, fix.node_id, fix.prop, value)
            command.setText(f"Fix: {fix}")
            self.undo_stack.push(command)

    def paste(self, payload: dict, offset: tuple[float, float]) -> list[str]:
        """Add the nodes and links of a clipboard payload; returns the new ids."""
        net = self.network
        taken_ids = {n.id for n in net.nodes}
        taken_names = {n.name for n in net.nodes}
        new_nodes, id_map = [], {}
        for entry in payload["nodes"]:
            spec = nodes.get_spec(entry["type"])
            props = to_json_props(spec.parse_props(entry.get("props", {})))
            node_id = _fresh(taken_ids, "n", len(net.nodes) + len(new_nodes) + 1)
            name = _unique(taken_names, entry.get("name") or spec.name)
            x, y = entry.get("pos", (0, 0))
            id_map[entry["id"]] = node_id
            new_nodes.append(Node(node_id, spec.name, name, props,
                                  (float(x) + offset[0], float(y) + offset[1])))
        links = [Link(id_map[k["from"]], id_map[k["to"]], int(k.get("port", 0)))
                 for k in payload.get("links", []) if k["from"] in id_map and k["to"] in id_map]
        if new_nodes:
            text = (f"Paste {new_nodes[0].name}" if len(new_nodes) == 1
                    else f"Paste {len(new_nodes)} layers")
            self.undo_stack.push(AddNodesCommand(self, net, new_nodes, links, text))
        return [n.id for n in new_nodes]


def empty_project() -> Project:
    return Project()


def has_output(node: Node) -> bool:
    """Losses end the network: they have no output port."""
    return node.spec.has_output


def name_problem(network: Network, name: str, node_id: str | None = None) -> str | None:
    if not NAME_PATTERN.fullmatch(name):
        return (f"{name!r} is not a valid name: use letters, digits and _, "
                "starting with a letter or _")
    for other in network.nodes:
        if other.name == name and other.id != node_id:
            return f"another layer is already named {name!r}"
    return None


def _fresh(taken: set[str], prefix: str, start: int) -> str:
    i = start
    while f"{prefix}{i}" in taken:
        i += 1
    taken.add(f"{prefix}{i}")
    return f"{prefix}{i}"


def _unique(taken: set[str], base: str) -> str:
    name = unused_name(base, taken)
    taken.add(name)
    return name


def clipboard_payload(network: Network, node_ids: list[str]) -> dict:
    """The selected nodes and the links between them, as plain JSON data."""
    chosen = set(node_ids)
    return {
        "format": CLIPBOARD_FORMAT,
        "nodes": [{"id": n.id, "type": n.type, "name": n.name, "props": n.props,
                   "pos": list(n.pos)} for n in network.nodes if n.id in chosen],
        "links": [{"from": k.src, "to": k.dst, "port": k.port} for k in network.links
                  if k.src in chosen and k.dst in chosen],
    }


def parse_clipboard(text: str) -> dict | None:
    """The payload in ``text``, or None when it is not copied layers."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("format") != CLIPBOARD_FORMAT:
        return None
    try:
        for entry in data["nodes"]:
            nodes.get_spec(entry["type"]).parse_props(entry.get("props", {}))
            str(entry["id"])
    except (KeyError, TypeError, ValueError):
        return None
    return data


# ---- commands -------------------------------------------------------------------------------

class _Edit(QUndoCommand):
    def __init__(self, editor: DocumentEditor, network: Network, text: str):
        super().__init__(text)
        self.editor = editor
        self.network = network


class AddNodesCommand(_Edit):
    """Add nodes and links (a new layer, or a paste)."""

    def __init__(self, editor, network, new_nodes: list[Node], links: list[Link], text: str):
        super().__init__(editor, network, text)
        self.nodes = new_nodes
        self.links = links

    def _change(self, **kw) -> Change:
        return Change(self.network, inputs={k.dst for k in self.links}, **kw)

    def redo(self) -> None:
        self.network.nodes.extend(self.nodes)
        self.network.links.extend(self.links)
        self.editor.notify(self._change(added=[n.id for n in self.nodes],
                                        select=[n.id for n in self.nodes]))

    def undo(self) -> None:
        _remove_objects(self.network.links, self.links)
        _remove_objects(self.network.nodes, self.nodes)
        self.editor.notify(self._change(removed=[n.id for n in self.nodes], select=[]))


class RemoveCommand(_Edit):
    """Remove nodes with every link touching them, plus chosen links; undo puts each back at
    its old place in the lists."""

    def __init__(self, editor, network, node_ids: list[str], links: list[Link], text: str):
        super().__init__(editor, network, text)
        doomed = set(node_ids)
        self.nodes = [(i, n) for i, n in enumerate(network.nodes) if n.id in doomed]
        link_ids = {id(k) for k in links}
        self.links = [(i, k) for i, k in enumerate(network.links)
                      if k.src in doomed or k.dst in doomed or id(k) in link_ids]

    def _change(self, **kw) -> Change:
        return Change(self.network, inputs={k.dst for _, k in self.links}, **kw)

    def redo(self) -> None:
        _remove_objects(self.network.links, [k for _, k in self.links])
        _remove_objects(self.network.nodes, [n for _, n in self.nodes])
        self.editor.notify(self._change(removed=[n.id for _, n in self.nodes], select=[]))

    def undo(self) -> None:
        for i, n in self.nodes:
            self.network.nodes.insert(i, n)
        for i, k in self.links:
            self.network.links.insert(i, k)
        self.editor.notify(self._change(added=[n.id for _, n in self.nodes],
                                        select=[n.id for _, n in self.nodes]))


class MoveCommand(_Edit):
    def __init__(self, editor, network, moves: dict, text: str):
        super().__init__(editor, network, text)
        self.moves = moves

    def _apply(self, which: int) -> None:
        for node_id, positions in self.moves.items():
            self.network.node(node_id).pos = positions[which]
        self.editor.notify(Change(self.network, moved=list(self.moves)))

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class RelinkCommand(_Edit):
    """Connect and disconnect ports in one step (a drag that moves a link does both)."""

    def __init__(self, editor, network, removed: list[Link], added: list[Link], text: str):
        super().__init__(editor, network, text)
        gone = {id(k) for k in removed}
        self.removed = [(i, k) for i, k in enumerate(network.links) if id(k) in gone]
        self.added = added

    def _change(self) -> Change:
        return Change(self.network, inputs={k.dst for _, k in self.removed} |
                      {k.dst for k in self.added})

    def redo(self) -> None:
        _remove_objects(self.network.links, [k for _, k in self.removed])
        self.network.links.extend(self.added)
        self.editor.notify(self._change())

    def undo(self) -> None:
        _remove_objects(self.network.links, self.added)
        for i, k in self.removed:
            self.network.links.insert(i, k)
        self.editor.notify(self._change())


_MISSING = object()


class SetPropCommand(_Edit):
    def __init__(self, editor, network, node_id: str, name: str, value: Any):
        node = network.node(node_id)
        super().__init__(editor, network, f"Set {node.name}.{name}")
        self.node_id, self.name, self.value = node_id, name, value
        self.old = node.props.get(name, _MISSING)

    def _set(self, value: Any) -> None:
        props = self.network.node(self.node_id).props
        if value is _MISSING:
            props.pop(self.name, None)
        else:
            props[self.name] = value
        self.editor.notify(Change(self.network, props=[self.node_id]))

    def redo(self) -> None:
        self._set(self.value)

    def undo(self) -> None:
        self._set(self.old)


class RenameCommand(_Edit):
    def __init__(self, editor, network, node_id: str, name: str):
        node = network.node(node_id)
        super().__init__(editor, network, f"Rename {node.name} to {name}")
        self.node_id, self.new, self.old = node_id, name, node.name

    def _set(self, name: str) -> None:
        self.network.node(self.node_id).name = name
        self.editor.notify(Change(self.network, renamed=[self.node_id]))

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class _SettingsCommand(QUndoCommand):
    """Swap one block of the project (copied, so later edits cannot reach into the history)."""

    block = ""

    def __init__(self, editor: DocumentEditor, value: Any, text: str):
        super().__init__(text)
        self.editor, self.project = editor, editor.project
        self.new, self.old = copy.deepcopy(value), copy.deepcopy(getattr(editor.project,
                                                                         self.block))

    def _set(self, value: Any) -> None:
        setattr(self.project, self.block, copy.deepcopy(value))
        self.editor.settings_changed.emit(self.block)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class SetDatasetsCommand(_SettingsCommand):
    block = "datasets"


class SetTrainingCommand(_SettingsCommand):
    block = "training"


def _remove_objects(items: list, doomed: list) -> None:
    """Remove exactly these objects (by identity: equal links may appear twice)."""
    ids = {id(x) for x in doomed}
    items[:] = [x for x in items if id(x) not in ids]
