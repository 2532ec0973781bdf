"""Train a project's network: ``python -m designer train PROJECT``.

Progress prints as text, or with ``--events`` as JSON lines (one event per line: how the
desktop app watches its child process). ``--processes N`` (or the project's
``training.processes``) starts torchrun with N processes running this same command; under
torchrun (started by it or by hand) each process trains its share. ``--resume RUN_DIR`` goes on
with a stopped, killed or pre-empted run from its checkpoint. SIGINT or SIGTERM, or a ``stop``
file in the run folder, finishes the current step, saves and ends the run as "stopped".
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from designer.core import launch, runs
from designer.core.dataset_choice import add_dataset_option, apply_choices
from designer.core.distributed import EXIT_PEER_LOST, Distributed
from designer.core.project import DEVICES, MAX_SEED, Project, ProjectError, is_device, load
from designer.core.trainer import train
from designer.core.transfer import InitReport


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", nargs="?", help="project file (.nnd); not with --resume")
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default: a new folder in <project>.runs/ named by the time)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="go on with this run from its checkpoint (its own copy of the project)")
    p.add_argument("--events", action="store_true",
                   help="print progress as JSON lines (one event per line) instead of text")
    p.add_argument("--epochs", type=int, help="train this many epochs instead of the project's")
    p.add_argument("--batch-size", type=int,
                   help="use this batch size (per process) instead of the project's")
    p.add_argument("--seed", type=int, help="use this random seed instead of the project's")
    p.add_argument("--device", type=_device, metavar="{" + ",".join(DEVICES) + ",cuda:N}",
                   help="train on this device instead of the project's choice")
    add_dataset_option(p, "train on this dataset instead of the project's")
    p.add_argument("--processes", type=int, metavar="N",
                   help="train in N processes on this machine (torchrun; one per GPU, or "
                        "shares of the CPU) instead of the project's training.processes")
    p.add_argument("--checkpoint-every", type=float, metavar="SECONDS",
                   help="seconds between checkpoints (default 30; also saved when stopped)")
    p.add_argument("--init", metavar="RUN_DIR",
                   help="start from this run's weights: each layer whose name, type and weight "
                        "shapes match takes them (the others keep their initialisation)")
    p.add_argument("--init-weights", choices=runs.WEIGHTS, default="best",
                   help="the run's best or last weights (default: best)")


def _device(text: str) -> str:
    if not is_device(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(DEVICES)} or cuda:N")
    return text


def run(args: argparse.Namespace) -> int:
    say = _print_event if args.events else _print_text
    if not Distributed.from_environment().is_main:
        say = _quiet  # under torchrun, rank 0 speaks for the run
    try:
        project = _project(args)
    except ProjectError as e:
        say({"event": "failed", "kind": "error", "message": str(e)})
        return 2
    processes = args.processes or project.training.processes
    if processes > 1 and not launch.under_torchrun():
        return launch.train_processes(args, project, processes, say)
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = train(project, args.resume or args.out, on_event=say, stop=stop,
                       resume=args.resume is not None, checkpoint_every=args.checkpoint_every)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if result.status == "failed":
        return EXIT_PEER_LOST if result.peer_lost else 2 if result.bad_input else 1
    return 0


def _project(args: argparse.Namespace) -> Project:
    """The project to train, the command's options applied; ProjectError says what is wrong."""
    if args.processes is not None and args.processes < 1:
        raise ProjectError(f"--processes must be at least 1, not {args.processes}")
    if args.checkpoint_every is not None and not args.checkpoint_every > 0:
        raise ProjectError(f"--checkpoint-every must be more than 0 seconds, not "
                           f"{args.checkpoint_every:g}")
    if args.resume is not None:
        if args.project is not None or args.out is not None:
            raise ProjectError("--resume continues a run in its own folder with its own copy "
                               "of the project: give no project file and no --out")
        changed = [f"--{name.replace('_', '-')}" for name in ("epochs", "batch_size", "seed",
                                                               "dataset", "init")
                   if getattr(args, name)]
        if changed:
            raise ProjectError(f"{', '.join(changed)}: a resumed run keeps its settings, or it "
                               "would not end as the run it continues")
        project = load(runs.project_path(args.resume))
    elif args.project is None:
        raise ProjectError("name the project file to train, or --resume RUN_DIR")
    else:
        project = load(args.project)
    cfg = project.training
    if args.epochs is not None:
        if args.epochs < 1:
            raise ProjectError(f"--epochs must be at least 1, not {args.epochs}")
        cfg.epochs = args.epochs
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise ProjectError(f"--batch-size must be at least 1, not {args.batch_size}")
        cfg.batch_size = args.batch_size
    if args.seed is not None:
        if not 0 <= args.seed <= MAX_SEED:
            raise ProjectError(f"--seed must be from 0 to {MAX_SEED}, not {args.seed}")
        cfg.seed = args.seed
    if args.device is not None:
        cfg.device = args.device
    apply_choices(project, args.dataset)
    if args.init is not None:  # from the current folder, as the command line reads paths
        cfg.init = {"run": str(Path(args.init).resolve()), "weights": args.init_weights}
    return project


def _quiet(event: dict[str, Any]) -> None:
    pass


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def _print_text(event: dict[str, Any]) -> None:
    text = event_text(event)
    if text is not None:
        where = sys.stderr if event["event"] in ("failed", "cache") else sys.stdout
        print(text, file=where, flush=True)


def event_text(event: dict[str, Any]) -> str | None:
    """An event as the command line prints it (None: not printed)."""
    kind = event["event"]
    if kind == "started":
        processes = event.get("processes") or 1
        batch = (f", {processes} processes × batch {event['batch_size']} = global batch "
                 f"{event['global_batch']}" if processes > 1 else "")
        resumed = event.get("resumed")
        again = (f"\nresumed at epoch {resumed['epoch']}, iteration {resumed['iteration']}"
                 if resumed else "")
        return (f"training on {event['device']} ({event['device_name']}): "
                f"{event['train_samples']} training and {event['val_samples']} validation "
                f"samples, {event['epochs']} epochs of {event['iterations_per_epoch']} "
                f"iterations{batch}\nrun folder: {event['run_dir']}{again}")
    if kind == "cache":
        return f"caching {event['variable']}: {event['done']:,} of {event['total']:,} images"
    if kind == "epoch":
        val = "" if event["val_loss"] is None else (
            f"  val loss {event['val_loss']:.4f}  val error {event['val_error']:.4f}")
        return (f"epoch {event['epoch']:>4}  train loss {event['train_loss']:.4f}{val}  "
                f"lr {event['lr']:.3g}  {_clock(event['elapsed'])}")
    if kind == "init":
        return "\n".join(InitReport.from_event(event).lines())
    if kind == "distill":
        return (f"learning from teacher run {Path(event['teacher']).name} ({event['weights']} "
                f"weights) at temperature {event['temperature']:g}, alpha {event['alpha']:g}")
    if kind == "finished":
        best = "" if event["best_val_error"] is None else (
            f": best val error {event['best_val_error']:.4f} at epoch {event['best_epoch']}")
        return f"{event['status']}{best} ({_clock(event['elapsed'])})"
    if kind == "failed":
        return f"error: {event['message']}"
    return None


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
