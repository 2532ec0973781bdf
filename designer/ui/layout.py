"""Arrange: a top-to-bottom layered layout of a network (no Qt).

Layers by longest path from the inputs; a link that skips layers reserves a slot in each layer
it crosses, so a skip connection runs beside the chain instead of through it; a few
barycentre sweeps order each layer to cut crossings; each layer is centred.
"""
from __future__ import annotations

from designer.core.project import Network

COLUMN = 240.0  # horizontal distance between slots (a node is 200 wide)
ROW = 90.0      # vertical distance between layers


def arrange(network: Network, origin: tuple[float, float] = (0.0, 0.0)) -> dict[str, tuple[float, float]]:
    """New top-left position for every node."""
    ids = [n.id for n in network.nodes]
    if not ids:
        return {}
    known = set(ids)
    links = [(k.src, k.dst) for k in network.links if k.src in known and k.dst in known
             and k.src != k.dst]
    parents: dict[str, list[str]] = {i: [] for i in ids}
    children: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst in links:
        parents[dst].append(src)
        children[src].append(dst)

    level = _levels(ids, parents, children)

    # Chains of slots: a link spanning several layers gets a placeholder in each one between.
    slot_parents: dict[object, list[object]] = {i: [] for i in ids}
    rows: dict[int, list[object]] = {}
    for i in ids:
        rows.setdefault(level[i], []).append(i)
    for n, (src, dst) in enumerate(links):
        if level[dst] <= level[src]:
            continue  # a link closing a cycle: nothing to route
        prev: object = src
        for lv in range(level[src] + 1, level[dst]):
            dummy = ("link", n, lv)
            rows.setdefault(lv, []).append(dummy)
            slot_parents[dummy] = [prev]
            prev = dummy
        slot_parents[dst].append(prev)
    slot_children: dict[object, list[object]] = {s: [] for row in rows.values() for s in row}
    for s, ps in slot_parents.items():
        for p in ps:
            slot_children.setdefault(p, []).append(s)

    order = _order(rows, slot_parents, slot_children)

    widest = max(len(r) for r in order.values())
    pos: dict[str, tuple[float, float]] = {}
    for lv, row in order.items():
        shift = (widest - len(row)) / 2
        for k, slot in enumerate(row):
            if isinstance(slot, str):
                pos[slot] = (origin[0] + (k + shift) * COLUMN, origin[1] + lv * ROW)
    return pos


def _levels(ids, parents, children) -> dict[str, int]:
    """Longest path from a source; nodes on cycles go below everything else."""
    level: dict[str, int] = {}
    indegree = {i: len(parents[i]) for i in ids}
    ready = [i for i in ids if indegree[i] == 0]
    while ready:
        i = ready.pop(0)
        level.setdefault(i, 0)
        for c in children[i]:
            level[c] = max(level.get(c, 0), level[i] + 1)
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    bottom = max(level.values(), default=-1) + 1
    for i in ids:
        if i not in level:
            level[i] = bottom
            bottom += 1
    return level


def _order(rows, slot_parents, slot_children) -> dict[int, list[object]]:
    levels = sorted(rows)
    order = {lv: list(rows[lv]) for lv in levels}

    def sweep(lvs, neighbours):
        for lv in lvs:
            prev = {}
            for other in (lv - 1, lv + 1):
                for k, s in enumerate(order.get(other, [])):
                    prev[s] = k
            current = {s: k for k, s in enumerate(order[lv])}

            def key(s):
                ks = [prev[n] for n in neighbours.get(s, []) if n in prev]
                return (sum(ks) / len(ks)) if ks else current[s]
            order[lv].sort(key=key)

    for _ in range(4):
        sweep(levels[1:], slot_parents)
        sweep(list(reversed(levels[:-1])), slot_children)
    return order
