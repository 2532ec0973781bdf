"""The trainer's child process: start it, and turn its JSON-line progress into Qt signals.

The editor never trains in its own process: a crash, a NaN or an out-of-memory error in training
cannot take the window down, and the event loop stays free while the trainer works.

Typical use (all in the GUI thread)::

    process = TrainerProcess(parent=window)
    process.event.connect(monitor.handle_event)        # every event dict, in order
    process.finished.connect(on_finished)              # "done" or "stopped"
    process.failed.connect(on_failed)                  # a message for the user
    run_dir = process.start(project)                   # the in-memory project, unsaved edits too
    process.resume(run_dir)                            # or: go on with a run from its checkpoint
    ...
    process.stop()                                     # the run's stop file; SIGTERM, then kill,
                                                       # if the trainer does not end in time

Exactly one of ``finished`` or ``failed`` is emitted per ``start``, after the child has exited.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QTimer, Signal

from designer.core import runs
from designer.core.project import Project
from designer.ui import launcher

CommandFactory = Callable[[Path, Path], Sequence[str]]

FAILURE_HEADLINES = {
    "data": "Dataset problem",
    "diverged": "Training diverged",
    "memory": "Out of memory",
    "error": "Training failed",
}


def trainer_command(snapshot: Path, run_dir: Path) -> list[str]:
    """The default child command: ``python -m designer train SNAPSHOT --events --out RUN_DIR``
    (several processes when the project's training.processes says so)."""
    return launcher.designer_command("train", snapshot, "--events", "--out", run_dir)


def resume_command(run_dir: Path) -> list[str]:
    """``python -m designer train --resume RUN_DIR --events``."""
    return launcher.designer_command("train", "--resume", run_dir, "--events")


class TrainerProcess(QObject):
    """One training run at a time in a child process.

    Signals:
      * ``started()``: the child process is running (its first event follows).
      * ``event(dict)``: each JSON event the trainer prints (started, iteration, epoch,
        gradients, checkpoint, finished, failed), in order.
      * ``finished(str)``: the child exited after a ``finished`` event; ``"done"`` or
        ``"stopped"``.
      * ``failed(str)``: anything else: a ``failed`` event (the trainer's explanation), a child
        that could not start, crashed or was killed (the end of its error output).

    ``command`` (also an attribute) replaces the child's command line, e.g. to add trainer
    options or, in tests, to run a small fake trainer: a function of (snapshot path, run folder)
    returning the program and its arguments.
    """

    started = Signal()
    event = Signal(dict)
    finished = Signal(str)
    failed = Signal(str)

    STDERR_KEEP = 64 * 1024  # bytes of the child's error output kept for messages

    def __init__(self, parent: QObject | None = None, command: CommandFactory | None = None,
                 stop_timeout_ms: int = 15000):
        super().__init__(parent)
        self.command = command or trainer_command
        self.stop_timeout_ms = stop_timeout_ms
        self._process: QProcess | None = None
        self._stdout = bytearray()
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._temp: Path | None = None
        self._terminal: dict | None = None  # the finished/failed event, once seen
        self._stop_requested = False
        self._killed_after_timeout = False
        self.run_dir: Path | None = None
        self._snapshot_names = ("", "")  # (temporary snapshot path, the project's own name)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_after_timeout)
        self._term_timer = QTimer(self)  # the signal, for a trainer that has not seen the file
        self._term_timer.setSingleShot(True)
        self._term_timer.timeout.connect(self._terminate)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._shutdown)

    # ---- control ---------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._process is not None

    def start(self, project: Project, run_dir: Path | str | None = None) -> Path:
        """Train ``project`` as it is in memory now; returns the run folder it will fill.

        Every outcome arrives as a signal, a folder that cannot be written included (``failed``
        names it). Raises RuntimeError if a run is already in progress.
        """
        if self._process is not None:
            raise RuntimeError("a training run is already in progress; stop it first")
        home = runs.runs_home(project)
        # Where the run goes if its folder cannot be made (for the caller; nothing is there).
        self.run_dir = Path(run_dir) if run_dir is not None else runs.runs_folder(home)
        try:
            # Made here, not by the child: the name is taken at once, and shown at once.
            self.run_dir = runs.new_run_dir(home, run_dir)
            self._temp = Path(tempfile.mkdtemp(prefix="nn-designer-train-"))
            snapshot = runs.snapshot(project, self._temp)
            # Messages name the user's project, not the temporary copy the child read.
            self._snapshot_names = (str(snapshot), str(project.path or project.name))
        except OSError as e:
            self._end()
            message = (f"Cannot prepare the run: {e.filename}: {e.strerror or e}" if e.filename
                       else f"Cannot prepare the run: {e}")
            QTimer.singleShot(0, lambda: self.failed.emit(message))
            return self.run_dir
        self._launch(self.command(snapshot, self.run_dir))
        return self.run_dir

    def resume(self, run_dir: Path | str) -> Path:
        """Go on with the run in ``run_dir`` from its checkpoint (``train --resume``); the same
        signals follow as for ``start``."""
        if self._process is not None:
            raise RuntimeError("a training run is already in progress; stop it first")
        self.run_dir = Path(run_dir)
        self._snapshot_names = ("", "")
        self._launch(resume_command(self.run_dir))
        return self.run_dir

    def _launch(self, command: Sequence[str]) -> None:
        self._stdout.clear()
        self._stderr.clear()
        self._stderr_size = 0
        self._terminal = None
        self._stop_requested = False
        self._killed_after_timeout = False

        process = QProcess(self)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.started.connect(self.started)
        process.errorOccurred.connect(self._on_error)
        process.finished.connect(self._on_finished)
        self._process = process
        launcher.start(process, command, self.run_dir.parent)

    def stop(self) -> None:
        """Ask the trainer to stop (it saves its weights and a checkpoint, reports "stopped").

        Writes the run's stop file (the same request on every system, and for every process of
        a run); a trainer still running after a third of ``stop_timeout_ms`` also gets SIGTERM,
        and one still alive after ``stop_timeout_ms`` is killed and reported through ``failed``.
        """
        if self._process is None or self._stop_requested:
            return
        self._stop_requested = True
        try:
            runs.request_stop(self.run_dir)
            self._term_timer.start(self.stop_timeout_ms // 3)
        except OSError:  # the folder cannot be written: the signal at once
            self._terminate()
        self._kill_timer.start(self.stop_timeout_ms)

    def _terminate(self) -> None:
        if self._process is not None:
            self._process.terminate()

    def kill(self) -> None:
        """End the child at once (no weights saved); ``failed`` follows."""
        if self._process is not None:
            self._process.kill()

    def pid(self) -> int | None:
        """The child's process id while it runs."""
        if self._process is None or not self._process.processId():
            return None
        return int(self._process.processId())

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the child exits (for scripts and shutdown; the GUI uses the signals)."""
        if self._process is None:
            return True
        return self._process.waitForFinished(msecs)

    def stderr_text(self) -> str:
        """The end of the child's error output (tracebacks), for a "details" box."""
        return b"".join(self._stderr).decode("utf-8", "replace")

    # ---- child output ----------------------------------------------------------------------

    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._stdout += bytes(self._process.readAllStandardOutput())
        *lines, rest = self._stdout.split(b"\n")
        self._stdout = bytearray(rest)
        for line in lines:
            self._parse_line(line)

    def _parse_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            # Stray prints (a library's warning on stdout) are kept with the error output.
            self._keep_stderr((text + "\n").encode())
            return
        if event["event"] in ("finished", "failed"):
            self._terminal = event
        self.event.emit(event)

    def _read_stderr(self) -> None:
        if self._process is not None:
            self._keep_stderr(bytes(self._process.readAllStandardError()))

    def _keep_stderr(self, data: bytes) -> None:
        self._stderr.append(data)
        self._stderr_size += len(data)
        while self._stderr_size > self.STDERR_KEEP and len(self._stderr) > 1:
            self._stderr_size -= len(self._stderr.popleft())

    def _stderr_tail(self, lines: int = 15) -> str:
        return "\n".join(self.stderr_text().strip().splitlines()[-lines:])

    # ---- the end of a run --------------------------------------------------------------------

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            program = self._process.program()
            reason = self._process.errorString()
            self._end()
            self.failed.emit(f"The trainer could not be started ({program}): {reason}")

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if self._process is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._stdout:  # a last line without its newline
            self._parse_line(bytes(self._stdout))
            self._stdout.clear()
        terminal = self._terminal
        if terminal is not None and terminal["event"] == "finished":
            self._end()
            self.finished.emit(str(terminal.get("status", "done")))
            return
        if terminal is not None:
            kind = terminal.get("kind", "error")
            message = (f"{FAILURE_HEADLINES.get(kind, 'Training failed')}: "
                       f"{terminal.get('message') or 'no explanation given'}")
            message = message.replace(*self._snapshot_names)
        else:
            message = self._crash_message(exit_code, exit_status)
            self._mark_run_failed(message)
        self._end()
        self.failed.emit(message)

    def _crash_message(self, exit_code: int, exit_status: QProcess.ExitStatus) -> str:
        if self._killed_after_timeout:
            head = (f"The trainer did not stop within {self.stop_timeout_ms / 1000:g} s and "
                    "was ended; the weights of the last steps were not saved.")
        elif exit_status == QProcess.ExitStatus.CrashExit:
            head = "The training process was killed or crashed before it finished."
        else:
            head = f"The training process ended unexpectedly (exit status {exit_code})."
        tail = self._stderr_tail()
        return f"{head}\n\n{tail}" if tail else f"{head} It printed no error message."

    def _mark_run_failed(self, message: str) -> None:
        """A child that died cannot update run.json; do it so the Runs view shows the truth."""
        if self.run_dir is not None:
            runs.mark_failed(self.run_dir, message)

    def _kill_after_timeout(self) -> None:
        if self._process is not None:
            self._killed_after_timeout = True
            self._process.kill()

    def _end(self) -> None:
        self._kill_timer.stop()
        self._term_timer.stop()
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def _shutdown(self) -> None:
        """The app is quitting: give the trainer a moment to save, then end it."""
        if self._process is None:
            return
        self._process.terminate()
        if not self._process.waitForFinished(3000):
            self._process.kill()
            self._process.waitForFinished(1000)
