"""The Runs view: every run of a project, their curves overlaid, rename, delete, open weights,
compress; the compressed models beside their runs (``compression_view``).

A run is a folder ``<project stem>.runs/<stamp>/`` holding run.json and metrics.csv (see
``designer.core.runs``). This view only reads those files (and writes ``name`` into run.json),
so it works the same for runs started from the window, from the command line or on a server.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QMessageBox, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from designer.core.runs import (RunInfo, checkpoint_path, list_run_dirs, read_run_info,
                                rename_run, run_weights)
from designer.ui.compression_view import CompressionPanel
from designer.ui.plot_style import (SERIES_COLORS, EpochAxis, LossAxis, add_legend,
                                    recolor_plot, style_plot, style_plot_widget)
from designer.ui.text import format_duration, format_error

METRICS = {  # combo text -> (metrics.csv column, axis label)
    "Validation error": ("val_error", "validation error"),
    "Validation loss": ("val_loss", "validation loss"),
    "Training loss": ("train_loss", "training loss"),
}
COLUMNS = ("Name", "Started", "Duration", "Best val. error", "Status")


class _SortItem(QTableWidgetItem):
    """Sorts by the value in UserRole (times, numbers) instead of the displayed text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


def default_confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class RunsView(QWidget):
    """The runs of one project, newest first, with their curves overlaid.

    ``set_project(path)`` points it at a project file (``None``: no project);
    ``set_active_run(run_dir)`` marks the run being trained (it cannot be renamed or deleted);
    ``refresh()`` rescans (the folder is also watched).

    Signals: ``open_weights_requested(Path)``, ``evaluate_requested(Path)``,
    ``resume_requested(Path)``, ``compress_requested(Path)`` (the run folder), ``message(str)``
    (a line for the status bar).

    ``confirm(parent, title, text) -> bool`` asks before deleting; tests replace it.
    """

    open_weights_requested = Signal(Path)
    evaluate_requested = Signal(Path)
    resume_requested = Signal(Path)
    compress_requested = Signal(Path)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.confirm: Callable[[QWidget, str, str], bool] = default_confirm
        self.runs_folder: Path | None = None
        self.active_run: Path | None = None
        self.runs: list[RunInfo] = []
        self._filling = False
        self._build()
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _path: self._schedule_refresh())
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(300)  # many files change at once when a run starts
        self._refresh_timer.timeout.connect(self.refresh)
        self._poll = QTimer(self)  # a running run's metrics grow without a directory change
        self._poll.setInterval(2000)
        self._poll.timeout.connect(self.refresh)

    def _build(self) -> None:
        self._build_table()
        buttons = self._build_buttons()
        self.plot_widget = pg.PlotWidget(axisItems={"left": LossAxis("left"),
                                                   "bottom": EpochAxis("bottom")})
        style_plot_widget(self.plot_widget, self)
        self.plot = self.plot_widget.getPlotItem()
        style_plot(self.plot, self, "Selected runs", "epoch", "validation error")
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.legend = add_legend(self.plot, self, columns=3)
        self.compression = CompressionPanel()
        self.lower_tabs = QTabWidget()
        self.lower_tabs.setDocumentMode(True)
        self.lower_tabs.addTab(self.plot_widget, "Curves")
        self.lower_tabs.addTab(self.compression, "Compressed models")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.empty_label, 1)
        top_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.lower_tabs)
        self.table.setMinimumHeight(6 * self.fontMetrics().height() + 16)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self._update_buttons()

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSortIndicator(1, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemChanged.connect(self._item_changed)
        self.table.setToolTip("Select several runs (Ctrl/Shift) to compare their curves; "
                              "double-click a name to rename the run")

        self.empty_label = QLabel("No runs yet: train the project to see its runs here.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def _build_buttons(self) -> QHBoxLayout:
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._ask_rename)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._ask_delete)
        self.weights_button = QPushButton("Open weights")
        self.weights_button.setToolTip("Load this run's best weights into the editor")
        self.weights_button.clicked.connect(self._request_weights)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Evaluate this run's best weights on the validation data")
        self.evaluate_button.clicked.connect(self._request_evaluation)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on with this stopped or interrupted run from its last "
                                      "checkpoint")
        self.resume_button.clicked.connect(self._request_resume)
        self.compress_button = QPushButton("Compress…")
        self.compress_button.setToolTip("Quantize, prune or distill this run's network, and "
                                        "measure it before and after")
        self.compress_button.clicked.connect(self._request_compression)
        self.metric_combo = QComboBox()
        self.metric_combo.addItems(list(METRICS))
        self.metric_combo.setToolTip("The curve compared across the selected runs")
        self.metric_combo.currentTextChanged.connect(lambda _text: self._draw_overlay())
        buttons = QHBoxLayout()
        for button in (self.rename_button, self.delete_button, self.weights_button,
                       self.evaluate_button, self.resume_button, self.compress_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Compare:"))
        buttons.addWidget(self.metric_combo)
        return buttons

    # ---- what is shown -----------------------------------------------------------------------

    def set_project(self, project_path: Path | str | None) -> None:
        """Show the runs of the project saved at ``project_path`` (None: an unsaved project)."""
        if self._watcher.directories():
            self._watcher.removePaths(self._watcher.directories())
        if project_path is None:
            self.runs_folder = None
        else:
            project_path = Path(project_path)
            self.runs_folder = project_path.parent / f"{project_path.stem}.runs"
        self.refresh()

    def set_runs_folder(self, folder: Path | str | None) -> None:
        """Show the runs in ``folder`` directly (runs of an unsaved project live elsewhere)."""
        if self._watcher.directories():
            self._watcher.removePaths(self._watcher.directories())
        self.runs_folder = Path(folder) if folder is not None else None
        self.refresh()

    def set_active_run(self, run_dir: Path | str | None) -> None:
        """Mark the run being trained now (None when training ends)."""
        self.active_run = Path(run_dir) if run_dir is not None else None
        if self.active_run is not None:
            self._poll.start()
        else:
            self._poll.stop()
        self.refresh()

    def _schedule_refresh(self) -> None:
        self._refresh_timer.start()

    def refresh(self) -> None:
        """Rescan the runs folder, keeping the selection."""
        if self.table.state() == QAbstractItemView.State.EditingState:
            self._schedule_refresh()  # never pull a name out from under the user's typing
            return
        selected = {run.path for run in self.selected_runs()}
        folder = self.runs_folder
        if folder is not None:
            if folder.is_dir() and str(folder) not in self._watcher.directories():
                self._watcher.addPath(str(folder))
            elif not folder.is_dir() and folder.parent.is_dir() \
                    and str(folder.parent) not in self._watcher.directories():
                self._watcher.addPath(str(folder.parent))  # see the runs folder appear
        dirs = list_run_dirs(folder) if folder is not None else []
        self.runs = sorted((read_run_info(d) for d in dirs),
                           key=lambda r: (r.started.timestamp() if r.started else 0.0,
                                          r.path.name), reverse=True)
        self._fill_table(selected)
        self.compression.show_runs(self.runs)

    def _fill_table(self, selected: set[Path]) -> None:
        self._filling = True
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            status = "running" if self.active_run == run.path else run.status
            if status == "running" and run.epochs:
                status = f"running ({run.epochs_done}/{run.epochs} epochs)"
            cells = [
                (run.name, run.name.lower()),
                (run.started.strftime("%Y-%m-%d %H:%M:%S") if run.started else "–",
                 run.started.timestamp() if run.started else 0.0),
                (format_duration(run.duration), run.duration if run.duration is not None
                 else -1.0),
                (_best_text(run), run.best_val_error if run.best_val_error is not None
                 else math.inf),
                (status, status),
            ]
            for column, (text, key) in enumerate(cells):
                item = _SortItem(text)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setData(Qt.ItemDataRole.UserRole + 1, str(run.path))
                flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
                if column == 0 and run.status != "unreadable":
                    flags |= Qt.ItemFlag.ItemIsEditable
                item.setFlags(flags)
                item.setToolTip(run.message or str(run.path))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.select_runs(selected)
        self._filling = False
        self.table.setVisible(bool(self.runs))
        self.empty_label.setVisible(not self.runs)
        self._selection_changed()

    def _run_at(self, row: int) -> RunInfo:
        path = Path(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole + 1))
        return next(run for run in self.runs if run.path == path)

    def selected_runs(self) -> list[RunInfo]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self._run_at(row) for row in rows if self.table.item(row, 0) is not None]

    def select_runs(self, run_dirs) -> None:
        """Select these runs (their curves are overlaid)."""
        wanted = {Path(p) for p in run_dirs}
        filling, self._filling = self._filling, True  # one redraw, not one per row
        self.table.clearSelection()
        selection = self.table.selectionModel()
        for row in range(self.table.rowCount()):
            if self._run_at(row).path in wanted:
                selection.select(self.table.model().index(row, 0),
                                 selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        self._filling = filling
        self._selection_changed()

    def _selection_changed(self) -> None:
        if self._filling:
            return
        self._update_buttons()
        self._draw_overlay()

    def _update_buttons(self) -> None:
        runs = self.selected_runs()
        one = len(runs) == 1 and runs[0].status != "unreadable"
        has_weights = one and run_weights(runs[0].path) is not None
        self.rename_button.setEnabled(one)
        self.delete_button.setEnabled(bool(runs))
        self.weights_button.setEnabled(has_weights)
        self.evaluate_button.setEnabled(has_weights)
        self.resume_button.setEnabled(one and self.resumable(runs[0]))
        self.compress_button.setEnabled(has_weights and runs[0].path != self.active_run)

    def resumable(self, run: RunInfo) -> bool:
        """A run that did not finish, is not training now, and left a checkpoint."""
        return (run.path != self.active_run and run.status not in ("done", "unreadable")
                and checkpoint_path(run.path).is_file())

    def overlay_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{run name: (epochs, values)} of the curves drawn for the selected runs."""
        column, _ = METRICS[self.metric_combo.currentText()]
        runs = self.selected_runs()
        names = [run.name for run in runs]
        curves = {}
        for run in runs:
            epochs, values = run.curves.get("epoch"), run.curves.get(column)
            if epochs is not None and values is not None and len(epochs):
                label = run.name if names.count(run.name) == 1 else f"{run.name} ({run.path.name})"
                curves[label] = (epochs, values)
        return curves

    def _draw_overlay(self) -> None:
        self.plot.clear()
        self.legend.clear()
        metric = self.metric_combo.currentText()
        column, label = METRICS[metric]
        percent = column == "val_error" and all(r.task == "classification"
                                                for r in self.selected_runs())
        self.plot.getAxis("left").setLabel(f"{label} (%)" if percent else label)
        curves = self.overlay_curves()
        for i, (name, (epochs, values)) in enumerate(curves.items()):
            color = SERIES_COLORS[i % len(SERIES_COLORS)]
            self.plot.plot(epochs, values * (100.0 if percent else 1.0), name=name,
                           pen=pg.mkPen(color, width=2), symbol="o", symbolSize=4,
                           symbolBrush=color, symbolPen=None, connect="finite")
        title = (f"{metric}: {len(curves)} runs" if len(curves) > 1 else metric if curves
                 else "Select runs above to compare their curves")
        self.plot.setTitle(title)
        recolor_plot(self.plot, self)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "plot"):
            style_plot_widget(self.plot_widget, self)  # the theme changed: follow it
            recolor_plot(self.plot, self)

    # ---- actions -----------------------------------------------------------------------------

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        run = self._run_at(item.row())
        if item.text().strip() == run.name:
            return
        self.rename(run.path, item.text())

    def rename(self, run_dir: Path | str, name: str) -> bool:
        """Give a run a display name; False (and a message) if it cannot be renamed now."""
        run_dir = Path(run_dir)
        if run_dir == self.active_run:
            self.message.emit("A run cannot be renamed while it trains; rename it when it ends.")
            self.refresh()
            return False
        try:
            rename_run(run_dir, name)
        except (OSError, ValueError) as e:
            self.message.emit(f"Could not rename the run: {e}")
            self.refresh()
            return False
        self.message.emit(f"Renamed the run to {name.strip()!r}.")
        self.refresh()
        return True

    def delete(self, run_dirs: list[Path | str]) -> list[Path]:
        """Delete runs after ``confirm``; returns the folders removed (never the active run)."""
        run_dirs = [Path(p) for p in run_dirs]
        if self.active_run in run_dirs:
            self.message.emit("The run being trained cannot be deleted; stop it first.")
            run_dirs.remove(self.active_run)
        if not run_dirs:
            return []
        names = ", ".join(self._name_of(p) for p in run_dirs[:5])
        more = f" and {len(run_dirs) - 5} more" if len(run_dirs) > 5 else ""
        what = "this run" if len(run_dirs) == 1 else f"these {len(run_dirs)} runs"
        if not self.confirm(self, "Delete runs",
                            f"Delete {what} ({names}{more})?\n\nTheir weights, curves and logs "
                            "are removed from disk. This cannot be undone."):
            return []
        removed = []
        for run_dir in run_dirs:
            try:
                shutil.rmtree(run_dir)
                removed.append(run_dir)
            except OSError as e:
                self.message.emit(f"Could not delete {run_dir}: {e.strerror or e}")
        if removed:
            self.message.emit(f"Deleted {len(removed)} run{'s' if len(removed) > 1 else ''}.")
        self.refresh()
        return removed

    def _name_of(self, run_dir: Path) -> str:
        return next((r.name for r in self.runs if r.path == run_dir), run_dir.name)

    def _ask_rename(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=runs[0].name)
        if ok:
            self.rename(runs[0].path, name)

    def _ask_delete(self) -> None:
        self.delete([run.path for run in self.selected_runs()])

    def _request_weights(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.open_weights_requested.emit(runs[0].path)

    def _request_resume(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1 and self.resumable(runs[0]):
            self.resume_requested.emit(runs[0].path)

    def _request_evaluation(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.evaluate_requested.emit(runs[0].path)

    def show_compressions(self) -> None:
        """The Compressed models tab: every compressed model beside its origin run."""
        self.lower_tabs.setCurrentWidget(self.compression)

    def _request_compression(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.compress_requested.emit(runs[0].path)


def _best_text(run: RunInfo) -> str:
    if run.best_val_error is None:
        return "–"
    epoch = f" (epoch {run.best_epoch})" if run.best_epoch is not None else ""
    return format_error(run.best_val_error, run.task) + epoch
