"""Start the designer window: ``nn-designer [PROJECT]`` or ``python main.py [PROJECT]``."""
from __future__ import annotations

import argparse
import gc
import sys

from PySide6.QtWidgets import QApplication

from designer.ui.main_window import APP_NAME, MainWindow


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (torch, Qt, the catalog, the first project) out of
    the garbage collector's sight: full collections then stay short instead of pausing an
    edit for a few hundred milliseconds."""
    gc.collect()
    gc.freeze()


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
    return app.exec()
