"""Export a network to ONNX, PyTorch code or weights, proven to compute what the app computes.

``python -m designer export PROJECT [--run RUN_DIR] [--weights best|last]
--format onnx|pytorch|weights -o PATH [--opset N] [--json]``: exit status 0 when the export
matches the app, 1 when it does not or the exporter failed, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import sys

from designer.core.progress import terminate_interrupts
from designer.core.project import ProjectError, load
from designer.core.export import (DEFAULT_OPSET, EXPORTERS, FORMATS, MAX_OPSET, MIN_OPSET,
                                  WEIGHTS, ExportError, ExportFailed, ExportRefused, export)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="run folder whose weights to export (default: the untrained network)")
    p.add_argument("--weights", choices=WEIGHTS, default="best",
                   help="the run's best (lowest validation error) or last weights "
                        "(default: best)")
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="onnx: an ONNX model; pytorch: a standalone .py file and its weights; "
                        "weights: the weights alone (safetensors)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="file to write (or a folder: the file is named after the project); "
                        "<name>.preprocessing.json is written beside it")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default: {DEFAULT_OPSET})")
    p.add_argument("--exporter", choices=EXPORTERS, default="auto",
                   help="ONNX exporter: auto tries torch's dynamo exporter first and falls back "
                        "to the legacy (TorchScript) one (default: auto)")
    p.add_argument("--network", help="network to export (default: the one training uses)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object (progress goes to stderr)")


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def fail(message: str, status: int, refused: list[str] | None = None) -> int:
        if args.json:
            print(json.dumps({"ok": False, "error": message, "refusals": refused or [],
                              "status": status}), flush=True)
        elif refused:
            say("error: cannot export; these layers cannot be expressed:\n" +
                "\n".join(f"  {line}" for line in refused))
        else:
            say(f"error: {message}")
        return status

    try:
        with terminate_interrupts() as finished:
            project = load(args.project)
            result = export(project, args.format, args.output, run_dir=args.run,
                            weights=args.weights, opset=args.opset, exporter=args.exporter,
                            network=args.network, log=say)
            finished()  # a Cancel arriving now is too late: the files are written and checked
            print(json.dumps(result.to_json()) if args.json else result.summary(), flush=True)
    except ExportRefused as e:
        return fail(str(e), 2, e.refusals)
    except (ProjectError, ExportError) as e:
        return fail(str(e), 2)
    except ExportFailed as e:
        return fail(str(e), 1)
    return 0 if result.ok else 1
