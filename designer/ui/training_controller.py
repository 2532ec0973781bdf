"""Training, weights and evaluation in the window: Train and Stop, the run's progress in the
status bar, the Training workspace (live curves over the Runs list), the Evaluation workspace,
and the current weights.

Training runs in a child process (``TrainerProcess``); its events feed the monitor, the runs
list and the gradient colours on the canvas. ``weights_run`` is the run whose weights stand for
the project: the newest finished run, or one the user opened from the runs list (Training
workspace). Evaluate, Try the model and Export use it.

File → Watch Run… follows a run folder written by a trainer anywhere (``RunWatcher``); Stop
then asks that trainer to stop through the folder. Resume (in the runs list) goes on with a
stopped or killed run from its checkpoint.

The window builds the widgets (workspace pages, status-bar labels, actions) and hands them
over; the views are built on first use, because their plots (pyqtgraph) cost more than the rest
of the window and must not delay its first appearance.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QSplitter, QWidget

from designer.core.analysis import analyze
from designer.core.project import ProjectError, load, structure
from designer.core.runs import (RUN_FILE, events_path, latest_run, project_path, request_stop,
                                run_name, run_weights)
from designer.ui import dialogs, workspaces
from designer.ui.gradients import describe_norm, gradient_colors
from designer.ui.run_watcher import RunWatcher
from designer.ui.trainer_process import TrainerProcess
from designer.ui.workspaces import DATASET, EDIT, EVALUATION, TRAINING

if TYPE_CHECKING:
    from designer.ui.evaluation_view import EvaluationView
    from designer.ui.evaluation_workspace import EvaluationWorkspace
    from designer.ui.main_window import MainWindow
    from designer.ui.monitor import TrainingMonitor
    from designer.ui.runs_view import RunsView

STOP_WAIT_MS = 15_000  # how long closing or opening waits for a stopped run to save
PROGRESS_MS = 500  # the status bar's copy of the progress bar


class TrainingController(QObject):
    """Everything between the Train button and the weights a run leaves behind."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.trainer = TrainerProcess(self)
        self.weights_run: Path | None = None  # the run whose weights stand for the project
        self._training_run: Path | None = None  # the run being trained
        self._abandoning_run = False  # a run stopped because the project closes: no follow-up
        self._views: tuple[TrainingMonitor, RunsView, EvaluationWorkspace] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.trainer.event.connect(self._on_training_event)
        self.trainer.finished.connect(self._on_training_finished)
        self.trainer.failed.connect(self._on_training_failed)
        self.watcher = RunWatcher(self)  # a run trained elsewhere, followed through its folder
        self.watcher.event.connect(self._on_training_event)
        self.watcher.ended.connect(self._on_watch_ended)

    # ---- the views, built on first use ----------------------------------------------------

    @property
    def monitor(self) -> TrainingMonitor:
        return self._build_views()[0]

    @property
    def runs_view(self) -> RunsView:
        return self._build_views()[1]

    @property
    def evaluation(self) -> EvaluationView:
        return self._build_views()[2].view

    @property
    def evaluation_workspace(self) -> EvaluationWorkspace:
        return self._build_views()[2]

    def views_built(self) -> bool:
        return self._views is not None

    def build_views(self, _page: QWidget | None = None) -> None:
        self._build_views()

    def _build_views(self) -> tuple[TrainingMonitor, RunsView, EvaluationWorkspace]:
        if self._views is not None:
            return self._views
        from designer.ui.evaluation_workspace import EvaluationWorkspace
        from designer.ui.monitor import TrainingMonitor
        from designer.ui.runs_view import RunsView

        w = self.window
        monitor, runs_view = TrainingMonitor(), RunsView()
        evaluation = EvaluationWorkspace(w)
        self._views = monitor, runs_view, evaluation
        split = QSplitter(Qt.Orientation.Horizontal)  # the runs beside the curves, as in NNC
        split.addWidget(runs_view)
        split.addWidget(monitor)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([560, 940])
        workspaces.fill(w.training_page, split)
        workspaces.fill(w.evaluation_page, evaluation)
        monitor.status_changed.connect(self._show_training_status)
        runs_view.message.connect(lambda text: w.statusBar().showMessage(text, 6000))
        runs_view.evaluate_requested.connect(self.evaluate_run)
        runs_view.open_weights_requested.connect(self.open_weights)
        runs_view.resume_requested.connect(self.resume_run)
        runs_view.compress_requested.connect(self.compress_run)
        evaluation.view.evaluation_failed.connect(
            lambda message: dialogs.error(w, "Evaluation failed", message))
        runs_view.set_project(w.project.path)
        evaluation.set_weights_run(self.weights_run)
        return self._views

    # ---- following the project ------------------------------------------------------------

    def project_replaced(self) -> None:
        """Another project is open: no weights, no curves, its own runs."""
        self.set_weights_run(None)
        self.window.canvas.clear_gradients()
        if self._views is not None:
            monitor, runs_view, evaluation = self._views
            runs_view.set_project(self.window.project.path)
            monitor.reset()
            evaluation.project_replaced()

    def project_moved(self, path: Path) -> None:
        """The project was saved under a new name: its runs are beside the new file (a run in
        progress keeps the folder it writes to)."""
        if self._views is not None and not self.trainer.is_running():
            self.runs_view.set_project(path)

    # ---- train and stop -------------------------------------------------------------------

    def training_refusal(self) -> tuple[str, int] | None:
        """Why the project cannot be trained as it is, and the workspace that shows what is
        wrong (None: it can be). Shows the network that would train, so its Problems tab lists
        what is wrong; the data is checked now unless the last check is current."""
        w = self.window
        editor = w.editor
        try:
            net = editor.project.network()
        except ProjectError as e:
            return str(e), EDIT
        if net is not editor.network:
            editor.show_network(net.name)
        if not net.nodes:
            return f"network {net.name!r} is empty: add layers from the palette first.", EDIT
        problems = analyze(net, project=editor.project).problems
        if not problems:
            problems = (w.checks.problems_for(net.name) if w.checks.current
                        else w.checks.check_now())
        if not problems:
            return None
        more = (f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)}, "
                "listed in the Problems tab)" if len(problems) > 1 else "")
        return f"{problems[0]}{more}", EDIT if problems[0].node_id else DATASET

    def train(self) -> None:
        """Train the project as it is in the editor (unsaved edits included)."""
        if self.trainer.is_running():
            return
        self._stop_watching()
        w = self.window
        refusal = self.training_refusal()
        if refusal is not None:
            reason, where = refusal
            w.bottom_tabs.setCurrentWidget(w.problems)
            w.show_workspace(where)
            w.statusBar().showMessage(f"Cannot train: {reason}", 15000)
            return
        self.monitor.reset()
        w.canvas.clear_gradients()
        run_dir = self.trainer.start(w.project)
        self._training_run = run_dir
        self._show_training(True)
        if w.project.path is None and run_dir.is_dir():  # runs of unsaved projects: temp
            self.runs_view.set_runs_folder(run_dir.parent)
        self.runs_view.set_active_run(run_dir)
        w.show_workspace(TRAINING)
        w.statusBar().showMessage(f"Starting the trainer for {w.project.name}…")

    def stop_training(self) -> None:
        if self.trainer.is_running():
            self.trainer.stop()
        elif self.watcher.is_watching():
            try:  # the trainer, wherever it runs, looks for this file between steps
                request_stop(self.watcher.run_dir)
            except OSError as e:
                dialogs.error(self.window, "Cannot stop the run",
                              f"The stop request cannot be written into {self.watcher.run_dir}: "
                              f"{e.strerror or e}")
                return
        else:
            return
        self.window.stop_action.setEnabled(False)
        self.window.statusBar().showMessage(
            "Stopping after the current step; saving the weights and a checkpoint…")

    # ---- runs trained elsewhere, and resumed runs -------------------------------------------

    def watch_run(self, run_dir: Path) -> bool:
        """Follow the run in ``run_dir`` (trained here or on another machine) in the Training
        workspace; its folder's runs appear in the runs list. False (with a message) if it
        cannot."""
        w, run_dir = self.window, Path(run_dir)
        if not (run_dir / RUN_FILE).is_file() and not events_path(run_dir).is_file():
            dialogs.error(w, "Not a run folder",
                          f"{run_dir} holds no {RUN_FILE} or events.jsonl: choose the folder of "
                          "one run (inside a <project>.runs folder).")
            return False
        if self.trainer.is_running():
            w.statusBar().showMessage("A run is training here; watch another when it ends.",
                                      6000)
            return False
        self._stop_watching()
        self.monitor.reset()
        w.canvas.clear_gradients()
        self.runs_view.set_runs_folder(run_dir.parent)
        self.runs_view.set_active_run(run_dir)
        self._show_training(True)
        w.train_action.setEnabled(True)  # training here ends the watch
        w.show_workspace(TRAINING)
        self.watcher.watch(run_dir)
        if self.watcher.is_watching():
            w.statusBar().showMessage(f"Watching run {run_name(run_dir)} in {run_dir.parent}")
        return True

    def _stop_watching(self) -> None:
        if self.watcher.is_watching():
            self.watcher.stop_watching()
            self.runs_view.set_active_run(None)
            self._show_training(False)

    def _on_watch_ended(self, status: str, message: str) -> None:
        self.runs_view.set_active_run(None)
        self._show_training(False)
        if status in ("done", "stopped"):
            return
        self.monitor.show_failure(message or f"the run ended as {status} without saying why")

    def resume_run(self, run_dir: Path) -> None:
        """Runs → Resume: go on with a stopped, killed or pre-empted run from its checkpoint,
        its curves so far kept in the Training workspace."""
        w = self.window
        if self.trainer.is_running():
            w.statusBar().showMessage("A run is training; resume another when it ends.", 6000)
            return
        self._stop_watching()
        self.monitor.reset()
        if events_path(run_dir).is_file():
            self.monitor.load_events(events_path(run_dir))  # the curves up to now
        w.canvas.clear_gradients()
        self._training_run = self.trainer.resume(run_dir)
        self._show_training(True)
        self.runs_view.set_active_run(run_dir)
        w.show_workspace(TRAINING)
        w.statusBar().showMessage(f"Resuming run {run_name(run_dir)}…")

    def stop_training_first(self, doing: str) -> bool:
        """Before the project closes: True when no run trains (any more). Asks the user, then
        stops the run and waits for it to save its weights. A watched run goes on without us."""
        self._stop_watching()
        if not self.trainer.is_running():
            return True
        if not dialogs.ask_stop_training(self.window, doing):
            return False
        self._abandoning_run = True
        self.trainer.stop()
        if not self.trainer.wait(STOP_WAIT_MS):
            self.trainer.kill()
            self.trainer.wait(STOP_WAIT_MS)
        self._abandoning_run = False
        return not self.trainer.is_running()

    # ---- while a run trains ---------------------------------------------------------------

    def _show_training(self, running: bool) -> None:
        w = self.window
        w.train_action.setEnabled(not running)
        w.stop_action.setEnabled(running)
        w.train_progress.setVisible(running)
        w.train_device.setVisible(running)
        if running:
            self._show_progress()
            self._progress_timer.start()
        else:
            self._progress_timer.stop()

    def _show_progress(self) -> None:
        """The monitor's progress bar, repeated in the status bar."""
        bar, copy = self.monitor.progress, self.window.train_progress
        copy.setRange(bar.minimum(), bar.maximum())
        copy.setValue(bar.value())
        copy.setFormat(self.monitor.progress_text())
        self.window.train_device.setText(self.monitor.device_label.text())

    def _show_training_status(self, text: str) -> None:
        if self.monitor.state != "idle":  # not the "press Train" hint of an empty monitor
            self.window.statusBar().showMessage(text)

    def _on_training_event(self, event: dict) -> None:
        self.monitor.handle_event(event)
        if event.get("event") == "gradients" and self.window.gradients_action.isChecked():
            norms = event.get("norms") or {}
            self.window.canvas.show_gradients(
                gradient_colors(norms), {name: describe_norm(v) for name, v in norms.items()})

    def toggle_gradients(self, on: bool) -> None:
        self.window.settings.setValue("view/gradients", on)
        if not on:
            self.window.canvas.clear_gradients()

    # ---- the end of a run -----------------------------------------------------------------

    def _end_training(self) -> Path | None:
        run, self._training_run = self._training_run, None
        self.runs_view.set_active_run(None)
        self.window.canvas.clear_gradients()
        self._show_training(False)
        return run

    def _on_training_finished(self, status: str) -> None:
        run = self._end_training()
        if run is None or self._abandoning_run or not run_weights(run):
            return
        self.set_weights_run(run)
        self.evaluation_workspace.evaluate(run)

    def _on_training_failed(self, message: str) -> None:
        self.monitor.show_failure(message)
        self._end_training()
        if not self._abandoning_run:
            self.window.show_workspace(TRAINING)
            dialogs.error(self.window, "Training failed", message)

    # ---- the current weights and what uses them --------------------------------------------

    def set_weights_run(self, run_dir: Path | None) -> None:
        """Make a run's weights the project's current weights (export and evaluate use them)."""
        self.weights_run = run_dir
        if self._views is not None:
            self._views[2].set_weights_run(run_dir)
        label = self.window.weights_label
        if run_dir is None:
            label.hide()
            return
        label.setText(f"Weights: {run_name(run_dir)} ({run_weights(run_dir) or 'none'})")
        label.setToolTip(f"Export and Evaluate use the weights of {run_dir}")
        label.show()

    def open_weights(self, run_dir: Path) -> None:
        """The runs list → Open weights: the run's weights become the project's current weights.
        A run of another network is allowed, with a warning (it keeps its own network)."""
        w, run_dir = self.window, Path(run_dir)
        try:
            trained = load(project_path(run_dir))
        except ProjectError as e:
            dialogs.error(w, "Cannot open the run's weights", str(e))
            return
        if structure(trained) != structure(w.project):
            dialogs.warning(
                w, "A different network",
                f"Run {run_name(run_dir)} trained a network that differs from the one in the "
                "editor.\n\nIts weights are used with the network it was trained with: "
                "Export and Evaluate use the run's own copy, not the editor's.")
        self.set_weights_run(run_dir)
        w.statusBar().showMessage(f"The weights of run {run_name(run_dir)} are now the "
                                  "project's current weights.", 6000)

    def evaluate_run(self, run_dir: Path) -> None:
        self.evaluation_workspace.evaluate(Path(run_dir))
        self.window.show_workspace(EVALUATION)

    def evaluate_latest(self) -> None:
        run = self.weights_run or latest_run(self.window.project.path)
        if run is None:
            self.window.statusBar().showMessage(
                "No trained run to evaluate yet: press Train (F5).", 6000)
            return
        self.evaluate_run(run)

    def compress_run(self, run_dir: Path) -> None:
        """Runs → Compress…: the dialog compresses the run; the Runs view shows the result."""
        from designer.ui.compress_dialog import CompressDialog

        dialog = CompressDialog(Path(run_dir), self.window)
        dialog.finished_compress.connect(self._compressed)
        dialog.exec()

    def _compressed(self, result: dict) -> None:
        self.runs_view.refresh()
        if result.get("ok"):  # the new model beside its origin
            self.runs_view.show_compressions()

    def export(self) -> None:
        """File → Export… with the current weights (or the newest run's)."""
        w = self.window
        try:
            from designer.ui.export_dialog import ExportDialog
        except ModuleNotFoundError as e:
            if e.name != "designer.ui.export_dialog":
                raise
            dialogs.info(w, "Export", "Export is not available in this installation.")
            return
        ExportDialog(w.project, self.weights_run or latest_run(w.project.path), w).exec()
