"""Several optimizers in the Config workspace, through its widgets only: pick the one the
fields edit, change its settings (each one undo step, saved with the project), add and remove
optimizers and monitors, rename one; the last optimizer cannot be removed."""
from PySide6.QtCore import Qt

from designer.core.project import load
from designer.ui import dialogs
from designer.ui.workspaces import CONFIG

from tests.conftest import PROJECTS
from tests.ui.test_window import set_text
from tests.ui.test_workspaces import choose_in


def open_gan_config(window):
    assert window.files.open_path(PROJECTS / "digits_gan.nnd")
    window.show_workspace(CONFIG)
    return window.config_workspace


def test_the_second_optimizer_is_edited_undone_saved_and_reopened(qtbot, window, tmp_path,
                                                                    monkeypatch):
    config = open_gan_config(window)
    choice = config.optimizer_choice
    assert "network" not in config.editors  # each optimizer's row names its network
    assert [choice.itemText(i) for i in range(choice.count())] == ["D (trains TrainD)",
                                                                   "G (trains TrainG)"]
    choose_in(choice, 1)
    set_text(qtbot, config.editors["optimizer.lr"].widget, "0.0005")
    set_text(qtbot, config.editors["update_interval"].widget, "4")
    d, g = window.project.training.optimizers
    assert (g.solver["lr"], g.update_interval) == (0.0005, 4)
    assert (d.solver["lr"], d.update_interval) == (0.0002, 1)  # the first one is untouched
    assert window.editor.undo_stack.undoText() == "Set G's update interval to 4"
    assert "learning rate 0.0005" in config.entry_summaries[("optimizers", 1)].text()
    assert "update every 4 mini-batches" in config.entry_summaries[("optimizers", 1)].text()

    # the range is the spin box's, its help beside it
    interval = config.editors["update_interval"].widget
    assert (interval.minimum(), interval.maximum()) == (1, 64)
    assert "gradient accumulation" in interval.toolTip()

    # a schedule with warm-up for G, refused when the warm-up leaves no epoch
    choose_in(config.editors["schedule.type"].widget, "cosine")
    assert window.project.training.optimizers[1].schedule == {"type": "cosine"}
    assert window.project.training.optimizers[0].schedule == {"type": "constant"}
    warmup = config.editors["schedule.warmup"]
    set_text(qtbot, warmup.widget, "40")
    assert "warm-up" in warmup.hint.text()
    set_text(qtbot, warmup.widget, "3")
    assert window.project.training.optimizers[1].schedule == {"type": "cosine", "warmup": 3.0}

    # the solver type changes for G only
    choose_in(config.editors["optimizer.type"].widget, "SGD")
    assert window.project.training.optimizers[1].solver["type"] == "SGD"
    assert window.project.training.optimizers[0].solver["type"] == "Adam"

    for _ in range(4):  # SGD, warm-up, cosine, update interval
        window.undo_action.trigger()
    assert window.project.training.optimizers[1].update_interval == 1
    assert config.editors["update_interval"].widget.value() == 1
    assert config.editors["optimizer.lr"].widget.text() == "0.0005"
    window.undo_action.trigger()
    assert window.project.training.optimizers[1].solver["lr"] == 0.0002
    assert config.editors["optimizer.lr"].widget.text() == "0.0002"
    for _ in range(2):
        window.redo_action.trigger()

    path = tmp_path / "gan.nnd"
    monkeypatch.setattr(dialogs, "save_path", lambda parent, suggested: path)
    window.save_as_action.trigger()
    saved = load(path).training.optimizers
    assert (saved[1].solver["lr"], saved[1].update_interval) == (0.0005, 4)
    assert window.files.open_path(path)
    config = window.config_workspace
    choose_in(config.optimizer_choice, 1)
    assert config.editors["optimizer.lr"].widget.text() == "0.0005"
    assert config.editors["update_interval"].widget.value() == 4
    choose_in(config.optimizer_choice, 0)
    assert config.editors["optimizer.lr"].widget.text() == "0.0002"
    assert config.editors["update_interval"].widget.value() == 1


def test_optimizers_and_monitors_are_added_renamed_and_removed(qtbot, window):
    config = open_gan_config(window)

    def training():
        return window.project.training
    assert training().monitors == [] and "Add Monitor" == config.add_monitor_button.text()

    qtbot.mouseClick(config.add_monitor_button, Qt.MouseButton.LeftButton)
    monitor = training().monitors[0]
    assert (monitor.name, monitor.network, monitor.dataset) == ("valid_error", "Generate",
                                                                "validation")
    assert config.entry_boxes[("monitors", 0, "network")].currentText() == "Generate"
    qtbot.mouseClick(config.remove_buttons[("monitors", 0)], Qt.MouseButton.LeftButton)
    assert training().monitors == [] and ("monitors", 0) not in config.remove_buttons
    window.undo_action.trigger()
    assert [m.name for m in training().monitors] == ["valid_error"]

    # a new optimizer trains the first network no optimizer trains, with Adam, and shows
    qtbot.mouseClick(config.add_optimizer_button, Qt.MouseButton.LeftButton)
    added = training().optimizers[2]
    assert (added.name, added.network, added.dataset, added.solver["type"]) == (
        "Optimizer", "Generator", "training", "Adam")
    assert config.optimizer_choice.currentText() == "Optimizer (trains Generator)"
    set_text(qtbot, config.editors["optimizer.lr"].widget, "0.01")
    assert training().optimizers[2].solver["lr"] == 0.01

    # rename: a taken name is refused and says so
    name = config.entry_names[("optimizers", 2)]
    set_text(qtbot, name, "D")
    assert training().optimizers[2].name == "Optimizer"
    assert "another optimizer is named D" in config.entries_hint.text()
    set_text(qtbot, config.entry_names[("optimizers", 2)], "Extra")
    assert training().optimizers[2].name == "Extra"
    assert config.entries_hint.isHidden()

    # removing optimizers down to one; the last stays, with the reason
    for _ in range(2):
        qtbot.mouseClick(config.remove_buttons[("optimizers", 0)], Qt.MouseButton.LeftButton)
    assert [o.name for o in training().optimizers] == ["Extra"]
    assert config.optimizer_choice is None  # one optimizer: no choice to make
    assert config.editors["network"].widget.currentText() == "Generator"
    assert config.editors["optimizer.lr"].widget.text() == "0.01"
    qtbot.mouseClick(config.remove_buttons[("optimizers", 0)], Qt.MouseButton.LeftButton)
    assert [o.name for o in training().optimizers] == ["Extra"]
    assert config.entries_hint.text() == ("Optimizer Extra is the only one: training needs at "
                                          "least one optimizer (add another first).")
    assert config.entries_hint.isVisibleTo(config)
    window.undo_action.trigger()
    assert [o.name for o in training().optimizers] == ["G", "Extra"]
