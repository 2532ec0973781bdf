"""The card drawn for each layer on the canvas: category stripe, name, type and output shape,
a red outline and tooltip for an error, a snowflake and hatching for a frozen layer, and the
gradient-norm bar while training. One
NodeGraphQt node class is generated per layer spec (``node_class``); its ports are the spec's
inputs and one output ``y`` (none for losses).
"""
from __future__ import annotations

import nodes
from NodeGraphQt import BaseNode
from NodeGraphQt.constants import LayoutDirectionEnum, PortEnum, PortTypeEnum
from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.node_base import NodeItem
from NodeGraphQt.qgraphics.port import PortItem
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSimpleTextItem

from designer.ui import theme

NODE_WIDTH = 200.0
NODE_HEIGHT = 50.0
_STRIPE = 6.0
_GRADIENT_BAR = 7.0  # height of the gradient-norm bar along a card's foot
OUTPUT_PORT = "y"
FROZEN_MARK = "❄"


class _NoLabel:
    """Stands in for a port's name label: ports are unlabeled in a top-to-bottom layout, and a
    QGraphicsTextItem per port is the costliest part of building a big network."""

    def setVisible(self, visible):  # noqa: N802 (NodeGraphQt calls Qt-style names)
        return

    def isVisible(self):  # noqa: N802
        return False

    def boundingRect(self):  # noqa: N802
        return QRectF()

    def setPos(self, *args):  # noqa: N802
        return

    def setDefaultTextColor(self, colour):  # noqa: N802
        return


class _NoOverlay(_NoLabel):
    """Stands in for NodeGraphQt's icon and "disabled" overlay, which layers never show."""

    proxy_mode = False


_NO_LABEL = _NoLabel()
_SELECTED_CHANGE = QGraphicsItem.GraphicsItemChange.ItemSelectedChange
_SCENE_MOVED = QGraphicsItem.GraphicsItemChange.ItemScenePositionHasChanged


class _NameItem(QGraphicsSimpleTextItem):
    """The layer name on the card (renaming happens in the properties panel)."""

    def setPlainText(self, text):  # noqa: N802
        self.setText(text)

    def toPlainText(self):  # noqa: N802
        return self.text()

    def setDefaultTextColor(self, colour):  # noqa: N802
        self.setBrush(colour)


class _Port(PortItem):
    """NodeGraphQt's port, with its hot paths kept cheap: Qt asks for the bounding rectangle
    of every visible port on every repaint."""

    _rect = QRectF(0.0, 0.0, PortEnum.SIZE.value + PortEnum.CLICK_FALLOFF.value,
                   PortEnum.SIZE.value)

    def boundingRect(self):  # noqa: N802
        return self._rect

    def itemChange(self, change, value):  # noqa: N802
        if change == _SCENE_MOVED:
            self.redraw_connected_pipes()
        return value


class LayerItem(NodeItem):
    """How a layer looks: a card with a category stripe, the name, the type and the output
    shape; a red outline and a tooltip with the message while the layer has an error; while a
    run trains, a bar along its foot in the colour of its gradient norm.

    It reuses NodeItem's ports, selection and proxy drawing but builds lighter children
    (no icon pixmap, no editable text document, no port labels) so that opening a network of
    hundreds of layers stays quick.
    """

    def __init__(self, name: str = "node", parent=None):
        AbstractNodeItem.__init__(self, name, parent)
        self._properties["visible"] = True
        self._properties["layout_direction"] = LayoutDirectionEnum.VERTICAL.value
        self._icon_item = _NoOverlay()
        self._x_item = _NoOverlay()
        self._text_item = _NameItem(name, self)
        self._text_item.setFont(_fonts()[3])
        self._text_item.setPos(_STRIPE + 6, 7)
        self._input_items = {}
        self._output_items = {}
        self._widgets = {}
        self._proxy_mode = False
        self._proxy_mode_threshold = 70
        self._rect = QRectF(0.0, 0.0, NODE_WIDTH, NODE_HEIGHT)
        self.category = "Others"
        self.layer_type = ""
        self.shape_text = ""
        self.error: str | None = None
        self.frozen = ""  # "all": every learned tensor frozen; "some": part of them
        self.gradient: QColor | None = None
        self._tip = ""
        self._gradient_tip = ""

    def boundingRect(self):  # noqa: N802
        return self._rect

    def set_info(self, shape_text: str, error: str | None, tip: str, frozen: str = "") -> None:
        self.shape_text = shape_text
        self.error = error
        self.frozen = frozen
        self._tip = tip
        self._show_tip()
        self.update()

    def set_gradient(self, colour: QColor | None, tip: str = "") -> None:
        """The gradient-norm bar (None: no bar) and the line that explains it in the tooltip."""
        if colour == self.gradient and tip == self._gradient_tip:
            return
        self.gradient = colour
        self._gradient_tip = tip
        self._show_tip()
        self.update()

    def _show_tip(self) -> None:
        extra = f"<br>{_escape(self._gradient_tip)}" if self._gradient_tip else ""
        self.setToolTip(self._tip + extra)

    # NodeGraphQt hooks, lighter than NodeItem's -----------------------------------------

    @property
    def name(self):
        return self._properties["name"]

    @name.setter
    def name(self, name=""):
        self._properties["name"] = name
        self._text_item.setText(name)
        self.update()

    @property
    def icon(self):
        return None

    @icon.setter
    def icon(self, path=None):
        return

    @property
    def layout_direction(self):
        return LayoutDirectionEnum.VERTICAL.value

    @layout_direction.setter
    def layout_direction(self, value=0):
        return  # always top to bottom

    def add_input(self, name="input", multi_port=False, display_name=True, locked=False,
                  painter_func=None):
        return self._new_port(name, PortTypeEnum.IN.value, multi_port, locked)

    def add_output(self, name="output", multi_port=False, display_name=True, locked=False,
                   painter_func=None):
        return self._new_port(name, PortTypeEnum.OUT.value, multi_port, locked)

    def _new_port(self, name, port_type, multi, locked):
        port = _Port(self)
        port.name = name
        port.port_type = port_type
        port._multi_connection = multi  # the property setters would write tooltips we replace
        port._display_name = False
        port._locked = locked
        (self._input_items if port_type == PortTypeEnum.IN.value
         else self._output_items)[port] = _NO_LABEL
        return port

    def itemChange(self, change, value):  # noqa: N802
        if change == _SELECTED_CHANGE:
            return super().itemChange(change, value)
        return value

    def mouseDoubleClickEvent(self, event):  # noqa: N802
        viewer = self.viewer()
        if viewer is not None and event.button() == Qt.MouseButton.LeftButton:
            viewer.node_double_clicked.emit(self.id)
        QGraphicsItem.mouseDoubleClickEvent(self, event)

    def _tooltip_disable(self, state):  # our tooltip lists shape, parameters and errors
        return

    def post_init(self, viewer=None, pos=None):
        self.draw_node()
        if pos:
            self.xy_pos = pos

    def draw_node(self):
        self._width, self._height = NODE_WIDTH, NODE_HEIGHT
        self._rect = QRectF(0.0, 0.0, NODE_WIDTH, NODE_HEIGHT)
        self._text_item.setBrush(theme.current().color("node_text"))
        self._align_ports_vertical(0.0)
        self.update()

    def paint(self, painter: QPainter, option, widget) -> None:
        self.auto_switch_mode()
        t = theme.current()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rect = QRectF(0.5, 0.5, self._width - 1, self._height - 1)
        card = QPainterPath()
        card.addRoundedRect(rect, 6, 6)
        painter.fillPath(card, t.color("node"))
        painter.save()
        painter.setClipPath(card)
        painter.fillRect(QRectF(0, 0, _STRIPE, self._height),
                         QColor(theme.CATEGORY_COLORS.get(self.category, "#888888")))
        if self.frozen == "all":  # hatched like ice: nothing here learns
            hatch = t.color("node_muted")
            hatch.setAlpha(70)
            painter.fillRect(rect, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
        if self.gradient is not None:
            painter.fillRect(QRectF(0, self._height - _GRADIENT_BAR, self._width, _GRADIENT_BAR),
                             self.gradient)
        painter.restore()

        if not self._proxy_mode:
            small, bold, metrics, _ = _fonts()
            painter.setFont(small)
            line = QRectF(_STRIPE + 7, 27, self._width - _STRIPE - 16, 18)
            shape_w = metrics.horizontalAdvance(self.shape_text) + 8
            painter.setPen(t.color("node_muted"))
            # The type, unless the name already says it (ReLU_2 is a ReLU).
            kind = "" if self.name.startswith(self.layer_type) else self.layer_type
            kind = metrics.elidedText(kind, Qt.TextElideMode.ElideRight, line.width() - shape_w)
            painter.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             kind)
            painter.setFont(bold)
            painter.setPen(t.color("error") if self.error else t.color("node_text"))
            painter.drawText(line, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             self.shape_text)
            if self.error:
                painter.drawText(QRectF(0, 4, self._width - 9, 20),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "⚠")
            if self.frozen:
                painter.setPen(t.color("frozen") if self.frozen == "all"
                               else t.color("node_muted"))
                painter.drawText(QRectF(0, 4, self._width - (25 if self.error else 9), 20),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                                 FROZEN_MARK)

        if self.error:
            pen = QPen(t.color("error"), 2.5)
        elif self.isSelected():
            pen = QPen(t.color("selected"), 2.0)
        elif self.gradient is not None:  # the outline too: the colour reads when zoomed out
            pen = QPen(self.gradient, 2.0)
        else:
            pen = QPen(t.color("node_border"), 1.0)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(card)
        if self.error and self.isSelected():
            painter.setPen(QPen(t.color("selected"), 1.5, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(rect.adjusted(3.5, 3.5, -3.5, -3.5), 4, 4)
        painter.restore()


_FONTS: dict[str, object] = {}


def _fonts() -> tuple[QFont, QFont, QFontMetricsF, QFont]:
    """The card's fonts: small, small bold, small metrics, title (made once, after the
    application exists)."""
    if not _FONTS:
        small = QFont()
        small.setPointSizeF(8.5)
        bold = QFont(small)
        bold.setBold(True)
        title = QFont()
        title.setPointSizeF(10.0)
        title.setBold(True)
        _FONTS.update(small=small, bold=bold, metrics=QFontMetricsF(small), title=title)
    return _FONTS["small"], _FONTS["bold"], _FONTS["metrics"], _FONTS["title"]


_NODE_CLASSES: dict[str, type[BaseNode]] = {}


def node_class(spec: nodes.LayerSpec) -> type[BaseNode]:
    """The NodeGraphQt node class of one layer spec (generated once)."""
    cls = _NODE_CLASSES.get(spec.name)
    if cls is not None:
        return cls

    def __init__(self):
        BaseNode.__init__(self, qgraphics_item=LayerItem)
        self.view.category = spec.category
        self.view.layer_type = spec.name
        for port_name in spec.inputs:
            self.add_input(port_name, multi_input=spec.multi_input, display_name=False)
        if spec.has_output:
            self.add_output(OUTPUT_PORT, multi_output=True, display_name=False)
        colour = QColor(theme.CATEGORY_COLORS.get(spec.category, "#888888"))
        for port in self.input_ports() + self.output_ports():
            port.view.border_color = (colour.red(), colour.green(), colour.blue(), 255)
            takes = ("takes several links" if spec.multi_input else "takes one link")
            port.view.setToolTip(f"input {port.name()}: {takes}"
                                 if port.type_() == PortTypeEnum.IN.value
                                 else "output: drag to an input")

    cls = type(f"{spec.name}Node", (BaseNode,), {
        "__identifier__": "nn_designer.layers", "NODE_NAME": spec.name, "__init__": __init__})
    _NODE_CLASSES[spec.name] = cls
    return cls


def learning(spec: nodes.LayerSpec, props: dict) -> tuple[str, str]:
    """(frozen: "all", "some" or "", a line for the tooltip) from the layer's learned tensors'
    LRateMultiplier (0 freezes a tensor, another factor scales its learning rate)."""
    factors = {w.name: props.get(f"{w.name}.LRateMultiplier", 1.0) for w in spec.weights}
    frozen = [name for name, factor in factors.items() if factor == 0]
    scaled = [f"{name} ×{factor:g}" for name, factor in factors.items() if factor not in (0, 1)]
    parts = []
    if frozen:
        parts.append(f"{FROZEN_MARK} Frozen: {', '.join(frozen)} (LRateMultiplier 0)")
    if scaled:
        parts.append(f"Learning rate: {', '.join(scaled)}")
    state = "all" if frozen and len(frozen) == len(factors) else "some" if frozen else ""
    return state, "<br>".join(parts)


def tooltip(view: LayerItem, shape: str, info, learns: str = "") -> str:
    lines = [f"<b>{view.name}</b> ({view.layer_type})", f"Output: {shape}"]
    if info.params:
        lines.append(f"Parameters: {info.params:,}")
    if info.macs:
        lines.append(f"Mult-adds: {info.macs:,}")
    if learns:
        lines.append(learns)
    if info.error:
        colour = theme.current().error
        lines.append(f"<span style='color:{colour}'><b>Error:</b> {_escape(info.error)}</span>")
    return "<br>".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
