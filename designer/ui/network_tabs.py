"""The project's networks as tabs over the canvas: click one to edit it; + adds one; its
context menu renames, duplicates or deletes it. Each of these is one undo step.

A rename also renames what names the network (optimizers, monitors, executors, Units that use
it), so nothing is left pointing at a missing network. A network that something still names
cannot be deleted; the message says what names it.
"""
from __future__ import annotations

import copy

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QInputDialog, QMenu, QTabBar, QWidget

from designer.core.project import Network, Node, Project, unused_name
from designer.ui import dialogs
from designer.ui.commands import NAME_PATTERN, DocumentEditor


def is_unit(node: Node) -> bool:
    return node.spec.role == "unit"


def network_name_problem(project: Project, name: str, current: str | None = None) -> str | None:
    if not NAME_PATTERN.fullmatch(name):
        return (f"{name!r} is not a usable network name: letters, digits and _, not starting "
                "with a digit")
    if name != current and project.find_network(name) is not None:
        return f"the project already has a network named {name}"
    return None


def users_of(project: Project, name: str) -> list[str]:
    """What names network ``name``: configuration entries and Units, in words."""
    found = [f"{field} ({entry.name})" for field, entry in project.training.references()
             if entry.network == name]
    found += [f"Unit {node.name} in {net.name}" for net in project.networks if net.name != name
              for node in net.nodes if is_unit(node) and node.props.get("Network") == name]
    return found


def fresh_network_name(project: Project, base: str) -> str:
    return unused_name(base, {n.name for n in project.networks})


class NetworksCommand(QUndoCommand):
    """Inserts or removes one network at a place in the list (undo does the other)."""

    def __init__(self, editor: DocumentEditor, network: Network, index: int, adding: bool,
                 text: str, show: bool = True):
        super().__init__(text)
        self.editor, self.network, self.index, self.adding = editor, network, index, adding
        self.shown, self.show = editor.network, show  # show: edit the added network

    def _apply(self, add: bool) -> None:
        networks = self.editor.project.networks
        if add:
            networks.insert(self.index, self.network)
            if self.show:
                self.editor.network = self.network
        else:
            networks.remove(self.network)
            if self.editor.network is self.network:
                self.editor.network = (self.shown if self.shown is not self.network
                                       else networks[min(self.index, len(networks) - 1)])
        self.editor.project_replaced.emit()

    def redo(self) -> None:
        self._apply(self.adding)

    def undo(self) -> None:
        self._apply(not self.adding)


class _RenameNetworkCommand(QUndoCommand):
    def __init__(self, editor: DocumentEditor, network: Network, new: str):
        super().__init__(f"Rename network {network.name} to {new}")
        self.editor, self.network, self.old, self.new = editor, network, network.name, new
        self.units = [node for net in editor.project.networks for node in net.nodes
                      if is_unit(node) and node.props.get("Network") == self.old]

    def _set(self, old: str, new: str) -> None:
        self.network.name = new
        self.editor.project.training.rename_network(old, new)
        for node in self.units:
            node.props["Network"] = new
        self.editor.project_replaced.emit()

    def redo(self) -> None:
        self._set(self.old, self.new)

    def undo(self) -> None:
        self._set(self.new, self.old)


def add_network(editor: DocumentEditor, name: str | None = None) -> Network:
    network = Network(name or fresh_network_name(editor.project, "Network"))
    editor.undo_stack.push(NetworksCommand(editor, network, len(editor.project.networks), True,
                                            f"Add network {network.name}"))
    return network


def duplicate_network(editor: DocumentEditor, network: Network) -> Network:
    twin = copy.deepcopy(network)
    twin.name = fresh_network_name(editor.project, network.name)
    index = editor.project.networks.index(network) + 1
    editor.undo_stack.push(NetworksCommand(editor, twin, index, True,
                                            f"Duplicate network {network.name}"))
    return twin


def delete_network(editor: DocumentEditor, network: Network) -> str | None:
    """Delete ``network``; returns why not instead when something names it or it is the last."""
    project = editor.project
    if len(project.networks) == 1:
        return "a project keeps at least one network"
    users = users_of(project, network.name)
    if users:
        return (f"network {network.name} is used by {', '.join(users[:4])}"
                f"{' and more' if len(users) > 4 else ''}; change those first")
    editor.undo_stack.push(NetworksCommand(editor, network, project.networks.index(network),
                                            False, f"Delete network {network.name}"))
    return None


def rename_network(editor: DocumentEditor, network: Network, name: str) -> str | None:
    problem = network_name_problem(editor.project, name, network.name)
    if problem:
        return problem
    if name != network.name:
        editor.undo_stack.push(_RenameNetworkCommand(editor, network, name))
    return None


class NetworkTabs(QTabBar):
    """One tab per network of the editor's project, the edited one current."""

    def __init__(self, editor: DocumentEditor, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        self.setDocumentMode(True)
        self.setExpanding(False)
        self.setMovable(False)
        self._filling = False
        self.currentChanged.connect(self._on_current)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def refresh(self) -> None:
        """Follow the project: its networks, in order, and the one being edited."""
        self._filling = True
        names = [n.name for n in self.editor.project.networks] + ["+"]
        while self.count() > len(names):
            self.removeTab(self.count() - 1)
        for i, name in enumerate(names):
            if i < self.count():
                self.setTabText(i, name)
            else:
                self.addTab(name)
        self.setTabToolTip(len(names) - 1, "Add a network")
        self.setCurrentIndex(self.editor.project.networks.index(self.editor.network))
        self._filling = False

    def _on_current(self, index: int) -> None:
        if self._filling or index < 0:
            return
        networks = self.editor.project.networks
        if index == len(networks):
            add_network(self.editor)
        elif networks[index] is not self.editor.network:
            self.editor.show_network(networks[index].name)

    def _menu(self, pos: QPoint) -> None:
        index = self.tabAt(pos)
        networks = self.editor.project.networks
        if not 0 <= index < len(networks):
            return
        network = networks[index]
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.ask_rename(network))
        menu.addAction("Duplicate", lambda: duplicate_network(self.editor, network))
        menu.addAction("Delete", lambda: self._refuse(delete_network(self.editor, network)))
        menu.exec(self.mapToGlobal(pos))

    def ask_rename(self, network: Network) -> None:
        name, ok = QInputDialog.getText(self, "Rename network", "Name:", text=network.name)
        if ok:
            self._refuse(rename_network(self.editor, network, name.strip()))

    def _refuse(self, problem: str | None) -> None:
        if problem:
            dialogs.info(self, "Networks", problem)
