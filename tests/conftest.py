import os
import sys
from pathlib import Path

# GUI tests drive the real window on Qt's offscreen platform: no display needed.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PROJECTS = ROOT / "projects"
