"""Runs beyond one process, from the window: watching a run that trains elsewhere through its
folder, stopping it there, resuming a stopped run from the runs list, and a run of two processes
that loses one."""
from __future__ import annotations

import json
import os
import signal
import threading

from designer.core import runs
from designer.core.project import load
from designer.core.trainer import train
from designer.ui import run_watcher

from tests.conftest import PROJECTS
from tests.ui.test_train_from_window import WAIT_MS, open_sample, run_info
from tests.ui.test_training_widgets import recorded_events


def write_events(run_dir, events):
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps(event) + "\n")


def fake_run(tmp_path, status="running", message=""):
    """A run folder as a trainer on another machine leaves it: run.json and events.jsonl."""
    run_dir = tmp_path / "remote.runs" / "20260101-100000"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "name": "on the server", "status": status, "started": "2026-01-01T10:00:00+00:00",
        "epochs": 5, "epochs_done": 2, "message": message}))
    return run_dir


def test_a_watched_run_is_followed_and_stopped_through_its_folder(window, tmp_path, qtbot):
    run_dir = fake_run(tmp_path)
    events = recorded_events(epochs=5, iterations_per_epoch=4)
    events[0].update(processes=2, batch_size=16, global_batch=32)
    cut = 1 + 2 * 6  # started, then two epochs of 4 iterations, an epoch and a gradients event
    write_events(run_dir, events[:cut])
    assert window.training.watch_run(run_dir)
    monitor = window.training.monitor
    qtbot.waitUntil(lambda: monitor.last_epoch == 2, timeout=5000)
    assert monitor.state == "running" and window.workspaces.currentWidget() is window.training_page
    assert monitor.device_label.text().endswith("× 2 · batch 32")
    assert monitor.device_label.toolTip() == ("2 processes, each taking batch 16 a step: global "
                                              "batch 32")
    # the runs beside it are listed, this one as running
    view = window.training.runs_view
    assert [r.path for r in view.runs] == [run_dir] and view.active_run == run_dir

    assert window.stop_action.isEnabled()
    window.stop_action.trigger()
    assert runs.stop_path(run_dir).is_file()  # the trainer, wherever it is, looks for it

    write_events(run_dir, events[cut:cut + 6] + [
        {"event": "finished", "status": "stopped", "best_val_error": 0.13, "best_epoch": 3,
         "elapsed": 2.0}])
    qtbot.waitUntil(lambda: monitor.state == "stopped", timeout=5000)
    assert monitor.last_epoch == 3 and not window.stop_action.isEnabled()
    assert view.active_run is None


def test_a_watched_run_whose_trainer_died_shows_how_it_ended(window, tmp_path, qtbot,
                                                              monkeypatch):
    monkeypatch.setattr(run_watcher, "QUIET", 0.0)
    monkeypatch.setattr(run_watcher, "STATUS_EVERY", 0.0)
    run_dir = fake_run(tmp_path, status="interrupted",
                       message="the trainer stopped without finishing after 2 epochs")
    write_events(run_dir, recorded_events(epochs=5, iterations_per_epoch=4)[:13])
    window.training.watch_run(run_dir)
    monitor = window.training.monitor
    qtbot.waitUntil(lambda: monitor.state == "failed", timeout=5000)
    assert "the trainer stopped without finishing after 2 epochs" in monitor.status_label.text()
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()


def test_watch_refuses_a_folder_that_is_not_a_run(window, tmp_path, dialog_answers):
    assert not window.training.watch_run(tmp_path)
    assert dialog_answers.errors[-1][0] == "Not a run folder"


def test_a_stopped_run_resumes_from_the_runs_list(window, tmp_path, qtbot):
    path = open_sample(window, tmp_path, "iris_mlp", epochs=10)
    project = load(path)
    stop = threading.Event()

    def stop_in_epoch_three(event):
        if event["event"] == "iteration" and event["epoch"] == 3:
            stop.set()

    stopped = train(project, on_event=stop_in_epoch_three, stop=stop).run_dir
    assert run_info(stopped)["status"] == "stopped"
    view = window.training.runs_view
    view.select_runs([stopped])
    assert view.resume_button.isEnabled()
    with qtbot.waitSignal(window.training.trainer.finished, timeout=WAIT_MS) as done:
        view.resume_button.click()
    assert done.args == ["done"]
    info = run_info(stopped)
    assert (info["status"], info["epochs_done"]) == ("done", 10)
    monitor = window.training.monitor
    monitor.refresh()
    assert monitor.epoch_numbers == list(range(1, 11))  # the curves before the stop, and after
    started = [json.loads(line) for line in (stopped / "events.jsonl").read_text().splitlines()
               if '"started"' in line]
    assert started[0]["resumed"] is None and started[1]["resumed"]["epochs_done"] == 2
    view.select_runs([stopped])
    assert not view.resume_button.isEnabled()  # done: nothing to resume


def test_killing_one_of_two_processes_fails_the_run_naming_it(window, tmp_path, qtbot,
                                                              dialog_answers):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.epochs = 5000
    project.training.processes = 2
    project.training.device = "cpu"
    path = project.save(tmp_path / "iris.nnd")
    assert window.files.open_path(path)
    seen = []
    window.training.trainer.event.connect(seen.append)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in seen), timeout=WAIT_MS)
    started = seen[0]
    assert started["processes"] == 2 and len(started["pids"]) == 2
    assert window.training.monitor.device_label.text().endswith("× 2 · batch 32")
    os.kill(started["pids"][1], signal.SIGKILL)
    qtbot.waitUntil(lambda: window.train_action.isEnabled(), timeout=WAIT_MS)
    title, message = dialog_answers.errors[-1]
    assert title == "Training failed"
    assert "training process rank 1 of 2" in message and "SIGKILL" in message
    run_dir = window.training.runs_view.runs[0].path
    info = run_info(run_dir)
    assert info["status"] == "failed" and "rank 1 of 2" in info["message"]
    assert not window.training.trainer.is_running() and not window.stop_action.isEnabled()
