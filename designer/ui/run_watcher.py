"""Follow a run folder as its trainer writes it: File → Watch Run…

The trainer may run anywhere (a GPU server, a cluster node) as long as its run folder is
visible here (a shared disk, a synced folder). Its ``events.jsonl`` is read from where the
last look left off, a few times a second, and each new line becomes an event, exactly as
from a child process. A ``finished`` or ``failed`` event ends the watch; so does run.json
saying the run is no longer running (a trainer killed before it could say so).

    watcher = RunWatcher(parent)
    watcher.event.connect(monitor.handle_event)
    watcher.ended.connect(on_ended)          # (status, message)
    watcher.watch(run_dir)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from designer.core import runs

POLL_MS = 250
STATUS_EVERY = 2.0  # seconds between looks at run.json
QUIET = 3.0  # seconds without a new event before run.json's word on the run counts


class RunWatcher(QObject):
    event = Signal(dict)
    ended = Signal(str, str)  # the run's status, and run.json's message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self._offset = 0
        self._partial = b""
        self._last_event = 0.0
        self._status_read = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def is_watching(self) -> bool:
        return self.run_dir is not None

    def watch(self, run_dir: Path | str) -> None:
        """Follow ``run_dir`` from its first event (what happened so far arrives at once)."""
        self.run_dir = Path(run_dir)
        self._offset, self._partial = 0, b""
        self._last_event = self._status_read = time.monotonic()
        self._timer.start()
        self.poll()

    def stop_watching(self) -> None:
        self._timer.stop()
        self.run_dir = None

    def poll(self) -> None:
        """Read what the trainer added since the last look."""
        if self.run_dir is None:
            return
        try:
            with open(runs.events_path(self.run_dir), "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            data = b""
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        ending = None  # the last finished/failed event, unless the run started again after it
        for line in lines:
            event = self._take(line)
            if event is None:
                continue
            if event["event"] in ("finished", "failed"):
                ending = (str(event.get("status", "done")) if event["event"] == "finished"
                          else "failed", str(event.get("message") or ""))
            elif event["event"] == "started":
                ending = None  # resumed in the same folder
        if ending is not None:
            self._end(*ending)
            return
        now = time.monotonic()
        if now - self._status_read >= STATUS_EVERY and now - self._last_event >= QUIET:
            self._status_read = now
            self._check_status()

    def _take(self, line: bytes) -> dict | None:
        """Pass one event on."""
        try:
            event = json.loads(line.decode("utf-8", "replace"))
        except json.JSONDecodeError:
            return None  # a line cut short by a crash
        if not isinstance(event, dict) or "event" not in event:
            return None
        self._last_event = time.monotonic()
        self.event.emit(event)
        return event

    def _check_status(self) -> None:
        """A trainer killed before it could say so: run.json tells (the window that started it
        marks it failed; a run elsewhere is marked interrupted once its heartbeat stops)."""
        try:
            info = runs.read_run(self.run_dir)
        except (OSError, ValueError):
            return
        status = str(info.get("status") or "")
        if status and status != "running":
            self._end(status, str(info.get("message") or ""))

    def _end(self, status: str, message: str) -> None:
        self._timer.stop()
        self.run_dir = None
        self.ended.emit(status, message)
