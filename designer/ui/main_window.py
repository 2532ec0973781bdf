"""The main window: palette on the left, canvas in the middle, properties on the right, and
the Problems, Statistics, Training, Runs and Evaluation tabs below.

Training runs in a child process (``TrainingProcess``); its events feed the monitor, the run
history and the gradient colours on the canvas. ``weights_run`` is the run whose weights stand
for the project: the newest finished run, or one the user opened from the Runs tab.

Room for more: ``bottom_tabs`` takes more tabs, ``toolbar`` more actions, and
``project_changed`` / ``document_edited`` tell them when the document changes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nodes
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QLabel, QMainWindow,
                               QMenu, QProgressBar, QSplitter, QTabWidget, QVBoxLayout, QWidget)

import designer
from designer.core.runs import latest_run, project_path, run_name, run_weights
from designer.core.analysis import Analysis, analyze
from designer.core.project import SUFFIX, Link, Project, ProjectError, load
from designer.ui import dialogs, icons, layout, recovery, theme
from designer.ui.canvas import NODE_HEIGHT, NODE_WIDTH, Canvas
from designer.ui.commands import (Change, DocumentEditor, clipboard_payload,
                                  empty_project, has_output, parse_clipboard)
from designer.ui.evaluation_view import EvaluationView
from designer.ui.gradients import describe_norm, gradient_colors
from designer.ui.history import RunHistory
from designer.ui.monitor import TrainingMonitor
from designer.ui.palette import LayerPalette, LayerSearchPopup
from designer.ui.problems import ProblemsPanel
from designer.ui.properties import PropertiesPanel
from designer.ui.statistics import StatisticsPanel
from designer.ui.training import TrainingProcess

APP_NAME = "nn-designer"
SAMPLES = Path(designer.__file__).resolve().parent.parent / "projects"
AUTOSAVE_MS = 60_000
MAX_RECENT = 8
PASTE_OFFSET = 40.0
TRAINING_SHARE = 0.5  # of the window's height for the bottom tabs while a run trains
STOP_WAIT_MS = 15_000  # how long closing or opening waits for a stopped run to save

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
)


def structure(project: Project) -> list[dict]:
    """The project's networks without the card positions (moving a card changes no weight)."""
    networks = project.to_dict()["networks"]
    for net in networks:
        for node in net["nodes"]:
            node.pop("pos")
    return networks


def _rebase_datasets(project: Project, folder: Path) -> None:
    """Keep relative dataset paths pointing at the same files when the project moves."""
    for ds in project.datasets.values():
        if ds.source.startswith("embedded:") or Path(ds.source).is_absolute():
            continue
        target = project.resolve(ds.source)
        try:
            ds.source = Path(os.path.relpath(target, folder)).as_posix()
        except ValueError:  # another drive (Windows)
            ds.source = str(target)


class MainWindow(QMainWindow):
    project_changed = Signal()   # another document is open (new, opened, restored)
    document_edited = Signal()   # the document changed and has been analysed again

    def __init__(self, settings: QSettings | None = None, autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.editor = DocumentEditor(parent=self)
        self.analysis: Analysis | None = None
        self.recovery_file: Path | None = None
        self._paste_count = 0
        self._search_pos: tuple[float, float] | None = None
        self._fitted = False
        self.weights_run: Path | None = None  # the run whose weights stand for the project
        self._training_run: Path | None = None  # the run being trained
        self._abandoning_run = False  # a run stopped because the project closes: no follow-up

        self.canvas = Canvas(self)
        self.palette = LayerPalette()
        self.properties = PropertiesPanel(self.editor)
        self.problems = ProblemsPanel()
        self.statistics = StatisticsPanel()
        self.search_popup = LayerSearchPopup(self)
        self.trainer = TrainingProcess(self)
        # The Training, Runs and Evaluation views are built on first use (their plots cost
        # more than the rest of the window); until then their tabs hold empty pages.
        self._training_views: tuple[TrainingMonitor, RunHistory, EvaluationView] | None = None
        self.training_page, self.runs_page, self.evaluation_page = QWidget(), QWidget(), QWidget()

        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setDocumentMode(True)
        for widget, title in ((self.problems, "Problems"), (self.statistics, "Statistics"),
                              (self.training_page, "Training"), (self.runs_page, "Runs"),
                              (self.evaluation_page, "Evaluation")):
            self.bottom_tabs.addTab(widget, title)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.canvas.widget)
        self.splitter.addWidget(self.bottom_tabs)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([620, 200])
        self.setCentralWidget(self.splitter)
        self.palette_dock = self._dock("Layers", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.properties_dock = self._dock("Properties", self.properties,
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.palette_dock, self.properties_dock], [210, 300],
                         Qt.Orientation.Horizontal)

        self.totals = QLabel()
        self.problem_count = QLabel()
        # The device and the run's progress, whichever tab is shown.
        self.train_device = QLabel()
        self.train_device.hide()
        self.train_progress = QProgressBar()
        self.train_progress.setFixedWidth(self.fontMetrics().horizontalAdvance(
            "Epoch 888/888 · iteration 88888/88888 · elapsed 8:88 · remaining 8:88") + 24)
        self.train_progress.hide()
        self.weights_label = QLabel()
        self.weights_label.hide()
        for widget in (self.train_device, self.train_progress, self.weights_label,
                       self.problem_count, self.totals):
            self.statusBar().addPermanentWidget(widget)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(500)
        self._progress_timer.timeout.connect(self._show_progress)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._wire()

        self.autosave = QTimer(self)
        self.autosave.setInterval(autosave_ms)
        self.autosave.timeout.connect(self.autosave_now)
        self.autosave.start()

        self.resize(1400, 880)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.set_theme(str(self.settings.value("theme", "system")))
        self._show_project(empty_project(), modified=False)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{title}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    # ---- actions, menus, toolbar ---------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _paint_icons(self) -> None:
        colour = theme.current().color("text")
        for action, name in ((self.new_action, "new"), (self.open_action, "open"),
                             (self.save_action, "save"), (self.undo_action, "undo"),
                             (self.redo_action, "redo"), (self.arrange_action, "arrange"),
                             (self.fit_action, "fit"), (self.delete_action, "delete"),
                             (self.train_action, "train"), (self.stop_action, "stop")):
            action.setIcon(icons.icon(name, colour))

    def _make_actions(self) -> None:
        stack = self.editor.undo_stack
        self.new_action = self._action("&New", self.new_project, QKeySequence.StandardKey.New,
                                       tip="Start an empty project")
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                                        tip="Open a project file")
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save,
                                        tip="Save the project")
        self.save_as_action = self._action("Save &As…", self.save_as, "Ctrl+Shift+S",
                                           tip="Save the project under another name")
        self.export_action = self._action("&Export…", self.export, "Ctrl+E",
                                          tip="Export the network (ONNX, PyTorch, …)")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(QKeySequence.StandardKey.Undo)
        self.undo_action.setIconText("Undo")  # the toolbar stays put; the menu names the edit
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo),
                                       QKeySequence("Ctrl+Y")])
        self.redo_action.setIconText("Redo")
        self.addActions([self.undo_action, self.redo_action])
        self.cut_action = self._action("Cu&t", self.cut, QKeySequence.StandardKey.Cut)
        self.copy_action = self._action("&Copy", self.copy, QKeySequence.StandardKey.Copy)
        self.paste_action = self._action("&Paste", self.paste, QKeySequence.StandardKey.Paste)
        self.duplicate_action = self._action("D&uplicate", self.duplicate, "Ctrl+D")
        self.delete_action = self._action("&Delete", self.delete_selection,
                                          [QKeySequence.StandardKey.Delete, "Backspace"])
        self.select_all_action = self._action("Select &All", self.select_all,
                                              QKeySequence.StandardKey.SelectAll)
        self.find_action = self._action("&Find Layer…", self.focus_palette_search,
                                        QKeySequence.StandardKey.Find)
        self.arrange_action = self._action("A&rrange", self.arrange, "Ctrl+L",
                                           tip="Lay the network out top to bottom")
        self.fit_action = self._action("Zoom to &Fit", self.canvas.zoom_to_fit, ["F", "Ctrl+0"],
                                       tip="Show the whole network")
        self.zoom_in_action = self._action("Zoom &In", lambda: self._zoom(1),
                                           [QKeySequence.StandardKey.ZoomIn, "Ctrl+="])
        self.zoom_out_action = self._action("Zoom &Out", lambda: self._zoom(-1),
                                            QKeySequence.StandardKey.ZoomOut)
        self.train_action = self._action("&Train", self.train, "F5",
                                         tip="Train the network on the project's data (F5)")
        self.stop_action = self._action("&Stop Training", self.stop_training, "Shift+F5",
                                        tip="Stop the run after its current step; its weights "
                                            "so far are saved (Shift+F5)")
        self.stop_action.setIconText("Stop")
        self.stop_action.setEnabled(False)
        self.evaluate_action = self._action(
            "&Evaluate Latest Run", self.evaluate_latest,
            tip="Evaluate the current weights on the validation data")
        self.gradients_action = QAction("Show &Gradient Norms", self, checkable=True)
        self.gradients_action.setStatusTip("While training, colour each layer by the gradient "
                                           "norm of its parameters")
        self.gradients_action.setChecked(
            str(self.settings.value("view/gradients", "true")).lower() == "true")
        self.gradients_action.toggled.connect(self._toggle_gradients)
        self.shortcuts_action = self._action("&Keyboard Shortcuts", self.show_shortcuts)
        self.about_action = self._action("&About nn-designer", self.show_about)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addActions([self.new_action, self.open_action])
        self.recent_menu = self.file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.samples_menu = self.file_menu.addMenu("Open Sa&mple")
        self.samples_menu.aboutToShow.connect(self._fill_samples)
        self.file_menu.addSeparator()
        self.file_menu.addActions([self.save_action, self.save_as_action])
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.export_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

        self.edit_menu = bar.addMenu("&Edit")
        self.edit_menu.addActions([self.undo_action, self.redo_action])
        self.edit_menu.addSeparator()
        self.edit_menu.addActions([self.cut_action, self.copy_action, self.paste_action,
                                   self.duplicate_action, self.delete_action])
        self.edit_menu.addSeparator()
        self.edit_menu.addActions([self.select_all_action, self.find_action])
        self.edit_menu.addSeparator()
        self.edit_menu.addAction(self.arrange_action)

        self.view_menu = bar.addMenu("&View")
        self.view_menu.addActions([self.fit_action, self.zoom_in_action, self.zoom_out_action])
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.palette_dock.toggleViewAction())
        self.view_menu.addAction(self.properties_dock.toggleViewAction())
        self.view_menu.addAction(self.gradients_action)
        theme_menu = self.view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for pref, label in (("system", "Follow the &System"), ("dark", "&Dark"),
                            ("light", "&Light")):
            act = QAction(label, self, checkable=True)
            act.triggered.connect(lambda checked, p=pref: self.set_theme(p))
            group.addAction(act)
            theme_menu.addAction(act)
            self.theme_actions[pref] = act

        self.training_menu = bar.addMenu("&Training")
        self.training_menu.addActions([self.train_action, self.stop_action])
        self.training_menu.addSeparator()
        self.training_menu.addAction(self.evaluate_action)

        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addActions([self.shortcuts_action, self.about_action])

    def _make_toolbar(self) -> None:
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("toolbar:main")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addActions([self.new_action, self.open_action, self.save_action])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.undo_action, self.redo_action])
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.arrange_action, self.fit_action])
        self.network_label = QLabel("  Network: ")
        self.network_box = QComboBox()
        self.network_box.activated.connect(
            lambda i: self.editor.show_network(self.network_box.itemText(i)))
        self.network_label_action = self.toolbar.addWidget(self.network_label)
        self.network_box_action = self.toolbar.addWidget(self.network_box)
        self.toolbar.addSeparator()
        self.toolbar.addActions([self.train_action, self.stop_action])

    def _wire(self) -> None:
        ed = self.editor
        ed.changed.connect(self._on_change)
        ed.project_replaced.connect(self._on_replaced)
        ed.undo_stack.cleanChanged.connect(self._update_title)
        c = self.canvas
        c.selection_changed.connect(self._on_selection)
        c.layer_dropped.connect(lambda name, pos: self.add_layer(name, pos, chain=False))
        c.search_requested.connect(self._open_search)
        c.links_edited.connect(self._on_links_edited)
        c.nodes_moved.connect(lambda moves: self.editor.move(moves))
        c.menu_requested.connect(self._show_canvas_menu)
        c.graph.node_double_clicked.connect(self._on_node_double_clicked)
        self.search_popup.chosen.connect(lambda name: self.add_layer(name, self._search_pos))
        self.palette.layer_activated.connect(lambda name: self.add_layer(name))
        self.problems.node_clicked.connect(lambda nid: self.canvas.select([nid], center=True))
        self.statistics.node_clicked.connect(lambda nid: self.canvas.select([nid], center=True))
        hints = QGuiApplication.styleHints()
        # A method, not a lambda: the application-wide signal must not keep a closed window
        # (and every widget it owns) alive.
        hints.colorSchemeChanged.connect(self._follow_color_scheme)

        self.trainer.event.connect(self._on_training_event)
        self.trainer.finished.connect(self._on_training_finished)
        self.trainer.failed.connect(self._on_training_failed)
        self.bottom_tabs.currentChanged.connect(self._on_tab_changed)
        self.project_changed.connect(self._on_project_changed)

    # ---- following the document ----------------------------------------------------------

    @property
    def project(self) -> Project:
        return self.editor.project

    def _on_change(self, change: Change) -> None:
        self.canvas.apply(change)
        if change.affects_analysis:
            self.reanalyze()
        self._update_actions()

    def _on_replaced(self) -> None:
        self.canvas.show_network(self.editor.network)
        self.properties.show_node(None)
        names = [n.name for n in self.project.networks]
        self.network_box.clear()
        self.network_box.addItems(names)
        self.network_box.setCurrentText(self.editor.network.name)
        self.network_box_action.setVisible(len(names) > 1)
        self.network_label_action.setVisible(len(names) > 1)
        self.reanalyze()
        self._update_title()
        self._update_actions()

    def reanalyze(self) -> None:
        """Shapes, errors, problems and statistics after an edit (analysis is memoised)."""
        net = self.editor.network
        self.analysis = a = analyze(net)
        self.canvas.show_analysis(a)
        self.problems.show_analysis(a)
        self.statistics.show_analysis(net, a)
        self.properties.refresh(a)
        count = len(a.problems) if net.nodes else 0
        self.bottom_tabs.setTabText(0, f"Problems ({count})" if count else "Problems")
        self.problem_count.setText(f"⚠ {count} problem{'s' * (count != 1)}" if count
                                   else "✓ Ready to train" if net.nodes else "")
        self.totals.setText(f"{len(net.nodes)} layers  ·  {a.total_params:,} parameters  ·  "
                            f"{a.total_macs:,} mult-adds")
        self.document_edited.emit()

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.project.name}[*] — {APP_NAME}")
        self.setWindowModified(not self.editor.undo_stack.isClean())

    def _update_actions(self) -> None:
        has_selection = bool(self.canvas.selected_ids())
        for action in (self.cut_action, self.copy_action, self.duplicate_action):
            action.setEnabled(has_selection)

    def _on_selection(self, ids: list[str]) -> None:
        self.properties.show_node(ids[0] if len(ids) == 1 else None, count=len(ids))
        self.properties.refresh(self.analysis)
        self._update_actions()

    # ---- editing ------------------------------------------------------------------------------

    def add_layer(self, name: str, pos: tuple[float, float] | None = None,
                  chain: bool = True) -> str:
        """Add a layer. With ``chain`` and one selected layer, the new one is fed by it (and
        placed below it unless ``pos`` is given). Returns the new node's id."""
        net = self.editor.network
        selected = self.canvas.selected_ids()
        source = None
        if chain and len(selected) == 1 and has_output(net.node(selected[0])):
            source = selected[0]
        if pos is None:
            if source is not None:
                x, y = net.node(source).pos
                pos = self.canvas.free_position((x, y + layout.ROW))
            else:
                cx, cy = self.canvas.visible_center()
                pos = self.canvas.free_position((round(cx - NODE_WIDTH / 2),
                                                 round(cy - NODE_HEIGHT / 2)))
        node = self.editor.add_layer(name, pos, connect_from=source)
        self.canvas.reveal(node.id)
        self.canvas.viewer.setFocus()
        return node.id

    def _open_search(self, global_pos: QPoint, pos: tuple[float, float]) -> None:
        self._search_pos = pos
        self.search_popup.open_at(global_pos)

    def _on_links_edited(self, removed: list[tuple], added: list[tuple]) -> None:
        net = self.editor.network
        gone: list[Link] = []
        for src, dst, port in removed:
            multi = net.node(dst).spec.multi_input
            for link in net.links:
                if (link.src, link.dst) == (src, dst) and (multi or link.port == port) \
                        and not any(link is g for g in gone):
                    gone.append(link)
                    break
        new = [Link(src, dst, port) for src, dst, port in added]
        if gone or new:
            self.editor.relink(gone, new)
        else:  # nothing the document knows of (a drag that ended nowhere): redraw from it
            self.canvas.apply(Change(net, inputs={d for _, d, _ in removed + added}))

    def delete_selection(self) -> None:
        self.editor.remove(self.canvas.selected_ids(), self.canvas.selected_links())

    def select_all(self) -> None:
        self.canvas.select([n.id for n in self.editor.network.nodes])

    def copy(self) -> None:
        ids = self.canvas.selected_ids()
        if not ids:
            return
        # Plain JSON text: it pastes into another window of the app, and into a text editor.
        QApplication.clipboard().setText(
            json.dumps(clipboard_payload(self.editor.network, ids), indent=1))
        self._paste_count = 0

    def cut(self) -> None:
        self.copy()
        self.delete_selection()

    def paste(self) -> None:
        payload = parse_clipboard(QApplication.clipboard().text())
        if payload is None:
            self.statusBar().showMessage("The clipboard holds no layers to paste.", 4000)
            return
        self._paste_count += 1
        shift = PASTE_OFFSET * self._paste_count
        self.editor.paste(payload, (shift, shift))

    def duplicate(self) -> None:
        ids = self.canvas.selected_ids()
        if ids:
            self.editor.paste(clipboard_payload(self.editor.network, ids),
                              (PASTE_OFFSET, PASTE_OFFSET))

    def arrange(self) -> None:
        net = self.editor.network
        if not net.nodes:
            return
        origin = (min(n.pos[0] for n in net.nodes), min(n.pos[1] for n in net.nodes))
        placed = layout.arrange(net, origin)
        self.editor.move({nid: (net.node(nid).pos, pos) for nid, pos in placed.items()},
                         "Arrange")
        self.canvas.zoom_to_fit()

    def _zoom(self, direction: int) -> None:
        factor = 1.2 if direction > 0 else 1 / 1.2
        self.canvas.viewer.scale(factor, factor)

    def focus_palette_search(self) -> None:
        self.palette_dock.show()
        self.palette.search.setFocus()
        self.palette.search.selectAll()

    def _on_node_double_clicked(self, _node) -> None:
        self.focus_name_editor()

    def focus_name_editor(self) -> None:
        edit = self.properties.editors.get("Name")
        if edit is not None:
            self.properties_dock.show()
            edit.setFocus()
            edit.selectAll()

    def _show_canvas_menu(self, global_pos: QPoint, node_id: str | None) -> None:
        menu = QMenu(self)
        if node_id is not None:
            if node_id not in self.canvas.selected_ids():
                self.canvas.select([node_id])
            menu.addAction("Rename…", self.focus_name_editor)
            menu.addSeparator()
            menu.addActions([self.cut_action, self.copy_action, self.duplicate_action,
                             self.delete_action])
        else:
            local = self.canvas.viewer.mapFromGlobal(global_pos)
            scene = self.canvas.viewer.mapToScene(local)
            pos = (round(scene.x() - NODE_WIDTH / 2), round(scene.y() - NODE_HEIGHT / 2))
            menu.addAction("Add Layer…", lambda: self._open_search(global_pos, pos))
            menu.addAction(self.paste_action)
            menu.addSeparator()
            menu.addActions([self.select_all_action, self.arrange_action, self.fit_action])
        menu.addSeparator()
        menu.addActions([self.undo_action, self.redo_action])
        dialogs.show_menu(menu, global_pos)

    # ---- training -----------------------------------------------------------------------------

    @property
    def monitor(self) -> TrainingMonitor:
        return self._build_training_views()[0]

    @property
    def history(self) -> RunHistory:
        return self._build_training_views()[1]

    @property
    def evaluation(self) -> EvaluationView:
        return self._build_training_views()[2]

    def _build_training_views(self) -> tuple[TrainingMonitor, RunHistory, EvaluationView]:
        if self._training_views is not None:
            return self._training_views
        monitor, history, evaluation = TrainingMonitor(), RunHistory(), EvaluationView()
        for page, view in ((self.training_page, monitor), (self.runs_page, history),
                           (self.evaluation_page, evaluation)):
            box = QVBoxLayout(page)
            box.setContentsMargins(0, 0, 0, 0)
            box.addWidget(view)
        monitor.status_changed.connect(self._show_training_status)
        history.message.connect(self._show_history_message)
        history.evaluate_requested.connect(self.evaluate_run)
        history.open_weights_requested.connect(self.open_weights)
        evaluation.evaluation_failed.connect(self._show_evaluation_failure)
        self._training_views = monitor, history, evaluation
        history.set_project(self.project.path)
        return self._training_views

    def _on_tab_changed(self, index: int) -> None:
        if self.bottom_tabs.widget(index) in (self.training_page, self.runs_page,
                                              self.evaluation_page):
            self._build_training_views()

    def training_refusal(self) -> str | None:
        """Why the project cannot be trained as it is (None: it can). Shows the network that
        would train, so its Problems tab lists what is wrong."""
        try:
            net = self.project.network()
        except ProjectError as e:
            return str(e)
        if net is not self.editor.network:
            self.editor.show_network(net.name)
        if not net.nodes:
            return f"network {net.name!r} is empty: add layers from the palette first."
        problems = analyze(net).problems
        if problems:
            more = (f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)}, "
                    "listed in the Problems tab)" if len(problems) > 1 else "")
            return f"{problems[0]}{more}"
        return None

    def train(self) -> None:
        """Train the project as it is in the editor (unsaved edits included)."""
        if self.trainer.is_running():
            return
        reason = self.training_refusal()
        if reason is not None:
            self.bottom_tabs.setCurrentWidget(self.problems)
            self.statusBar().showMessage(f"Cannot train: {reason}", 15000)
            return
        self.monitor.reset()
        self.canvas.clear_gradients()
        run_dir = self.trainer.start(self.project)
        self._training_run = run_dir
        self._show_training(True)
        if self.project.path is None and run_dir.is_dir():  # runs of unsaved projects: temp
            self.history.set_runs_folder(run_dir.parent)
        self.history.set_active_run(run_dir)
        self.bottom_tabs.setCurrentWidget(self.training_page)
        canvas, bottom = self.splitter.sizes()
        if bottom < TRAINING_SHARE * (canvas + bottom):  # room for the curves to be read
            self.splitter.setSizes([round((1 - TRAINING_SHARE) * (canvas + bottom)),
                                    round(TRAINING_SHARE * (canvas + bottom))])
            self.canvas.zoom_to_fit(readable=True)  # not the whole network, shrunk unreadable
        self.statusBar().showMessage(f"Starting the trainer for {self.project.name}…")

    def stop_training(self) -> None:
        if self.trainer.is_running():
            self.trainer.stop()
            self.stop_action.setEnabled(False)
            self.statusBar().showMessage("Stopping after the current step; saving the weights…")

    def stop_training_first(self, doing: str) -> bool:
        """Before the project closes: True when no run trains (any more). Asks the user, then
        stops the run and waits for it to save its weights."""
        if not self.trainer.is_running():
            return True
        if not dialogs.ask_stop_training(self, doing):
            return False
        self._abandoning_run = True
        self.trainer.stop()
        if not self.trainer.wait(STOP_WAIT_MS):
            self.trainer.kill()
            self.trainer.wait(STOP_WAIT_MS)
        self._abandoning_run = False
        return not self.trainer.is_running()

    def _show_training(self, running: bool) -> None:
        self.train_action.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.train_progress.setVisible(running)
        self.train_device.setVisible(running)
        if running:
            self._show_progress()
            self._progress_timer.start()
        else:
            self._progress_timer.stop()

    def _show_progress(self) -> None:
        """The monitor's progress bar, repeated in the status bar."""
        bar = self.monitor.progress
        self.train_progress.setRange(bar.minimum(), bar.maximum())
        self.train_progress.setValue(bar.value())
        self.train_progress.setFormat(self.monitor.progress_text())
        self.train_device.setText(self.monitor.device_label.text())

    def _show_training_status(self, text: str) -> None:
        if self.monitor.state != "idle":  # not the "press Train" hint of an empty monitor
            self.statusBar().showMessage(text)

    def _show_history_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def _show_evaluation_failure(self, message: str) -> None:
        dialogs.error(self, "Evaluation failed", message)

    def _on_training_event(self, event: dict) -> None:
        self.monitor.handle_event(event)
        if event.get("event") == "gradients" and self.gradients_action.isChecked():
            norms = event.get("norms") or {}
            self.canvas.show_gradients(gradient_colors(norms),
                                       {name: describe_norm(v) for name, v in norms.items()})

    def _end_training(self) -> Path | None:
        run, self._training_run = self._training_run, None
        self.history.set_active_run(None)
        self.canvas.clear_gradients()
        self._show_training(False)
        return run

    def _on_training_finished(self, status: str) -> None:
        run = self._end_training()
        if run is None or self._abandoning_run or not run_weights(run):
            return
        self.set_weights_run(run)
        self.evaluation.evaluate_run(run)

    def _on_training_failed(self, message: str) -> None:
        self.monitor.show_failure(message)
        self._end_training()
        if not self._abandoning_run:
            self.bottom_tabs.setCurrentWidget(self.training_page)
            dialogs.error(self, "Training failed", message)

    def _toggle_gradients(self, on: bool) -> None:
        self.settings.setValue("view/gradients", on)
        if not on:
            self.canvas.clear_gradients()

    def set_weights_run(self, run_dir: Path | None) -> None:
        """Make a run's weights the project's current weights (export and evaluate use them)."""
        self.weights_run = run_dir
        if run_dir is None:
            self.weights_label.hide()
            return
        self.weights_label.setText(f"Weights: {run_name(run_dir)} "
                                   f"({run_weights(run_dir) or 'none'})")
        self.weights_label.setToolTip(f"Export and Evaluate use the weights of {run_dir}")
        self.weights_label.show()

    def open_weights(self, run_dir: Path) -> None:
        """Runs tab → Open weights: the run's weights become the project's current weights.
        A run of another network is allowed, with a warning (it keeps its own network)."""
        run_dir = Path(run_dir)
        try:
            trained = load(project_path(run_dir))
        except ProjectError as e:
            dialogs.error(self, "Cannot open the run's weights", str(e))
            return
        if structure(trained) != structure(self.project):
            dialogs.warning(
                self, "A different network",
                f"Run {run_name(run_dir)} trained a network that differs from the one in the "
                "editor.\n\nIts weights are used with the network it was trained with: "
                "Export and Evaluate use the run's own copy, not the editor's.")
        self.set_weights_run(run_dir)
        self.statusBar().showMessage(f"The weights of run {run_name(run_dir)} are now the "
                                     "project's current weights.", 6000)

    def evaluate_run(self, run_dir: Path) -> None:
        self.evaluation.evaluate_run(Path(run_dir))
        self.bottom_tabs.setCurrentWidget(self.evaluation_page)

    def evaluate_latest(self) -> None:
        run = self.weights_run or latest_run(self.project.path)
        if run is None:
            self.statusBar().showMessage("No trained run to evaluate yet: press Train (F5).",
                                         6000)
            return
        self.evaluate_run(run)

    def _on_project_changed(self) -> None:
        self.set_weights_run(None)
        self.canvas.clear_gradients()
        if self._training_views is not None:
            monitor, history, evaluation = self._training_views
            history.set_project(self.project.path)
            monitor.reset()
            evaluation.clear("No evaluation of this project yet: train it, or pick a run in the "
                             "Runs tab and press Evaluate.")

    # ---- files --------------------------------------------------------------------------------

    def _show_project(self, project: Project, modified: bool) -> None:
        self.recovery_file = recovery.path_for(project.path) if modified else None
        self._paste_count = 0
        self.editor.replace(project, modified=modified)
        self.project_changed.emit()
        self.canvas.zoom_to_fit(readable=True)
        self.canvas.viewer.setFocus()

    def maybe_save(self) -> bool:
        """Before the document is replaced or closed: True when it is fine to go on."""
        if self.editor.undo_stack.isClean():
            return True
        answer = dialogs.ask_unsaved(self, self.project.name)
        if answer == "save":
            return self.save()
        if answer == "discard":
            self._drop_recovery()
            return True
        return False

    def new_project(self) -> None:
        if self.stop_training_first("start a new project") and self.maybe_save():
            self._drop_recovery()
            self._show_project(empty_project(), modified=False)

    def open_dialog(self) -> None:
        folder = str(self.project.folder if self.project.path else
                     self.settings.value("last_folder", str(Path.home())))
        path = dialogs.open_path(self, folder)
        if path is not None:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike) -> bool:
        """Open a project file. A broken file is refused with the loader's message and the
        open project stays as it was."""
        path = Path(path).absolute()
        try:
            project = load(path)
        except ProjectError as e:
            dialogs.error(self, "Cannot open project", str(e))
            return False
        if not self.stop_training_first("open another project") or not self.maybe_save():
            return False
        self._drop_recovery()
        modified = False
        pending = recovery.pending(path)
        if pending is not None:
            restored = self._offer(pending, path.name)
            if restored is not None:
                project, modified = restored, True
        self._show_project(project, modified)
        self._remember(path)
        return True

    def offer_recovery(self) -> bool:
        """At start without a file: offer the work of a session that did not end properly."""
        for rec in self._pending_recoveries():
            original = recovery.original_of(rec)
            if original is not None and recovery.pending(original) != rec:
                continue
            restored = self._offer(rec, original.name if original else "an untitled project")
            if restored is not None:
                self._show_project(restored, modified=True)
                return True
        return False

    def _offer(self, rec: Path, name: str) -> Project | None:
        """Ask to restore ``rec``; the restored project, or None (the file is then deleted)."""
        if dialogs.ask_restore(self, name, recovery.saved_at(rec)):
            try:
                return recovery.read(rec)
            except ProjectError as e:
                dialogs.error(self, "Cannot restore", f"The autosaved copy is damaged:\n{e}")
        self._forget_recovery(rec)
        recovery.discard(rec)
        return None

    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self._save_to(self.project.path)

    def save_as(self) -> bool:
        current = self.project.path
        suggested = str(current if current else
                        Path(str(self.settings.value("last_folder", str(Path.home()))))
                        / f"{self.project.name}.nnd")
        path = dialogs.save_path(self, suggested)
        if path is None:
            return False
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        return self._save_to(path.absolute())

    def _save_to(self, path: Path) -> bool:
        project = self.project
        old_path, old_name = project.path, project.name
        if old_path is None or path.parent != old_path.parent:
            _rebase_datasets(project, path.parent)
        if old_path != path and project.name in ("untitled", old_path.stem if old_path else ""):
            project.name = path.stem
        try:
            project.save(path)
        except (ProjectError, OSError) as e:
            project.name = old_name
            dialogs.error(self, "Cannot save project", f"{path}: {e}")
            return False
        self._drop_recovery()
        self.editor.undo_stack.setClean()
        if path != old_path and self._training_views is not None \
                and not self.trainer.is_running():
            self.history.set_project(path)
        self._remember(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def export(self) -> None:
        try:
            from designer.ui.export_dialog import ExportDialog
        except ModuleNotFoundError as e:
            if e.name != "designer.ui.export_dialog":
                raise
            dialogs.info(self, "Export", "Export is not available in this installation.")
            return
        ExportDialog(self.project, self.weights_run or latest_run(self.project.path),
                     self).exec()

    # ---- autosave and recovery -----------------------------------------------------------------

    def autosave_now(self) -> Path | None:
        """Write unsaved work to the recovery file (every minute, from the timer)."""
        if self.editor.undo_stack.isClean():
            return None
        try:
            target = recovery.write(self.project)
        except OSError as e:
            self.statusBar().showMessage(f"Autosave failed: {e}", 6000)
            return None
        if self.recovery_file is not None and self.recovery_file != target:
            self._drop_recovery()
        self.recovery_file = target
        pending = self._pending_recoveries()
        if target not in pending:
            self.settings.setValue("recovery/files", [str(p) for p in pending + [target]])
        return target

    def _pending_recoveries(self) -> list[Path]:
        files = self.settings.value("recovery/files", []) or []
        if isinstance(files, str):
            files = [files]
        return [Path(f) for f in files if Path(f).is_file()]

    def _forget_recovery(self, rec: Path) -> None:
        self.settings.setValue("recovery/files",
                               [str(p) for p in self._pending_recoveries() if p != rec])

    def _drop_recovery(self) -> None:
        if self.recovery_file is not None:
            self._forget_recovery(self.recovery_file)
            recovery.discard(self.recovery_file)
            self.recovery_file = None

    # ---- recent files and samples --------------------------------------------------------------

    def recent_files(self) -> list[Path]:
        files = self.settings.value("recent/files", []) or []
        if isinstance(files, str):
            files = [files]
        return [Path(f) for f in files]

    def _remember(self, path: Path) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent/files", [str(p) for p in files[:MAX_RECENT]])
        self.settings.setValue("last_folder", str(path.parent))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = [p for p in self.recent_files() if p.is_file()]
        for p in files:
            self.recent_menu.addAction(f"{p.name}  —  {p.parent}", lambda p=p: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def samples(self) -> list[Path]:
        return sorted(SAMPLES.glob("*.nnd")) if SAMPLES.is_dir() else []

    def _fill_samples(self) -> None:
        self.samples_menu.clear()
        for p in self.samples():
            self.samples_menu.addAction(p.stem, lambda p=p: self.open_path(p))
        if not self.samples():
            self.samples_menu.addAction("No samples found").setEnabled(False)

    # ---- look and help -------------------------------------------------------------------------

    def set_theme(self, preference: str) -> None:
        self.theme_preference = preference if preference in theme.PREFERENCES else "system"
        self.settings.setValue("theme", self.theme_preference)
        self.theme_actions[self.theme_preference].setChecked(True)
        app = QApplication.instance()
        theme.apply(app, theme.resolve(self.theme_preference))
        self.canvas.apply_theme()
        self._paint_icons()
        if self.analysis is not None:
            self.reanalyze()

    def _follow_color_scheme(self, _scheme) -> None:
        self.set_theme(self.theme_preference)

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td>{what}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>"
                       for what, keys in SHORTCUTS)
        dialogs.info(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def show_about(self) -> None:
        dialogs.info(self, f"About {APP_NAME}",
                     f"{APP_NAME}: design, train and ship neural networks visually.\n"
                     f"{len(nodes.CATALOG)} layers in the catalog.")

    # ---- window --------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._fitted:  # the viewer has its real size only now
            self._fitted = True
            QTimer.singleShot(0, lambda: self.canvas.zoom_to_fit(readable=True))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.stop_training_first("quit") or not self.maybe_save():
            event.ignore()
            return
        self._drop_recovery()
        self.autosave.stop()
        self.settings.setValue("window/geometry", self.saveGeometry())
        event.accept()
