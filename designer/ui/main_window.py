"""The main window: five workspaces (Edit, Dataset, Config, Training, Evaluation). Edit has
the palette on the left, the canvas in the middle, the properties on the right, and the
Problems and Statistics tabs below; the others fill the window.

The window builds the widgets, the actions and menus, and wires them; editing the network is
done here. Controllers own the rest: ``files`` (``FileController``: new, open, save, autosave
and recovery, recent projects and samples), ``training`` (``TrainingController``: train and
stop, the run's progress, the current weights, evaluation and export) and ``checks``
(``DataChecks``: the network against its data, off the GUI thread).

Room for more: ``bottom_tabs`` takes more tabs, ``toolbar`` more actions, and
``project_changed`` / ``document_edited`` tell them when the document changes.
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QMainWindow, QMenu,
                               QProgressBar, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from designer.core.analysis import Analysis, Problem, analyze
from designer.core.project import Link, Project
from designer.ui import dialogs, icons, layout, menus, start_from, theme, workspaces
from designer.ui.canvas import NODE_HEIGHT, NODE_WIDTH, Canvas
from designer.ui.commands import (Change, DocumentEditor, clipboard_payload,
                                  empty_project, has_output, parse_clipboard)
from designer.ui.data_check import DataChecks
from designer.ui.file_controller import AUTOSAVE_MS, FileController
from designer.ui.frames import RepeatFrames
from designer.ui.make_unit import make_unit
from designer.ui.menus import APP_NAME
from designer.ui.network_tabs import NetworkTabs, is_unit
from designer.ui.palette import LayerPalette, LayerSearchPopup
from designer.ui.problems import ProblemsPanel
from designer.ui.properties import PropertiesPanel
from designer.ui.statistics import StatisticsPanel
from designer.ui.training_controller import TrainingController
from designer.ui.workspaces import CONFIG, DATASET, EDIT, EVALUATION, TRAINING, Workspaces

PASTE_OFFSET = 40.0

class MainWindow(QMainWindow):
    project_changed = Signal()   # another document is open (new, opened, restored)
    document_edited = Signal()   # the document changed and has been analysed again

    def __init__(self, settings: QSettings | None = None, autosave_ms: int = AUTOSAVE_MS):
        super().__init__()
        self.settings = settings or QSettings(APP_NAME, APP_NAME)
        self.editor = DocumentEditor(parent=self)
        self.analysis: Analysis | None = None
        self.dataset_workspace = self.config_workspace = None  # built on first use
        self._docks_shown: dict | None = None  # docks to show again back in Edit
        self._paste_count = 0
        self._search_pos: tuple[float, float] | None = None
        self._fitted = False

        self.canvas = Canvas(self)
        self.frames = RepeatFrames(self.canvas)
        self.palette = LayerPalette()
        self.properties = PropertiesPanel(self.editor)
        self.problems = ProblemsPanel()
        self.statistics = StatisticsPanel()
        self.search_popup = LayerSearchPopup(self)
        self._make_panels()
        self._make_status_bar()
        self.files = FileController(self, autosave_ms)
        self.training = TrainingController(self)
        self.checks = DataChecks(self)

        self._make_actions()
        menus.build_menu_bar(self)
        menus.build_toolbar(self)
        self._wire()

        self.resize(1400, 880)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.set_theme(str(self.settings.value("theme", "system")))
        self.files.show(empty_project(), modified=False)

    def _make_panels(self) -> None:
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setDocumentMode(True)
        for widget, title in ((self.problems, "Problems"), (self.statistics, "Statistics")):
            self.bottom_tabs.addTab(widget, title)
        self.network_tabs = NetworkTabs(self.editor)
        canvas_page = QWidget()
        column = QVBoxLayout(canvas_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.network_tabs)
        column.addWidget(self.canvas.widget)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(canvas_page)
        self.splitter.addWidget(self.bottom_tabs)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([620, 200])
        self.workspaces = Workspaces(self.splitter)
        pages = self.workspaces.pages
        self.dataset_page, self.config_page = pages[DATASET], pages[CONFIG]
        self.training_page, self.evaluation_page = pages[TRAINING], pages[EVALUATION]
        self.setCentralWidget(self.workspaces)
        self.palette_dock = self._dock("Layers", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.properties_dock = self._dock("Properties", self.properties,
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.palette_dock, self.properties_dock], [210, 300],
                         Qt.Orientation.Horizontal)

    def _build_dataset_workspace(self, page: QWidget) -> None:
        from designer.ui.dataset_workspace import DatasetWorkspace

        self.dataset_workspace = DatasetWorkspace(self.editor, self)
        workspaces.fill(page, self.dataset_workspace)

    def _build_config_workspace(self, page: QWidget) -> None:
        from designer.ui.config_workspace import ConfigWorkspace

        self.config_workspace = ConfigWorkspace(self.editor, self)
        workspaces.fill(page, self.config_workspace)

    def show_workspace(self, index: int) -> None:
        self.workspaces.show_workspace(index)

    def _on_workspace(self, index: int) -> None:
        """The palette and properties belong to Edit; the other workspaces fill the window.
        Edit's own shortcuts (delete, select all, …) do nothing elsewhere."""
        docks = (self.palette_dock, self.properties_dock)
        editing = index == EDIT
        if not editing and self._docks_shown is None:
            self._docks_shown = {dock: not dock.isHidden() for dock in docks}
            for dock in docks:
                dock.hide()
        elif editing and self._docks_shown is not None:
            for dock, shown in self._docks_shown.items():
                dock.setVisible(shown)
            self._docks_shown = None
        for action in self.canvas_actions:
            action.setEnabled(editing)
        if editing:
            self._update_actions()
            self.canvas.viewer.setFocus()

    def _make_status_bar(self) -> None:
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
        self.init_label = QLabel()  # the run the next training starts from
        self.init_label.hide()
        for widget in (self.train_device, self.train_progress, self.weights_label,
                       self.init_label, self.problem_count, self.totals):
            self.statusBar().addPermanentWidget(widget)

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
        files, training = self.files, self.training
        self.new_action = self._action("&New", files.new_project, QKeySequence.StandardKey.New,
                                       tip="Start an empty project")
        self.open_action = self._action("&Open…", files.open_dialog,
                                        QKeySequence.StandardKey.Open, tip="Open a project file")
        self.save_action = self._action("&Save", files.save, QKeySequence.StandardKey.Save,
                                        tip="Save the project")
        self.save_as_action = self._action("Save &As…", files.save_as, "Ctrl+Shift+S",
                                           tip="Save the project under another name")
        self.export_action = self._action("&Export…", training.export, "Ctrl+E",
                                          tip="Export the network (ONNX, PyTorch, …)")
        self.watch_action = self._action("&Watch Run…", self.watch_run,
                                         tip="Follow a run that trains elsewhere (a server, a "
                                             "cluster) through its folder")
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
        self.make_unit_action = self._action(
            "Make &Unit", self.make_unit, tip="Turn the selected layers into a network of their "
            "own, used here by one Unit layer")
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
        self.workspace_actions = [
            self._action(f"&{i + 1} {name}", lambda _=False, i=i: self.show_workspace(i),
                         f"Ctrl+{i + 1}", tip=workspaces.TIPS[i])
            for i, name in enumerate(workspaces.NAMES)]
        self.create_dataset_action = self._action(
            "Create &Dataset…", lambda: self.dataset_workspace_now().create_dataset(),
            tip="Make a dataset from a folder of images or a table (CSV)")
        self.shortcuts_action = self._action("&Keyboard Shortcuts",
                                             lambda: menus.show_shortcuts(self))
        self.about_action = self._action("&About nn-designer", lambda: menus.show_about(self))
        self._make_training_actions()
        self.canvas_actions = [self.cut_action, self.copy_action, self.paste_action,
                               self.duplicate_action, self.delete_action, self.select_all_action,
                               self.find_action, self.arrange_action, self.fit_action,
                               self.zoom_in_action, self.zoom_out_action]

    def dataset_workspace_now(self):
        """The Dataset workspace, built now if it was not yet."""
        self.workspaces.build(DATASET)
        return self.dataset_workspace

    def watch_run(self) -> None:
        start = self.project.path.parent if self.project.path else Path.home()
        folder = dialogs.run_folder(self, str(start))
        if folder is not None:
            self.training.watch_run(folder)

    def _make_training_actions(self) -> None:
        training = self.training
        self.train_action = self._action("&Train", training.train, "F5",
                                         tip="Train the network on the project's data (F5)")
        self.stop_action = self._action("&Stop Training", training.stop_training, "Shift+F5",
                                        tip="Stop the run after its current step; its weights "
                                            "so far are saved (Shift+F5)")
        self.stop_action.setIconText("Stop")
        self.stop_action.setEnabled(False)
        self.evaluate_action = self._action(
            "&Evaluate Latest Run", training.evaluate_latest,
            tip="Evaluate the current weights on the validation data")
        self.start_from_action = self._action(
            "Start From &Run…", lambda: start_from.choose_run(self),
            tip="Start the next training from a run's weights: layers whose names and shapes "
                "match take them")
        self.start_fresh_action = self._action(
            "Start From Scra&tch", lambda: start_from.start_fresh(self),
            tip="Start the next training from fresh initial weights")
        self.gradients_action = QAction("Show &Gradient Norms", self, checkable=True)
        self.gradients_action.setStatusTip("While training, colour each layer by the gradient "
                                           "norm of its parameters")
        self.gradients_action.setChecked(
            str(self.settings.value("view/gradients", "true")).lower() == "true")
        self.gradients_action.toggled.connect(training.toggle_gradients)

    def _wire(self) -> None:
        ed = self.editor
        ed.changed.connect(self._on_change)
        ed.project_replaced.connect(self._on_replaced)
        ed.undo_stack.cleanChanged.connect(self.update_title)
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
        self.problems.node_clicked.connect(self._select_from_list)
        self.problems.fix_requested.connect(self.editor.apply_fix)
        self.problems.dataset_requested.connect(lambda: self.show_workspace(DATASET))
        self.statistics.node_clicked.connect(self._select_from_list)
        hints = QGuiApplication.styleHints()
        # A method, not a lambda: the application-wide signal must not keep a closed window
        # (and every widget it owns) alive.
        hints.colorSchemeChanged.connect(self._follow_color_scheme)

        ed.settings_changed.connect(self._on_settings_changed)
        self.checks.checked.connect(self._show_problems)
        self.workspaces.on_first_show(DATASET, self._build_dataset_workspace)
        self.workspaces.on_first_show(CONFIG, self._build_config_workspace)
        for index in (TRAINING, EVALUATION):
            self.workspaces.on_first_show(index, self.training.build_views)
        self.workspaces.entered.connect(self._on_workspace)
        self.project_changed.connect(self.training.project_replaced)

    # ---- following the document ----------------------------------------------------------

    @property
    def project(self) -> Project:
        return self.editor.project

    def _on_change(self, change: Change) -> None:
        self.canvas.apply(change)
        self.frames.update(self.editor.network)
        if change.affects_analysis:
            self.reanalyze()
        self._update_actions()

    def _on_replaced(self) -> None:
        self.canvas.show_network(self.editor.network)
        self.properties.show_node(None)
        self.network_tabs.refresh()
        self.frames.update(self.editor.network)
        self.reanalyze()
        self.update_title()
        self._update_actions()
        self._show_init()

    def _show_init(self) -> None:
        text = start_from.describe(self)
        self.init_label.setText(text)
        self.init_label.setToolTip(f"training.init: {self.project.training.init}" if text
                                   else "")
        self.init_label.setVisible(bool(text))
        self.start_fresh_action.setEnabled(bool(text))

    def show_project(self, project: Project, modified: bool) -> None:
        """Edit ``project`` from now on (the file controller decides which)."""
        self._paste_count = 0
        self.statusBar().clearMessage()  # the last project's training message is not this one's
        self.editor.replace(project, modified=modified)
        self.project_changed.emit()
        self.canvas.zoom_to_fit(readable=True)
        self.canvas.viewer.setFocus()

    def _on_settings_changed(self, block: str) -> None:
        if block == "training":
            self._show_init()
        if block == "datasets" or (block == "training" and
                                   self.project.training.network != self.checks.network_name):
            self.checks.schedule(data_changed=True)
            self._show_problems()

    def reanalyze(self) -> None:
        """Shapes, errors, problems and statistics after an edit (analysis is memoised); the
        data is checked again in the background."""
        net = self.editor.network
        self.analysis = a = analyze(net, project=self.project)
        self.checks.schedule()
        self._show_problems()
        self.statistics.show_analysis(net, a)
        self.properties.refresh(a)
        self.totals.setText(f"{len(net.nodes)} layers  ·  {a.total_params:,} parameters  ·  "
                            f"{a.total_macs:,} mult-adds")
        self.document_edited.emit()

    def data_problems(self) -> list[Problem]:
        """What the last data check found in the network on the canvas (still there)."""
        net = self.editor.network
        ids = {n.id for n in net.nodes}
        return [p for p in self.checks.problems_for(net.name)
                if p.node_id is None or p.node_id in ids]

    def _show_problems(self) -> None:
        """The network's problems and its data's, in the Problems tab, on the cards and in the
        status bar."""
        net, a = self.editor.network, self.analysis
        if a is None:
            return
        data = self.data_problems() if net.nodes else []
        self.canvas.show_analysis(a, data)
        self.problems.show_problems(a.problems + data, empty=not net.nodes, data_problems=data,
                                    notices=a.notices)
        count = len(a.problems) + len(data) if net.nodes else 0
        self.bottom_tabs.setTabText(0, f"Problems ({count})" if count else "Problems")
        checking = not self.checks.current and not count
        self.problem_count.setText(f"⚠ {count} problem{'s' * (count != 1)}" if count
                                   else "" if not net.nodes
                                   else "Checking the data…" if checking
                                   else "✓ Ready to train")

    def update_title(self) -> None:
        self.setWindowTitle(f"{self.project.name}[*] — {APP_NAME}")
        self.setWindowModified(not self.editor.undo_stack.isClean())

    def _update_actions(self) -> None:
        has_selection = bool(self.canvas.selected_ids())
        for action in (self.cut_action, self.copy_action, self.duplicate_action,
                       self.make_unit_action):
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

    def _open_search(self, global_pos: QPoint, pos: tuple[float, float] | None) -> None:
        """Tab search: the new layer goes below the one selected layer, fed by it; with no
        (or several) layers selected, where the search was opened."""
        selected = self.canvas.selected_ids()
        chained = len(selected) == 1 and has_output(self.editor.network.node(selected[0]))
        self._search_pos = None if chained else pos
        self.search_popup.open_at(global_pos)

    def _select_from_list(self, node_id: str) -> None:
        self.show_workspace(EDIT)
        self.canvas.select([node_id], center=True)

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

    def _on_node_double_clicked(self, node) -> None:
        """A Unit opens the network it uses; any other layer edits its name."""
        drawn = next((n for n in self.editor.network.nodes if n.id == node.id), None)
        target = drawn.props.get("Network") if drawn is not None and is_unit(drawn) else None
        if target and self.project.find_network(str(target)) is not None:
            self.editor.show_network(str(target))
        else:
            self.focus_name_editor()

    def focus_name_editor(self) -> None:
        edit = self.properties.editors.get("Name")
        if edit is not None:
            self.properties_dock.show()
            edit.setFocus()
            edit.selectAll()

    def make_unit(self) -> None:
        problem = make_unit(self.editor, self.canvas.selected_ids(), self.analysis)
        if problem:
            dialogs.info(self, "Make Unit", problem)

    def _show_canvas_menu(self, global_pos: QPoint, node_id: str | None) -> None:
        menu = QMenu(self)
        if node_id is not None:
            if node_id not in self.canvas.selected_ids():
                self.canvas.select([node_id])
            menu.addAction("Rename…", self.focus_name_editor)
            menu.addSeparator()
            menu.addActions([self.cut_action, self.copy_action, self.duplicate_action,
                             self.delete_action, self.make_unit_action])
        else:
            local = self.canvas.viewer.mapFromGlobal(global_pos)
            scene = self.canvas.viewer.mapToScene(local)
            pos = (round(scene.x() - NODE_WIDTH / 2), round(scene.y() - NODE_HEIGHT / 2))
            menu.addAction("Add Layer…", lambda: (self.canvas.select([]),
                                                 self._open_search(global_pos, pos)))
            menu.addAction(self.paste_action)
            menu.addSeparator()
            menu.addActions([self.select_all_action, self.arrange_action, self.fit_action])
        menu.addSeparator()
        menu.addActions([self.undo_action, self.redo_action])
        dialogs.show_menu(menu, global_pos)

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

    # ---- window --------------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._fitted:  # the viewer has its real size only now
            self._fitted = True
            QTimer.singleShot(0, lambda: self.canvas.zoom_to_fit(readable=True))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.training.stop_training_first("quit") or not self.files.maybe_save():
            event.ignore()
            return
        self.files.close()
        self.settings.setValue("window/geometry", self.saveGeometry())
        event.accept()
