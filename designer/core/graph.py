"""The shape of a network as a graph: links by node, recurrent blocks, and the order in which
its layers are computed.

A recurrent block is a RecurrentInput, every layer reached from it up to the block's
RecurrentOutputs, and the Delays that feed values of one time step to the next. A Delay's
incoming link (pin 0) is the one edge that may close a cycle: it carries the value of the
previous step, so the order ignores it. The order keeps each block's layers together (the
compiler unrolls them step by step) with its RecurrentOutputs right after them.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from designer.core.project import Link, Network

# the roles of structural layers (LayerSpec.role)
RECURRENT_INPUT, RECURRENT_OUTPUT, DELAY = "recurrent_input", "recurrent_output", "delay"


@dataclass
class Links:
    """Links by node; ``incoming`` in the network's link order."""

    incoming: dict[str, list[Link]]
    outgoing: dict[str, list[Link]]

    @classmethod
    def of(cls, network: Network) -> "Links":
        incoming: dict[str, list[Link]] = {n.id: [] for n in network.nodes}
        outgoing: dict[str, list[Link]] = {n.id: [] for n in network.nodes}
        for link in network.links:
            if link.src in incoming and link.dst in incoming:
                incoming[link.dst].append(link)
                outgoing[link.src].append(link)
        return cls(incoming, outgoing)


@dataclass
class Block:
    """A recurrent block: ``start`` (its RecurrentInput), its layers in computing order
    (``start`` first, Delays included) and the RecurrentOutputs that stack its steps."""

    start: str
    members: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def is_back_edge(link: Link, roles: dict[str, str]) -> bool:
    """A Delay's pin 0: the previous step's value, not a dependency within the step."""
    return roles.get(link.dst) == DELAY and link.port == 0


def recurrent_blocks(network: Network, roles: dict[str, str], links: Links
                     ) -> tuple[list[Block], list[tuple[str, str]]]:
    """The recurrent blocks (members unordered yet) and (node id, message) problems."""
    problems: list[tuple[str, str]] = []
    names = {n.id: n.name for n in network.nodes}
    owner: dict[str, str] = {}
    blocks = []
    for node in network.nodes:
        if roles.get(node.id) != RECURRENT_INPUT:
            continue
        block = Block(node.id)
        seen, queue = {node.id}, deque([node.id])
        while queue:
            current = queue.popleft()
            if roles.get(current) == RECURRENT_OUTPUT:
                block.outputs.append(current)
                continue
            block.members.append(current)
            for link in links.outgoing[current]:
                if link.dst not in seen:
                    seen.add(link.dst)
                    queue.append(link.dst)
        for member in block.members:
            if member in owner and owner[member] != node.id:
                problems.append((member, f"recurrent blocks {names[owner[member]]} and "
                                         f"{node.name} both reach {names[member]}; a layer "
                                         "belongs to one recurrent block"))
            owner.setdefault(member, node.id)
        if not block.outputs:
            problems.append((node.id, f"recurrent block {node.name} has no RecurrentOutput; "
                                      "connect the cell's output to one"))
        blocks.append(block)
    for node in network.nodes:
        if roles.get(node.id) == DELAY and node.id not in owner:
            problems.append((node.id, f"Delay {node.name} is outside any recurrent block: its "
                                      "input must come from a layer between a RecurrentInput "
                                      "and a RecurrentOutput"))
        if roles.get(node.id) == RECURRENT_OUTPUT:
            sources = {owner.get(k.src) for k in links.incoming[node.id]}
            if not sources & set(owner.values()):
                problems.append((node.id, f"RecurrentOutput {node.name} is not fed by a "
                                          "recurrent block; link it from a layer that follows "
                                          "a RecurrentInput"))
    for block in blocks:
        members = set(block.members)
        # every layer of the cell must lead to the cell's results: a RecurrentOutput or a Delay
        useful, stack = set(), [o for o in block.outputs] + [m for m in block.members
                                                            if roles.get(m) == DELAY]
        while stack:
            for link in links.incoming[stack.pop()]:
                if link.src in members and link.src not in useful:
                    useful.add(link.src)
                    stack.append(link.src)
        for member in block.members:
            if member not in useful and roles.get(member) != DELAY:
                problems.append((member, f"{names[member]} is inside recurrent block "
                                         f"{names[block.start]} but its output reaches neither "
                                         "a RecurrentOutput nor a Delay; leave a recurrent "
                                         "block through RecurrentOutput"))
        for member in block.members:
            if roles.get(member) == DELAY:
                for link in links.incoming[member]:
                    if link.port == 1 and link.src in members:
                        problems.append((member, f"Delay {names[member]}: its Initial value "
                                                 "must come from outside the recurrent block"))
    return blocks, problems


def order(network: Network, roles: dict[str, str], links: Links,
          blocks: list[Block]) -> tuple[list[str], list[str]]:
    """(node ids in computing order, ids on a cycle without a Delay, in cycle order).

    Each block's members come together (its RecurrentInput first) followed by its
    RecurrentOutputs, and the block's members are put in order within it."""
    group: dict[str, str] = {}  # node -> the block it is computed with
    for block in blocks:
        for member in block.members + block.outputs:
            group.setdefault(member, block.start)
    unit = lambda node_id: group.get(node_id, node_id)  # noqa: E731
    # Kahn's algorithm over links in their order, each link counted (as links are kept), so
    # a network without blocks keeps the order, and so the initial weights, it always had
    edges: dict[str, list[str]] = {}
    indegree: dict[str, int] = {unit(n.id): 0 for n in network.nodes}
    for link in network.links:
        if link.src not in links.incoming or is_back_edge(link, roles):
            continue
        a, b = unit(link.src), unit(link.dst)
        if a != b:
            edges.setdefault(a, []).append(b)
            indegree[b] += 1
    ready = deque(u for u in dict.fromkeys(unit(n.id) for n in network.nodes)
                  if indegree[u] == 0)
    units = []
    while ready:
        u = ready.popleft()
        units.append(u)
        for v in edges.get(u, ()):
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    by_block = {b.start: b for b in blocks}
    result: list[str] = []
    stuck: list[str] = []
    for u in units:
        if u not in by_block:
            result.append(u)
            continue
        block = by_block[u]
        inner, inner_stuck = _inner_order(block, roles, links)
        block.members = inner
        result += inner + block.outputs
        stuck += inner_stuck
    placed = set(result)
    cycle_nodes = [n.id for n in network.nodes if n.id not in placed and n.id not in stuck]
    return result, _cycle(cycle_nodes + stuck, links, roles)


def _inner_order(block: Block, roles: dict[str, str], links: Links) -> tuple[list[str], list]:
    members = set(block.members)
    indegree = {m: 0 for m in block.members}
    for m in block.members:
        for link in links.incoming[m]:
            if link.src in members and not is_back_edge(link, roles):
                indegree[m] += 1
    ready = deque(m for m in block.members if indegree[m] == 0)
    out = []
    while ready:
        m = ready.popleft()
        out.append(m)
        for link in links.outgoing[m]:
            if link.dst in members and not is_back_edge(link, roles):
                indegree[link.dst] -= 1
                if indegree[link.dst] == 0:
                    ready.append(link.dst)
    return out, [m for m in block.members if m not in set(out)]


def _cycle(candidates: list[str], links: Links, roles: dict[str, str]) -> list[str]:
    """One cycle among ``candidates`` (nodes left unordered), in order; every candidate when
    none is found (they wait on a cycle upstream)."""
    pool = set(candidates)
    if not pool:
        return []
    finished: set[str] = set()
    for start in candidates:
        if start in finished:
            continue
        path, index, stack = [], {}, [(start, iter(links.outgoing[start]))]
        path.append(start)
        index[start] = 0
        while stack:
            node, it = stack[-1]
            advanced = False
            for link in it:
                if link.dst not in pool or link.dst in finished or is_back_edge(link, roles):
                    continue
                if link.dst in index:
                    return path[index[link.dst]:]
                index[link.dst] = len(path)
                path.append(link.dst)
                stack.append((link.dst, iter(links.outgoing[link.dst])))
                advanced = True
                break
            if not advanced:
                stack.pop()
                finished.add(path[-1])
                del index[path.pop()]
    return candidates
