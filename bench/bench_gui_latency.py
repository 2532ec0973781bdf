"""GUI event-loop latency while a network trains from the window.

A 10 ms timer measures its own lateness (how much later than asked each tick arrives) in the
GUI process while ``TrainerProcess`` trains digits_lenet as a child and a ``TrainingMonitor``
draws every event, as in the app. The same probe first runs with nothing training, in the same
process, as the baseline. Goal: p99 lateness under 50 ms while training.

    python bench/bench_gui_latency.py [--epochs 3] [--project projects/digits_lenet.nnd]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the trainer child: one core of a shared box

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from designer.core.project import load  # noqa: E402
from designer.ui.monitor import TrainingMonitor  # noqa: E402
from designer.ui.trainer_process import TrainerProcess  # noqa: E402

INTERVAL_MS = 10


class LatencyProbe:
    """A precise timer that records how late each of its ticks arrives, in milliseconds."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self._tick)
        self.late: list[float] = []
        self.recording = False
        self._last = 0

    def start(self) -> None:
        self.clock.start()
        self._last = self.clock.nsecsElapsed()
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        if self.recording:
            self.late.append(max(0.0, (now - self._last) / 1e6 - INTERVAL_MS))
        self._last = now

    def take(self) -> np.ndarray:
        late, self.late = np.asarray(self.late), []
        return late


def spin(app: QApplication, seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def describe(name: str, late: np.ndarray) -> str:
    p50, p99 = np.percentile(late, [50, 99])
    return (f"{name:<16} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   max {late.max():7.2f} ms   "
            f"({len(late)} ticks)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=str(ROOT / "projects" / "digits_lenet.nnd"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    monitor = TrainingMonitor()
    monitor.resize(1000, 650)
    monitor.show()
    probe = LatencyProbe()
    probe.start()

    probe.recording = True
    spin(app, args.baseline_seconds)
    probe.recording = False
    idle = probe.take()

    project = load(args.project)
    project.training.epochs = args.epochs
    project.path = Path(tempfile.mkdtemp(prefix="bench-gui-")) / Path(args.project).name
    process = TrainerProcess()
    process.event.connect(monitor.handle_event)
    counts = {"events": 0}
    clocks: dict[str, float] = {}
    ends: list[tuple[str, str]] = []

    def on_event(event: dict) -> None:
        counts["events"] += 1
        if event["event"] == "started":
            probe.recording = True  # from the first step, not the child's start-up imports
            clocks["cpu"], clocks["wall"] = time.process_time(), time.monotonic()

    process.event.connect(on_event)
    process.finished.connect(lambda status: ends.append(("finished", status)))
    process.failed.connect(lambda message: ends.append(("failed", message)))
    started = time.monotonic()
    process.start(project)
    loop = QEventLoop()
    process.finished.connect(loop.quit)
    process.failed.connect(loop.quit)
    loop.exec()
    probe.recording = False
    training = probe.take()
    wall = time.monotonic() - started
    shutil.rmtree(project.path.parent, ignore_errors=True)

    print(f"GUI event-loop latency (a {INTERVAL_MS} ms timer's lateness), "
          f"{Path(args.project).stem}, {args.epochs} epochs, trainer as a child process")
    if ends[0][0] != "finished" or not len(training):
        print(f"training did not finish: {ends[0][1]}")
        return 1
    busy = (time.process_time() - clocks["cpu"]) / (time.monotonic() - clocks["wall"])
    print(describe("idle (baseline)", idle))
    print(describe("while training", training))
    p99 = float(np.percentile(training, 99))
    ratio = p99 / max(float(np.percentile(idle, 99)), 1e-3)
    print(f"{counts['events']} events drawn in {wall:.1f} s; the GUI process used "
          f"{100 * busy:.0f} % of one core while the trainer ran")
    print(f"p99 while training is {ratio:.1f}x the idle p99; goal p99 < 50 ms: "
          f"{'met' if p99 < 50 else 'NOT met'}")
    monitor.close()
    sys.stdout.flush()
    os._exit(0)  # skip Qt's teardown of the plots at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
