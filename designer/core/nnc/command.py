"""Convert a Neural Network Console project (.sdcproj) into a project (.nnd).

``python -m designer import-nnc FILE.sdcproj -o PROJECT.nnd [--dataset NAME=PATH ...]``
prints what was not carried over, writes the project and exits 0; a file that cannot be opened
exits 2 with the reason (the line at fault, or the layers this app lacks).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from designer.core.nnc import NncError, import_project
from designer.core.project import SUFFIX, Project, ProjectError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the Neural Network Console project (.sdcproj)")
    p.add_argument("-o", "--out", metavar="PROJECT",
                   help=f"the project to write (default: FILE with {SUFFIX})")
    p.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH",
                   help="use a local NNC-format CSV file (or embedded:NAME) for the dataset NNC "
                        "names NAME, e.g. Training=train.csv; may be repeated")
    p.add_argument("--sdcpath", metavar="FOLDER",
                   help="a folder that stands for NNC's {SDCPATH} (its install folder), where "
                        "the dataset paths of NNC's samples start")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.file).with_suffix(SUFFIX)
    if out.suffix != SUFFIX:
        out = out.with_name(out.name + SUFFIX)
    try:
        imported = import_project(args.file, _overrides(args.dataset), args.sdcpath)
        _relative_datasets(imported.project, out.absolute().parent)
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        imported.project.save(out)
    except (NncError, ProjectError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    message = imported.message()
    if message:
        print(message)
    network = imported.project.network()
    print(f"wrote {out}: network {network.name} with {len(network.nodes)} layers and "
          f"{len(network.links)} links")
    return 0


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise NncError(f"--dataset {item}: expected NAME=PATH, e.g. Training=train.csv")
        out[name] = path
    return out


def _relative_datasets(project: Project, folder: Path) -> None:
    """Found dataset files are stored relative to the project, as project files keep them."""
    for ds in project.datasets.values():
        path = Path(ds.source)
        if path.is_absolute() and path.exists():
            try:
                ds.source = Path(os.path.relpath(path, folder)).as_posix()
            except ValueError:  # another drive (Windows)
                pass
