"""Long work off the GUI thread: a function runs on a thread pool and reports back through Qt
signals, which arrive in the GUI thread (so slots may touch widgets).

    task = Task(lambda progress, cancelled: create_from_images(..., progress=progress,
                                                               cancelled=cancelled), parent)
    task.progress.connect(bar.setValue2)       # (done, total)
    task.done.connect(show_result)             # the function's return value
    task.failed.connect(show_message)          # the exception's message
    task.start()
    task.cancel()                              # the function sees cancelled() turn true

A function stops early by raising designer.core.progress.Cancelled (``cancelled`` signal).
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from designer.core.progress import Cancelled

Work = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]

# The app's own pool: dataset previews, checks and creation never wait behind each other for
# the global pool's two threads (one per core on a small machine).
POOL = QThreadPool()
POOL.setMaxThreadCount(4)


class _Signals(QObject):
    # Parentless, owned by the runnable: it outlives a closed window without dangling.
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    progress = Signal(int, int)


class _Runner(QRunnable):
    def __init__(self, work: Work, signals: _Signals, stop: threading.Event):
        super().__init__()
        self.work, self.signals, self.stop = work, signals, stop

    def run(self) -> None:
        try:
            result = self.work(self._progress, self.stop.is_set)
        except Cancelled:
            _emit(self.signals.cancelled)
        except Exception as e:  # the user reads the message; the window keeps running
            if not isinstance(e, (ValueError, OSError)):
                traceback.print_exc()
            _emit(self.signals.failed, str(e) or type(e).__name__)
        else:
            _emit(self.signals.done, result)

    def _progress(self, done: int, total: int) -> None:
        _emit(self.signals.progress, done, total)


def _emit(signal, *args) -> None:
    try:
        signal.emit(*args)
    except RuntimeError:  # the app quit while the work ran: there is no one left to tell
        pass


class Task(QObject):
    """One run of ``work(progress, cancelled)`` on the pool; see the module's description."""

    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    progress = Signal(int, int)
    finished = Signal()  # after done, failed or cancelled

    def __init__(self, work: Work, parent: QObject | None = None):
        super().__init__(parent)
        self.work = work
        self.running = False
        self._stop = threading.Event()
        self._signals: _Signals | None = None

    def start(self, work: Work | None = None) -> None:
        """Start the work (again, or ``work`` instead); a run still going is cancelled and its
        results ignored."""
        if work is not None:
            self.work = work
        self._stop.set()
        self._stop = threading.Event()
        signals = _Signals()
        signals.done.connect(self._done)
        signals.failed.connect(self._failed)
        signals.cancelled.connect(self._cancelled)
        signals.progress.connect(self._progress)
        self._signals = signals
        self.running = True
        POOL.start(_Runner(self.work, signals, self._stop))

    def cancel(self) -> None:
        self._stop.set()

    def abandon(self) -> None:
        """Stop listening: whatever the running work reports is ignored."""
        self._stop.set()
        self._end()

    def _end(self) -> None:
        self.running = False
        self._signals = None

    def _current(self) -> bool:
        """The signal comes from the latest start (an earlier run's results are dropped)."""
        return self._signals is not None and self.sender() is self._signals

    def _progress(self, done: int, total: int) -> None:
        if self._current():
            self.progress.emit(done, total)

    def _done(self, result: Any) -> None:
        if self._current():
            self._end()
            self.done.emit(result)
            self.finished.emit()

    def _failed(self, message: str) -> None:
        if self._current():
            self._end()
            self.failed.emit(message)
            self.finished.emit()

    def _cancelled(self) -> None:
        if self._current():
            self._end()
            self.cancelled.emit()
            self.finished.emit()


def run_later(work: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[str], None], parent: QObject) -> Task:
    """Run ``work()`` on the pool and hand its result to ``done`` (or its message to
    ``failed``) in the GUI thread."""
    task = Task(lambda progress, cancelled: work(), parent)
    task.done.connect(done)
    task.failed.connect(failed)
    task.finished.connect(task.deleteLater)
    task.start()
    return task
