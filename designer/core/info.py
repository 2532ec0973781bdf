"""Print a project's network statistics: per layer output shape, parameters and multiply-adds.

Every network of the project is described (or the one ``--network`` names). Totals count the
network as written out: a repeat block's copies and a unit's layers each count, a recurrent
block's multiply-adds count every time step, and weights shared by several layers count once.
``--expanded`` lists the written-out layers themselves.
"""
from __future__ import annotations

import argparse
import json
import sys

import nodes

from designer.core.analysis import analyze
from designer.core.project import Network, Project, ProjectError, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--network", help="describe this network only (default: every network)")
    p.add_argument("--expanded", action="store_true",
                   help="list the layers as written out (repeat blocks copied, units inlined)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def statistics(network: Network, project: Project | None = None,
               expanded: bool = False) -> dict:
    analysis = analyze(network, project=project)
    shown, drawn = network, analysis
    if expanded and analysis.expanded is not None and not analysis.expanded.problems:
        shown, drawn = analysis.expanded.network, analysis.written_out
    layers = []
    for n in _ordered(shown, drawn):
        info = drawn.nodes[n.id]
        layer = {"name": n.name, "type": n.type,
                 "output_shape": list(info.shape) if info.shape is not None else None,
                 "params": info.params, "macs": info.macs}
        if info.error:
            layer["error"] = info.error
        if info.copies > 1:
            layer["copies"] = info.copies
        if info.steps:
            layer["steps"] = info.steps
        layers.append(layer)
    return {"network": network.name, "layers": layers, "total_params": analysis.total_params,
            "total_macs": analysis.total_macs, "errors": [str(p) for p in analysis.problems],
            "notices": [str(p) for p in analysis.notices]}


def _ordered(network, analysis):
    position = {nid: i for i, nid in enumerate(analysis.order)}
    return sorted(network.nodes, key=lambda n: position.get(n.id, len(position)))


def run(args: argparse.Namespace) -> int:
    try:
        project = load(args.project)
        networks = [project.network(args.network)] if args.network else project.networks
    except ProjectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    described = [statistics(net, project, args.expanded) for net in networks]
    if args.json:
        print(json.dumps(described[0] if len(described) == 1 else {"networks": described},
                         indent=2))
    else:
        print("\n\n".join((f"network {s['network']}\n" if len(described) > 1 else "")
                          + format_table(s) for s in described))
    return 2 if any(s["errors"] for s in described) else 0


def format_table(stats: dict) -> str:
    rows = [("Name", "Type", "Output", "Params", "Mult-adds")]
    for layer in stats["layers"]:
        shape = layer["output_shape"]
        if shape is not None:
            output = nodes.shape_text(tuple(shape))
        else:  # an Argument gives no output; a layer in error gives none either
            output = "error" if layer.get("error") else "—"
        if layer.get("steps"):
            output += f" (×{layer['steps']} steps)"
        if layer.get("copies"):
            output += f" (×{layer['copies']})"
        rows.append((layer["name"], layer["type"], output, f"{layer['params']:,}",
                     f"{layer['macs']:,}"))
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
    for notice in stats.get("notices", []):
        lines.append(f"notice: {notice}")
    return "\n".join(lines)
