"""File → Export's dialog: choices, refusals before export, the check result, cancel."""

import pytest
from PySide6.QtCore import QTimer

import designer.ui  # noqa: F401  (before any Qt use: see designer/ui/__init__.py)
from designer.core.project import load
from designer.ui.export_dialog import ExportDialog
from nodes import get_spec

from tests.conftest import train_iris_copy

WAIT_MS = 240_000  # a cold child process imports torch and exports on a busy machine


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A saved copy of iris_mlp with one run of one epoch beside it."""
    path, run = train_iris_copy(tmp_path_factory.mktemp("dialog"), epochs=1)
    return load(path), run


@pytest.fixture
def dialog(qtbot, trained_project):
    project, run = trained_project
    d = ExportDialog(project, run, None)
    qtbot.addWidget(d)
    yield d
    d.done(0)  # ends an export still running


def test_dialog_offers_the_runs_and_the_untrained_network(dialog, trained_project):
    _, run = trained_project
    items = [dialog.run_box.itemData(i) for i in range(dialog.run_box.count())]
    assert items == [str(run), ""]
    assert dialog.run_box.currentText().startswith(f"Run {run.name} (done")
    assert [dialog.weights_box.itemData(i) for i in range(dialog.weights_box.count())] == \
        ["best", "last"]
    assert dialog.path_edit.text() == str(run.parent.parent / "iris_mlp.onnx")
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("pytorch"))
    assert dialog.path_edit.text().endswith("iris_mlp.py")
    assert not dialog.onnx_options.isEnabled()
    dialog.run_box.setCurrentIndex(dialog.run_box.findData(""))
    assert dialog.weights_box.isHidden()
    assert "--run" not in dialog.command(run / "project.nnd")


def test_layers_the_opset_cannot_express_are_listed_and_export_is_disabled(dialog):
    dialog.opset_spin.setValue(12)
    assert dialog.refusal_label.isHidden() and dialog.export_button.isEnabled()
    dialog.run_box.setCurrentIndex(dialog.run_box.findData(""))  # the editor's network
    dialog.project = dialog.project.copy()
    dialog.project.network().find("Affine").props["OutShape"] = [4, 4]
    dialog.opset_spin.setValue(11)
    assert not dialog.refusal_label.isHidden()
    assert dialog.refusal_label.text() == (
        "Cannot export; these layers cannot be expressed:\n• Affine (Affine): not supported by "
        f"ONNX opset 11; {get_spec('Affine').onnx_opset.reason} (choose opset 13 or newer)")
    assert not dialog.export_button.isEnabled()
    dialog.opset_spin.setValue(13)
    assert dialog.refusal_label.isHidden() and dialog.export_button.isEnabled()
    dialog.opset_spin.setValue(12)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("pytorch"))
    assert dialog.refusal_label.isHidden() and dialog.export_button.isEnabled()


def test_export_runs_in_a_child_process_and_shows_the_check(dialog, qtbot, tmp_path):
    target = tmp_path / "iris.onnx"
    dialog.path_edit.setText(str(target))
    dialog.exporter_box.setCurrentIndex(dialog.exporter_box.findData("legacy"))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(dialog.running))
    timer.start(20)
    dialog.export_button.click()
    assert dialog.running and not dialog.export_button.isEnabled()
    assert dialog.cancel_button.isEnabled() and not dialog.progress.isHidden()
    with qtbot.waitSignal(dialog.finished_export, timeout=WAIT_MS) as finished:
        pass
    timer.stop()
    assert any(ticks), "the event loop did not run while the export worked"
    result = finished.args[0]
    assert result["ok"] and result["exporter"] == "legacy", result
    assert target.is_file() and (tmp_path / "iris.preprocessing.json").is_file()
    assert dialog.headline.text().startswith("✓ ONNX Runtime vs PyTorch: max abs difference ")
    assert dialog.headline.text().endswith("onnx.checker passed")
    details = dialog.details.toPlainText()
    assert "onnx.checker: passed" in details
    assert "validation data batch 7" in details
    assert dialog.status_label.text() == f"Wrote {target}"
    assert dialog.export_button.isEnabled() and dialog.progress.isHidden()


def test_a_bad_output_path_is_reported_in_the_dialog(dialog, qtbot, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("weights"))
    dialog.path_edit.setText(str(blocker / "w.safetensors"))
    with qtbot.waitSignal(dialog.finished_export, timeout=WAIT_MS) as finished:
        dialog.export_button.click()
    assert finished.args[0]["ok"] is False
    assert dialog.headline.text() == "✗ Not exported"
    assert dialog.details.toPlainText() == (f"{blocker / 'w.safetensors'}: cannot write there: "
                                            f"{blocker} is a file, not a folder")


def test_cancel_ends_the_export_and_writes_nothing(dialog, qtbot, tmp_path):
    # a Cancel that reaches the command after its work is done is too late (a busy machine
    # delays the progress line it waits for): then the export is shown as written; it takes
    # a Cancel during the work, which nearly every attempt is, to prove that nothing stays
    target = tmp_path / "slow.onnx"
    dialog.path_edit.setText(str(target))
    dialog.exporter_box.setCurrentIndex(dialog.exporter_box.findData("dynamo"))
    for attempt in range(3):
        for path in tmp_path.iterdir():
            path.unlink()
        dialog.export_button.click()
        qtbot.waitUntil(lambda: "dynamo exporter" in dialog.status_label.text(),
                        timeout=WAIT_MS)
        with qtbot.waitSignal(dialog.finished_export, timeout=WAIT_MS) as finished:
            dialog.cancel_button.click()
        assert not dialog.running and dialog.export_button.isEnabled()
        if finished.args[0].get("cancelled"):
            break
        assert finished.args[0]["ok"] and target.exists()  # too late: written and said so
        assert dialog.status_label.text() == f"Wrote {target}"
    assert finished.args[0] == {"ok": False, "error": "cancelled", "cancelled": True}
    assert dialog.status_label.text() == "Export cancelled; nothing was written."
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_file_export_in_the_window_opens_the_dialog_on_the_latest_run(make_window,
                                                                      trained_project,
                                                                      monkeypatch):
    project, run = trained_project
    shown = []

    def record(dialog):
        shown.append(dialog)
        return 0

    monkeypatch.setattr(ExportDialog, "exec", record)
    window = make_window()
    assert window.files.open_path(project.path)
    window.export_action.trigger()
    assert len(shown) == 1
    assert shown[0].run_dir == run
    assert shown[0].windowTitle() == "Export iris_mlp"
    shown[0].done(0)
