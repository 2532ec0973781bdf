"""Training from the designer window, driven as a user drives it: Train and Stop, the live
curves, the Runs and Evaluation tabs, gradient colours on the canvas, a crashed trainer, and
the run's weights standing for the project."""
from __future__ import annotations

import json
import math
import os
import signal
import sys

import pytest
from PySide6.QtCore import QCoreApplication

from designer.core.project import load
from designer.ui.gradients import NOT_FINITE, color_for_norm

from tests.conftest import PROJECTS, train_iris_copy

WAIT_MS = 180_000  # a cold trainer imports torch first; the machine may be busy


def open_sample(window, tmp_path, name, epochs=None):
    """A saved copy of a sample project, opened in the window; its runs go beside it."""
    project = load(PROJECTS / f"{name}.nnd")
    if epochs is not None:
        project.training.epochs = epochs
    path = project.save(tmp_path / f"{name}.nnd")
    assert window.files.open_path(path)
    return path


def node_id(window, name):
    return window.editor.network.find(name).id


def run_info(run_dir):
    return json.loads((run_dir / "run.json").read_text())


def confusion_total(view):
    table = view.confusion_table
    return sum(int(table.item(r, c).text())
               for r in range(table.rowCount()) for c in range(table.columnCount()))


# A stand-in trainer for the window's own behaviour (questions, toggles): it starts at once,
# reports one epoch, then waits; the stop file (or SIGTERM) makes it report "stopped" as the
# real one does.
IDLE_TRAINER = r"""
import json, os, signal, sys, time
run_dir = sys.argv[1]
def say(**event):
    print(json.dumps(event), flush=True)
def stop(*_):
    say(event="finished", status="stopped", best_val_error=0.5, best_epoch=1, elapsed=0.1)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
say(event="started", run_dir=run_dir, device="cpu", device_name="CPU", epochs=100,
    iterations_per_epoch=1, train_samples=4, val_samples=2, task="classification", classes=2,
    time="")
say(event="epoch", epoch=1, train_loss=1.0, val_loss=1.0, val_error=0.5, lr=0.1, elapsed=0.1,
    eta=9.9)
while not os.path.exists(os.path.join(run_dir, "stop")):
    time.sleep(0.05)
stop()
"""


def idle_trainer(snapshot, run_dir):
    return [sys.executable, "-c", IDLE_TRAINER, str(run_dir)]


# ---- the real trainer ---------------------------------------------------------------------------

def test_train_iris_evaluate_stop_a_second_run_and_overlay_both(qtbot, window, tmp_path):
    open_sample(window, tmp_path, "iris_mlp", epochs=12)
    gradients = []  # (norms, the canvas colour of each layer) at each gradients event

    def watch(event):  # connected after the window's own slot: sees what it did
        if event["event"] == "gradients":
            gradients.append((event["norms"], {n.name: window.canvas.gradient_of(n.id)
                                               for n in window.editor.network.nodes}))
    window.training.trainer.event.connect(watch)

    with qtbot.waitSignal(window.training.trainer.finished, timeout=WAIT_MS) as first:
        window.train_action.trigger()
        assert not window.train_action.isEnabled() and window.stop_action.isEnabled()
        assert window.workspaces.currentWidget() is window.training_page
        assert window.train_progress.isVisible()
    assert first.args == ["done"]
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()
    assert not window.train_progress.isVisible()

    # The curves hold every epoch.
    monitor = window.training.monitor
    monitor.refresh()
    assert list(monitor.error_curve.getOriginalDataset()[0]) == list(range(1, 13))
    assert len(monitor.train_curve.getOriginalDataset()[0]) == 12
    assert len(monitor.val_curve.getOriginalDataset()[0]) == 12
    assert monitor.state == "done"
    assert window.statusBar().currentMessage().startswith("Training finished")

    # The run is listed, and its weights now stand for the project.
    run = window.training.weights_run
    assert run is not None and run.parent == tmp_path / "iris_mlp.runs"
    window.training.runs_view.refresh()
    assert [r.path for r in window.training.runs_view.runs] == [run]
    assert window.training.runs_view.table.item(0, 4).text() == "done"
    assert window.weights_label.text() == f"Weights: {run.name} (best)"

    # The gradients coloured the parametrised layers while training, and only those.
    assert gradients, "the trainer reported no gradients"
    norms, colours = gradients[-1]
    assert set(norms) == {"Affine", "Affine_2"}
    for name in ("Affine", "Affine_2"):
        assert colours[name] == color_for_norm(norms[name])
    assert colours["Tanh"] is None and colours["SoftmaxCrossEntropy"] is None
    assert window.canvas.gradient_of(node_id(window, "Affine")) is None  # cleared at the end
    assert not window.canvas.legend.isVisible()

    # The finished run is evaluated: its confusion matrix counts the 30 validation samples.
    qtbot.waitUntil(lambda: window.training.evaluation.evaluation is not None, timeout=WAIT_MS)
    assert confusion_total(window.training.evaluation) == 30
    assert window.training.evaluation.confusion_table.rowCount() == 3

    # A second, long run, stopped midway: it keeps its weights and becomes the current ones.
    window.project.training.epochs = 5000
    events = []
    window.training.trainer.event.connect(events.append)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=WAIT_MS)
    with qtbot.waitSignal(window.training.trainer.finished, timeout=WAIT_MS) as second:
        window.stop_action.trigger()
        assert not window.stop_action.isEnabled()  # one press is enough
    assert second.args == ["stopped"]
    stopped = window.training.weights_run
    assert stopped not in (None, run)
    assert (stopped / "last.safetensors").is_file()
    info = run_info(stopped)
    assert info["status"] == "stopped" and 1 <= info["epochs_done"] < 5000

    # Both runs in the Runs list, their curves overlaid.
    window.training.runs_view.refresh()
    window.training.runs_view.select_runs([run, stopped])
    curves = window.training.runs_view.overlay_curves()
    assert len(curves) == 2 and len(window.training.runs_view.plot.listDataItems()) == 2
    assert sorted(len(epochs) for epochs, _ in curves.values()) == \
        sorted([12, info["epochs_done"]])
    qtbot.waitUntil(lambda: window.training.evaluation.evaluation is not None, timeout=WAIT_MS)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_killed_trainer_is_reported_and_the_window_stays_usable(qtbot, window, tmp_path,
                                                                  dialog_answers):
    open_sample(window, tmp_path, "iris_mlp", epochs=5000)
    before = window.project.to_dict()
    events = []
    window.training.trainer.event.connect(events.append)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: any(e["event"] == "epoch" for e in events), timeout=WAIT_MS)
    with qtbot.waitSignal(window.training.trainer.failed, timeout=WAIT_MS):
        os.kill(window.training.trainer.pid(), signal.SIGKILL)

    [(title, message)] = dialog_answers.errors
    assert title == "Training failed" and "killed or crashed" in message
    assert window.training.monitor.state == "failed"
    assert "killed or crashed" in window.training.monitor.status_label.text()
    run = window.training.runs_view.runs[0].path
    assert run_info(run)["status"] == "failed"
    assert window.training.weights_run is None  # a crashed run does not replace the weights
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()

    # The document is as it was, and the editor still edits.
    assert window.project.to_dict() == before
    count = len(window.editor.network.nodes)
    window.add_layer("ReLU", chain=False)
    assert len(window.editor.network.nodes) == count + 1
    window.undo_action.trigger()
    assert len(window.editor.network.nodes) == count


# ---- the window's own rules (no real training needed) --------------------------------------------

def test_an_invalid_network_is_refused_with_the_reason(qtbot, window):
    window.train_action.trigger()
    assert not window.training.trainer.is_running()
    assert window.statusBar().currentMessage() == \
        "Cannot train: network 'Main' is empty: add layers from the palette first."

    window.add_layer("Input", (0, 0), chain=False)
    affine = window.add_layer("Affine", (0, 90), chain=False)  # fed by nothing
    window.bottom_tabs.setCurrentWidget(window.statistics)
    window.train_action.trigger()
    assert not window.training.trainer.is_running()
    message = window.statusBar().currentMessage()
    first_problem = window.problems.problem_texts()[0]
    assert message.startswith(f"Cannot train: {first_problem}")
    assert "Affine" in message and "Problems tab" in message
    assert window.bottom_tabs.currentWidget() is window.problems
    assert window.workspaces.currentWidget() is window.workspaces.pages[0]  # Edit
    assert window.analysis.nodes[affine].error


def test_gradient_events_colour_the_cards_and_the_view_toggle_hides_them(qtbot, window,
                                                                         tmp_path):
    open_sample(window, tmp_path, "iris_mlp")
    window.training.trainer.command = idle_trainer
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.training.monitor.state == "running", timeout=30000)
    affine, affine_2 = node_id(window, "Affine"), node_id(window, "Affine_2")

    window.training.trainer.event.emit({"event": "gradients", "epoch": 1, "iteration": 1,
                               "norms": {"Affine": 1e-9, "Affine_2": float("nan")}})
    assert window.canvas.gradient_of(affine) == color_for_norm(1e-9)
    assert window.canvas.gradient_of(affine_2) == NOT_FINITE
    card = window.canvas.items[affine].view
    assert "vanishing" in card.toolTip() and "Affine" in card.toolTip()
    window.show_workspace(0)  # the canvas, in the Edit workspace, while the run trains
    assert window.canvas.legend.isVisible()
    assert window.canvas.gradient_of(node_id(window, "Tanh")) is None
    # The card shows its colour: a pixel of its foot.
    image = window.canvas.viewer.grab().toImage()
    foot = window.canvas.viewer.mapFromScene(card.sceneBoundingRect().bottomLeft())
    pixel = image.pixelColor(foot.x() + 40, foot.y() - 2)
    assert math.dist(pixel.getRgb()[:3], color_for_norm(1e-9)) < 40

    window.gradients_action.trigger()  # View → Show Gradient Norms: off
    assert window.canvas.gradient_of(affine) is None and not window.canvas.legend.isVisible()
    window.training.trainer.event.emit({"event": "gradients", "epoch": 2, "iteration": 2,
                               "norms": {"Affine": 1.0}})
    assert window.canvas.gradient_of(affine) is None
    assert window.settings.value("view/gradients") in (False, "false")

    window.gradients_action.trigger()  # on again: the next event colours
    window.training.trainer.event.emit({"event": "gradients", "epoch": 3, "iteration": 3,
                               "norms": {"Affine": 1.0}})
    assert window.canvas.gradient_of(affine) == color_for_norm(1.0)
    with qtbot.waitSignal(window.training.trainer.finished, timeout=30000):
        window.stop_action.trigger()
    assert window.canvas.gradient_of(affine) is None


def test_opening_another_project_while_training_asks_first(qtbot, window, tmp_path,
                                                           dialog_answers):
    open_sample(window, tmp_path, "iris_mlp")
    other = load(PROJECTS / "xor_mlp.nnd").save(tmp_path / "xor_mlp.nnd")
    window.training.trainer.command = idle_trainer
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.training.monitor.state == "running", timeout=30000)

    dialog_answers.stop_training_answer = False  # Cancel: nothing changes
    assert not window.files.open_path(other)
    assert dialog_answers.stop_training_asked == ["open another project"]
    assert window.training.trainer.is_running() and window.project.name == "iris_mlp"

    dialog_answers.stop_training_answer = True  # Stop Training: the run ends, then it opens
    assert window.files.open_path(other)
    assert not window.training.trainer.is_running() and window.project.name == "xor_mlp"
    assert window.training.monitor.state == "idle" and window.training.weights_run is None
    assert window.train_action.isEnabled()
    assert window.training.runs_view.runs_folder == tmp_path / "xor_mlp.runs"


def test_closing_while_training_asks_and_cancel_keeps_the_window(qtbot, window, tmp_path,
                                                                dialog_answers):
    open_sample(window, tmp_path, "iris_mlp")
    window.training.trainer.command = idle_trainer
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.training.monitor.state == "running", timeout=30000)
    dialog_answers.stop_training_answer = False
    assert not window.close()
    assert dialog_answers.stop_training_asked == ["quit"] and window.training.trainer.is_running()
    dialog_answers.stop_training_answer = True
    assert window.close()
    assert not window.training.trainer.is_running()


# ---- a run's weights in the editor -------------------------------------------------------------

@pytest.fixture
def trained_copy(tmp_path):
    """A saved iris_mlp with one real run of one epoch beside it (trained in this process)."""
    return train_iris_copy(tmp_path, epochs=1)


def test_open_weights_of_a_run_makes_them_the_projects_for_export_and_evaluate(
        qtbot, window, trained_copy, dialog_answers, monkeypatch):
    from designer.ui import export_dialog

    path, run = trained_copy
    assert window.files.open_path(path)
    exported = []
    monkeypatch.setattr(export_dialog.ExportDialog, "exec",
                        lambda dialog: exported.append(dialog.run_dir))

    # Without a current run, Export offers the newest run that has weights.
    window.export_action.trigger()
    assert exported == [run]

    # The user changes the network, then opens the run's weights from the Runs tab.
    window.editor.set_prop(node_id(window, "Affine"), "OutShape", [7])
    window.show_workspace(3)  # Training: the curves over the runs
    window.training.runs_view.select_runs([run])
    window.training.runs_view.weights_button.click()
    [(title, text)] = dialog_answers.warnings
    assert title == "A different network" and run.name in text and "run's own" in text
    assert window.training.weights_run == run
    assert window.weights_label.text() == f"Weights: {run.name} (best)"

    # Moving a card is no change of network: no warning.
    dialog_answers.warnings.clear()
    window.editor.undo_stack.undo()
    affine = window.editor.network.find("Affine")
    window.editor.move({affine.id: (affine.pos, (affine.pos[0] + 300, affine.pos[1]))})
    window.training.runs_view.weights_button.click()
    assert dialog_answers.warnings == []

    window.export_action.trigger()
    assert exported[-1] == run
    window.evaluate_action.trigger()  # Training → Evaluate Latest Run
    assert window.workspaces.currentWidget() is window.evaluation_page
    qtbot.waitUntil(lambda: window.training.evaluation.evaluation is not None, timeout=WAIT_MS)
    assert confusion_total(window.training.evaluation) == 30

    # Another project: no current weights any more.
    window.new_action.trigger()
    QCoreApplication.processEvents()
    assert window.training.weights_run is None and not window.weights_label.isVisible()
