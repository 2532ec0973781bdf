"""From an empty window, or a folder of the user's own pictures, to a trained model, through the
workspaces a new user clicks: File → New, the palette, Dataset, Config, Train, Evaluation."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from designer.core.project import load
from designer.ui import dialogs
from designer.ui.new_project_dialog import Choice, NewProjectDialog
from designer.ui.workspaces import CONFIG, DATASET, EDIT, EVALUATION, TRAINING

from tests.conftest import PROJECTS
from tests.ui.test_window import double_click_palette, set_text

REAL_NEW_PROJECT_DIALOG = dialogs.choose_new_project  # before the fixture stands in for it
WAIT_MS = 180_000  # a cold trainer imports torch first; the machine may be busy


def click_tab(qtbot, window, index):
    bar = window.workspaces.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.workspaces.currentIndex() == index


def choose_in(box, data):
    """Pick the combo box entry holding ``data``, as a click in its list does."""
    index = box.findData(data)
    assert index >= 0, f"{data!r} is not offered"
    box.setCurrentIndex(index)
    box.activated.emit(index)


def answer_dialog(kind, answer):
    """Run ``answer(dialog)`` on the dialog of class ``kind`` about to open (modally)."""
    def later():
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind)
                 and w.isVisible()]
        if not shown:
            QTimer.singleShot(20, later)
            return
        QTimer.singleShot(50, lambda: answer(shown[0]))  # inside its event loop by then
    QTimer.singleShot(0, later)


def build_iris_mlp(qtbot, window):
    """Input(4) → Affine(16) → Tanh → Affine(3) → SoftmaxCrossEntropy, each layer double-clicked
    in the palette (so it comes below the selected one, connected), sizes typed."""
    double_click_palette(qtbot, window, "Input")
    set_text(qtbot, window.properties.editors["Size"], "4")
    double_click_palette(qtbot, window, "Affine")
    set_text(qtbot, window.properties.editors["OutShape"], "16")
    double_click_palette(qtbot, window, "Tanh")
    double_click_palette(qtbot, window, "Affine")
    set_text(qtbot, window.properties.editors["OutShape"], "3")
    double_click_palette(qtbot, window, "SoftmaxCrossEntropy")
    net = window.editor.network
    assert [(net.node(k.src).name, net.node(k.dst).name) for k in net.links] == [
        ("Input", "Affine"), ("Affine", "Tanh"), ("Tanh", "Affine_2"),
        ("Affine_2", "SoftmaxCrossEntropy")]


def wait_checked(qtbot, window):
    qtbot.waitUntil(lambda: window.checks.current, timeout=60_000)


def train(qtbot, window):
    with qtbot.waitSignal(window.training.trainer.finished, timeout=WAIT_MS) as done:
        window.train_action.trigger()
        assert window.workspaces.currentIndex() == TRAINING  # the curves fill the window
    assert done.args == ["done"]
    view = window.training.evaluation
    qtbot.waitUntil(lambda: view.evaluation is not None, timeout=WAIT_MS)
    return view.evaluation


def test_a_new_user_trains_iris_saves_and_finds_it_all_again(qtbot, window, dialog_answers,
                                                             tmp_path, monkeypatch):
    # File → New: the template chooser, left at "empty".
    stand_in = dialogs.choose_new_project
    monkeypatch.setattr(dialogs, "choose_new_project", REAL_NEW_PROJECT_DIALOG)
    chosen = []

    def create_empty(dialog):
        assert isinstance(dialog, NewProjectDialog)
        chosen.append(dialog.choice())
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    answer_dialog(NewProjectDialog, create_empty)
    window.new_action.trigger()
    assert chosen == [Choice("empty", "")] and window.editor.network.nodes == []
    monkeypatch.setattr(dialogs, "choose_new_project", stand_in)

    build_iris_mlp(qtbot, window)
    wait_checked(qtbot, window)
    assert window.problem_count.text() == "⚠ 1 problem"  # no data yet
    assert "no training dataset" in window.problems.problem_texts()[0]

    # Dataset: embedded:iris for training; the preview shows its variables and classes.
    click_tab(qtbot, window, DATASET)
    assert window.palette_dock.isHidden() and window.properties_dock.isHidden()
    datasets = window.dataset_workspace
    choose_in(datasets.source_box, "embedded:iris")
    assert window.project.datasets["training"].source == "embedded:iris"
    preview = datasets.preview
    qtbot.waitUntil(lambda: bool(preview.variables), timeout=30_000)
    assert preview.variables["x"].shape == (4,)
    assert preview.class_variable().class_counts == [50, 50, 50]
    assert preview.model.rowCount() == 150
    assert preview.model.index(0, 1).data() == "0 · setosa"
    wait_checked(qtbot, window)
    assert window.problem_count.text() == "✓ Ready to train"

    # Config: 40 epochs, batch 16, Adam with learning rate 0.01.
    click_tab(qtbot, window, CONFIG)
    config = window.config_workspace
    set_text(qtbot, config.editors["epochs"].widget, "40")
    set_text(qtbot, config.editors["batch_size"].widget, "16")
    assert config.editors["optimizer.type"].widget.currentText() == "Adam"
    set_text(qtbot, config.editors["optimizer.lr"].widget, "0.01")
    training = window.project.training
    assert (training.epochs, training.batch_size, training.optimizer) == \
        (40, 16, {"type": "Adam", "lr": 0.01})
    window.undo_action.trigger()  # each field is one undoable edit
    assert window.project.training.optimizer == {"type": "Adam", "lr": 0.001}
    assert config.editors["optimizer.lr"].widget.text() == "0.001"
    window.redo_action.trigger()

    evaluation = train(qtbot, window)
    assert evaluation.accuracy >= 0.93, evaluation.accuracy

    # Evaluation: a test set of the project, and the model tried on typed numbers.
    click_tab(qtbot, window, DATASET)
    dialog_answers.text_answers = ["test"]
    datasets.add_button.click()
    choose_in(datasets.source_box, "embedded:iris")
    assert list(window.project.datasets) == ["training", "test"]
    click_tab(qtbot, window, EVALUATION)
    workspace = window.training.evaluation_workspace
    choose_in(workspace.dataset_box, "test")
    workspace.evaluate_button.click()
    view = workspace.view
    qtbot.waitUntil(lambda: view.evaluation is not None and view.evaluation.samples == 150,
                    timeout=WAIT_MS)
    assert "of 150 test samples right" in view.summary.text()
    panel = workspace.try_panel
    assert panel.numbers.isVisible() and not panel.drop_area.isVisible()
    panel.numbers.setText("6.7, 3.0, 5.2, 2.3")
    qtbot.keyClick(panel.numbers, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.result is not None, timeout=WAIT_MS)
    assert panel.result.chosen == "virginica"
    assert panel.table.item(0, 0).text() == "virginica" and panel.table.rowCount() == 3

    # Save, open again: the same dataset and settings.
    dialog_answers.save_answer = tmp_path / "iris"
    window.save_action.trigger()
    saved = tmp_path / "iris.nnd"
    assert load(saved).datasets["training"].source == "embedded:iris"
    dialog_answers.open_answer = saved
    window.new_action.trigger()
    assert window.project.datasets == {}
    window.open_action.trigger()
    click_tab(qtbot, window, DATASET)
    assert window.dataset_workspace.source_box.currentData() == "embedded:iris"
    assert [window.dataset_workspace.list.topLevelItem(i).text(0) for i in range(3)] == \
        ["training", "validation", "test"]
    click_tab(qtbot, window, CONFIG)
    assert config.editors["epochs"].widget.value() == 40
    assert config.editors["optimizer.lr"].widget.text() == "0.01"
    click_tab(qtbot, window, EDIT)
    assert not window.palette_dock.isHidden()


def stripes(kind: str, rng) -> np.ndarray:
    """A 16×16 picture of one of three patterns, with noise."""
    image = rng.integers(0, 60, (16, 16)).astype(np.uint8)
    if kind == "across":
        image[::4] = 255
    elif kind == "down":
        image[:, ::4] = 255
    else:
        image[4:12, 4:12] = 255
    return image


def image_folder(root, per_class=16):
    rng = np.random.default_rng(0)
    for kind in ("across", "down", "square"):
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(stripes(kind, rng)).save(root / kind / f"{i}.png")
    return root


def test_a_folder_of_pictures_becomes_a_dataset_and_a_template_trains_on_it(
        qtbot, window, dialog_answers, tmp_path):
    pictures = image_folder(tmp_path / "pictures")
    dialog_answers.new_project_answer = Choice("image-classification", "")
    window.new_action.trigger()
    assert window.editor.network.find("Input").props["Size"] == [1, 28, 28]  # the digits' size

    window.create_dataset_action.trigger()  # File → Create Dataset…
    dialog = window.dataset_workspace.create_dialog
    assert window.workspaces.currentIndex() == DATASET and dialog.isVisible()
    dialog_answers.folder_answer = pictures
    dialog.pages.widget(0).findChildren(type(dialog.create_button))[0].click()  # Browse…
    qtbot.waitUntil(lambda: "48 images in 3 classes" in dialog.found.text(), timeout=30_000)
    assert dialog.out.text() == str(tmp_path / "pictures_dataset")
    dialog.width_box.setValue(16)
    dialog.height_box.setValue(16)
    dialog.gray.setChecked(True)
    steps = window.editor.undo_stack.count()
    dialog.create_button.click()
    qtbot.waitUntil(lambda: dialog.created is not None, timeout=60_000)
    assert "38 training and 10 validation samples" in dialog.message.text()
    assert window.editor.undo_stack.count() == steps + 1  # both datasets in one step
    datasets = window.project.datasets
    assert datasets["training"].source == str(tmp_path / "pictures_dataset" / "train.csv")
    assert datasets["validation"].normalize  # pictures are fed as 0..1
    dialog.close_button.click()

    # The template was sized for 28×28 digits: the data check says so and offers the fix.
    wait_checked(qtbot, window)
    [problem] = window.problems.problem_texts()
    assert problem == "Input: Size is 1×28×28 but dataset variable 'x' holds 1×16×16 per sample"
    preview = window.dataset_workspace.preview
    qtbot.waitUntil(lambda: preview.model.thumbnail(0, 0) is not None, timeout=30_000)
    pixmap, error = preview.model.thumbnail(0, 0)
    assert error is None and pixmap.height() == 40  # a thumbnail, drawn as it came into view
    [fix] = window.problems.fix_items()
    assert fix.text().strip() == "Fix: Set Input Size to 1×16×16"
    window.problems.itemClicked.emit(fix)
    assert window.editor.network.find("Input").props["Size"] == [1, 16, 16]
    assert window.editor.undo_stack.undoText() == "Fix: set Input Size to 1×16×16"
    wait_checked(qtbot, window)
    assert window.problem_count.text() == "✓ Ready to train"

    # Config: small batches, for 38 pictures.
    click_tab(qtbot, window, CONFIG)
    config = window.config_workspace
    set_text(qtbot, config.editors["epochs"].widget, "20")
    set_text(qtbot, config.editors["batch_size"].widget, "8")
    evaluation = train(qtbot, window)
    assert evaluation.samples == 10
    assert evaluation.accuracy >= 0.8, evaluation.accuracy  # the three patterns are learnt
    assert window.training.evaluation.class_names[:3] == ["across", "down", "square"]


@pytest.mark.parametrize("layout, message", [
    ("unreadable", "broken.png"),
    ("text cell", "line 3, column 'rate': 'high' is not a number"),
    ("no target", "no target column named 'Risk' (did you mean 'risk'?)"),
])
def test_bad_input_to_create_dataset_is_named_and_nothing_is_written(
        qtbot, window, dialog_answers, tmp_path, layout, message):
    window.create_dataset_action.trigger()
    dialog = window.dataset_workspace.create_dialog
    out = tmp_path / "out"
    if layout == "unreadable":
        pictures = image_folder(tmp_path / "pictures", per_class=2)
        (pictures / "down" / "broken.png").write_bytes(b"not a picture")
        dialog.set_image_folder(pictures)
    else:
        table = tmp_path / "loans.csv"
        table.write_text("income,rate,risk\n1200,0.3,low\n900,high,high\n3000,0.1,low\n")
        dialog.set_table(table)
        qtbot.waitUntil(lambda: dialog.target.count() == 3, timeout=30_000)
        assert dialog.target.currentText() == "risk"  # the column of words
        if layout == "no target":
            dialog.target.setEditText("Risk")
    dialog.out.setText(str(out))
    dialog.create_button.click()
    qtbot.waitUntil(lambda: not dialog.busy() and dialog.message.text() != "Creating the "
                    "dataset…", timeout=60_000)
    assert message in dialog.message.text()
    assert dialog.created is None and not out.exists()
    assert window.project.datasets == {}


def test_a_malformed_dataset_file_shows_the_readers_message_in_place(qtbot, window,
                                                                     dialog_answers, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x__0,x__1,y\n1,2,0\n3,4\n")
    window.show_workspace(DATASET)
    dialog_answers.dataset_answer = bad
    window.dataset_workspace.file_button.click()
    assert window.project.datasets["training"].source == str(bad)  # untitled: absolute
    preview = window.dataset_workspace.preview
    qtbot.waitUntil(lambda: "line 3" in preview.message.text(), timeout=30_000)
    assert f"{bad}: line 3 has 2 cells; the header has 3" in preview.message.text()

    # Saved, the path becomes relative to the project.
    dialog_answers.save_answer = tmp_path / "net.nnd"
    window.save_action.trigger()
    assert load(tmp_path / "net.nnd").datasets["training"].source == "bad.csv"


def test_named_datasets_are_added_renamed_and_removed_with_undo(qtbot, window, dialog_answers):
    window.show_workspace(DATASET)
    datasets = window.dataset_workspace
    choose_in(datasets.source_box, "embedded:iris")
    dialog_answers.text_answers = ["holdout"]
    datasets.add_button.click()
    assert datasets.current == "holdout" and "holdout" not in window.project.datasets
    choose_in(datasets.source_box, "embedded:xor")
    dialog_answers.text_answers = ["test"]
    datasets.rename_button.click()
    assert list(window.project.datasets) == ["training", "test"]
    dialog_answers.text_answers = ["bad name!"]
    datasets.add_button.click()
    assert dialog_answers.errors[-1] == ("Cannot add the dataset",
                                         "'bad name!': a dataset name is letters, digits, _ "
                                         "and -")
    datasets.remove_button.click()
    assert list(window.project.datasets) == ["training"]
    for expected in (["training", "test"], ["training", "holdout"], ["training"]):
        window.undo_action.trigger()
        assert list(window.project.datasets) == expected


def test_the_config_form_follows_the_optimizer_and_refuses_what_training_would(qtbot, window):
    window.show_workspace(CONFIG)
    config = window.config_workspace
    assert "optimizer.beta1" in config.editors
    choose_in(config.editors["optimizer.type"].widget, "Momentum")
    assert window.project.training.optimizer == {"type": "Momentum"}
    assert "optimizer.beta1" not in config.editors and "optimizer.momentum" in config.editors
    assert config.editors["optimizer.lr"].widget.text() == "0.01"  # Momentum's default

    lr = config.editors["optimizer.lr"]
    set_text(qtbot, lr.widget, "-1")
    assert lr.hint.text() == "must be more than 0" and lr.widget.property("invalid")
    assert window.project.training.optimizer == {"type": "Momentum"}

    choose_in(config.editors["schedule.type"].widget, "cosine")
    warmup = config.editors["schedule.warmup"]
    set_text(qtbot, warmup.widget, "12")
    assert "12 epochs of warm-up leave none of the 10 epochs" in warmup.hint.text()
    assert window.project.training.schedule == {"type": "cosine"}
    set_text(qtbot, warmup.widget, "2")
    assert window.project.training.schedule == {"type": "cosine", "warmup": 2.0}
    assert not warmup.widget.property("invalid")

    device = config.editors["device"].widget
    qtbot.waitUntil(lambda: device.findData("cpu") >= 0 and device.count() >= 2, timeout=60_000)
    assert device.itemText(device.findData("cpu")).startswith("CPU")
    choose_in(device, "cpu")
    assert window.project.training.device == "cpu"
    window.undo_action.trigger()
    assert device.currentData() == "auto"


def test_tab_search_adds_below_the_selected_layer_and_new_clears_the_status(qtbot, window):
    affine = window.add_layer("Affine", (0, 0), chain=False)
    window.canvas.select([affine])
    viewer = window.canvas.viewer
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Tab)
    qtbot.keyClicks(window.search_popup.edit, "ReLU")
    qtbot.keyClick(window.search_popup.edit, Qt.Key.Key_Return)
    net = window.editor.network
    relu = net.find("ReLU")
    assert relu.pos[1] > net.node(affine).pos[1]  # below, not on top
    assert [(k.src, k.dst) for k in net.links] == [(affine, relu.id)]

    window.statusBar().showMessage("Training finished; best validation error 3 %")
    window.new_action.trigger()
    assert window.statusBar().currentMessage() == ""
    assert viewer.empty  # the hint is back on the empty canvas


def test_workspace_shortcuts_and_edit_keys_stay_in_edit(qtbot, window):
    affine = window.add_layer("Affine", (0, 0), chain=False)
    window.canvas.select([affine])
    for index, action in enumerate(window.workspace_actions):
        assert action.shortcut().toString() == f"Ctrl+{index + 1}"
    window.workspace_actions[CONFIG].trigger()
    assert window.workspaces.currentIndex() == CONFIG
    assert not window.delete_action.isEnabled()  # Delete in a form never deletes a layer
    window.workspace_actions[EDIT].trigger()
    assert window.delete_action.isEnabled()
    window.delete_action.trigger()
    assert window.editor.network.nodes == []


def test_checking_every_file_names_the_unreadable_picture(qtbot, window, dialog_answers,
                                                          tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    lines = ["x:image,y:label"]
    for i in range(40):
        Image.fromarray(stripes("down", rng)).save(tmp_path / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{i % 2}")
    (tmp_path / "img" / "33.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n")
    window.show_workspace(DATASET)
    dialog_answers.dataset_answer = tmp_path / "index.csv"
    window.dataset_workspace.file_button.click()
    preview = window.dataset_workspace.preview
    qtbot.waitUntil(lambda: preview.check_button.isEnabled(), timeout=30_000)
    assert preview.variables["x"].shape == (1, 16, 16) and preview.error is None
    preview.check_button.click()
    assert preview.check_button.text() == "Cancel" and preview.progress.isVisible()
    qtbot.waitUntil(lambda: preview.check_button.text() == "Check Every File", timeout=60_000)
    assert "line 35, column 'x:image': cannot read image file 'img/33.png'" in \
        preview.message.text()
    # The broken picture's own cell says so when it comes into view.
    preview.table.scrollTo(preview.model.index(33, 0))
    preview.table.viewport().repaint()
    qtbot.waitUntil(lambda: preview.model.thumbnail(33, 0) is not None, timeout=30_000)
    pixmap, error = preview.model.thumbnail(33, 0)
    assert pixmap is None and "img/33.png" in error
    assert preview.model.index(33, 0).data().startswith("⚠")


def test_a_seed_beyond_a_spin_boxs_range_is_shown_and_edited_whole(qtbot, window):
    """Seeds go up to 2**64 - 1 (torch and numpy take them all); a project holding one opens in
    Config, and the field takes any whole number in that range."""
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.seed = 2**40
    window.files.show(project, modified=False)
    window.show_workspace(CONFIG)
    seed = window.config_workspace.editors["seed"]
    assert seed.widget.text() == str(2**40)
    set_text(qtbot, seed.widget, str(2**64 - 1))
    assert window.project.training.seed == 2**64 - 1
    set_text(qtbot, seed.widget, str(2**64))
    assert seed.hint.text() == f"must be at least 0 and at most {2**64 - 1}"
    set_text(qtbot, seed.widget, "1.5")
    assert seed.hint.text() == "'1.5' is not a whole number"
    assert window.project.training.seed == 2**64 - 1
    window.undo_action.trigger()
    assert window.project.training.seed == 2**40 and seed.widget.text() == str(2**40)


def test_bigger_run_settings_and_streaming_are_in_the_forms_and_saved(qtbot, window,
                                                                      dialog_answers, tmp_path):
    from designer.core.project import SPEED_SWITCHES, STREAMING
    from designer.ui.dataset_workspace import STREAM_CHOICES

    window.show_workspace(CONFIG)
    config = window.config_workspace
    assert {f"speed.{name}" for name in SPEED_SWITCHES} <= set(config.editors)
    set_text(qtbot, config.editors["processes"].widget, "2")
    set_text(qtbot, config.editors["workers"].widget, "0")
    config.editors["deterministic"].widget.click()
    config.editors["speed.channels_last"].widget.click()
    training = window.project.training
    assert (training.processes, training.workers, training.deterministic, training.speed) == \
        (2, 0, True, {"channels_last": True})
    assert window.editor.undo_stack.undoText() == "Turn channels last on"
    config.editors["speed.channels_last"].widget.click()
    assert window.project.training.speed == {}  # a switch is kept only while on
    window.undo_action.trigger()
    assert window.project.training.speed == {"channels_last": True}
    assert config.editors["speed.channels_last"].widget.isChecked()

    window.show_workspace(DATASET)
    datasets = window.dataset_workspace
    assert [value for value, _ in STREAM_CHOICES] == list(STREAMING)
    bad = tmp_path / "d.csv"
    bad.write_text("x__0,y\n1,0\n")
    dialog_answers.dataset_answer = bad
    datasets.file_button.click()
    assert datasets.stream_box.isEnabled() and datasets.cache_check.isEnabled()
    datasets.cache_check.click()
    choose_in(datasets.stream_box, "always")
    dataset = window.project.datasets["training"]
    assert (dataset.cache, dataset.stream) == (True, "always")

    dialog_answers.save_answer = tmp_path / "big.nnd"
    window.save_action.trigger()
    saved = load(tmp_path / "big.nnd")
    assert (saved.training.processes, saved.training.workers, saved.training.deterministic,
            saved.training.speed) == (2, 0, True, {"channels_last": True})
    assert (saved.datasets["training"].cache, saved.datasets["training"].stream) == \
        (True, "always")
    window.undo_action.trigger()
    assert datasets.stream_box.currentData() == "auto"


def test_creating_a_dataset_shows_progress_and_cancel_writes_nothing(qtbot, window, tmp_path):
    pictures = image_folder(tmp_path / "pictures", per_class=100)
    window.create_dataset_action.trigger()
    dialog = window.dataset_workspace.create_dialog
    dialog.set_image_folder(pictures)
    qtbot.waitUntil(lambda: "300 images in 3 classes" in dialog.found.text(), timeout=30_000)
    out = tmp_path / "out"
    dialog.out.setText(str(out))
    dialog.create_button.click()
    assert dialog.progress.isVisible() and dialog.close_button.text() == "Cancel"
    dialog.close_button.click()  # Cancel, while the first pictures are converted
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=60_000)
    assert dialog.message.text() == "Cancelled: nothing was written."
    assert not dialog.progress.isVisible() and dialog.close_button.text() == "Close"
    assert dialog.created is None and not out.exists()
    assert window.project.datasets == {} and dialog.isVisible()
