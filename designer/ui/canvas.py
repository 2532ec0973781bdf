"""The canvas: a NodeGraphQt scene that shows one network of the document.

The scene is a view. User gestures (drag a link, move nodes, drop a layer, Tab search)
are turned into requests (signals) that the window executes as undoable edits of the
document; the edits then come back here as a ``Change`` and the scene follows. NodeGraphQt's
own undo stack and editing slots are not used.

Each layer is drawn as a card (``designer.ui.layer_card``). Nodes embed no widgets
(NodeGraphQt issue #444).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import nodes
from NodeGraphQt import BaseNode, NodeGraph
from NodeGraphQt.constants import LayoutDirectionEnum, PipeLayoutEnum, PortTypeEnum, ViewerEnum
from NodeGraphQt.qgraphics.pipe import PipeItem
from NodeGraphQt.widgets.viewer import NodeViewer
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QPainter

from designer.core.analysis import Analysis, Problem
from designer.core.project import Link, Network, Node
from designer.ui import theme
from designer.ui.commands import Change
from designer.ui.gradients import GradientLegend
from designer.ui.layer_card import (NODE_HEIGHT, NODE_WIDTH, OUTPUT_PORT, LayerItem,
                                    learning, node_class, tooltip)
from designer.ui.palette import LAYER_MIME, layer_from_mime
from designer.ui.text import shape_label

_LEGEND_MARGIN = 10
_READABLE_SCALE = 0.7  # below this the 8.5 pt card text is hard to read


class _Pipe(PipeItem):
    def reset(self):
        self._color = theme.current().rgb("pipe") + (255,)  # theme colour, not NodeGraphQt's
        super().reset()


class LayerViewer(NodeViewer):
    """NodeGraphQt's viewer with our drop target, Tab search, context menu and empty hint."""

    search_requested = Signal(QPoint)       # global position for the popup
    layer_dropped = Signal(str, QPointF)    # layer type, scene position
    menu_requested = Signal(QPoint, object)  # global position, node id under the cursor
    resized = Signal()

    def __init__(self):
        super().__init__(undo_stack=None)  # no NodeGraphQt undo actions or their shortcuts
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hint = "Drag a layer from the palette, double-click one, or press Tab here"
        self.empty = True  # the hint shows while it holds (set_empty keeps it current)

    def set_empty(self, empty: bool) -> None:
        """Show or hide the hint. The whole viewport is repainted: a partial repaint (of the
        first card's rectangle) would leave the hint's pixels around the card."""
        if empty != self.empty:
            self.empty = empty
            self.viewport().update()

    def event(self, event):
        if (event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab
                and not event.modifiers()):
            self.search_requested.emit(self.popup_position())
            return True
        return super().event(event)

    def establish_connection(self, start_port, end_port):
        """Draw a link (as NodeGraphQt does) in the theme's colour."""
        pipe = _Pipe()
        self.scene().addItem(pipe)
        pipe.set_connections(start_port, end_port)
        pipe.draw_path(pipe.input_port, pipe.output_port)
        if start_port.node.isSelected() or end_port.node.isSelected():
            pipe.highlight()

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        self.resized.emit()

    def popup_position(self) -> QPoint:
        local = self.mapFromGlobal(QCursor.pos())
        if not self.rect().contains(local):
            local = self.rect().center()
        return self.mapToGlobal(local)

    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(LAYER_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event):
        name = layer_from_mime(event.mimeData())
        if name is None:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.layer_dropped.emit(name, self.mapToScene(event.position().toPoint()))

    def contextMenuEvent(self, event):
        self.RMB_state = False
        node_id = None
        for item in self.scene().items(self.mapToScene(event.pos())):
            if isinstance(item, LayerItem):
                node_id = item.id
                break
        self.menu_requested.emit(event.globalPos(), node_id)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if not self.empty:
            return
        painter.save()
        painter.resetTransform()
        font = QFont()
        font.setPointSizeF(11)
        painter.setFont(font)
        painter.setPen(theme.current().color("muted"))
        painter.drawText(QRectF(self.viewport().rect()), Qt.AlignmentFlag.AlignCenter, self.hint)
        painter.restore()


class LayerGraph(NodeGraph):
    """NodeGraph whose editing slots report requests instead of editing its own model."""

    links_edited = Signal(list, list)  # removed, added: [(src id, dst id, input index)]
    nodes_moved = Signal(dict)         # node id -> (old position, new position)

    @staticmethod
    def _link(a, b) -> tuple[str, str, int]:
        dst, src = (a, b) if a.port_type == PortTypeEnum.IN.value else (b, a)
        return src.node.id, dst.node.id, dst.node.inputs.index(dst)

    def _on_connection_changed(self, disconnected, connected):
        if disconnected or connected:
            self.links_edited.emit([self._link(a, b) for a, b in disconnected],
                                   [self._link(a, b) for a, b in connected])

    def _on_connection_sliced(self, ports):
        if ports:
            self.links_edited.emit([self._link(a, b) for a, b in ports], [])

    def _on_nodes_moved(self, node_data):
        self.nodes_moved.emit({view.id: (tuple(prev), tuple(view.xy_pos))
                               for view, prev in node_data.items()})

    # Gestures the canvas does not offer (drops and Tab search are the viewer's own).
    def _on_search_triggered(self, node_type, pos):
        return

    def _on_insert_node(self, pipe, node_id, prev_node_pos):
        return

    def _on_node_data_dropped(self, mimedata, pos):
        return


class Canvas(QObject):
    """Shows a network in a NodeGraphQt viewer and reports the user's gestures."""

    selection_changed = Signal(list)        # selected node ids
    layer_dropped = Signal(str, tuple)      # layer type, node position
    search_requested = Signal(QPoint, tuple)  # popup position, node position for the layer
    menu_requested = Signal(QPoint, object)
    links_edited = Signal(list, list)
    nodes_moved = Signal(dict)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.graph = LayerGraph(viewer=LayerViewer(),
                                layout_direction=LayoutDirectionEnum.VERTICAL.value)
        self.viewer: LayerViewer = self.graph.viewer()
        self.graph.set_pipe_style(PipeLayoutEnum.CURVED.value)
        self.graph.set_acyclic(True)
        self.graph.set_pipe_collision(False)
        self.graph.set_grid_mode(ViewerEnum.GRID_DISPLAY_DOTS.value)
        self.graph.register_nodes([node_class(s) for s in nodes.CATALOG.values()])
        self.network: Network | None = None
        self.items: dict[str, BaseNode] = {}
        self._shown: dict[str, tuple] = {}
        self._quiet = False
        self.gradients: dict[str, tuple[QColor, str]] = {}  # layer name -> (colour, tooltip)
        self.legend = GradientLegend(self.viewer)
        self.legend.setAutoFillBackground(True)  # readable over cards and links
        self.legend.hide()
        self.viewer.resized.connect(self._place_legend)

        self.viewer.scene().selectionChanged.connect(self._on_selection)
        self.viewer.layer_dropped.connect(self._on_drop)
        self.viewer.search_requested.connect(self._on_search)
        self.viewer.menu_requested.connect(self.menu_requested)
        self.graph.links_edited.connect(self.links_edited)
        self.graph.nodes_moved.connect(self.nodes_moved)
        self.apply_theme()

    @property
    def widget(self) -> LayerViewer:
        return self.viewer

    # ---- building the scene from the document ------------------------------------------

    def show_network(self, network: Network) -> None:
        self._quiet = True
        try:
            for node_id in list(self.items):
                self._remove(node_id)
            self.network = network
            self._shown.clear()
            for node in network.nodes:
                self._add(node)
            for node in network.nodes:
                self._sync_inputs(node.id)
        finally:
            self._quiet = False
        self.viewer.set_empty(not self.items)
        self.viewer.scene().update()
        self.selection_changed.emit([])

    def apply(self, change: Change) -> None:
        """Follow one edit of the document."""
        if change.network is not self.network:
            self.show_network(change.network)
        self._quiet = True
        try:
            net = self.network
            for node_id in change.removed:
                if node_id in self.items:
                    self._remove(node_id)
            for node_id in change.added:
                if node_id not in self.items:
                    self._add(net.node(node_id))
            for node_id in change.moved:
                self.items[node_id].view.xy_pos = list(net.node(node_id).pos)
                self.items[node_id].model.pos = list(net.node(node_id).pos)
            for node_id in change.renamed:
                name = net.node(node_id).name
                self.items[node_id].model.name = name
                self.items[node_id].view.name = name
            for node_id in change.inputs | set(change.added):
                self._sync_inputs(node_id)
            if change.select is not None:
                self._select(change.select)
        finally:
            self._quiet = False
        self.viewer.set_empty(not self.items)
        if change.select is not None or change.removed:
            self.selection_changed.emit(self.selected_ids())

    def _add(self, node: Node) -> None:
        """Put a node in the scene. NodeGraph.add_node would also copy its model onto the
        view property by property; our nodes have nothing to copy, so this does the rest."""
        graph_node = node_class(node.spec)()
        graph_node.model.id = node.id
        graph_node.view.id = node.id
        graph_node.model.name = node.name
        graph_node.view.name = node.name
        graph_node.model.layout_direction = LayoutDirectionEnum.VERTICAL.value
        graph_node._graph = self.graph
        graph_node.model._graph_model = self.graph.model
        self.graph.model.nodes[node.id] = graph_node
        self.viewer.add_node(graph_node.view, list(node.pos))
        graph_node.model.pos = list(node.pos)
        self.items[node.id] = graph_node
        if node.name in self.gradients:
            graph_node.view.set_gradient(*self.gradients[node.name])

    def _remove(self, node_id: str) -> None:
        graph_node = self.items.pop(node_id)
        self._shown.pop(node_id, None)
        for port in graph_node.input_ports() + graph_node.output_ports():
            for pipe in list(port.view.connected_pipes):
                other = pipe.output_port if port.type_() == PortTypeEnum.IN.value \
                    else pipe.input_port
                pipe.delete()
                if other is not None and other.node.id in self.items:
                    for p in self._ports(other.node.id):
                        p.model.connected_ports.pop(node_id, None)
        self.graph.model.nodes.pop(node_id, None)
        graph_node.view.delete()

    def _ports(self, node_id: str) -> list:
        g = self.items[node_id]
        return g.input_ports() + g.output_ports()

    def _sync_inputs(self, dst_id: str) -> None:
        """Make the pipes into ``dst_id`` (and NodeGraphQt's port records) match the document."""
        target = self.items.get(dst_id)
        if target is None:
            return
        spec = self.network.node(dst_id).spec
        in_ports = target.input_ports()
        wanted: list[list[str]] = [[] for _ in in_ports]
        for link in self.network.links:
            if link.dst != dst_id or link.src not in self.items:
                continue
            index = 0 if spec.multi_input else link.port
            if index < len(in_ports) and self.items[link.src].output_ports():
                wanted[index].append(link.src)
        touched: set[str] = set()
        for port, sources in zip(in_ports, wanted):
            missing = Counter(sources)
            for pipe in list(port.view.connected_pipes):
                src = pipe.output_port.node.id
                if missing[src] > 0:
                    missing[src] -= 1
                else:
                    pipe.delete()
            for src, count in missing.items():
                out_view = self.items[src].output_ports()[0].view
                for _ in range(count):
                    self.viewer.establish_connection(out_view, port.view)
            touched |= set(port.model.connected_ports) | set(sources)
            port.model.connected_ports.clear()
            for src in sources:
                port.model.connected_ports[src].append(OUTPUT_PORT)
            port.view.update()
        for src in touched:
            if src not in self.items or not self.items[src].output_ports():
                continue
            out = self.items[src].output_ports()[0]
            names = [p.name() for p, s in zip(in_ports, wanted) for x in s if x == src]
            if names:
                out.model.connected_ports[dst_id] = names
            else:
                out.model.connected_ports.pop(dst_id, None)
            out.view.update()

    # ---- analysis on the nodes ---------------------------------------------------------

    def show_analysis(self, analysis: Analysis, data_problems: list[Problem] = ()) -> None:
        """Output shape on every node; red outline and tooltip on nodes with an error (of the
        network, or of the network against its data)."""
        data_errors: dict[str, str] = {}
        for problem in data_problems:
            if problem.node_id is not None:
                data_errors.setdefault(problem.node_id, problem.message)
        for node_id, graph_node in self.items.items():
            info = analysis.nodes.get(node_id)
            if info is None:
                continue
            if info.error is None and node_id in data_errors:
                info = replace(info, error=data_errors[node_id])
            text = shape_label(info.shape)
            frozen, learns = learning(self.network.node(node_id).spec, info.props)
            key = (text, info.error, info.params, info.macs, graph_node.view.name, learns)
            if self._shown.get(node_id) == key:
                continue
            self._shown[node_id] = key
            graph_node.view.set_info(text, info.error,
                                     tooltip(graph_node.view, text, info, learns), frozen)

    # ---- gradient norms while training -------------------------------------------------

    def show_gradients(self, colors: dict[str, tuple[int, int, int]],
                       tips: dict[str, str]) -> None:
        """Colour each layer named in ``colors`` (by layer name, as the trainer reports them)
        with a bar along its foot, explained in its tooltip; other layers lose their bar. The
        legend shows in the canvas corner."""
        self.gradients = {name: (QColor(*rgb), tips.get(name, "")) for name, rgb in colors.items()}
        for graph_node in self.items.values():
            view = graph_node.view
            view.set_gradient(*self.gradients.get(view.name, (None, "")))
        self._place_legend()
        self.legend.show()
        self.legend.raise_()

    def clear_gradients(self) -> None:
        self.gradients = {}
        for graph_node in self.items.values():
            graph_node.view.set_gradient(None)
        self.legend.hide()

    def gradient_of(self, node_id: str) -> tuple[int, int, int] | None:
        """The colour of a layer's gradient bar, None without one."""
        colour = self.items[node_id].view.gradient
        return None if colour is None else (colour.red(), colour.green(), colour.blue())

    def _place_legend(self) -> None:
        size = self.legend.sizeHint()
        self.legend.resize(size)
        self.legend.move(self.viewer.width() - size.width() - _LEGEND_MARGIN,
                         self.viewer.height() - size.height() - _LEGEND_MARGIN)

    # ---- selection and view ------------------------------------------------------------

    def selected_ids(self) -> list[str]:
        return [i.id for i in self.viewer.scene().selectedItems() if isinstance(i, LayerItem)]

    def selected_links(self) -> list[Link]:
        """Document links whose pipes are selected."""
        found = []
        for pipe in self.viewer.selected_pipes():
            if pipe.input_port is None or pipe.output_port is None:
                continue
            src, dst, port = LayerGraph._link(pipe.input_port, pipe.output_port)
            multi = self.network.node(dst).spec.multi_input
            for link in self.network.links:
                if (link.src, link.dst) == (src, dst) and (multi or link.port == port) \
                        and link not in found:
                    found.append(link)
                    break
        return found

    def select(self, node_ids: list[str], center: bool = False) -> None:
        self._quiet = True
        try:
            self._select(node_ids)
        finally:
            self._quiet = False
        if center and node_ids and node_ids[0] in self.items:
            self.viewer.center_selection([self.items[node_ids[0]].view])
        self.selection_changed.emit(self.selected_ids())

    def _select(self, node_ids: list[str]) -> None:
        self.viewer.scene().clearSelection()
        for node_id in node_ids:
            if node_id in self.items:
                self.items[node_id].view.setSelected(True)

    def zoom_to_fit(self, readable: bool = False) -> None:
        """Show the whole network (never above 100 %). With ``readable``, a tall network is
        shown from its top at a scale where card text can still be read."""
        views = [g.view for g in self.items.values()]
        if not views:
            self.viewer.reset_zoom(QPointF(0, 0))
            return
        rect = QRectF()
        for v in views:
            rect = rect.united(v.sceneBoundingRect())
        rect.adjust(-60, -50, 60, 50)
        port = self.viewer.viewport().rect()
        scale = min(port.width() / rect.width(), port.height() / rect.height())
        if scale >= 1.0:
            self.viewer.reset_zoom(rect.center())
        elif readable and scale < _READABLE_SCALE:
            height = port.height() / _READABLE_SCALE
            width = port.width() / _READABLE_SCALE
            self.viewer.set_scene_rect([rect.center().x() - width / 2, rect.top(), width, height])
        else:
            self.viewer.set_scene_rect([rect.x(), rect.y(), rect.width(), rect.height()])

    def reveal(self, node_id: str) -> None:
        """Scroll a node into view when it lies (partly) outside it."""
        view = self.items[node_id].view
        visible = self.viewer.mapToScene(self.viewer.viewport().rect()).boundingRect()
        if not visible.contains(view.sceneBoundingRect()):
            self.viewer.center_selection([view])

    def visible_center(self) -> tuple[float, float]:
        c = self.viewer.mapToScene(self.viewer.viewport().rect().center())
        return c.x(), c.y()

    def free_position(self, near: tuple[float, float]) -> tuple[float, float]:
        """``near``, moved right until it overlaps no node."""
        x, y = near
        taken = [g.view.sceneBoundingRect() for g in self.items.values()]
        while any(r.intersects(QRectF(x, y, NODE_WIDTH, NODE_HEIGHT)) for r in taken):
            x += NODE_WIDTH + 40
        return x, y

    def apply_theme(self) -> None:
        t = theme.current()
        self.graph.set_background_color(*t.rgb("canvas"))
        self.graph.set_grid_color(*t.rgb("grid"))
        for pipe in self.viewer.all_pipes():
            pipe.reset()
        for g in self.items.values():
            g.view.draw_node()
        self.viewer.scene().update()

    # ---- gestures ----------------------------------------------------------------------

    def _on_selection(self) -> None:
        if not self._quiet:
            self.selection_changed.emit(self.selected_ids())

    def _on_drop(self, layer_type: str, scene_pos: QPointF) -> None:
        self.layer_dropped.emit(layer_type, (round(scene_pos.x() - NODE_WIDTH / 2),
                                             round(scene_pos.y() - NODE_HEIGHT / 2)))

    def _on_search(self, global_pos: QPoint) -> None:
        local = self.viewer.mapFromGlobal(global_pos)
        scene = self.viewer.mapToScene(local)
        self.search_requested.emit(global_pos, (round(scene.x() - NODE_WIDTH / 2),
                                                round(scene.y() - NODE_HEIGHT / 2)))
