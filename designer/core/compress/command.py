"""Make a trained run smaller and faster: int8 quantization, pruning or distillation.

``python -m designer compress PROJECT --run RUN --method quantize|prune|distill [options]
-o OUT [--json]``: prints the before/after table (file size, ONNX Runtime latency at batch 1
and 32 on the CPU, validation accuracy or error, parameters, multiply-adds). Exit status 0
done, 2 bad input (the message names the run, layer or option), 1 a failure while working.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading

from designer.core import runs
from designer.core.compress import METHODS
from designer.core.compress.methods import distill_run, prune_run, quantize_run
from designer.core.compress.quantize import CALIBRATION_SAMPLES
from designer.core.compress.result import CompressError
from designer.core.export import ExportFailed
from designer.core.progress import terminate_interrupts
from designer.core.project import ProjectError, load
from designer.core.train_command import event_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd) the run belongs to")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="the trained run to compress")
    p.add_argument("--method", required=True, choices=METHODS,
                   help="quantize: an int8 ONNX model; prune: a smaller project with fewer "
                        "maps; distill: train a smaller project against the run")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="quantize: the .onnx file; prune: the new project file (.nnd); "
                        "distill: the student's run folder")
    p.add_argument("--weights", choices=runs.WEIGHTS, default="best",
                   help="the run's best or last weights (default: best)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object (progress goes to stderr)")
    q = p.add_argument_group("quantize")
    q.add_argument("--samples", type=int, default=CALIBRATION_SAMPLES,
                   help=f"training samples to calibrate on (default: {CALIBRATION_SAMPLES})")
    q.add_argument("--keep-float", metavar="LAYER[,LAYER]", default="",
                   help="layers to leave in float (ONNX Runtime cannot quantize some)")
    r = p.add_argument_group("prune")
    r.add_argument("--layers", metavar="LAYER[,LAYER]", default="",
                   help="Convolution or Affine layers to prune (default: every Convolution)")
    r.add_argument("--amount", type=float, default=0.5,
                   help="share of each layer's maps or units to remove (default: 0.5)")
    r.add_argument("--fine-tune", type=int, default=0, metavar="EPOCHS",
                   help="train the pruned network this many epochs (default: 0)")
    d = p.add_argument_group("distill")
    d.add_argument("--student", metavar="PROJECT", help="the smaller project to train")
    d.add_argument("--temperature", type=float, default=4.0,
                   help="softens the teacher's outputs (default: 4)")
    d.add_argument("--alpha", type=float, default=0.9,
                   help="share of the loss from the teacher; the rest from the labels "
                        "(default: 0.9)")
    d.add_argument("--epochs", type=int, help="train the student this many epochs "
                                              "(default: its project's)")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def progress(event: dict) -> None:
        text = event_text(event)
        if text is not None:
            say(text)

    def fail(message: str, status: int) -> int:
        if args.json:
            print(json.dumps({"ok": False, "error": message, "status": status}), flush=True)
        else:
            say(f"error: {message}")
        return status

    stop = threading.Event()  # a training step ends first; any other work unwinds at once
    try:
        with terminate_interrupts(stop.set) as finished:
            project = load(args.project)
            result = _compress(args, project, say, progress, stop)
            finished()  # a Cancel arriving now is too late: the result is written
            print(json.dumps({"ok": True, **result.to_json()}) if args.json
                  else result.summary(), flush=True)
    except (ProjectError, CompressError) as e:
        return fail(str(e), 2)
    except ExportFailed as e:
        return fail(str(e), 1)
    return 0


def _compress(args, project, say, progress, stop):
    if args.method == "quantize":
        return quantize_run(project, args.run, args.output, weights=args.weights,
                            samples=args.samples, keep_float=tuple(_names(args.keep_float)),
                            log=say)
    if args.method == "prune":
        return prune_run(project, args.run, args.output, layers=_names(args.layers) or None,
                         amount=args.amount, fine_tune=args.fine_tune, weights=args.weights,
                         log=say, on_event=progress, stop=stop)
    if not args.student:
        raise CompressError("--method distill needs --student PROJECT: the smaller project "
                            "to train against the run")
    return distill_run(project, args.run, args.student, args.output,
                       temperature=args.temperature, alpha=args.alpha, epochs=args.epochs,
                       weights=args.weights, log=say, on_event=progress, stop=stop)
