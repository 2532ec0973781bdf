"""The Qt binding in use keeps Python's reference counts intact.

PySide6 6.12.0 on Python 3.11 dropped a reference to None on every Qt call returning nothing
and to True on every signal emit; the interpreter aborted a few seconds into a training run.
This runs the same calls in a fresh interpreter so a leaking release can never be pinned again.
"""
import subprocess
import sys

PROBE = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, QPointF, Signal
app = QCoreApplication([])
class Emitter(QObject):
    changed = Signal(dict)
emitter, point, seen = Emitter(), QPointF(), []
emitter.changed.connect(seen.append)
none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range(5000):
    point.setX(1.0)
    emitter.changed.emit({"loss": 0.5})
seen.clear()
print(sys.getrefcount(None) - none_before, sys.getrefcount(True) - true_before)
"""


def test_qt_calls_and_signals_do_not_leak_references():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    none_delta, true_delta = map(int, out.stdout.split())
    assert none_delta > -100 and true_delta > -100, (none_delta, true_delta)
