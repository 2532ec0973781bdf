"""Start the designer window: ``nn-designer [PROJECT]`` or ``python main.py [PROJECT]``.

Nothing imported before the window shows loads torch (``import torch`` alone takes longer
than everything else at start-up). Once the window is up, torch, the compiler and the
evaluation load in a background thread, so the first Evaluate or Export does not wait for them.
"""
from __future__ import annotations

import argparse
import gc
import sys
import threading

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from designer.core.imports import imported
from designer.ui.main_window import APP_NAME, MainWindow

# What the window's process needs torch for (training runs in a child process of its own).
WARM_UP = ("designer.core.compiler", "designer.core.evaluation")


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (torch, Qt, the catalog, the first project) out of
    the garbage collector's sight: full collections then stay short instead of pausing an
    edit for a few hundred milliseconds."""
    gc.collect()
    gc.freeze()


def warm_up_in_background() -> threading.Thread:
    """Import torch, the compiler and the evaluation in a background thread, then freeze what
    they made (as at start-up). Returns the thread (daemon: quitting does not wait for it)."""

    def warm_up() -> None:
        for name in WARM_UP:
            try:
                imported(name)
            except Exception:  # the action that needs it reports the problem itself
                return
        freeze_startup_objects()

    thread = threading.Thread(target=warm_up, name="warm-up", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=APP_NAME,
                                     description="Design, train and ship neural networks.")
    parser.add_argument("project", nargs="?", help="project file to open (.nnd)")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    window = MainWindow()
    window.show()
    if args.project:
        window.files.open_path(args.project)
    else:
        window.files.offer_recovery()
    freeze_startup_objects()
    QTimer.singleShot(0, warm_up_in_background)  # once the event loop has drawn the window
    return app.exec()
