"""Units inlined and repeat blocks copied: the network as the compiler builds it.

Expansion is structural and needs no shapes, so "expanded = written out" holds by
construction: analysis, the compiler and the exports see ordinary layers.

* A **Unit** is replaced by its network's layers: the unit's Input takes the Unit's incoming
  link, its one terminal layer gives the Unit's output, and each property naming an Argument
  (``*Maps``, ``Maps*2``) gets the Unit's value for it (or the Argument's Value). Weights are
  keyed by scope: ``*Name`` prefixes the inner layers' keys with the Unit's name, an empty
  scope keeps their own names (shared with same-named layers elsewhere), other text prefixes
  that text (Units with the same scope share).
* A **repeat block** (RepeatStart … RepeatEnd) is copied Times times; copy i reads copy i−1's
  result (copy 0 the block's input), RepeatEnd gives the last copy's, and a link from
  RepeatStart that skips ahead reads that copy's input (a residual connection). Each copy has
  its own weights, keyed ``Conv[i]`` (outer blocks first: ``Conv[0][1]``). Values from outside
  the block are the same in every copy.

Recurrent blocks are left as they are: they are analysed per step and unrolled by the compiler.
Ids of the written-out layers are their path: ``n7/n3`` (layer n3 of the unit n7), ``n5[1]``
(copy 1 of n5). ``origin`` maps each to the layer as drawn.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import nodes
from nodes import expressions
from nodes.spec import EXPRESSION_KINDS

from designer.core.project import Link, Network, Node, Project

STRUCTURE = ("repeat_start", "repeat_end", "unit", "argument")
MAX_NODES = 200_000  # written-out layers: a Times of 10,000 on a large block is a mistake


def has_structure(network: Network) -> bool:
    """Whether the network holds repeat blocks, units or arguments to expand."""
    for node in network.nodes:
        spec = nodes.CATALOG.get(node.type)
        if spec is not None and spec.role in STRUCTURE:
            return True
    return False


@dataclass
class Expanded:
    network: Network  # the written-out network
    origin: dict[str, str] = field(default_factory=dict)  # written-out id -> id as drawn
    display: dict[str, str] = field(default_factory=dict)  # written-out id -> its path name
    exits: dict[str, str] = field(default_factory=dict)  # a drawn Unit -> its output layer
    copies: dict[str, int] = field(default_factory=dict)  # a drawn layer -> its repetitions
    problems: list[tuple[str, str]] = field(default_factory=list)  # (id as drawn, message)
    # (a block's first RepeatStart copy, the layer feeding its RepeatEnd, the drawn start):
    # the two must have one shape
    kept_shapes: list[tuple[str, str, str]] = field(default_factory=list)

    @staticmethod
    def unindexed(message: str) -> str:
        """A message with the copies' indices taken out (one problem per drawn layer)."""
        return re.sub(r"\[\d+\]", "", message)


class ExpansionError(Exception):
    def __init__(self, node_id: str, message: str):
        super().__init__(message)
        self.node_id = node_id


# A written-out layer's path: (text, level) parts, level being the depth of the network the
# part's layer is drawn in (0: the network expanded). Repeat copies append [i] to the part of
# the level their RepeatStart is drawn at.
Parts = list[list]


@dataclass
class _Made:
    out: dict[str, str]  # node id -> the written-out id giving its value
    into: dict[tuple[str, int], list[tuple[str, int]]]  # (node id, port) -> written-out ports
    entry: list[tuple[str, int]] = field(default_factory=list)  # what a unit's Input feeds
    terminal: str = ""  # a unit network's last layer


class _Expander:
    def __init__(self, project: Project | None, top: Network):
        self.project = project
        self.top = top
        self.flat = Network(top.name)
        self.result = Expanded(self.flat)
        self.names: dict[str, Parts] = {}
        self.keys: dict[str, Parts] = {}
        self.level_of: dict[str, int] = {}  # a RepeatStart -> the level it is drawn at

    # ---- units -------------------------------------------------------------------------

    def emit(self, net: Network, env: dict[str, str], level: int, path: list[str],
             names: Parts, scope: Parts, drawn: str | None, stack: list[str],
             rate: float, is_unit: bool) -> _Made:
        """Write ``net``'s layers into the flat network; ``drawn`` is the layer as drawn that
        they come from (None at the top: each is its own)."""
        made = _Made({}, {})
        inputs = [n for n in net.nodes if n.spec.is_input]
        for node in net.nodes:
            spec = nodes.CATALOG.get(node.type) or nodes.get_spec("Identity")  # analysis
            here = drawn or node.id  # names an unknown type where it is drawn
            if spec.role == "argument" or (is_unit and node is inputs[0]):
                continue
            if spec.role == "unit":
                self.unit(node, net, env, level, path, names, scope, here, stack, rate, made)
                continue
            flat_id = "/".join(path + [node.id])
            props = self.props(node, spec, env, here, rate)
            self.names[flat_id] = names + [[node.name, level]]
            self.flat.nodes.append(Node(flat_id, node.type, _joined(self.names[flat_id]), props,
                                        node.pos))
            self.result.origin[flat_id] = here
            if spec.has_weights:
                own = props.get("ParameterScope") or node.name
                self.keys[flat_id] = scope + [[own, level]]
            if spec.role == "repeat_start":
                self.level_of[flat_id] = level
            made.out[node.id] = flat_id
            for port in range(max(len(spec.inputs), 1)):
                made.into[(node.id, port)] = [(flat_id, port)]
        for link in net.links:
            if is_unit and link.src == inputs[0].id:
                made.entry += made.into.get((link.dst, link.port), [])
                continue
            source = made.out.get(link.src)
            for target, port in made.into.get((link.dst, link.port), []):
                if source is not None:
                    self.flat.links.append(Link(source, target, port))
        return made

    def props(self, node: Node, spec: nodes.LayerSpec, env: dict[str, str], drawn: str,
              rate: float) -> dict:
        """The node's properties with the unit's arguments put in."""
        props = dict(node.props)
        for name, value in node.props.items():
            prop = spec.prop_map.get(name)
            if prop is None or not isinstance(value, str) or prop.kind not in EXPRESSION_KINDS:
                continue
            if not expressions.looks_like_expression(value):
                continue
            try:
                text = expressions.substitute(value, env) if env or expressions.names(value) \
                    else value
                props[name] = _literal(prop, text)
            except ValueError as e:
                raise ExpansionError(drawn, f"{node.name}.{name}: {e}") from None
        if rate != 1.0:
            for name, value in props.items():
                if name.endswith(".LRateMultiplier") and isinstance(value, (int, float)):
                    props[name] = float(value) * rate
        return props

    def unit(self, node: Node, caller: Network, env: dict[str, str], level: int,
             path: list[str], names: Parts, scope: Parts, drawn: str, stack: list[str],
             rate: float, made: _Made) -> None:
        props = _parsed(node, drawn)
        target = self.network_of(node, props["Network"], drawn, stack)
        incoming = [k for k in caller.links if k.dst == node.id]
        if len(incoming) != 1:
            raise ExpansionError(drawn, f"Unit {node.name} takes one input; it has "
                                        f"{len(incoming)} links")
        arguments = {n.name: n for n in target.nodes if n.spec.role == "argument"}
        values = self.arguments(node, props["Arguments"], arguments, target, env, drawn)
        own_scope = props["ParameterScope"]
        if own_scope == "*Name":
            own_scope = node.name
        inner_scope = scope + ([[own_scope, level]] if own_scope else [])
        inner = self.emit(target, values, level + 1, path + [node.id],
                          names + [[node.name, level]], inner_scope, drawn,
                          stack + [target.name], rate * props["LRateMultiplier"], True)
        made.into[(node.id, 0)] = inner.entry
        made.out[node.id] = inner.out[self.terminal(target, node, drawn)]
        if drawn == node.id:
            self.result.exits[node.id] = made.out[node.id]

    def network_of(self, node: Node, name: str, drawn: str, stack: list[str]) -> Network:
        networks = {n.name: n for n in (self.project.networks if self.project else [])}
        if name not in networks:
            close = difflib.get_close_matches(name, list(networks), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            what = f"network {name!r} does not exist{hint}" if name else "names no network"
            raise ExpansionError(drawn, f"Unit {node.name}: {what}")
        if name in stack:
            chain = " → ".join(stack + [name])
            raise ExpansionError(drawn, f"Unit {node.name}: network {name!r} contains itself "
                                        f"({chain}); a unit cannot use its own network")
        target = networks[name]
        inputs = [n.name for n in target.nodes if n.spec.is_input]
        if len(inputs) != 1:
            have = f"{len(inputs)} ({', '.join(inputs)})" if inputs else "none"
            raise ExpansionError(drawn, f"Unit {node.name}: unit network {name!r} needs one "
                                        f"Input layer, it has {have}")
        return target

    def terminal(self, target: Network, node: Node, drawn: str) -> str:
        feeding = {k.src for k in target.links}
        ends = [n for n in target.nodes if n.id not in feeding and n.spec.has_output
                and not n.spec.is_input]
        if len(ends) != 1:
            listed = " and ".join(n.name for n in ends[:3]) or "no layer"
            raise ExpansionError(drawn, f"Unit {node.name}: unit network {target.name!r} must "
                                        f"end in one layer; {listed} "
                                        f"{'are' if len(ends) > 1 else 'is'} unconnected")
        return ends[0].id

    def arguments(self, node: Node, given: dict[str, str], arguments: dict[str, Node],
                  target: Network, env: dict[str, str], drawn: str) -> dict[str, str]:
        """Each argument's value as text, given ones resolved in the caller's scope."""
        unknown = sorted(set(given) - set(arguments))
        if unknown:
            have = ", ".join(arguments) or "none"
            raise ExpansionError(drawn, f"Unit {node.name}: network {target.name} has no "
                                        f"Argument {unknown[0]!r} (it has {have})")
        values = {}
        for name, arg in arguments.items():
            props = _parsed(arg, drawn)
            text = given.get(name, props["Value"])
            if name in given and (expressions.looks_like_expression(text)):
                try:
                    if expressions.uses_input(text):
                        raise ExpansionError(drawn, f"Unit {node.name}: argument {name} uses "
                                                    "Input[...], which only layers inside the "
                                                    "unit can use")
                    text = expressions.substitute(text, env)
                except expressions.ExpressionError as e:
                    raise ExpansionError(drawn, f"Unit {node.name}: argument {name}: {e}") \
                        from None
            values[name] = _typed(text, props["Type"], f"Unit {node.name}: argument {name}",
                                  drawn)
        return values

    # ---- repeat blocks -------------------------------------------------------------------

    def repeats(self) -> None:
        done: set[str] = set()
        closed: set[str] = set()
        while True:
            roles = {n.id: _role(n) for n in self.flat.nodes}
            starts = [n for n in self.flat.nodes if roles[n.id] == "repeat_start"
                      and n.id not in done]
            if not starts:
                for node in self.flat.nodes:
                    if roles[node.id] == "repeat_end" and node.id not in closed:
                        raise ExpansionError(self.result.origin[node.id], (
                            f"RepeatEnd {node.name} is not reached from any RepeatStart; "
                            "a repeat block runs from a RepeatStart to its RepeatEnd"))
                return
            bodies = {s.id: self.block(s, roles) for s in starts}
            inner = {m for s, (body, _) in bodies.items() for m in body if m != s}
            for start in starts:
                if start.id not in inner:
                    self.copy_block(start, *bodies[start.id], done)
                    closed.add(bodies[start.id][1])
            if len(self.flat.nodes) > MAX_NODES:
                raise ExpansionError(self.result.origin[starts[0].id],
                                     f"the repeat blocks write out more than {MAX_NODES:,} "
                                     "layers; lower Times")

    def block(self, start: Node, roles: dict[str, str]) -> tuple[list[str], str]:
        """(the block's layers, RepeatStart first; its RepeatEnd)."""
        outgoing: dict[str, list[str]] = {}
        for link in self.flat.links:
            outgoing.setdefault(link.src, []).append(link.dst)
        drawn = self.result.origin[start.id]
        body, ends, seen, member = [], [], set(), set()
        stack = [(start.id, 0)]
        while stack:
            node_id, depth = stack.pop()
            if (node_id, depth) in seen:
                continue
            seen.add((node_id, depth))
            role = roles.get(node_id)
            if role == "repeat_end" and node_id != start.id:
                if depth == 0:
                    ends.append(node_id)
                    continue
                depth -= 1
            elif role == "repeat_start" and node_id != start.id:
                depth += 1
            if node_id not in member:
                member.add(node_id)
                body.append(node_id)
            stack.extend((dst, depth) for dst in outgoing.get(node_id, []))
        ends = list(dict.fromkeys(ends))
        name = self.flat.node(start.id).name
        if len(ends) == 1:  # the block: the layers on a path from its start to its end
            incoming: dict[str, list[str]] = {}
            for link in self.flat.links:
                incoming.setdefault(link.dst, []).append(link.src)
            reaching, stack = set(), [ends[0]]
            while stack:
                for src in incoming.get(stack.pop(), []):
                    if src in member and src not in reaching:
                        reaching.add(src)
                        stack.append(src)
            body = [b for b in body if b in reaching or b == start.id]
        if not ends:
            raise ExpansionError(drawn, f"RepeatStart {name} has no RepeatEnd: none is reached "
                                        "from it")
        if len(ends) > 1:
            listed = ", ".join(self.flat.node(e).name for e in ends[:3])
            raise ExpansionError(drawn, f"RepeatStart {name} reaches {len(ends)} RepeatEnds "
                                        f"({listed}); a repeat block has one end")
        inside = set(body)
        for link in self.flat.links:
            if link.src in inside and link.dst not in inside and link.dst != ends[0]:
                src, dst = self.flat.node(link.src).name, self.flat.node(link.dst).name
                raise ExpansionError(self.result.origin[link.src], (
                    f"{src} is inside repeat block {name} but its output goes to {dst} "
                    "outside it; a repeat block is left only through its RepeatEnd"))
        return body, ends[0]

    def copy_block(self, start: Node, body: list[str], end: str, done: set[str]) -> None:
        times = start.props.get("Times", 3)
        drawn = self.result.origin[start.id]
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ExpansionError(drawn, f"RepeatStart {start.name}: Times must be a whole "
                                        f"number of at least 1, not {times!r}")
        inside = set(body)
        into_start = [k for k in self.flat.links if k.dst == start.id]
        into_end = [k for k in self.flat.links if k.dst == end]
        if len(into_start) != 1 or len(into_end) != 1 or into_end[0].src not in inside:
            raise ExpansionError(drawn, f"repeat block {start.name} needs one link into its "
                                        "RepeatStart and one from the block into its RepeatEnd")
        level = self.level_of.get(start.id, 0)
        by_id = {n.id: n for n in self.flat.nodes}
        kept = [n for n in self.flat.nodes if n.id not in inside]
        links = [k for k in self.flat.links if k.src not in inside and k.dst not in inside
                 and k.dst != end]
        previous = into_start[0].src
        for i in range(times):
            copy = {b: f"{b}[{i}]" for b in body}
            for b in body:
                node = by_id[b]
                self.names[copy[b]] = _indexed(self.names[b], level, i)
                kept.append(Node(copy[b], node.type, _joined(self.names[copy[b]]),
                                 dict(node.props), node.pos))
                self.result.origin[copy[b]] = self.result.origin[b]
                if b in self.keys:
                    self.keys[copy[b]] = _indexed(self.keys[b], level, i)
                if b in self.level_of:
                    self.level_of[copy[b]] = self.level_of[b]
            for link in self.flat.links:
                if link.dst in inside:
                    src = copy.get(link.src, link.src)
                    if link.dst == start.id:
                        src = previous
                    links.append(Link(src, copy[link.dst], link.port))
            if i == 0:  # each repetition feeds the next: the block keeps the shape
                self.result.kept_shapes.append((copy[start.id], copy[into_end[0].src], drawn))
            previous = copy[into_end[0].src]
            done.add(copy[start.id])
        links.append(Link(previous, end, 0))
        self.flat.nodes, self.flat.links = kept, links

    def finish(self) -> Expanded:
        instances: dict[str, list[str]] = {}
        for node in self.flat.nodes:
            instances.setdefault(self.result.origin[node.id], []).append(node.id)
        for drawn, ids in instances.items():  # written-out layers per distinct inner layer
            kinds = {Expanded.unindexed(_joined(self.names[i])) for i in ids}
            if len(ids) > len(kinds):
                self.result.copies[drawn] = len(ids) // len(kinds)
        for node in self.flat.nodes:
            self.result.display[node.id] = _joined(self.names[node.id])
            node.name = self.result.display[node.id]
            if node.id in self.keys:
                node.props["ParameterScope"] = _joined(self.keys[node.id])
        return self.result


def _role(node: Node) -> str:
    spec = nodes.CATALOG.get(node.type)
    return spec.role if spec is not None else ""


def _parsed(node: Node, drawn: str) -> dict:
    try:
        return node.spec.parse_props(node.props)
    except ValueError as e:
        raise ExpansionError(drawn, f"{node.name}: {e}") from None


def _indexed(parts: Parts, level: int, i: int) -> Parts:
    out = [list(p) for p in parts]
    at = max((j for j, (_, lv) in enumerate(out) if lv <= level), default=0)
    out[at][0] = f"{out[at][0]}[{i}]"
    return out


def _joined(parts: Parts) -> str:
    return "/".join(text for text, _ in parts)


# arithmetic left once arguments are put in: ``(8)*2`` from ``Maps*2``
_ARITHMETIC = re.compile(r"[*/()]|\d\s*[-+]\s*[\d(]")


def _literal(prop, text: str) -> Any:
    """An argument-substituted value: typed when nothing is left to compute, else the text
    (it reads Input, known at analysis)."""
    if expressions.uses_input(text):
        return prop.parse(text)
    if expressions.looks_like_expression(text) or _ARITHMETIC.search(text):
        values = expressions.evaluate(text, None)
        if prop.kind in ("int", "shape") and any(v.denominator != 1 for v in values):
            raise expressions.ExpressionError(
                f"{text} is {expressions.described(values)}, not a whole number")
        text = expressions.as_text(values)
    return prop.parse(text)


_POSITIVE = ("PInt", "PIntArray", "PIntArrays")
_NON_NEGATIVE = ("UInt", "UIntArray")


def _typed(text: str, kind: str, where: str, drawn: str) -> str:
    """An argument's value checked against its Type; numbers computed (``4*2`` → ``8``)."""
    if kind in ("Text", "File"):
        return text
    if kind in ("Boolean", "BooleanOrMacro"):
        if text.strip().lower() not in ("true", "false", "1", "0"):
            raise ExpansionError(drawn, f"{where} must be True or False, not {text!r}")
        return "True" if text.strip().lower() in ("true", "1") else "False"
    try:
        values = expressions.evaluate(text, None) if text.strip() else []
    except expressions.ExpressionError as e:
        raise ExpansionError(drawn, f"{where}: {e}") from None
    whole = not kind.startswith("Float")
    if not values or (not kind.endswith(("Array", "Arrays")) and len(values) != 1):
        raise ExpansionError(drawn, f"{where} must be {'a list' if 'Array' in kind else 'one'} "
                                    f"{'whole ' if whole else ''}number, not {text!r} ({kind})")
    for v in values:
        if whole and v.denominator != 1:
            raise ExpansionError(drawn, f"{where} must be whole numbers, not {text!r} ({kind})")
        if kind in _POSITIVE and v < 1 or kind in _NON_NEGATIVE and v < 0:
            bound = "at least 1" if kind in _POSITIVE else "at least 0"
            raise ExpansionError(drawn, f"{where} must be {bound}, not {text!r} ({kind})")
    return expressions.as_text(values)


def expand(network: Network, project: Project | None) -> Expanded:
    """The written-out network (never raises: problems are listed by the layer as drawn)."""
    expander = _Expander(project, network)
    own = {n.name: n for n in network.nodes
           if getattr(nodes.CATALOG.get(n.type), "role", "") == "argument"}
    try:
        env = {}
        for name, node in own.items():
            props = _parsed(node, node.id)
            env[name] = _typed(props["Value"], props["Type"], f"Argument {name}", node.id)
        expander.emit(network, env, 0, [], [], [], None, [network.name], 1.0, False)
        expander.repeats()
    except ExpansionError as e:
        expander.result.problems.append((e.node_id, str(e)))
        return expander.result
    return expander.finish()


def repeat_frames(network: Network) -> list[tuple[str, list[str], int]]:
    """(RepeatStart id, the ids of the layers its block repeats with its RepeatEnd, Times) for
    each well-formed repeat block drawn in ``network``: what the canvas frames. Blocks that
    cannot be expanded are left out (their error is in Problems)."""
    expander = _Expander(None, network)
    expander.flat = network
    expander.result = Expanded(network, origin={n.id: n.id for n in network.nodes})
    roles = {n.id: _role(n) for n in network.nodes}
    frames = []
    for node in network.nodes:
        if roles[node.id] != "repeat_start":
            continue
        try:
            body, end = expander.block(node, roles)
        except ExpansionError:
            continue
        frames.append((node.id, body + [end], node.props.get("Times", 3)))
    return frames
