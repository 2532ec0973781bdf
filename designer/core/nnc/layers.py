"""The networks of a ``.sdcproj`` file: its layers and links, turned into our nodes and links.

Every NNC layer type that a spec of our catalog claims (``LayerSpec.nnc``) is read through that
spec's facts: its property names, the values that mean our behaviour, its side inputs and its
computed (``*``) values. Any other type is reported by name, and no project is made from a
network with holes in it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import nodes
from nodes import Prop
from nodes.nnc import COMPUTED_KEYS, INITIALIZER_ALIASES, PROPERTY_ALIASES

from designer.core.analysis import analyze
from designer.core.nnc.ini import Ini
from designer.core.project import Link, Network, Node, to_json_props, unused_name

MAX_LAYERS = 100_000  # per network; more is refused before anything is read
MAX_LINKS = 400_000
MAX_PROPERTIES = 1_000
# ``*Input`` values are resolved in rounds of shape inference, one round per layer whose input
# waits for another's; NNC's samples need one round. More rounds than this are noted instead.
MAX_INPUT_ROUNDS = 50

# The structures this importer does not read yet: what each type is part of, for the list.
_PART_OF = {"unit": "units (networks used as layers)",
            "argument": "units (networks used as layers)"}
STRUCTURES = {name: _PART_OF[spec.role] for name, spec in nodes.CATALOG.items()
              if spec.role in _PART_OF}


def readable_types() -> dict[str, nodes.LayerSpec]:
    """NNC type -> the spec that reads it."""
    return {spec.nnc.type: spec for spec in nodes.CATALOG.values()
            if spec.nnc is not None and spec.nnc.reads}


@dataclass
class _Layer:
    section: str
    index: int
    id: int
    type: str
    name: str
    props: dict[str, tuple[str, int]]  # NNC property -> (value, line)
    pos: tuple[float, float]


@dataclass
class NetworkReading:
    network: Network
    missing: list[str] = field(default_factory=list)  # layer types we lack, with names


def network_names(ini: Ini) -> list[tuple[str, str]]:
    """(network name, section prefix) for each network of the file."""
    if not ini.has("Global"):
        return [("Main", "")]
    present = sum(1 for k in ini.section("Global").values if re.fullmatch(r"Network_\d+", k))
    n = ini.count("Global", "NumNetwork", "networks", present, 1000)
    names = [ini.text("Global", f"Network_{k}") for k in range(n)]
    if len(set(names)) != len(names):
        raise ini.fail(ini.line("Global", "NumNetwork"), "[Global] names a network twice")
    return [(name, f"{name}_") for name in names]


def read_network(ini: Ini, name: str, prefix: str, notes: list[str]) -> NetworkReading:
    """One network's nodes and links; notes get what is not carried over."""
    glob = f"{prefix}Network_Global"
    layer_sections = _numbered(ini, f"{prefix}Layer_")
    link_sections = _numbered(ini, f"{prefix}Link_")
    n_layers = ini.count(glob, "NumLayer", "layers", layer_sections, MAX_LAYERS)
    n_links = ini.count(glob, "NumLink", "links", link_sections, MAX_LINKS)
    layers = [_layer(ini, f"{prefix}Layer_{i}", i) for i in range(n_layers)]
    by_id: dict[int, _Layer] = {}
    names: dict[str, _Layer] = {}
    for layer in layers:
        sec = ini.section(layer.section)
        if layer.id in by_id:
            raise ini.fail(ini.line(layer.section, "ID"), f"[{layer.section}] ID={layer.id} is "
                           f"also the ID of [{by_id[layer.id].section}]")
        if layer.name in names:
            raise ini.fail(sec.line, f"[{layer.section}] two layers are named {layer.name!r} "
                           f"(also [{names[layer.name].section}])")
        by_id[layer.id], names[layer.name] = layer, layer
    reading = NetworkReading(Network(name))
    types = readable_types()
    node_of: dict[int, Node] = {}
    taken: set[str] = set()
    pending: dict[str, list[str]] = {}  # node id -> properties that are its input's shape
    for layer in layers:
        spec = types.get(layer.type)
        if spec is None:
            what = STRUCTURES.get(layer.type)
            reading.missing.append(f"{layer.type} `{layer.name}`" + (f" ({what})" if what else ""))
            continue
        node, waiting = _node(ini, layer, spec, _our_name(layer.name, taken, notes, layer.type),
                              notes)
        reading.network.nodes.append(node)
        node_of[layer.id] = node
        if waiting:
            pending[node.id] = waiting
    links = [_link(ini, f"{prefix}Link_{i}", by_id) for i in range(n_links)]
    reading.network.links = _our_links(ini, links, by_id, node_of, notes)
    if not reading.missing:
        _resolve_input_shapes(reading.network, pending, notes)
    return reading


def _numbered(ini: Ini, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\d+")
    return sum(1 for name in ini.sections if pattern.fullmatch(name))


def _layer(ini: Ini, section: str, index: int) -> _Layer:
    sec = ini.section(section)
    present = sum(1 for k in sec.values if re.fullmatch(r"Property_\d+_Name", k))
    count = ini.count(section, "NumProperty", "properties", present, MAX_PROPERTIES)
    props: dict[str, tuple[str, int]] = {}
    for k in range(count):
        prop = ini.text(section, f"Property_{k}_Name")
        value = ini.text(section, f"Property_{k}_Value")
        if prop in props:
            raise ini.fail(ini.line(section, f"Property_{k}_Name"),
                           f"[{section}] property {prop} is given twice")
        props[prop] = (value, ini.line(section, f"Property_{k}_Value"))
    name = props.get("Name", ("", sec.line))[0]
    if not name.strip():
        raise ini.fail(sec.line, f"[{section}] the layer has no Name property")
    return _Layer(section, index, ini.integer(section, "ID"), ini.text(section, "Type").strip(),
                  name, props, (ini.number(section, "Position_0", 0.0),
                                ini.number(section, "Position_1", 0.0)))


def _our_name(name: str, taken: set[str], notes: list[str], layer_type: str) -> str:
    """NNC allows names such as ``y'``; ours are letters, digits and _. Renames are noted."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if clean[0].isdigit():
        clean = "_" + clean
    clean = unused_name(clean, taken)
    taken.add(clean)
    if clean != name:
        notes.append(f"{layer_type} `{name}`: renamed `{clean}` (names here are letters, digits "
                     "and _, each once)")
    return clean


# ---- properties ------------------------------------------------------------------------------

def _node(ini: Ini, layer: _Layer, spec: nodes.LayerSpec, name: str,
          notes: list[str]) -> tuple[Node, list[str]]:
    """The node for ``layer``, and the properties that wait for its input's shape."""
    facts = spec.nnc
    label = f"{layer.type} `{layer.name}`"
    texts: dict[str, str] = {}  # NNC property -> its text, for computed values
    ours: dict[str, tuple[str, int]] = {}  # our property -> (NNC text, line)
    for key, (value, line) in layer.props.items():
        key = PROPERTY_ALIASES.get(key, key)
        texts[key] = value
        if key == "Name" or key in COMPUTED_KEYS:
            continue
        prop = facts.prop(key)
        if prop is None:
            notes.append(f"{label}: property {key}={value} not carried over (this app's "
                         f"{spec.name} has no such property)")
        elif prop.ours:
            ours[prop.ours] = (value, line)
        elif not prop.silent(value, layer.name):
            notes.append(f"{label}: {key}={value} not carried over (only {prop.neutral or '…'} "
                         "is)")
    parsed: dict[str, object] = {}
    starred: dict[str, str] = {}
    for key, (value, line) in ours.items():
        blank = facts.prop_for(key).blank
        if blank and value.strip() == blank:
            parsed[key] = ""
            continue
        if value.strip().startswith("*"):
            starred[key] = value.strip()
            continue
        value = _value(ini, spec.prop_map[key], value, line, label, notes)
        if value is not None:
            parsed[key] = value
    waiting = _resolve_stars(spec, starred, texts, parsed, layer.name, label, notes)
    try:
        props = spec.parse_props(parsed)
    except ValueError as e:
        key = next((k for k in parsed if k in str(e)), None)
        line = ours[key][1] if key in ours else ini.section(layer.section).line
        raise ini.fail(line, f"[{layer.section}] {label}: {e}") from None
    if facts.caveats is not None:
        notes += [f"{label}: {text}" for text in facts.caveats(props)]
    x, y = layer.pos
    node = Node(f"n{layer.index + 1}", spec.name, name, to_json_props(props),
                (float(x - 24), float(2 * (y - 24))))
    return node, waiting


def _value(ini: Ini, prop: Prop, text: str, line: int, label: str, notes: list[str]):
    """An NNC property's text as our value; an unknown initializer is noted (None)."""
    if prop.name.endswith(".Initializer"):
        text = INITIALIZER_ALIASES.get(text.strip(), text.strip())
        if text not in prop.choices:
            notes.append(f"{label}: {prop.name}={text} not carried over (this app has "
                         f"{', '.join(prop.choices)}); {prop.default} is used")
            return None
    if prop.kind == "int":
        try:
            number = float(text)
        except ValueError:
            raise ini.fail(line, f"{label}: {prop.name} must be a whole number, not "
                                 f"{text!r}") from None
        if number.is_integer():
            text = int(number)
    try:
        return prop.parse(text)
    except ValueError as e:
        raise ini.fail(line, f"{label}: {e}") from None


def _resolve_stars(spec, starred: dict[str, str], texts: dict[str, str], parsed: dict,
                   name: str, label: str, notes: list[str]) -> list[str]:
    """NNC's computed values: ``*Name``, ``*<property>``, the spec's own (``*ConvolutionPadding
    Size``); ``*Input`` waits for shape inference (returned)."""
    waiting = []
    for key, token in starred.items():
        other = spec.nnc.prop(token[1:])
        if token == "*Input":
            waiting.append(key)
        elif token == "*Name":
            parsed[key] = name
        elif other is not None and other.ours in parsed:
            parsed[key] = parsed[other.ours]
        elif token in spec.nnc.computed:
            try:
                parsed[key] = spec.nnc.computed[token](texts, {**spec.defaults(), **parsed})
            except ValueError as e:
                notes.append(f"{label}: {key}={token} not carried over ({e})")
        else:
            prop = spec.prop_map[key]
            notes.append(f"{label}: {key}={token} not carried over (a value NNC computes that "
                         f"this app does not know); {prop.format(prop.default)} is used")
    return waiting


def _resolve_input_shapes(network: Network, pending: dict[str, list[str]],
                          notes: list[str]) -> None:
    """``*Input`` values (Slice's Stop, ImageAugmentation's Shape) become the input's shape,
    layer after layer as shape inference reaches them."""
    for _ in range(MAX_INPUT_ROUNDS):
        if not pending:
            break
        info = analyze(network).nodes
        ready = [i for i in pending if info[i].inputs]
        for node_id in ready:
            node = network.node(node_id)
            for key in pending.pop(node_id):
                node.props[key] = list(info[node_id].inputs[0])
        if not ready:
            break
    for node_id, keys in pending.items():
        node = network.node(node_id)
        notes.append(f"{node.type} `{node.name}`: {', '.join(keys)}=*Input not carried over "
                     "(the shape of its input is unknown); the default is used")


# ---- links -----------------------------------------------------------------------------------

@dataclass
class _Link:
    section: str
    line: int
    src: int
    dst: int
    pin: int


def _link(ini: Ini, section: str, by_id: dict[int, _Layer]) -> _Link:
    src = ini.integer(section, "SourceLayerID")
    dst = ini.integer(section, "DestLayerID")
    for key, value in (("SourceLayerID", src), ("DestLayerID", dst)):
        if value not in by_id:
            raise ini.fail(ini.line(section, key),
                           f"[{section}] {key}={value}: no layer has that ID")
    if ini.integer(section, "SourcePinIndex", 0) != 0:
        raise ini.fail(ini.line(section, "SourcePinIndex"),
                       f"[{section}] SourcePinIndex must be 0 (every NNC layer has one output)")
    pin = ini.integer(section, "DestPinIndex", 0, low=0)
    return _Link(section, ini.line(section, "DestPinIndex"), src, dst, pin)


def _our_links(ini: Ini, links: list[_Link], by_id: dict[int, _Layer],
               node_of: dict[int, Node], notes: list[str]) -> list[Link]:
    """Links in [Link_i] order (NNC's order for several links into one input); side inputs
    become our ports of the same name, or are noted."""
    out: list[Link] = []
    pin0_count: dict[int, int] = {}
    for link in links:
        src, dst = node_of.get(link.src), node_of.get(link.dst)
        if src is None or dst is None:
            continue  # a layer type we lack: the whole file is refused with the list
        spec, facts = dst.spec, dst.spec.nnc
        if link.pin > len(facts.pins):
            raise ini.fail(link.line, f"[{link.section}] DestPinIndex={link.pin}, but "
                                      f"{facts.type} has {len(facts.pins)} side input(s)")
        if link.pin == 0:
            ports = [i for i, p in enumerate(spec.inputs) if p not in facts.pins]
            k = pin0_count.get(link.dst, 0)
            pin0_count[link.dst] = k + 1
            port = 0 if spec.multi_input or not facts.multiple else (
                ports[k] if k < len(ports) else len(spec.inputs) + k)
        else:
            pin = facts.pins[link.pin - 1]
            if pin not in spec.inputs:
                notes.append(f"{by_id[link.dst].type} `{by_id[link.dst].name}`: input {pin} "
                             f"linked from `{by_id[link.src].name}` not carried over (this app's "
                             f"{spec.name} reads {pin} from its properties)")
                continue
            port = spec.inputs.index(pin)
        out.append(Link(src.id, dst.id, port))
    return out

