"""``--dataset NAME=SOURCE`` on the command line: train, evaluate or start a project on other
data without editing the file.

SOURCE is an embedded dataset (``embedded:iris``) or a dataset CSV file or folder, relative to
the current folder. A dataset the project already has keeps its settings (shuffle, normalize,
cache, stream); a new one takes those of the training dataset.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from designer.core.data import EMBEDDED_PREFIX
from designer.core.project import DATASET_NAME, Dataset, Project, ProjectError


def add_dataset_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=SOURCE",
                        help=f"{what} (e.g. training=embedded:iris or validation=data/val.csv; "
                             "paths from the current folder); repeat for several")


def parse_choice(text: str) -> tuple[str, str]:
    """("training", "embedded:iris") from "training=embedded:iris"."""
    name, sep, source = text.partition("=")
    name, source = name.strip(), source.strip()
    if not sep or not name or not source:
        raise ProjectError(f"--dataset {text!r}: write NAME=SOURCE, e.g. training=embedded:iris "
                           "or validation=data/val.csv")
    if not DATASET_NAME.fullmatch(name):
        raise ProjectError(f"--dataset {text!r}: a dataset name is letters, digits, _ and -, "
                           "such as training, validation or test")
    return name, source


def apply_choices(project: Project, choices: list[str], relative: bool = False) -> None:
    """Replace or add the datasets ``choices`` name. Paths are taken from the current folder and
    stored absolute, or relative to the project's folder when ``relative`` (for a project file
    being written)."""
    for text in choices:
        name, source = parse_choice(text)
        if not source.startswith(EMBEDDED_PREFIX):
            path = Path(source).absolute()
            source = os.path.relpath(path, project.folder.absolute()) if relative else str(path)
            source = Path(source).as_posix() if relative else source
        old = project.datasets.get(name) or project.datasets.get("training")
        project.datasets[name] = (Dataset(source) if old is None else
                                  dataclasses.replace(old, source=source))
