"""Print a project's network statistics: per layer output shape, parameters and multiply-adds."""
from __future__ import annotations

import argparse
import json
import sys

import nodes

from designer.core.analysis import analyze
from designer.core.project import ProjectError, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--network", help="network to describe (default: the one training uses)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def statistics(network) -> dict:
    analysis = analyze(network)
    layers = [{"name": n.name, "type": n.type,
               "output_shape": list(analysis.nodes[n.id].shape)
               if analysis.nodes[n.id].shape is not None else None,
               "params": analysis.nodes[n.id].params, "macs": analysis.nodes[n.id].macs}
              for n in _ordered(network, analysis)]
    return {"network": network.name, "layers": layers, "total_params": analysis.total_params,
            "total_macs": analysis.total_macs, "errors": [str(p) for p in analysis.problems]}


def _ordered(network, analysis):
    position = {nid: i for i, nid in enumerate(analysis.order)}
    return sorted(network.nodes, key=lambda n: position.get(n.id, len(position)))


def run(args: argparse.Namespace) -> int:
    try:
        project = load(args.project)
        network = project.network(args.network)
    except ProjectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stats = statistics(network)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_table(stats))
    return 2 if stats["errors"] else 0


def format_table(stats: dict) -> str:
    rows = [("Name", "Type", "Output", "Params", "Mult-adds")]
    for layer in stats["layers"]:
        shape = layer["output_shape"]
        rows.append((layer["name"], layer["type"],
                     "error" if shape is None else nodes.shape_text(tuple(shape)),
                     f"{layer['params']:,}", f"{layer['macs']:,}"))
    rows.append(("Total", "", "", f"{stats['total_params']:,}", f"{stats['total_macs']:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) if c < 3 else row[c].rjust(widths[c]) for c in range(5)]
        lines.append("  ".join(cells).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    for error in stats["errors"]:
        lines.append(f"error: {error}")
    return "\n".join(lines)
