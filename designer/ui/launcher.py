"""Start the app's own command line (``python -m designer ...``) as a child process.

Training and export run out of the window's process; both start here, the same way::

    process = QProcess(parent)
    process.finished.connect(...)                 # connect first: a failed start is reported
    launcher.start(process, designer_command("export", project_file, "--json"), work_dir)

The child imports this copy of ``designer`` (not another one installed elsewhere) and its
output arrives line by line as it is printed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QProcess, QProcessEnvironment

# The folder that holds the ``designer`` package: the child must import the same code.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def designer_command(*arguments: str | os.PathLike) -> list[str]:
    """``python -m designer ARGUMENTS`` with this interpreter."""
    return [sys.executable, "-m", "designer", *map(str, arguments)]


def start(process: QProcess, command: Sequence[str], working_dir: Path | str) -> None:
    """Start ``command`` (the program, then its arguments) in ``process``."""
    env = QProcessEnvironment.systemEnvironment()
    paths = [str(PACKAGE_ROOT), env.value("PYTHONPATH")]
    env.insert("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    env.insert("PYTHONUNBUFFERED", "1")  # events and progress arrive as they happen
    process.setProcessEnvironment(env)
    process.setWorkingDirectory(str(working_dir))
    program, *arguments = command
    process.start(program, list(arguments))
