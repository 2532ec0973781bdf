"""Reusing and shrinking a trained run from the window: a frozen layer looks frozen, Training →
Start From Run… sets where the next run starts (and says what it takes), Runs → Compress…
quantizes a run in a child process and the Runs view shows the result beside its origin."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PySide6.QtWidgets import QPushButton

from designer.core import runs
from designer.core.project import load
from designer.ui import dialogs, start_from
from designer.ui.compress_dialog import CompressDialog
from designer.ui.layer_card import FROZEN_MARK
from designer.ui.workspaces import CONFIG, EDIT

from tests.conftest import PROJECTS, train_iris_copy

WAIT_MS = 240_000  # a cold child process imports torch and ONNX Runtime on a busy machine


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A saved copy of iris_mlp with one run of three epochs in its runs folder."""
    return train_iris_copy(tmp_path_factory.mktemp("compress-window"), epochs=3)


def _card(window, name):
    return window.canvas.items[window.editor.network.find(name).id].view


def test_a_layer_frozen_by_its_learning_rate_multiplier_looks_frozen(qtbot, window, tmp_path):
    path = load(PROJECTS / "iris_mlp.nnd").save(tmp_path / "iris_mlp.nnd")
    assert window.files.open_path(path)
    affine = window.editor.network.find("Affine").id
    card = _card(window, "Affine")
    assert card.frozen == "" and FROZEN_MARK not in card.toolTip()
    window.editor.set_prop(affine, "W.LRateMultiplier", 0.0)
    qtbot.waitUntil(lambda: card.frozen == "some")  # the bias still learns
    assert "Frozen: W (LRateMultiplier 0)" in card.toolTip()
    window.editor.set_prop(affine, "b.LRateMultiplier", 0.1)
    qtbot.waitUntil(lambda: "b ×0.1" in card.toolTip())
    assert card.frozen == "some"
    window.editor.set_prop(affine, "b.LRateMultiplier", 0.0)
    qtbot.waitUntil(lambda: card.frozen == "all")
    assert _card(window, "Affine_2").frozen == ""
    window.editor.undo_stack.undo()
    qtbot.waitUntil(lambda: card.frozen == "some")


def test_start_from_a_run_says_what_is_taken_and_is_one_undo_step(
        qtbot, window, dialog_answers, iris_run):
    path, run = iris_run
    assert window.files.open_path(path)
    assert window.init_label.isHidden() and not window.start_fresh_action.isEnabled()
    head = window.editor.network.find("Affine_2").id
    window.editor.set_prop(head, "OutShape", [5])  # a new head: it cannot take the run's

    window.editor.undo_stack.setClean()
    assert start_from.start_from(window, run)
    assert window.project.training.init == {"run": f"iris_mlp.runs/{run.name}",
                                            "weights": "best"}
    assert not window.editor.undo_stack.isClean()  # an edit of the project, saved with it
    assert window.editor.undo_stack.undoText() == f"Start From Run {runs.run_name(run)}"
    title, text = dialog_answers.infos[-1]
    assert text.splitlines() == [
        f"Starting from the best weights of run {run.name}: 1 layer taken (Affine)",
        "left at their initialisation: 1 layer",
        "  Affine_2: W is 5×16 here but 3×16 in the run"]
    assert window.init_label.isVisible()
    assert window.init_label.text() == f"Starts from: {runs.run_name(run)} (best)"
    assert window.start_fresh_action.isEnabled()

    window.editor.undo_stack.undo()  # the setting, not the head
    assert window.project.training.init is None and window.init_label.isHidden()
    window.editor.undo_stack.redo()
    assert window.project.training.init["run"] == f"iris_mlp.runs/{run.name}"
    window.start_fresh_action.trigger()
    assert window.project.training.init is None and window.init_label.isHidden()


def test_a_run_of_another_network_is_refused_and_nothing_changes(window, dialog_answers,
                                                                 iris_run, tmp_path):
    path, run = iris_run
    assert window.files.open_path(path)
    for name in ("Affine", "Affine_2"):  # nothing left of the run's names
        assert window.editor.rename(window.editor.network.find(name).id, f"{name}_new") is None
    assert not start_from.start_from(window, run)
    title, text = dialog_answers.errors[-1]
    assert title == "Cannot start from this run"
    assert "no layer of network 'Main' matches a layer of the run" in text
    assert "Affine_new: the run has no layer of this name" in text
    assert not start_from.start_from(window, tmp_path)
    assert "not a run folder (it has no project.nnd)" in dialog_answers.errors[-1][1]
    assert window.project.training.init is None and window.init_label.isHidden()


def test_compress_a_run_from_the_runs_view_and_see_it_beside_its_origin(
        qtbot, window, iris_run, monkeypatch, tmp_path):
    path, run = iris_run
    assert window.files.open_path(path)
    view = window.training.runs_view
    view.refresh()
    view.select_runs([run])
    asked = []
    monkeypatch.setattr(CompressDialog, "exec", lambda dialog: asked.append(dialog))
    assert view.compress_button.isEnabled()
    view.compress_button.click()  # opens the dialog the rest of the test drives
    assert [dialog.run_dir for dialog in asked] == [run]
    dialog = asked[0]
    qtbot.addWidget(dialog)
    assert dialog.output_edit.text() == str(path.with_name("iris_mlp_int8.onnx"))
    dialog.method_box.setCurrentIndex(dialog.method_box.findData("prune"))
    assert dialog.output_edit.text() == str(path.with_name("iris_mlp_pruned.nnd"))
    dialog.layers_edit.setText("Nowhere")  # a bad choice comes back as a message
    with qtbot.waitSignal(dialog.finished_compress, timeout=WAIT_MS) as failed:
        dialog.compress_button.click()
    assert not failed.args[0]["ok"]
    assert view.lower_tabs.currentWidget() is view.plot_widget  # nothing new to show
    assert dialog.headline.text() == "✗ Not compressed"
    assert "Nowhere" in dialog.details.toPlainText()
    assert dialog.compress_button.isEnabled()

    out = tmp_path / "iris_int8.onnx"
    dialog.method_box.setCurrentIndex(dialog.method_box.findData("quantize"))
    dialog.output_edit.setText(str(out))
    with qtbot.waitSignal(dialog.finished_compress, timeout=WAIT_MS) as done:
        dialog.compress_button.click()
        assert not dialog.compress_button.isEnabled() and dialog.cancel_button.isEnabled()
    result = done.args[0]
    assert result["ok"], result
    before, after = result["before"], result["after"]
    assert out.is_file() and result["after"]["size"] == out.stat().st_size
    assert dialog.headline.text().startswith("✓ ")
    table = dialog.table
    assert not table.isHidden()
    assert [table.horizontalHeaderItem(c).text() for c in range(4)] == [
        "", "float32", "int8", "after / before"]
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [
        "file size", "latency, batch 1", "latency, batch 32", "validation accuracy",
        "parameters", "multiply-adds"]
    assert table.item(0, 3).text() == f"{after['size'] / before['size']:.2f}×"
    assert table.item(3, 1).text() == f"{before['accuracy']:.2%}"
    assert "classifies" in dialog.details.toPlainText()

    assert view.lower_tabs.currentWidget() is view.compression  # shown when it is made
    panel = view.compression
    assert [(name, origin, report.method) for name, report, origin in panel.rows] == [
        (runs.run_name(run), True, "quantize"), (runs.run_name(run), False, "quantize")]
    assert panel.table.rowCount() == 2
    assert panel.table.item(1, 0).text() == f"   ↳ {out.stem}"
    assert panel.table.item(1, 1).text() == "int8 quantized"
    assert panel.table.item(1, 7).text() == out.name
    assert panel.points["original"] == [(before["size"] / 1024, before["error"] * 100)]
    assert panel.points["int8 quantized"] == [(after["size"] / 1024, after["error"] * 100)]


def test_training_from_the_window_starts_from_the_run_and_keeps_a_frozen_layer(
        qtbot, window, iris_run):
    path, run = iris_run
    assert window.files.open_path(path)
    affine = window.editor.network.find("Affine").id
    window.editor.set_prop(window.editor.network.find("Affine_2").id, "OutShape", [5])
    for tensor in ("W", "b"):
        window.editor.set_prop(affine, f"{tensor}.LRateMultiplier", 0.0)
    assert start_from.start_from(window, run)
    with qtbot.waitSignal(window.training.trainer.finished, timeout=WAIT_MS) as finished:
        window.train_action.trigger()
    assert finished.args == ["done"]
    status = window.training.monitor.status_label.text()
    assert status.startswith("Training finished; best validation error")
    assert status.endswith(f"Started from run {run.name}: 1 layer taken; left at their "
                           "initialisation: Affine_2 (W is 5×16 here but 3×16 in the run).")
    new_run = window.training.weights_run
    assert load(runs.project_path(new_run)).training.init == {"run": str(run.resolve()),
                                                              "weights": "best"}
    before = runs.load_weights(runs.weights_path(run, "best"))
    after = runs.load_weights(runs.weights_path(new_run, "last"))
    for key in ("Affine.linear.weight", "Affine.linear.bias"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["Affine_2.linear.bias"][:3], after["Affine_2.linear.bias"][:3])


def test_the_config_workspace_s_start_from_panel_follows_the_setting_and_the_network(
        qtbot, window, iris_run, monkeypatch):
    path, run = iris_run
    assert window.files.open_path(path)
    window.show_workspace(CONFIG)  # the panel is the Config workspace's last section
    config = window.config_workspace
    panel = config.start_panel
    qtbot.waitUntil(panel.isVisible)
    assert config.widget().isAncestorOf(panel)
    assert panel.run_label.text().startswith("Training starts from fresh initial weights")
    assert not panel.fresh_button.isEnabled() and not panel.weights_box.isEnabled()
    monkeypatch.setattr(start_from.dialogs, "start_run_folder", lambda parent, start: run)
    panel.choose_button.click()
    assert window.project.training.init["run"] == f"iris_mlp.runs/{run.name}"
    assert panel.run_label.text().startswith(f"Training starts from run {runs.run_name(run)}")
    assert panel.report_label.text() == (
        f"Starting from the best weights of run {run.name}: 2 layers taken (Affine, Affine_2)")
    head = window.editor.network.find("Affine_2").id
    window.editor.set_prop(head, "OutShape", [4])  # the panel says at once what that changes
    assert panel.report_label.text().splitlines()[1:] == [
        "left at their initialisation: 1 layer",
        "  Affine_2: W is 4×16 here but 3×16 in the run"]
    optimizer = config.editors["optimizer.type"]  # another optimizer rebuilds the form
    config.commit(optimizer.field, "SGD")
    assert window.project.training.optimizer["type"] == "SGD"
    assert config.widget().isAncestorOf(panel) and panel.isVisible()
    window.editor.undo_stack.undo()
    panel.weights_box.setCurrentIndex(panel.weights_box.findData("last"))
    panel.weights_box.activated.emit(panel.weights_box.currentIndex())
    assert window.project.training.init["weights"] == "last"
    assert panel.report_label.text().startswith("Starting from the last weights")
    window.show_workspace(EDIT)  # a hidden panel checks again only when it is shown
    assert not panel.isVisible()
    gone = {"run": "iris_mlp.runs/gone", "weights": "best"}  # a run deleted since
    window.editor.set_training(replace(window.project.training, init=gone), "Start From gone")
    assert panel.report_label.text().startswith("Starting from the last weights")
    window.show_workspace(CONFIG)
    assert panel.report_label.text().startswith("Training would stop: ")
    assert "run folder not found" in panel.report_label.text()
    panel.fresh_button.click()
    assert window.project.training.init is None
    assert panel.run_label.text().startswith("Training starts from fresh initial weights")


def test_the_training_tab_says_a_run_learns_from_a_teacher(window):
    monitor = window.training.monitor
    for event in (
            {"event": "started", "run_dir": "r", "device": "cpu", "device_name": "CPU",
             "epochs": 2, "iterations_per_epoch": 1, "train_samples": 8, "val_samples": 2,
             "task": "classification", "classes": 10, "time": ""},
            {"event": "distill", "teacher": "/x/lenet.runs/20261128-100000", "weights": "best",
             "temperature": 4.0, "alpha": 0.9},
            {"event": "finished", "status": "done", "best_val_error": 0.1, "best_epoch": 2,
             "elapsed": 1.0}):
        monitor.handle_event(event)
    assert monitor.status_label.text().endswith(
        "Learning from teacher run 20261128-100000 at temperature 4, teacher's share 0.9.")


def test_distill_a_run_into_a_smaller_project_from_the_dialog(qtbot, window, iris_run,
                                                            tmp_path, monkeypatch):
    from tests.core.test_trainer import mlp

    path, run = iris_run
    small = mlp(tmp_path, name="small", hidden=4, epochs=2)  # iris, 4 hidden units
    dialog = CompressDialog(run, window)
    qtbot.addWidget(dialog)
    dialog.method_box.setCurrentIndex(dialog.method_box.findData("distill"))
    dialog.compress_button.click()  # no student yet: said, nothing started
    assert dialog.headline.text() == "✗ Not compressed"
    assert dialog.details.toPlainText() == "Choose the student project to train."
    assert not dialog.command_runner.running
    monkeypatch.setattr(dialogs, "project_file", lambda parent, title, folder: small.path)
    browse = dialog.pages.widget(2).findChildren(QPushButton)  # the student's Browse…
    assert len(browse) == 1
    browse[0].click()
    assert dialog.student_edit.text() == str(small.path)
    assert Path(dialog.output_edit.text()).parent == tmp_path / "small.runs"
    dialog.temperature_spin.setValue(2.0)
    command = dialog.command()
    assert command[command.index("--temperature") + 1] == "2"
    with qtbot.waitSignal(dialog.finished_compress, timeout=WAIT_MS) as done:
        dialog.compress_button.click()
    result = done.args[0]
    assert result["ok"], result
    assert result["method"] == "distill" and result["project"] == str(small.path)
    assert result["settings"]["temperature"] == 2.0 and result["settings"]["epochs"] == 2
    assert result["after"]["params"] < result["before"]["params"]
    student = load(runs.project_path(Path(result["output"])))
    assert student.training.distill["teacher"] == str(run.resolve())
    assert dialog.table.item(5, 0).text() == "multiply-adds"
