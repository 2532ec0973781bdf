"""Training from the window: the child-process controller, the monitor, run history,
evaluation view and gradient colours.

Fake trainers (small Python children printing JSON lines, crashing or ignoring SIGTERM) check
the controller's every ending; the real trainer then trains iris_mlp through it.
"""
import csv
import json
import math
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import pyqtgraph as pg
from PySide6.QtCore import QEventLoop, Qt, QTimer

from designer.core.project import Dataset, load
from designer.ui.evaluation_view import EvaluationView, reliability_bins
from designer.ui.samples_table import sample_text, thumbnail_image
from designer.ui.gradients import (NO_GRADIENT, NOT_FINITE, STOPS, GradientLegend,
                                   color_for_norm, describe_norm, gradient_colors)
from designer.core.runs import read_metrics
from designer.ui.runs_view import RunsView
from designer.ui.monitor import TrainingMonitor
from designer.core.runs import snapshot as snapshot_project
from designer.ui.trainer_process import TrainerProcess

from tests.conftest import PROJECTS

# ---- helpers ------------------------------------------------------------------------------------

FAKE_TRAINER = r"""
import json, os, signal, sys, time
snapshot, run_dir, mode = sys.argv[1:4]
stop = []
def say(**event):
    print(json.dumps(event), flush=True)
if mode == "signal":  # an older trainer: only SIGTERM stops it
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
if mode in ("stop", "stubborn"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.makedirs(run_dir, exist_ok=True)
with open(os.path.join(run_dir, "run.json"), "w") as f:
    json.dump({"name": "fake", "status": "running", "started": "2026-01-01T10:00:00"}, f)
say(event="started", run_dir=run_dir, device="cpu", device_name="fake", epochs=2,
    iterations_per_epoch=2, train_samples=4, val_samples=2, task="classification", classes=2,
    time="", snapshot=snapshot, project=json.load(open(snapshot)))
if mode == "done":
    print("a stray line that is not an event", flush=True)
    for i in (1, 2, 3, 4):
        say(event="iteration", epoch=(i + 1) // 2, iteration=i, loss=1 / i, lr=0.1)
        if i % 2 == 0:
            say(event="epoch", epoch=i // 2, train_loss=1 / i, val_loss=1.2 / i,
                val_error=0.5 / i, lr=0.1, elapsed=i, eta=4 - i)
    sys.stdout.write(json.dumps({"event": "finished", "status": "done", "best_val_error": 0.125,
                                 "best_epoch": 2, "elapsed": 4}))  # no newline at the end
elif mode == "fail":
    say(event="failed", kind="data", message=snapshot + ": train.csv, line 3: column 'y' is empty")
    sys.exit(2)
elif mode == "crash":
    sys.stderr.write("Traceback (most recent call last):\n  File 'x.py'\nRuntimeError: boom\n")
    sys.exit(3)
elif mode in ("stop", "stubborn", "signal"):
    say(event="epoch", epoch=1, train_loss=1.0, val_loss=1.0, val_error=0.5, lr=0.1,
        elapsed=1, eta=1)
    while not stop:
        time.sleep(0.02)
        if mode == "stop" and os.path.exists(os.path.join(run_dir, "stop")):
            stop.append(1)
    say(event="finished", status="stopped", best_val_error=0.5, best_epoch=1, elapsed=2)
"""


def fake(mode):
    return lambda snapshot, run_dir: [sys.executable, "-c", FAKE_TRAINER, str(snapshot),
                                      str(run_dir), mode]


def collect(process):
    """Lists that fill with the process's events and its single ending."""
    events, ends = [], []
    process.event.connect(events.append)
    process.finished.connect(lambda status: ends.append(("finished", status)))
    process.failed.connect(lambda message: ends.append(("failed", message)))
    return events, ends


def wait_until(condition, timeout_ms):
    """Run the event loop until ``condition()`` (works outside pytest-qt's function fixtures)."""
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: condition() and loop.quit())
    poll.start(20)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    poll.stop()
    assert condition(), "timed out"


def iris(tmp: Path, epochs: int):
    """iris_mlp, unsaved edits included, as if saved at ``tmp``/iris.nnd."""
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.epochs = epochs
    project.path = tmp / "iris.nnd"
    return project


def recorded_events(epochs=5, iterations_per_epoch=4, task="classification"):
    events = [{"event": "started", "run_dir": "/runs/x", "device": "cuda:0",
               "device_name": "NVIDIA H100", "epochs": epochs,
               "iterations_per_epoch": iterations_per_epoch, "train_samples": 120,
               "val_samples": 30, "task": task, "classes": 3, "time": ""}]
    iteration = 0
    for epoch in range(1, epochs + 1):
        for _ in range(iterations_per_epoch):
            iteration += 1
            events.append({"event": "iteration", "epoch": epoch, "iteration": iteration,
                           "loss": 2.0 / iteration, "lr": 0.01})
        events.append({"event": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch,
                       "val_loss": 1.5 / epoch, "val_error": 0.4 / epoch, "lr": 0.01,
                       "elapsed": 0.5 * epoch, "eta": 0.5 * (epochs - epoch)})
        events.append({"event": "gradients", "epoch": epoch, "iteration": iteration,
                       "norms": {"Affine": 0.1}})
    return events


# ---- TrainerProcess with fake trainers ---------------------------------------------------------

def test_events_arrive_in_order_and_a_finished_run_reports_done(qtbot, tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.path = tmp_path / "proj" / "iris.nnd"
    project.datasets["training"] = Dataset("data/train.csv")
    process = TrainerProcess(command=fake("done"))
    events, ends = collect(process)
    with qtbot.waitSignal(process.started, timeout=5000):
        run_dir = process.start(project)
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)

    assert ends == [("finished", "done")]
    assert [e["event"] for e in events] == ["started", "iteration", "iteration", "epoch",
                                           "iteration", "iteration", "epoch", "finished"]
    assert run_dir.parent == tmp_path / "proj" / "iris.runs"
    # The child trained the in-memory project, its dataset file made absolute.
    trained = events[0]["project"]
    assert trained["datasets"]["training"]["source"] == str(tmp_path / "proj/data/train.csv")
    assert not Path(events[0]["snapshot"]).exists()  # the temporary snapshot is cleaned up
    assert "a stray line that is not an event" in process.stderr_text()
    assert not process.is_running()


def test_a_failed_event_becomes_the_failure_message(qtbot, tmp_path):
    process = TrainerProcess(command=fake("fail"))
    _, ends = collect(process)
    process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    # The message names the user's project file, not the temporary copy the trainer read.
    assert ends == [("failed", f"Dataset problem: {tmp_path / 'iris.nnd'}: train.csv, line 3: "
                               "column 'y' is empty")]


def test_a_crashed_child_reports_its_error_output_and_run_json_says_failed(qtbot, tmp_path):
    process = TrainerProcess(command=fake("crash"))
    _, ends = collect(process)
    run_dir = process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    kind, message = ends[0]
    assert kind == "failed" and len(ends) == 1
    assert "ended unexpectedly (exit status 3)" in message
    assert "RuntimeError: boom" in message
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and info["finished"]


def test_stop_writes_the_stop_file_and_the_trainer_reports_stopped(qtbot, tmp_path):
    process = TrainerProcess(command=fake("stop"))  # it ignores SIGTERM: the file does it
    events, ends = collect(process)
    run_dir = process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=30000)
    process.stop()
    assert (run_dir / "stop").is_file()
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    assert ends == [("finished", "stopped")]


def test_a_trainer_that_misses_the_stop_file_gets_sigterm(qtbot, tmp_path):
    process = TrainerProcess(command=fake("signal"), stop_timeout_ms=3000)
    events, ends = collect(process)
    process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=30000)
    process.stop()
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    assert ends == [("finished", "stopped")]


def test_a_trainer_that_ignores_stop_is_killed_and_reported(qtbot, tmp_path):
    process = TrainerProcess(command=fake("stubborn"), stop_timeout_ms=300)
    events, ends = collect(process)
    process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=30000)
    process.stop()
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    kind, message = ends[0]
    assert kind == "failed" and "did not stop within 0.3 s" in message


def test_a_missing_program_is_reported_and_a_second_start_is_refused(qtbot, tmp_path):
    process = TrainerProcess(command=lambda s, r: [str(tmp_path / "no-such-python")])
    _, ends = collect(process)
    process.start(iris(tmp_path, 1))
    qtbot.waitUntil(lambda: bool(ends), timeout=10000)
    assert ends[0][0] == "failed" and "could not be started" in ends[0][1]

    busy = TrainerProcess(command=fake("stop"))
    _, busy_ends = collect(busy)
    busy.start(iris(tmp_path, 1))
    with pytest.raises(RuntimeError, match="already in progress"):
        busy.start(iris(tmp_path, 1))
    busy.kill()
    qtbot.waitUntil(lambda: bool(busy_ends), timeout=30000)


def test_a_run_folder_that_cannot_be_made_is_reported(qtbot, tmp_path):
    (tmp_path / "a-file").write_text("")
    project = iris(tmp_path, 1)
    project.path = tmp_path / "a-file" / "iris.nnd"
    process = TrainerProcess(command=fake("done"))
    _, ends = collect(process)
    process.start(project)
    qtbot.waitUntil(lambda: bool(ends), timeout=10000)
    kind, message = ends[0]
    assert kind == "failed" and message.startswith("Cannot prepare the run: ")
    assert str(tmp_path / "a-file") in message and not process.is_running()


def test_run_folders_are_taken_at_start_and_unsaved_projects_train_in_the_temp_folder(
        qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    project = iris(tmp_path, 1)
    project.path, project.name = None, "sketch"
    process = TrainerProcess(command=fake("done"))
    _, ends = collect(process)
    first = process.start(project)
    assert first.is_dir() and first.parent == tmp_path / "tmp" / "nn-designer" / "sketch.runs"
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    second = process.start(project)
    assert second.is_dir() and second != first and second.parent == first.parent
    qtbot.waitUntil(lambda: len(ends) == 2, timeout=30000)
    assert ends == [("finished", "done")] * 2


def test_snapshot_keeps_embedded_datasets_and_absolutises_files(tmp_path):
    project = iris(tmp_path, 1)
    project.datasets["validation"] = Dataset("../shared/valid.csv")
    snapshot = load(snapshot_project(project, tmp_path))
    assert snapshot.datasets["training"].source == "embedded:iris"
    assert snapshot.datasets["validation"].source == str((tmp_path / "../shared/valid.csv")
                                                         .resolve())
    assert project.datasets["validation"].source == "../shared/valid.csv"  # the editor's copy


# ---- TrainingMonitor ----------------------------------------------------------------------------

def test_monitor_draws_one_point_per_epoch_and_every_iteration(qtbot):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    for event in recorded_events(epochs=5, iterations_per_epoch=4):
        monitor.handle_event(event)
    monitor.refresh()
    assert len(monitor.train_curve.getOriginalDataset()[0]) == 5
    assert len(monitor.val_curve.getOriginalDataset()[0]) == 5
    x, y = monitor.error_curve.getOriginalDataset()
    assert list(x) == [1, 2, 3, 4, 5] and y[0] == pytest.approx(40.0)  # a percentage
    assert len(monitor.raw_curve.getOriginalDataset()[0]) == 20
    assert len(monitor.smooth_curve.getOriginalDataset()[0]) == 20
    assert monitor.device_label.text() == "Device: NVIDIA H100 (cuda:0)"
    assert monitor.progress.value() == 20 and monitor.progress.maximum() == 20
    assert "Epoch 5/5 · iteration 20/20" in monitor.progress.text()
    assert "best validation error 8.00 % (epoch 5)" in monitor.status_label.text()


def test_smoothed_loss_is_a_bias_corrected_average(qtbot):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.handle_event(recorded_events(1, 1)[0])
    for i, loss in enumerate([4.0, 2.0, float("nan"), 2.0], start=1):
        monitor.handle_event({"event": "iteration", "epoch": 1, "iteration": i, "loss": loss})
    assert monitor.smoothed[0] == pytest.approx(4.0)  # not pulled towards zero at the start
    assert monitor.smoothed[1] == pytest.approx((0.16 * 4 + 0.2 * 2) / (1 - 0.64))
    assert monitor.smoothed[2] == monitor.smoothed[1]  # a NaN does not poison the average
    assert math.isnan(monitor.losses[2])
    monitor.smoothing_box.setValue(0.0)
    assert monitor.smoothing == 0.0
    assert monitor.smoothed == [4.0, 2.0, 2.0, 2.0]  # no smoothing: the raw losses
    monitor.refresh()
    assert list(monitor.smooth_curve.getOriginalDataset()[1]) == [4.0, 2.0, 2.0, 2.0]


def test_the_loss_axis_follows_the_run_without_moving_on_every_point(qtbot):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.handle_event(recorded_events(epochs=1, iterations_per_epoch=100)[0])
    view = monitor.iteration_plot.vb

    def feed(iteration, loss):
        monitor.handle_event({"event": "iteration", "epoch": 1, "iteration": iteration,
                              "loss": loss})
        monitor.refresh()
        return tuple(view.viewRange()[1])

    first = feed(1, 2.0)
    second = feed(2, 1.0)
    assert second[0] < 1.0 < 2.0 < second[1]
    assert feed(3, 1.5) == second  # inside the range: no re-layout
    low = feed(4, 0.1)
    assert low[0] < 0.1 and low != first
    assert feed(5, 0.12) == low
    # The user zooms: the view stays where they put it until they press "A".
    view.setYRange(5.0, 6.0, padding=0)
    view.sigRangeChangedManually.emit([True, True])
    assert feed(6, 0.11) == pytest.approx((5.0, 6.0))
    view.enableAutoRange(y=True)
    assert feed(7, 0.1)[1] < 5.0


def test_hover_readout_names_the_nearest_values(qtbot):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    for event in recorded_events(epochs=4):
        monitor.handle_event(event)
    assert monitor.describe_at(monitor.epoch_plot, 2.3) == (
        "epoch 2: training loss 0.5, validation loss 0.75, validation error 20.00 %")
    assert monitor.describe_at(monitor.iteration_plot, 3.9).startswith("iteration 4: loss 0.5,")
    # The pointer over a plot shows its readout in the label.
    monitor.resize(900, 600)
    monitor.show()
    qtbot.waitExposed(monitor)
    monitor.refresh()
    view = monitor.epoch_plot.vb
    monitor._on_mouse_moved(view.mapViewToScene(view.viewRect().center()))
    assert monitor.readout.text().startswith("epoch ")


def test_log_scale_and_exports(qtbot, tmp_path):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    for event in recorded_events(epochs=3, iterations_per_epoch=2):
        monitor.handle_event(event)
    monitor.set_log_scale(True)
    assert monitor.log_check.isChecked()
    assert monitor.epoch_plot.getAxis("left").logMode
    assert not monitor.error_plot.getAxis("left").logMode  # a percentage stays linear
    png = monitor.export_png(tmp_path / "curves.png")
    assert png.stat().st_size > 1000
    epochs_csv, iterations_csv = monitor.export_csv(tmp_path / "curves.csv")
    rows = list(csv.DictReader(open(epochs_csv)))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[1]["val_error"]) == pytest.approx(0.2)
    assert iterations_csv.name == "curves_iterations.csv"
    assert len(list(csv.DictReader(open(iterations_csv)))) == 6


def test_monitor_shows_finish_stop_and_failure(qtbot, tmp_path):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    events = recorded_events(epochs=2)
    for event in events:
        monitor.handle_event(event)
    monitor.handle_event({"event": "finished", "status": "stopped", "best_val_error": 0.2,
                          "best_epoch": 2, "elapsed": 1.0})
    assert monitor.status_label.text() == ("Stopped after epoch 2; best validation error "
                                           "20.00 % at epoch 2.")
    assert "remaining –" in monitor.progress_text()
    monitor.handle_event({"event": "failed", "kind": "diverged",
                          "message": "the training loss became nan in epoch 3"})
    assert "the training loss became nan in epoch 3" in monitor.status_label.text()
    # A recording cut short by a crash is shown as such.
    recording = tmp_path / "events.jsonl"
    recording.write_text("".join(json.dumps(e) + "\n" for e in events) + '{"event": "ep')
    assert monitor.load_events(recording) == len(events)
    assert monitor.state == "failed" and "without finishing" in monitor.status_label.text()
    assert len(monitor.epoch_numbers) == 2
    monitor.show_failure("The training process was killed or crashed.\n\nTraceback ...")
    assert monitor.status_label.text() == ("Training failed: The training process was killed "
                                           "or crashed.")


def test_regression_runs_plot_the_error_as_a_loss(qtbot):
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    for event in recorded_events(epochs=2, task="regression"):
        monitor.handle_event(event)
    monitor.refresh()
    assert monitor.error_curve.getOriginalDataset()[1][0] == pytest.approx(0.4)
    assert monitor.error_plot.getAxis("left").labelText == "loss"
    monitor.set_log_scale(True)
    assert monitor.error_plot.getAxis("left").logMode


# ---- RunsView ---------------------------------------------------------------------------------

def make_run(folder: Path, name: str, started: str, errors: list[float], status="done",
             finished: str | None = "2026-11-22T10:01:30+00:00"):
    run = folder / name
    run.mkdir(parents=True)
    best = min(range(len(errors)), key=errors.__getitem__)
    (run / "run.json").write_text(json.dumps({
        "name": name, "started": started, "finished": finished, "status": status,
        "device": "cpu", "device_name": "cpu", "epochs": len(errors),
        "epochs_done": len(errors), "best_val_error": errors[best], "best_epoch": best + 1,
        "message": ""}))
    with open(run / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "train_loss", "val_loss", "val_error", "lr", "elapsed"])
        for epoch, error in enumerate(errors, start=1):
            writer.writerow([epoch, 1 / epoch, 2 / epoch, error, 0.01, 10 * epoch])
        f.write("4,0.1,")  # a row being written right now
    (run / "best.safetensors").write_bytes(b"")
    return run


@pytest.fixture
def runs_folder(tmp_path):
    folder = tmp_path / "iris.runs"
    make_run(folder, "20261122-100000", "2026-11-22T10:00:00+00:00", [0.5, 0.2, 0.1])
    make_run(folder, "20261122-110000", "2026-11-22T11:00:00+00:00", [0.6, 0.4],
             status="stopped", finished=None)
    broken = folder / "20261122-090000"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    (folder / "not-a-run").mkdir()
    return folder


def test_history_lists_runs_newest_first_with_their_figures(qtbot, runs_folder):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_project(runs_folder.parent / "iris.nnd")
    table = history.table
    assert table.rowCount() == 3  # the folder without run.json is not a run
    rows = [[table.item(r, c).text() for c in range(5)] for r in range(3)]
    assert rows[0] == ["20261122-110000", "2026-11-22 11:00:00", "0:20", "40.00 % (epoch 2)",
                       "stopped"]
    assert rows[1] == ["20261122-100000", "2026-11-22 10:00:00", "1:30", "10.00 % (epoch 3)",
                       "done"]
    assert rows[2][4] == "unreadable"
    assert "run.json" in table.item(2, 0).toolTip()


def test_history_shows_a_run_whose_trainer_was_killed_as_interrupted(qtbot, runs_folder):
    run = make_run(runs_folder, "20261122-120000", "2026-11-22T12:00:00+00:00", [0.5],
                   status="running", finished=None)
    info = json.loads((run / "run.json").read_text())  # written before runs kept a heartbeat
    history = RunsView()
    qtbot.addWidget(history)
    history.set_project(runs_folder.parent / "iris.nnd")
    assert history.table.item(0, 4).text() == "interrupted"
    assert history.table.item(0, 0).toolTip().startswith("the trainer stopped without finishing")
    assert json.loads((run / "run.json").read_text()) == {
        **info, "status": "interrupted", "message": history.table.item(0, 0).toolTip()}
    assert history.table.item(0, 2).text() == "0:10"  # the duration metrics.csv says


def test_history_overlays_the_selected_runs(qtbot, runs_folder):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_runs_folder(runs_folder)
    history.select_runs([runs_folder / "20261122-100000", runs_folder / "20261122-110000"])
    curves = history.overlay_curves()
    assert set(curves) == {"20261122-100000", "20261122-110000"}
    assert list(curves["20261122-100000"][1]) == [0.5, 0.2, 0.1]  # the cut row is skipped
    drawn = [item for item in history.plot.listDataItems()]
    assert len(drawn) == 2
    assert sorted(len(item.getOriginalDataset()[0]) for item in drawn) == [2, 3]
    history.metric_combo.setCurrentText("Training loss")
    assert list(history.overlay_curves()["20261122-110000"][1]) == [1.0, 0.5]
    assert not history.rename_button.isEnabled() and history.delete_button.isEnabled()


def test_history_renames_runs_in_run_json(qtbot, runs_folder):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_runs_folder(runs_folder)
    run = runs_folder / "20261122-100000"
    assert history.rename(run, "  wider hidden layer ")
    assert json.loads((run / "run.json").read_text())["name"] == "wider hidden layer"
    assert history.table.item(1, 0).text() == "wider hidden layer"
    messages = []
    history.message.connect(messages.append)
    assert not history.rename(run, "   ")
    assert messages == ["Could not rename the run: a run name cannot be empty"]
    # Editing the name cell renames too.
    history.table.item(1, 0).setText("edited")
    assert json.loads((run / "run.json").read_text())["name"] == "edited"


def test_history_deletes_only_after_confirmation_and_never_the_active_run(qtbot, runs_folder):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_runs_folder(runs_folder)
    asked = []
    history.confirm = lambda parent, title, text: asked.append(text) or False
    old, new = runs_folder / "20261122-100000", runs_folder / "20261122-110000"
    assert history.delete([old]) == [] and old.exists()
    assert "Delete this run (20261122-100000)?" in asked[0]
    history.confirm = lambda parent, title, text: True
    history.set_active_run(new)
    assert history.table.item(0, 4).text().startswith("running")
    assert history.delete([old, new]) == [old]
    assert not old.exists() and new.exists()
    assert history.table.rowCount() == 2


def test_open_weights_and_evaluate_name_the_run(qtbot, runs_folder):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_runs_folder(runs_folder)
    run = runs_folder / "20261122-100000"
    history.select_runs([run])
    assert history.weights_button.isEnabled()
    with qtbot.waitSignal(history.open_weights_requested) as opened:
        history.weights_button.click()
    assert opened.args == [run]
    with qtbot.waitSignal(history.evaluate_requested) as evaluated:
        history.evaluate_button.click()
    assert evaluated.args == [run]


def test_history_of_a_project_without_runs_says_so(qtbot, tmp_path):
    history = RunsView()
    qtbot.addWidget(history)
    history.set_project(tmp_path / "new.nnd")
    assert history.table.rowCount() == 0
    assert not history.empty_label.isHidden() and history.table.isHidden()
    history.set_project(None)
    assert history.runs == []


# ---- EvaluationView -----------------------------------------------------------------------------

@dataclass
class FakeEvaluation:
    """The fields of designer.core.evaluation.Evaluation the view reads."""

    task: str
    loss: float
    classes: int
    confusion: np.ndarray
    per_class: list
    targets: np.ndarray
    predictions: np.ndarray
    confidences: np.ndarray | None
    inputs: np.ndarray
    accuracy: float | None = None
    mse: float | None = None
    mae: float | None = None


def classification(targets, predictions, confidences, inputs):
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    k = int(max(targets.max(), predictions.max())) + 1
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (targets, predictions), 1)
    per_class = [{"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": int(s)}
                 for s in confusion.sum(1)]
    return FakeEvaluation("classification", 0.3, k, confusion, per_class, targets, predictions,
                          np.asarray(confidences, float), inputs,
                          accuracy=float((targets == predictions).mean()))


def test_reliability_bins_match_a_hand_count():
    confidences = np.array([0.95, 0.92, 0.55, 0.51, 0.15, 1.0])
    correct = np.array([True, False, True, True, False, True])
    edges, accuracy, counts, ece = reliability_bins(confidences, correct, bins=10)
    assert counts.tolist() == [0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
    assert accuracy[9] == pytest.approx(2 / 3) and accuracy[5] == 1.0 and accuracy[1] == 0.0
    assert math.isnan(accuracy[0])
    expected = (3 * abs(2 / 3 - (0.95 + 0.92 + 1.0) / 3) + 2 * abs(1 - 0.53) + 1 * 0.15) / 6
    assert ece == pytest.approx(expected)


def test_thumbnails_only_for_images():
    assert thumbnail_image(np.arange(64.0).reshape(1, 8, 8)).size().toTuple() == (8, 8)
    rgb = thumbnail_image(np.random.default_rng(0).random((3, 5, 7)))
    assert rgb.size().toTuple() == (7, 5) and not rgb.isGrayscale()
    grey = thumbnail_image(np.full((8, 8), 0.5), value_range=(0.0, 1.0))
    assert grey.pixelColor(3, 3).red() == 127  # on a shared scale, not stretched to white
    assert thumbnail_image(np.zeros(4)) is None  # iris measurements
    assert thumbnail_image(np.zeros((20, 1))) is None  # a sequence
    assert sample_text(np.array([5.1, 3.5, 1.4, 0.2])) == "5.1, 3.5, 1.4, 0.2"
    assert sample_text(np.zeros(10), limit=2) == "0, 0, … (10 values)"


def test_evaluation_shows_the_confusion_matrix_and_filters_samples(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    ev = classification([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2],
                        [0.93, 0.62, 0.83, 0.72, 0.99, 0.55, 0.93], np.zeros((7, 1, 8, 8)))
    view.set_evaluation(ev, ["cat", "dog"])
    table = view.confusion_table
    counts = [[int(table.item(r, c).text()) for c in range(3)] for r in range(3)]
    assert counts == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert table.horizontalHeaderItem(0).text() == "cat" and \
        table.verticalHeaderItem(2).text() == "2"
    assert "Accuracy 71.43 %</b> (5 of 7" in view.summary.text()
    assert view.per_class_table.rowCount() == 3
    assert view.samples_model.rowCount() == 7 and view.samples_model.has_thumbnails()
    view.show_mistakes_only(True)
    assert sorted(view.samples_model.rows.tolist()) == [1, 5]
    assert view.count_label.text() == "2 of 7 samples"
    view.show_mistakes_only(False)
    view.confusion_table.cellClicked.emit(2, 0)  # true 2, predicted cat
    assert view.samples_model.rows.tolist() == [5]
    assert view.cell_label.text() == "true 2, predicted cat"
    view.clear_cell_button.click()
    assert view.samples_model.rowCount() == 7
    # sorted by confidence, most sure first
    view.samples_view.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    assert view.samples_model.sample_index(0) == 4
    index = view.samples_model.index(0, 3)
    assert view.samples_model.data(index) == "2"
    assert view.samples_model.data(view.samples_model.index(0, 4)) == "99.0 %"
    bars = [item for item in view.reliability_plot.listDataItems()
            if isinstance(item, pg.BarGraphItem)]
    assert list(bars[0].opts["x"]) == pytest.approx([0.55, 0.65, 0.75, 0.85, 0.95])
    assert list(bars[0].opts["height"]) == [0, 0, 1, 1, 1]  # accuracy per confidence bin
    assert view.tabs.isTabVisible(1) and not view.tabs.isTabVisible(2)


def test_evaluation_of_a_regression(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    targets = np.array([0.0, 1.0, 2.0, 3.0])
    predictions = np.array([0.5, 1.0, 2.0, 2.0])
    ev = FakeEvaluation("regression", 0.3125, 0, np.zeros((0, 0), int), [], targets, predictions,
                        None, np.zeros((4, 20, 1)), mse=0.3125, mae=0.375)
    view.set_evaluation(ev)
    assert view.left.currentWidget() is view.scatter_widget
    assert "MSE 0.3125" in view.summary.text() and "MAE 0.375" in view.summary.text()
    assert "R² 0.750" in view.summary.text()
    scatter = [i for i in view.scatter_plot.items if i.__class__.__name__ == "ScatterPlotItem"]
    assert len(scatter[0].data) == 4
    model = view.samples_model
    assert model.headers()[4] == "Error" and model.data(model.index(0, 4)) == "0.5"
    assert not view.tabs.isTabVisible(1) and view.tabs.isTabVisible(2)
    assert not view.mistakes_check.isVisibleTo(view)


def test_evaluation_of_images_reconstructed_by_an_autoencoder(qtbot):
    view = EvaluationView()
    qtbot.addWidget(view)
    targets = np.zeros((3, 1, 8, 8))
    targets[:, :, 2:6, 3:5] = 1.0
    predictions = targets * 0.5
    ev = FakeEvaluation("regression", 0.0625, 0, np.zeros((0, 0), int), [], targets,
                        predictions, None, targets, mse=0.0625, mae=0.0625)
    view.set_evaluation(ev)
    model = view.samples_model
    assert model.headers()[4] == "Squared error"
    assert model.data(model.index(0, 4)) == f"{0.25 * 8 / 64:.4g}"  # 8 pixels off by 0.5
    for column in (1, 2, 3):
        assert model.data(model.index(0, column), Qt.ItemDataRole.DecorationRole) is not None
    assert "(192 values)" not in view.scatter_plot.titleLabel.text  # few enough: all drawn
    scatter = [i for i in view.scatter_plot.items if isinstance(i, pg.ScatterPlotItem)]
    assert len(scatter[0].data) == 3 * 64


def test_evaluation_failure_is_shown(qtbot, tmp_path):
    view = EvaluationView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.evaluation_failed, timeout=60000) as failed:
        view.evaluate_run(tmp_path / "missing-run")
    assert "missing-run" in failed.args[0]
    assert view.placeholder.text().startswith("Evaluation failed:")


# ---- gradients ----------------------------------------------------------------------------------

def test_gradient_colours_run_from_vanishing_to_exploding():
    colors = gradient_colors({"tiny": 1e-9, "low": 1e-6, "ok": 1e-2, "huge": 1e5,
                              "nan": float("nan"), "inf": float("inf"), "zero": 0.0,
                              "text": "not a number"})
    assert colors["tiny"] == colors["low"] == STOPS[0][1]
    assert colors["huge"] == STOPS[-1][1]
    assert colors["nan"] == colors["inf"] == colors["text"] == NOT_FINITE
    assert colors["zero"] == NO_GRADIENT
    r, g, b = colors["ok"]
    assert g > r and g > b  # healthy is green
    def dominant(norm):
        return "rgb"[int(np.argmax(color_for_norm(norm)))]
    assert [dominant(n) for n in (1e-6, 1e-5, 1e-3, 1e-2, 1e1, 1e2)] == list("bbggrr")
    assert describe_norm(3e-8) == "gradient norm 3e-08 (vanishing)"
    assert describe_norm(0.05) == "gradient norm 0.05 (healthy)"
    assert describe_norm(float("inf")).endswith("exploded (the loss is diverging)")


def test_gradient_legend_paints(qtbot):
    legend = GradientLegend()
    qtbot.addWidget(legend)
    legend.resize(320, legend.sizeHint().height())
    image = legend.grab().toImage()
    assert not image.isNull()
    left = image.pixelColor(6, image.height() // 2)
    assert left.blue() > left.red()  # the vanishing end is blue


# ---- the real trainer ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_iris(qapp, tmp_path_factory):
    """iris_mlp trained 6 epochs through TrainerProcess, watched by a monitor."""
    folder = tmp_path_factory.mktemp("window")
    project = iris(folder, 6)
    process = TrainerProcess()
    monitor = TrainingMonitor()
    process.event.connect(monitor.handle_event)
    events, ends = collect(process)
    run_dir = process.start(project)
    wait_until(lambda: bool(ends), 180000)
    monitor.refresh()
    return project, run_dir, events, ends, monitor


def test_train_iris_from_the_window(trained_iris, qtbot):
    project, run_dir, events, ends, monitor = trained_iris
    assert ends == [("finished", "done")], ends
    assert len(monitor.train_curve.getOriginalDataset()[0]) == 6
    assert list(monitor.error_curve.getOriginalDataset()[0]) == [1, 2, 3, 4, 5, 6]
    assert monitor.state == "done" and monitor.progress.value() == monitor.progress.maximum()
    assert any(e["event"] == "gradients" for e in events)
    assert (run_dir / "best.safetensors").exists()

    history = RunsView()
    qtbot.addWidget(history)
    history.set_project(project.path)
    assert [run.path for run in history.runs] == [run_dir]
    assert history.table.item(0, 4).text() == "done"


def test_evaluate_the_trained_run(trained_iris, qtbot):
    pytest.importorskip("designer.core.evaluation")
    project, run_dir, events, ends, _ = trained_iris
    view = EvaluationView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.samples_model.modelReset, timeout=120000):
        view.evaluate_run(run_dir)
    table = view.confusion_table
    total = sum(int(table.item(r, c).text())
                for r in range(table.rowCount()) for c in range(table.columnCount()))
    assert total == events[0]["val_samples"] == 30
    assert table.rowCount() == 3


def test_stop_midway_keeps_last_weights_and_two_runs_overlay(trained_iris, qtbot):
    project, first_run, *_ = trained_iris
    long = project.copy()
    long.training.epochs = 500
    process = TrainerProcess()
    events, ends = collect(process)
    run_dir = process.start(long)
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=180000)
    process.stop()
    qtbot.waitUntil(lambda: bool(ends), timeout=60000)
    assert ends == [("finished", "stopped")]
    assert (run_dir / "last.safetensors").exists()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "stopped" and 1 <= info["epochs_done"] < 500

    history = RunsView()
    qtbot.addWidget(history)
    history.set_project(project.path)
    history.select_runs([first_run, run_dir])
    curves = history.overlay_curves()
    assert len(curves) == 2 and len(history.plot.listDataItems()) == 2
    assert len(curves[first_run.name][0]) == 6
    assert len(read_metrics(run_dir)["epoch"]) == info["epochs_done"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_killed_trainer_is_reported_and_the_controller_stays_usable(trained_iris, qtbot):
    project, *_ = trained_iris
    long = project.copy()
    long.training.epochs = 500
    process = TrainerProcess()
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    process.event.connect(monitor.handle_event)
    process.failed.connect(monitor.show_failure)
    events, ends = collect(process)
    run_dir = process.start(long)
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=180000)
    os.kill(process.pid(), signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    kind, message = ends[0]
    assert kind == "failed" and "killed or crashed" in message
    assert monitor.state == "failed" and "killed or crashed" in monitor.status_label.text()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    # The same controller trains again afterwards.
    process.command = fake("done")
    again = process.start(project)
    qtbot.waitUntil(lambda: len(ends) == 2, timeout=30000)
    assert ends[1] == ("finished", "done") and again != run_dir


def test_a_gan_run_shows_a_curve_per_optimizer_and_its_generated_images(qtbot, tmp_path):
    from designer.core.trainer import train

    project = load(PROJECTS / "digits_gan.nnd")
    project.training.epochs = 2
    result = train(project, tmp_path / "run")
    assert result.status == "done", result.message
    monitor = TrainingMonitor()
    qtbot.addWidget(monitor)
    monitor.show()
    monitor.load_events(tmp_path / "run" / "events.jsonl")
    monitor.refresh()
    x, y = monitor.train_curve.getOriginalDataset()  # the first optimizer, D
    assert list(x) == [1, 2]
    generator = monitor.several.curves["optimizer G"]
    gx, gy = generator.getOriginalDataset()
    losses = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert list(gx) == [1, 2] and list(gy) == pytest.approx([float(r["loss:G"]) for r in losses])
    view = monitor.samples_view
    assert view.isVisible() and view.path.name == "epoch_0002.png"
    assert not view.image.pixmap().isNull() and "epoch 2" in view.caption.text()
    monitor.reset()
    assert not monitor.several.curves and not view.isVisible()
