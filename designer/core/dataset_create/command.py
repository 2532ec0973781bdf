"""Create a dataset from a folder of images (one sub-folder per class) or from a table.

    python -m designer dataset create --images DIR --size 28,28 [--gray] [--fit pad] -o OUT
    python -m designer dataset create --table FILE.csv --target COLUMN [--features A,B] -o OUT

Both write OUT/train.csv and OUT/validation.csv (their paths go to stdout, one per line) and
OUT/dataset.json; progress and a summary go to stderr.
"""
from __future__ import annotations

import argparse
import sys

from designer.core.data import DataError
from designer.core.dataset_create.images import create_from_images
from designer.core.dataset_create.table import TASKS, create_from_table
from designer.core.preprocessing import FIT_HELP, FITS
from designer.core.progress import Cancelled


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__.strip()
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR",
                        help="folder with one sub-folder of images per class")
    source.add_argument("--table", metavar="FILE",
                        help="CSV table with a header row (comma, semicolon or tab separated)")
    p.add_argument("-o", "--out", metavar="OUT", required=True, help="folder to create")
    p.add_argument("--split", type=float, default=80,
                   help="percent of the samples for training, the rest validate (default 80)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    p.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                   help="keep the order of the files or rows (the first ones train)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it holds files")
    images = p.add_argument_group("images")
    images.add_argument("--size", metavar="W,H",
                        help="width,height of every image (default 28,28)")
    images.add_argument("--gray", action="store_true", default=None,
                        help="one gray channel (default: three colour channels)")
    images.add_argument("--fit", choices=FITS,
                        help="; ".join(f"{k}: {v}" for k, v in FIT_HELP.items())
                        + " (default pad)")
    table = p.add_argument_group("table")
    table.add_argument("--target", metavar="COLUMN", help="the column to predict")
    table.add_argument("--features", metavar="A,B,...",
                       help="the input columns (default: every column but the target)")
    table.add_argument("--task", choices=TASKS, default="auto",
                       help="auto: a text target is classes, a numeric one regression")
    table.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                       help="scale each feature to mean 0, std 1 with the training rows' "
                            "statistics (default: when the columns' scales differ)")
    table.add_argument("--drop-bad-rows", action="store_true",
                       help="leave out (and list) rows with empty or non-numeric cells instead "
                            "of stopping")


def run(args: argparse.Namespace) -> int:
    progress = _Progress("converting images" if args.images else "writing rows")
    common = dict(split=args.split, shuffle=args.shuffle, seed=args.seed,
                  overwrite=args.overwrite, progress=progress)
    try:
        if args.images:
            for option in ("target", "features", "standardize"):
                if getattr(args, option) is not None:
                    raise DataError(f"--{option.replace('_', '-')} goes with --table, not "
                                    "--images")
            created = create_from_images(args.images, args.out, size=_size(args.size or "28,28"),
                                         gray=bool(args.gray), fit=args.fit or "pad", **common)
        else:
            for option in ("size", "gray", "fit"):
                if getattr(args, option) is not None:
                    raise DataError(f"--{option} goes with --images, not --table")
            if args.target is None:
                raise DataError("--table needs --target COLUMN (the column to predict)")
            features = None if args.features is None else [
                name.strip() for name in args.features.split(",") if name.strip()]
            created = create_from_table(args.table, args.out, target=args.target,
                                        features=features, task=args.task,
                                        standardize=args.standardize,
                                        drop_bad_rows=args.drop_bad_rows, **common)
    except DataError as e:
        progress.end()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Cancelled:
        progress.end()
        print("cancelled; nothing was written", file=sys.stderr)
        return 1
    except OSError as e:
        progress.end()
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    progress.end()
    for line in created.summary():
        print(line, file=sys.stderr)
    print(created.train)
    print(created.validation)
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise DataError(f"--size is width,height in pixels, e.g. 28,28; not {text!r}") from None
    return width, height


class _Progress:
    """``done/total`` on stderr: one updating line on a terminal, a line per tenth otherwise."""

    def __init__(self, what: str):
        self.what = what
        self.tty = sys.stderr.isatty()
        self.shown = -1
        self.open = False

    def __call__(self, done: int, total: int) -> None:
        if not total:
            return
        if self.tty:
            print(f"\r{self.what}: {done}/{total}", end="", file=sys.stderr, flush=True)
            self.open = True
        elif done and done * 10 // total > self.shown:
            self.shown = done * 10 // total
            print(f"{self.what}: {done}/{total}", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.open:
            print(file=sys.stderr)
            self.open = False
