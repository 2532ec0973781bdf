"""``python -m designer COMMAND``: the command-line front end.

Each command lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``;
exit status 0 done, 2 bad input (the message says what), 1 a failure while working. Only the
chosen command's module is imported. A command module may name sub-commands in ``SUBCOMMANDS``
(``{"create": (module, help)}``); ``COMMAND SUB ...`` is then handled by that module alone.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "info": ("designer.core.info", "print network statistics (shapes, parameters, multiply-adds)"),
    "dataset": ("designer.core.data", "list or write out the embedded datasets; create one "
                "from images or a table (dataset create)"),
    "train": ("designer.core.train_command", "train a project's network (or resume a run)"),
    "launch": ("designer.core.launch",
               "print the torchrun commands (or a Slurm script) to train on several machines"),
    "evaluate": ("designer.core.evaluation",
                 "evaluate a trained run on its validation data or another dataset"),
    "predict": ("designer.core.predict",
                "try a trained run on raw samples (image files or numbers), as training saw them"),
    "export": ("designer.core.export.command",
               "export a network to ONNX, PyTorch code or weights"),
    "compress": ("designer.core.compress.command",
                 "make a trained run smaller: int8 quantization, pruning, distillation"),
    "import-nnc": ("designer.core.nnc.command",
                   "open a Neural Network Console project (.sdcproj) as a project"),
    "new": ("designer.core.templates", "write a new project from a template"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    listing = "\n".join(f"  {name:<12}{text}" for name, (_, text) in COMMANDS.items())
    top = argparse.ArgumentParser(
        prog="python -m designer", description="Design, train and export neural networks.",
        epilog=f"commands:\n{listing}\n\n'python -m designer COMMAND --help' describes one.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("command", choices=COMMANDS, metavar="COMMAND")
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv[:1])  # prints help or the usage error and exits
    module = importlib.import_module(COMMANDS[argv[0]][0])
    prog, rest = f"python -m designer {argv[0]}", argv[1:]
    subcommands = getattr(module, "SUBCOMMANDS", {})
    if rest and rest[0] in subcommands:
        module = importlib.import_module(subcommands[rest[0]][0])
        prog, rest = f"{prog} {rest[0]}", rest[1:]
    parser = argparse.ArgumentParser(prog=prog,
                                     description=module.__doc__.strip().splitlines()[0])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return module.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
