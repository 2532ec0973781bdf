"""The window's workspaces, as in Neural Network Console: Edit (the canvas), Dataset, Config,
Training and Evaluation, switched by their tabs or Ctrl+1 … Ctrl+5.

Each workspace but Edit is built the first time it is shown (its widgets, and the plots of
Training and Evaluation, must not delay the window's first appearance): ``on_first_show``
registers the builder, which receives the page to fill.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QStackedWidget, QTabBar, QVBoxLayout, QWidget

EDIT, DATASET, CONFIG, TRAINING, EVALUATION = range(5)
NAMES = ("Edit", "Dataset", "Config", "Training", "Evaluation")
TIPS = ("The network on the canvas, its problems and statistics",
        "The project's datasets: sources, options and a preview of the samples",
        "Training settings: epochs, batch size, optimizer, learning rate, device",
        "The live learning curves, and every run of the project",
        "How the trained network does, and trying it on a sample of your own")


class Workspaces(QStackedWidget):
    """The workspaces' pages; their tabs are ``bar``, which the window puts above everything
    (the docks of Edit included), so the tabs stay in one place whichever workspace is shown."""

    entered = Signal(int)  # a workspace was shown (after its first build)

    def __init__(self, edit_page: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QTabBar()
        self.bar.setDocumentMode(True)
        self.bar.setExpanding(False)
        font = self.bar.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        self.bar.setFont(font)
        self.pages = [edit_page] + [QWidget() for _ in NAMES[1:]]
        for index, (page, name) in enumerate(zip(self.pages, NAMES)):
            self.addWidget(page)
            self.bar.addTab(name)
            self.bar.setTabToolTip(index, f"{TIPS[index]} (Ctrl+{index + 1})")
        self._builders: dict[int, Callable[[QWidget], None]] = {}
        self.bar.currentChanged.connect(self.setCurrentIndex)
        self.currentChanged.connect(self._shown)

    def tabBar(self) -> QTabBar:  # noqa: N802 (as QTabWidget names it)
        return self.bar

    def on_first_show(self, index: int, build: Callable[[QWidget], None]) -> None:
        self._builders[index] = build

    def build(self, index: int) -> None:
        """Build workspace ``index`` now if it has not been built yet."""
        build = self._builders.pop(index, None)
        if build is not None:
            build(self.pages[index])

    def show_workspace(self, index: int) -> None:
        self.build(index)
        self.setCurrentIndex(index)

    def _shown(self, index: int) -> None:
        self.bar.setCurrentIndex(index)
        self.build(index)
        self.entered.emit(index)


def fill(page: QWidget, widget: QWidget) -> None:
    """Put ``widget`` in ``page``, edge to edge."""
    box = QVBoxLayout(page)
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(widget)
