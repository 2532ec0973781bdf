"""The designer window driven as a user drives it: palette, canvas gestures, properties,
problems, statistics, undo, files and recovery."""
from __future__ import annotations

import json
import sys
import warnings

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from designer.core.project import Dataset, Project, ProjectError, load
from designer.ui.data_check import NO_DATASET
from designer.ui.layer_card import LayerItem
from designer.ui.palette import LAYER_MIME

from tests.conftest import PROJECTS


# ---- helpers --------------------------------------------------------------------------------

def palette_item(window, name):
    return window.palette.items[name]


def double_click_palette(qtbot, window, name):
    tree = window.palette.tree
    item = palette_item(window, name)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    # A real double-click: press and release, then the second press arrives as a double-click.
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def drop(window, mime: QMimeData, viewport_pos: QPoint) -> tuple[bool, bool]:
    """What a drag does on arrival: enter the canvas, then drop. Returns whether the canvas
    accepted the enter and the drop."""
    viewport = window.canvas.viewer.viewport()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    with warnings.catch_warnings():  # PySide flags the one constructor Qt 6 has as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(viewport_pos, *args)
    QApplication.sendEvent(viewport, enter)
    dropped = QDropEvent(QPointF(viewport_pos), *args)
    QApplication.sendEvent(viewport, dropped)
    return enter.isAccepted(), dropped.isAccepted()


def drop_from_palette(window, name, viewport_pos: QPoint):
    """Drop the palette's own drag payload on the canvas through the viewer's drop handler."""
    mime = window.palette.tree.mimeData([palette_item(window, name)])
    assert drop(window, mime, viewport_pos) == (True, True)


def port_point(window, node_id, kind, index=0) -> QPoint:
    g = window.canvas.items[node_id]
    port = (g.output_ports() if kind == "out" else g.input_ports())[index].view
    return window.canvas.viewer.mapFromScene(port.sceneBoundingRect().center())


def drag(qtbot, window, start: QPoint, end: QPoint):
    viewport = window.canvas.viewer.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, (start + end) / 2)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def connect(qtbot, window, src, dst, port=0):
    drag(qtbot, window, port_point(window, src, "out"), port_point(window, dst, "in", port))


def node_named(window, name):
    return window.editor.network.find(name)


def item(window, node_id) -> LayerItem:
    return window.canvas.items[node_id].view


def links(window):
    net = window.editor.network
    return sorted((net.node(k.src).name, net.node(k.dst).name, k.port) for k in net.links)


def set_text(qtbot, edit, text):
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def build_iris(qtbot, window):
    """Input(4) → Affine(3) → SoftmaxCrossEntropy, made with the palette and a drag."""
    double_click_palette(qtbot, window, "Input")
    inp = node_named(window, "Input").id
    set_text(qtbot, window.properties.editors["Size"], "4")
    double_click_palette(qtbot, window, "Affine")  # chained below the selected Input
    aff = node_named(window, "Affine").id
    set_text(qtbot, window.properties.editors["OutShape"], "3")
    window.canvas.select([])
    loss_pos = window.canvas.viewer.mapFromScene(QPointF(100, 400))
    drop_from_palette(window, "SoftmaxCrossEntropy", loss_pos)
    loss = node_named(window, "SoftmaxCrossEntropy").id
    connect(qtbot, window, aff, loss)
    return inp, aff, loss


# ---- building a network ---------------------------------------------------------------------

def test_palette_double_click_drop_and_drag_build_a_trainable_network(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)

    assert links(window) == [("Affine", "SoftmaxCrossEntropy", 0), ("Input", "Affine", 0)]
    dropped = node_named(window, "SoftmaxCrossEntropy")
    centre = dropped.pos[0] + 100, dropped.pos[1] + 25  # dropped centred under the cursor
    assert centre == pytest.approx((100, 400), abs=2)
    assert [item(window, n).shape_text for n in (inp, aff, loss)] == ["4", "3", "1"]
    assert window.problems.problem_texts() == []
    assert "15 parameters" in window.totals.text()  # 4×3 weights + 3 biases
    assert window.isWindowModified()
    # The network is fine; without data it cannot train, and the window says so.
    qtbot.waitUntil(lambda: window.checks.current)
    assert window.problems.problem_texts() == [NO_DATASET]
    assert window.problem_count.text() == "⚠ 1 problem"
    window.editor.set_datasets({"training": Dataset("embedded:iris")}, "Use iris")
    assert window.problem_count.text() == "Checking the data…"
    qtbot.waitUntil(lambda: window.checks.current)
    assert window.problems.problem_texts() == []
    assert window.problem_count.text() == "✓ Ready to train"


def test_tab_on_canvas_then_typing_a_name_adds_that_layer(qtbot, window):
    viewer = window.canvas.viewer
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Tab)
    popup = window.search_popup
    assert popup.isVisible()
    qtbot.keyClicks(popup.edit, "sigm")
    assert popup.list.currentItem().text() == "Sigmoid"  # names starting with the text first
    qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    assert not popup.isVisible()
    assert [n.type for n in window.editor.network.nodes] == ["Sigmoid"]


def test_palette_search_filters_by_name_and_category(qtbot, window):
    qtbot.keyClicks(window.palette.search, "pool")
    assert sorted(window.palette.visible_layers()) == [
        "AveragePooling", "GlobalAveragePooling", "MaxPooling", "SumPooling", "Unpooling"]
    window.palette.search.clear()
    qtbot.keyClicks(window.palette.search, "loss")
    assert "SoftmaxCrossEntropy" in window.palette.visible_layers()
    assert "Affine" not in window.palette.visible_layers()


def test_drop_of_foreign_data_adds_nothing(qtbot, window):
    mime = QMimeData()
    mime.setText("Affine")
    assert drop(window, mime, QPoint(50, 50)) == (False, False)
    assert window.editor.network.nodes == []
    assert not mime.hasFormat(LAYER_MIME)


# ---- connections ----------------------------------------------------------------------------

def test_a_single_input_takes_one_link_and_a_new_one_replaces_it(qtbot, window):
    a = window.add_layer("Input", (0, 0), chain=False)
    b = window.add_layer("Input", (300, 0), chain=False)
    relu = window.add_layer("ReLU", (150, 150), chain=False)
    connect(qtbot, window, a, relu)
    connect(qtbot, window, b, relu)
    assert links(window) == [("Input_2", "ReLU", 0)]
    assert len(window.canvas.items[relu].input_ports()[0].view.connected_pipes) == 1
    window.editor.undo_stack.undo()
    assert links(window) == [("Input", "ReLU", 0)]
    pipes = window.canvas.items[relu].input_ports()[0].view.connected_pipes
    assert [p.output_port.node.id for p in pipes] == [a]


def test_multi_input_layer_takes_several_links_and_two_port_layer_takes_one_each(qtbot, window):
    a = window.add_layer("Input", (0, 0), chain=False)
    b = window.add_layer("Input", (300, 0), chain=False)
    cat = window.add_layer("Concatenate", (0, 150), chain=False)
    add = window.add_layer("Add2", (300, 150), chain=False)
    connect(qtbot, window, a, cat)
    connect(qtbot, window, b, cat)
    connect(qtbot, window, a, add, port=0)
    connect(qtbot, window, b, add, port=1)
    assert links(window) == [("Input", "Add2", 0), ("Input", "Concatenate", 0),
                             ("Input_2", "Add2", 1), ("Input_2", "Concatenate", 0)]


def test_a_layer_added_off_screen_is_scrolled_into_view(qtbot, window):
    node = window.add_layer("ReLU", (5000, 4000), chain=False)
    viewer = window.canvas.viewer
    visible = viewer.mapToScene(viewer.viewport().rect()).boundingRect()
    assert visible.contains(item(window, node).sceneBoundingRect())


def test_a_loss_output_may_feed_a_layer_and_an_argument_has_no_ports(qtbot, window):
    """Losses give one value per element (NNC): a Sum after one makes the loss a sum."""
    loss = window.add_layer("SquaredError", (0, 0), chain=False)
    assert [p.name() for p in window.canvas.items[loss].output_ports()] == ["y"]
    window.canvas.select([loss])
    total = window.add_layer("Sum")  # chained from the loss
    assert [(k.src, k.dst) for k in window.editor.network.links] == [(loss, total)]
    argument = window.add_layer("Argument", (400, 0), chain=False)
    card = window.canvas.items[argument]
    assert card.input_ports() == [] and card.output_ports() == []


def test_dragging_a_link_off_its_input_disconnects_it(qtbot, window):
    a = window.add_layer("Input", (0, 0), chain=False)
    relu = window.add_layer("ReLU", (0, 150), chain=False)
    connect(qtbot, window, a, relu)
    start = port_point(window, relu, "in")
    drag(qtbot, window, start, start + QPoint(120, 60))
    assert window.editor.network.links == []
    assert window.canvas.items[relu].input_ports()[0].view.connected_pipes == []
    assert "input x is not connected" in " ".join(window.problems.problem_texts())


# ---- properties, shapes, statistics, problems ---------------------------------------------------

def test_property_edit_updates_shapes_statistics_and_totals(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    window.canvas.select([aff])
    set_text(qtbot, window.properties.editors["OutShape"], "10")
    assert node_named(window, "Affine").props["OutShape"] == [10]
    assert item(window, aff).shape_text == "10"
    row = [r for r in window.statistics.stats.rows if r[1] == "Affine"][0]
    assert row[3:6] == ("10", 50, 40)
    assert "50 parameters" in window.totals.text()
    assert window.properties.info["Output"].text() == "10"


def test_an_error_shows_in_problems_and_on_the_node_and_a_click_selects_it(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    window.canvas.select([])
    conv = window.add_layer("Convolution", (400, 100), chain=False)
    connect(qtbot, window, inp, conv)
    message = "Convolution takes C×L (1-D) or C×H×W (2-D) input, got 4"
    assert any(message in t for t in window.problems.problem_texts())
    view = item(window, conv)
    assert view.error == message
    assert message in view.toolTip()
    assert window.bottom_tabs.tabText(0).startswith("Problems (")
    problem = [i for i in range(window.problems.count())
               if message in window.problems.item(i).text()][0]
    rect = window.problems.visualItemRect(window.problems.item(problem))
    qtbot.mouseClick(window.problems.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.canvas.selected_ids() == [conv]
    assert window.properties.info["Error"].text() == f"⚠ {message}"


def test_a_bad_shape_is_refused_with_the_parsers_hint(qtbot, window):
    node = window.add_layer("Convolution", (0, 0))
    window.canvas.select([node])
    edit = window.properties.editors["KernelShape"]
    set_text(qtbot, edit, "3,x")
    hint = window.properties.hints["KernelShape"]
    assert hint.isVisible()
    assert hint.text() == "KernelShape must be whole numbers separated by commas, like 3,3; got '3,x'"
    assert edit.property("invalid") is True
    assert window.editor.network.node(node).props["KernelShape"] == [3, 3]
    set_text(qtbot, edit, "5,5")
    assert not hint.isVisible()
    assert window.editor.network.node(node).props["KernelShape"] == [5, 5]


def test_spin_box_checkbox_and_rename_edit_the_document(qtbot, window):
    node = window.add_layer("Convolution", (0, 0))
    window.canvas.select([node])
    editors = window.properties.editors
    set_text(qtbot, editors["OutMaps"], "8")
    editors["WithBias"].click()
    props = window.editor.network.node(node).props
    assert props["OutMaps"] == 8 and props["WithBias"] is False

    set_text(qtbot, editors["Name"], "2bad")
    assert window.properties.hints["Name"].isVisible()
    assert window.editor.network.node(node).name == "Convolution"
    set_text(qtbot, editors["Name"], "conv1")
    assert window.editor.network.node(node).name == "conv1"
    assert item(window, node).name == "conv1"


def test_float_property_keeps_small_values_as_typed(qtbot, window):
    node = window.add_layer("BatchNormalization", (0, 0))
    window.canvas.select([node])
    float_props = [p for p in window.editor.network.node(node).spec.props if p.kind == "float"]
    assert float_props
    prop = float_props[0]
    set_text(qtbot, window.properties.editors[prop.name], "0.00002")
    assert window.editor.network.node(node).props[prop.name] == pytest.approx(2e-5)
    assert window.properties.editors[prop.name].text() == "2e-05"


# ---- editing: undo, delete, copy, paste, arrange ---------------------------------------------------

def test_undo_and_redo_every_kind_of_edit(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    final = window.project.to_dict()
    stack = window.editor.undo_stack
    assert stack.count() >= 6  # add, set, add, set, add, connect
    while stack.canUndo():
        stack.undo()
    assert window.editor.network.nodes == [] and window.canvas.items == {}
    assert not window.isWindowModified()
    while stack.canRedo():
        stack.redo()
    assert window.project.to_dict() == final
    assert set(window.canvas.items) == {inp, aff, loss}
    assert [item(window, n).shape_text for n in (inp, aff, loss)] == ["4", "3", "1"]


def test_deleting_several_layers_is_one_undo_step(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    before = window.project.to_dict()
    window.canvas.select([aff, loss])
    window.delete_action.trigger()
    assert [n.name for n in window.editor.network.nodes] == ["Input"]
    assert window.editor.network.links == []
    window.editor.undo_stack.undo()
    assert window.project.to_dict() == before  # same order of nodes and links too
    assert len(window.canvas.items[aff].input_ports()[0].view.connected_pipes) == 1


def test_copy_paste_and_duplicate_keep_inner_links_and_make_unique_names(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    window.canvas.select([inp, aff])
    window.copy_action.trigger()
    window.paste_action.trigger()
    names = [n.name for n in window.editor.network.nodes]
    assert names == ["Input", "Affine", "SoftmaxCrossEntropy", "Input_2", "Affine_2"]
    assert ("Input_2", "Affine_2", 0) in links(window)
    assert sorted(window.canvas.selected_ids()) == sorted(
        [node_named(window, "Input_2").id, node_named(window, "Affine_2").id])
    pasted = node_named(window, "Affine_2")
    assert pasted.props == node_named(window, "Affine").props
    assert pasted.pos == (node_named(window, "Affine").pos[0] + 40,
                          node_named(window, "Affine").pos[1] + 40)
    window.editor.undo_stack.undo()  # the whole paste at once
    assert len(window.editor.network.nodes) == 3
    window.canvas.select([aff])
    window.duplicate_action.trigger()
    assert [n.name for n in window.editor.network.nodes][-1] == "Affine_2"


def test_paste_of_foreign_text_is_refused_politely(qtbot, window):
    QApplication.clipboard().setText("not layers")
    window.paste_action.trigger()
    assert window.editor.network.nodes == []
    assert "no layers" in window.statusBar().currentMessage()


def test_select_all_arrange_and_zoom_to_fit(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    window.editor.move({inp: ((0, 0), (500, 37))})
    window.select_all_action.trigger()
    assert sorted(window.canvas.selected_ids()) == sorted([inp, aff, loss])
    before = {n.id: n.pos for n in window.editor.network.nodes}
    window.arrange_action.trigger()
    pos = {n.id: n.pos for n in window.editor.network.nodes}
    assert pos[inp][1] < pos[aff][1] < pos[loss][1]          # top to bottom
    assert pos[inp][0] == pos[aff][0] == pos[loss][0]        # one column for a chain
    assert [list(item(window, n).xy_pos) for n in pos] == [list(p) for p in pos.values()]
    window.editor.undo_stack.undo()
    assert {n.id: n.pos for n in window.editor.network.nodes} == before
    window.fit_action.trigger()
    visible = window.canvas.viewer.mapToScene(window.canvas.viewer.viewport().rect())
    for node_id in pos:
        assert visible.boundingRect().contains(item(window, node_id).sceneBoundingRect())


def test_moving_a_node_with_the_mouse_is_an_undoable_edit(qtbot, window):
    node = window.add_layer("ReLU", (0, 0), chain=False)
    view = item(window, node)
    viewer = window.canvas.viewer
    start = viewer.mapFromScene(view.sceneBoundingRect().center() + QPointF(-60, 0))
    drag(qtbot, window, start, start + QPoint(80, 40))
    moved = window.editor.network.node(node).pos
    assert moved != (0.0, 0.0)
    assert list(moved) == view.xy_pos
    window.editor.undo_stack.undo()
    assert window.editor.network.node(node).pos == (0.0, 0.0)
    assert view.xy_pos == [0.0, 0.0]


# ---- files ----------------------------------------------------------------------------------------

def test_save_reopen_and_compare_documents(qtbot, window, dialog_answers, tmp_path):
    build_iris(qtbot, window)
    dialog_answers.save_answer = tmp_path / "mine"  # the dialog adds .nnd
    window.save_action.trigger()
    saved = tmp_path / "mine.nnd"
    assert saved.is_file()
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("mine")
    expected = window.project.to_dict()

    window.new_action.trigger()
    assert window.editor.network.nodes == []
    assert window.files.open_path(saved)
    assert window.project.to_dict() == expected
    assert len(window.canvas.items) == 3
    assert window.files.recent_files()[0] == saved


def test_every_sample_opens_and_round_trips_unchanged(qtbot, window, dialog_answers, tmp_path):
    samples = sorted(PROJECTS.glob("*.nnd"))
    assert samples and [p.stem for p in window.files.samples()] == [p.stem for p in samples]
    failures = {}
    for sample in samples:
        try:
            original = load(sample).to_dict()
        except ProjectError as e:  # a layer the catalog does not have yet
            failures[sample.name] = str(e)
            continue
        assert window.files.open_path(sample), dialog_answers.errors
        net = window.editor.network
        assert set(window.canvas.items) == {n.id for n in net.nodes}
        for node in net.nodes:
            assert item(window, node.id).xy_pos == list(node.pos)
        pipes = sum(len(p.view.connected_pipes) for g in window.canvas.items.values()
                    for p in g.input_ports())
        assert pipes == len(net.links)
        assert window.problems.problem_texts() == [], sample.name
        copy = tmp_path / sample.name
        assert window.files.save_to(copy)
        assert load(copy).to_dict() == original, sample.name
    assert failures == {}


def test_a_broken_file_is_refused_and_the_open_project_stays(qtbot, window, dialog_answers,
                                                             tmp_path):
    build_iris(qtbot, window)
    before = window.project.to_dict()
    title = window.windowTitle()
    broken = tmp_path / "broken.nnd"
    broken.write_text('{"format": "nn-designer-project", "version": 2,\n "networks": [', "utf-8")
    assert not window.files.open_path(broken)
    with pytest.raises(ProjectError) as loader:
        load(broken)
    assert dialog_answers.errors == [("Cannot open project", str(loader.value))]
    assert dialog_answers.unsaved_asked == 0  # nothing was about to be lost
    assert window.project.to_dict() == before
    assert window.windowTitle() == title and window.isWindowModified()
    assert len(window.canvas.items) == 3


def test_unsaved_changes_are_asked_about_and_cancel_keeps_them(qtbot, window, dialog_answers):
    build_iris(qtbot, window)
    before = window.project.to_dict()
    dialog_answers.unsaved_answer = "cancel"
    window.new_action.trigger()
    assert dialog_answers.unsaved_asked == 1
    assert window.project.to_dict() == before
    assert not window.close()  # the close is refused as well
    dialog_answers.unsaved_answer = "discard"
    window.new_action.trigger()
    assert window.editor.network.nodes == []
    assert window.windowTitle() == "untitled[*] — nn-designer"


def test_autosave_and_restore_after_a_crash(qtbot, make_window, dialog_answers, tmp_path,
                                            settings):
    project = tmp_path / "net.nnd"
    load(PROJECTS / "iris_mlp.nnd").save(project)
    first = make_window()
    assert first.files.open_path(project)
    relu = first.add_layer("ReLU", (400, 0), chain=False)
    assert first.files.autosave_now() == tmp_path / "net.nnd.recovery"
    edited = first.project.to_dict()
    first.files.autosave.stop()
    first.files.recovery_file = None  # the session "crashes": nothing cleans up

    second = make_window()
    assert second.files.open_path(project)
    assert dialog_answers.restore_asked == ["net.nnd"]
    assert second.project.to_dict() == edited
    assert second.project.path == project
    assert relu in second.canvas.items
    assert second.isWindowModified()
    assert second.files.save()
    assert not (tmp_path / "net.nnd.recovery").exists()  # saved: nothing left to recover
    assert load(project).to_dict() == edited


def test_untitled_work_is_offered_at_the_next_start(qtbot, make_window, dialog_answers):
    first = make_window()
    first.add_layer("Affine", (0, 0))
    rec = first.files.autosave_now()
    assert rec is not None and rec.is_file()
    first.files.recovery_file = None

    second = make_window()
    assert second.files.offer_recovery()
    assert [n.type for n in second.editor.network.nodes] == ["Affine"]
    assert second.project.path is None

    third = make_window()  # declined: the copy is deleted and not offered again
    dialog_answers.restore_answer = False
    second.files.recovery_file = None
    second.files.autosave_now()
    assert third.files.offer_recovery() is False
    assert not rec.exists()
    assert make_window().files.offer_recovery() is False


def test_export_opens_the_export_dialog_with_the_current_document(qtbot, window, dialog_answers,
                                                                   monkeypatch):
    opened = []

    class FakeExportDialog:
        def __init__(self, project, run_dir, parent):
            opened.append((project, run_dir, parent))

        def exec(self):
            return 0

    fake = type(sys)("designer.ui.export_dialog")
    fake.ExportDialog = FakeExportDialog
    monkeypatch.setitem(sys.modules, "designer.ui.export_dialog", fake)
    window.export_action.trigger()
    assert opened == [(window.project, None, window)]

    monkeypatch.setitem(sys.modules, "designer.ui.export_dialog", None)  # not installed
    window.export_action.trigger()
    assert dialog_answers.infos[-1][0] == "Export"


def test_theme_switch_recolours_the_canvas(qtbot, window):
    window.theme_actions["light"].trigger()
    assert window.canvas.graph.background_color() == (247, 248, 250)
    assert window.settings.value("theme") == "light"
    window.theme_actions["dark"].trigger()
    assert window.canvas.graph.background_color() == (30, 32, 36)


def test_clipboard_payload_is_plain_json(qtbot, window):
    a = window.add_layer("Input", (0, 0), chain=False)
    window.canvas.select([a])
    window.copy_action.trigger()
    data = json.loads(QApplication.clipboard().text())
    assert data["format"] == "nn-designer-nodes"
    assert [n["type"] for n in data["nodes"]] == ["Input"]


def test_main_opens_the_project_given_on_the_command_line(qtbot, settings, dialog_answers,
                                                          monkeypatch):
    from PySide6.QtCore import QTimer

    from designer.ui import app as app_module

    shown = []
    original = app_module.MainWindow

    def window_with_test_settings():
        w = original(settings=settings)
        shown.append(w)
        qtbot.addWidget(w)
        return w

    monkeypatch.setattr(app_module, "MainWindow", window_with_test_settings)
    QTimer.singleShot(0, QApplication.instance().quit)
    assert app_module.main([str(PROJECTS / "iris_mlp.nnd")]) == 0
    assert shown[0].project.name == "iris_mlp"
    assert isinstance(shown[0].project, Project)


def test_undo_puts_the_old_value_back_in_the_editor_that_made_the_edit(qtbot, window):
    node = window.add_layer("Affine", (0, 0))
    window.canvas.select([node])
    edit = window.properties.editors["OutShape"]
    set_text(qtbot, edit, "7")
    assert window.editor.network.node(node).props["OutShape"] == [7]
    window.canvas.viewer.setFocus()  # the user leaves the field, then undoes
    window.editor.undo_stack.undo()
    assert edit.text() == "100"
    window.editor.undo_stack.redo()
    assert edit.text() == "7"


def test_keyboard_shortcuts_on_the_canvas_delete_and_undo(qtbot, window):
    inp, aff, loss = build_iris(qtbot, window)
    viewer = window.canvas.viewer
    viewer.setFocus()
    window.canvas.select([aff])
    qtbot.keyClick(viewer, Qt.Key.Key_Delete)
    assert [n.name for n in window.editor.network.nodes] == ["Input", "SoftmaxCrossEntropy"]
    qtbot.keyClick(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.editor.network.nodes) == 3 and len(window.editor.network.links) == 2
    qtbot.keyClick(viewer, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(window.canvas.selected_ids()) == 3


def test_double_clicking_a_layer_puts_the_cursor_in_its_name(qtbot, window):
    node = window.add_layer("ReLU", (0, 0), chain=False)
    viewer = window.canvas.viewer
    centre = viewer.mapFromScene(item(window, node).sceneBoundingRect().center())
    qtbot.mouseClick(viewer.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(viewer.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    name = window.properties.editors["Name"]
    assert name.hasFocus() and name.selectedText() == "ReLU"


def test_canvas_context_menu_offers_the_edits_that_fit(qtbot, window, monkeypatch):
    from designer.ui import dialogs

    shown = []
    monkeypatch.setattr(dialogs, "show_menu", lambda menu, pos: shown.append(
        [a.text() for a in menu.actions() if a.text()]))
    node = window.add_layer("ReLU", (0, 0), chain=False)
    window.canvas.select([])
    viewer = window.canvas.viewer
    window.canvas.menu_requested.emit(viewer.mapToGlobal(QPoint(5, 5)), node)
    assert window.canvas.selected_ids() == [node]  # right-click selects what it is on
    assert "&Delete" in shown[-1] and "Rename…" in shown[-1]
    window.canvas.menu_requested.emit(viewer.mapToGlobal(QPoint(5, 5)), None)
    assert "Add Layer…" in shown[-1] and "&Paste" in shown[-1]


def test_samples_and_recent_files_are_in_the_file_menu(qtbot, window, tmp_path):
    window.samples_menu.aboutToShow.emit()
    samples = {a.text(): a for a in window.samples_menu.actions()}
    assert set(samples) == {p.stem for p in PROJECTS.glob("*.nnd")}
    samples["xor_mlp"].trigger()
    assert window.project.name == "xor_mlp"
    window.recent_menu.aboutToShow.emit()
    recent = window.recent_menu.actions()
    assert recent[0].text().startswith("xor_mlp.nnd")
    window.new_action.trigger()
    recent[0].trigger()
    assert window.project.path == (PROJECTS / "xor_mlp.nnd").absolute()


def test_a_project_with_several_networks_edits_each_and_undo_follows(qtbot, window, tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    second = project.copy().networks[0]
    second.name = "Small"
    second.nodes = second.nodes[:2]
    second.links = second.links[:1]
    project.networks.append(second)
    path = tmp_path / "two.nnd"
    project.save(path)
    assert window.files.open_path(path)
    tabs = window.network_tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Main", "Small", "+"]
    tabs.setCurrentIndex(1)
    assert window.editor.network.name == "Small" and len(window.canvas.items) == 2
    window.add_layer("ReLU", (300, 0), chain=False)
    tabs.setCurrentIndex(0)
    assert window.editor.network.name == "Main"
    window.editor.undo_stack.undo()  # the edit was in Small: the canvas goes back there
    assert window.editor.network.name == "Small" and len(window.canvas.items) == 2
    assert tabs.tabText(tabs.currentIndex()) == "Small"


def test_a_blank_canvas_invites_instead_of_complaining(qtbot, window):
    assert window.problems.problem_texts() == []
    assert window.bottom_tabs.tabText(0) == "Problems"
    assert "add layers" in window.problems.item(0).text()
    window.add_layer("Affine", (0, 0))
    assert any("no loss layer" in t for t in window.problems.problem_texts())
    assert window.problem_count.text() == "⚠ 2 problems"
