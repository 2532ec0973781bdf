"""Start the app's own command line (``python -m designer ...``) as a child process.

Training and export run out of the window's process; both start here, the same way::

    process = QProcess(parent)
    process.finished.connect(...)                 # connect first: a failed start is reported
    launcher.start(process, designer_command("export", project_file, "--json"), work_dir)

The child imports this copy of ``designer`` (not another one installed elsewhere) and its
output arrives line by line as it is printed. ``JsonCommand`` runs a command that answers with
one JSON object (``--json``), passing on its progress lines.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

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


class JsonCommand(QObject):
    """A command that prints progress lines on stderr and its result as one JSON object on
    stdout (``--json``): ``progress(str)`` carries the latest progress line, ``done(dict)`` the
    result once the child has exited (``ok`` False and ``error`` when it failed, was cancelled
    or printed no result)."""

    progress = Signal(str)
    done = Signal(dict)

    KILL_AFTER_MS = 15_000  # a cancelled command that has not stopped by then is killed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._cancelled = False

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, command: Sequence[str], working_dir: Path | str) -> None:
        process = QProcess(self)
        process.readyReadStandardOutput.connect(
            lambda: self._stdout.extend(bytes(process.readAllStandardOutput())))
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process, self._cancelled = process, False
        self._stdout.clear()
        self._stderr.clear()
        start(process, command, working_dir)

    def cancel(self, wait: bool = False) -> None:
        """SIGTERM (the command unwinds and removes what it half wrote); kill if it lingers."""
        process = self.process
        if process is None:
            return
        self._cancelled = True
        process.terminate()
        if wait:
            if not process.waitForFinished(self.KILL_AFTER_MS):
                process.kill()
                process.waitForFinished(self.KILL_AFTER_MS)
        else:
            QTimer.singleShot(self.KILL_AFTER_MS,
                              lambda: self.process is process and process.kill())

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        self._stderr += bytes(self.process.readAllStandardError())
        lines = [line for line in self._stderr.decode("utf-8", "replace").splitlines()
                 if line.strip()]
        if lines:
            self.progress.emit(lines[-1].strip())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            self._finish({"ok": False, "error": f"the command could not be started: "
                                                f"{self.process.errorString()}"})

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        if self.process is None:
            return
        self._stdout += bytes(self.process.readAllStandardOutput())
        self._read_stderr()
        result = None
        for line in reversed(self._stdout.decode("utf-8", "replace").splitlines()):
            try:
                result = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
        finished = isinstance(result, dict) and "error" not in result
        if self._cancelled and not finished:  # a Cancel that came too late changes nothing
            result = {"ok": False, "error": "cancelled", "cancelled": True}
        elif not isinstance(result, dict):
            tail = "\n".join(self._stderr.decode("utf-8", "replace").strip().splitlines()[-12:])
            result = {"ok": False, "error": f"the process ended unexpectedly (exit status "
                                            f"{exit_code})" + (f":\n{tail}" if tail else "")}
        self._finish(result)

    def _finish(self, result: dict) -> None:
        self.process = None
        self.done.emit(result)
