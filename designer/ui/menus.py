"""The menu bar, the toolbar and the Help texts of the main window.

``build_menu_bar(window)`` and ``build_toolbar(window)`` put the window's actions (made by the
window) into menus and the toolbar, and keep the menus on the window (``window.file_menu``, …)
for later use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import nodes
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup

from designer.ui import dialogs

if TYPE_CHECKING:
    from designer.ui.main_window import MainWindow

APP_NAME = "nn-designer"

SHORTCUTS = (
    ("New, Open, Save, Save As", "Ctrl+N, Ctrl+O, Ctrl+S, Ctrl+Shift+S"),
    ("Undo, Redo", "Ctrl+Z, Ctrl+Shift+Z (or Ctrl+Y)"),
    ("Cut, Copy, Paste, Duplicate", "Ctrl+X, Ctrl+C, Ctrl+V, Ctrl+D"),
    ("Delete the selection", "Delete or Backspace"),
    ("Select all", "Ctrl+A"),
    ("Add a layer by name", "Tab (on the canvas)"),
    ("Find a layer in the palette", "Ctrl+F"),
    ("Arrange top to bottom", "Ctrl+L"),
    ("Zoom to fit", "F or Ctrl+0"),
    ("Zoom in, out", "Ctrl++, Ctrl+- (or the mouse wheel)"),
    ("Pan", "Middle mouse button, or Alt + drag"),
    ("Cut links", "Alt+Shift + drag across them"),
    ("Rename a layer", "double-click it"),
    ("Train, Stop training", "F5, Shift+F5"),
    ("Workspaces: Edit, Dataset, Config, Training, Evaluation", "Ctrl+1 … Ctrl+5"),
)


def build_menu_bar(window: MainWindow) -> None:
    bar = window.menuBar()
    window.file_menu = bar.addMenu("&File")
    window.file_menu.addActions([window.new_action, window.open_action])
    window.recent_menu = window.file_menu.addMenu("Open &Recent")
    window.recent_menu.aboutToShow.connect(lambda: window.files.fill_recent(window.recent_menu))
    window.samples_menu = window.file_menu.addMenu("Open Sa&mple")
    window.samples_menu.aboutToShow.connect(
        lambda: window.files.fill_samples(window.samples_menu))
    window.file_menu.addSeparator()
    window.file_menu.addActions([window.save_action, window.save_as_action])
    window.file_menu.addSeparator()
    window.file_menu.addAction(window.create_dataset_action)
    window.file_menu.addAction(window.export_action)
    window.file_menu.addAction(window.watch_action)
    window.file_menu.addSeparator()
    window.file_menu.addAction(window.quit_action)

    window.edit_menu = bar.addMenu("&Edit")
    window.edit_menu.addActions([window.undo_action, window.redo_action])
    window.edit_menu.addSeparator()
    window.edit_menu.addActions([window.cut_action, window.copy_action, window.paste_action,
                               window.duplicate_action, window.delete_action,
                               window.make_unit_action])
    window.edit_menu.addSeparator()
    window.edit_menu.addActions([window.select_all_action, window.find_action])
    window.edit_menu.addSeparator()
    window.edit_menu.addAction(window.arrange_action)

    window.view_menu = bar.addMenu("&View")
    window.view_menu.addActions(window.workspace_actions)
    window.view_menu.addSeparator()
    window.view_menu.addActions([window.fit_action, window.zoom_in_action, window.zoom_out_action])
    window.view_menu.addSeparator()
    window.view_menu.addAction(window.palette_dock.toggleViewAction())
    window.view_menu.addAction(window.properties_dock.toggleViewAction())
    window.view_menu.addAction(window.gradients_action)
    theme_menu = window.view_menu.addMenu("&Theme")
    group = QActionGroup(window)
    window.theme_actions: dict[str, QAction] = {}
    for pref, label in (("system", "Follow the &System"), ("dark", "&Dark"),
                        ("light", "&Light")):
        act = QAction(label, window, checkable=True)
        act.triggered.connect(lambda checked, p=pref: window.set_theme(p))
        group.addAction(act)
        theme_menu.addAction(act)
        window.theme_actions[pref] = act

    window.training_menu = bar.addMenu("&Training")
    window.training_menu.addActions([window.train_action, window.stop_action])
    window.training_menu.addSeparator()
    window.training_menu.addActions([window.start_from_action, window.start_fresh_action])
    window.training_menu.addSeparator()
    window.training_menu.addAction(window.evaluate_action)

    window.help_menu = bar.addMenu("&Help")
    window.help_menu.addActions([window.shortcuts_action, window.about_action])


def build_toolbar(window: MainWindow) -> None:
    window.toolbar = window.addToolBar("Main")
    window.toolbar.setObjectName("toolbar:main")
    window.toolbar.setMovable(False)
    window.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.toolbar.addActions([window.new_action, window.open_action, window.save_action])
    window.toolbar.addSeparator()
    window.toolbar.addActions([window.undo_action, window.redo_action])
    window.toolbar.addSeparator()
    window.toolbar.addActions([window.arrange_action, window.fit_action])
    window.toolbar.addSeparator()
    window.toolbar.addActions([window.train_action, window.stop_action])
    # The workspace tabs on a row of their own across the window, above the docks
    window.addToolBarBreak()
    tabs = window.addToolBar("Workspaces")
    tabs.setObjectName("toolbar:workspaces")
    tabs.setMovable(False)
    tabs.toggleViewAction().setEnabled(False)  # the tabs are never hidden
    tabs.addWidget(window.workspaces.bar)


def show_shortcuts(window: MainWindow) -> None:
    rows = "".join(f"<tr><td>{what}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>"
                   for what, keys in SHORTCUTS)
    dialogs.info(window, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_about(window: MainWindow) -> None:
    dialogs.info(window, f"About {APP_NAME}",
                 f"{APP_NAME}: design, train and ship neural networks visually.\n"
                 f"{len(nodes.CATALOG)} layers in the catalog.")
