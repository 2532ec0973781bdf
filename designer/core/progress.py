"""Progress and cancellation for long work that a window runs on a worker thread.

A long function takes ``progress(done, total)`` and ``cancelled()`` (both optional). It reports
through a :class:`Ticker`, which calls ``progress`` a few times a second at most (so a view's
signal queue never floods) and raises :class:`Cancelled` as soon as ``cancelled()`` says so.
A command the window runs as a child process is cancelled by SIGTERM instead
(:func:`terminate_interrupts`).
"""
from __future__ import annotations

import contextlib
import signal
import time
from typing import Callable, Iterator

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class Cancelled(Exception):
    """The user cancelled the work; whatever it was writing has been removed."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class Ticker:
    """Counts work done, reports it now and then, and stops the work when cancelled."""

    INTERVAL = 0.1  # seconds between progress calls

    def __init__(self, total: int, progress: Progress | None = None,
                 cancelled: CancelCheck | None = None):
        self.total = total
        self.done = 0
        self._progress = progress
        self._cancelled = cancelled
        self._last = 0.0
        self.report(force=True)

    def check(self) -> None:
        """Raise Cancelled if the user asked to stop."""
        if self._cancelled is not None and self._cancelled():
            raise Cancelled()

    def step(self, count: int = 1) -> None:
        self.done += count
        self.check()
        self.report()

    def report(self, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if force or self.done >= self.total or now - self._last >= self.INTERVAL:
            self._last = now
            self._progress(self.done, self.total)


@contextlib.contextmanager
def terminate_interrupts(on_terminate: Callable[[], None] | None = None
                         ) -> Iterator[Callable[[], None]]:
    """Inside, SIGTERM (the window's Cancel) raises KeyboardInterrupt: the command unwinds and
    removes what it had half written. ``on_terminate`` runs first. Call the function it gives
    once the work is complete: a SIGTERM after that is ignored, so the command still reports
    what it wrote rather than dying with its files in place and no word about them."""
    complete = False

    def interrupt(signum, frame):
        if complete:
            return
        if on_terminate is not None:
            on_terminate()
        raise KeyboardInterrupt

    def finished() -> None:
        nonlocal complete
        complete = True

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield finished
    finally:
        signal.signal(signal.SIGTERM, previous)
