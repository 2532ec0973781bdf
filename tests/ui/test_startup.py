"""The window comes up without waiting for torch, and torch loads in the background after it.

Each check runs in a fresh interpreter: in the test process torch is long imported.
"""
import json
import os
import subprocess
import sys

from tests.conftest import PROJECTS, ROOT

SHOW_WINDOW = """
import json, sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
import designer.ui.app  # what `nn-designer` and main.py import first
from designer.ui.main_window import MainWindow
app = QApplication([])
window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
window.show()
app.processEvents()
shown = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
opened = window.files.open_path(sys.argv[2])
app.processEvents()
print(json.dumps({"shown": shown, "opened": opened, "title": window.windowTitle(),
                  "after_open": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""

WARM_UP = """
import json, sys
from designer.ui import app
before = "torch" in sys.modules
app.warm_up_in_background().join(300)
print(json.dumps({"before": before, "after": [m for m in app.WARM_UP + ("torch",)
                                                if m in sys.modules]}))
"""


def run_fresh(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_showing_the_window_and_opening_a_project_import_no_torch(tmp_path):
    result = run_fresh(SHOW_WINDOW, str(tmp_path / "settings.ini"),
                       str(PROJECTS / "digits_lenet.nnd"))
    assert result["shown"] == []
    assert result["opened"] and result["title"].startswith("digits_lenet")
    assert result["after_open"] == []


def test_the_warm_up_loads_torch_the_compiler_and_the_evaluation():
    result = run_fresh(WARM_UP)
    assert result["before"] is False
    assert result["after"] == ["designer.core.compiler", "designer.core.evaluation", "torch"]
