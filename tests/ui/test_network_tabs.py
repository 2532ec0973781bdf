"""The project's networks as tabs: add, rename, duplicate and delete, each one undo step; a
rename follows everything that names the network; a Unit opens its network on double-click."""
from designer.core.analysis import analyze
from designer.core.compiler import compile_network
from designer.core.project import load
from designer.ui import network_tabs as tabs_module

from tests.conftest import PROJECTS


def tab_texts(window):
    tabs = window.network_tabs
    return [tabs.tabText(i) for i in range(tabs.count())]


def test_networks_are_added_renamed_duplicated_and_deleted_with_undo(qtbot, window,
                                                                      dialog_answers):
    assert window.files.open_path(PROJECTS / "digits_gan.nnd")
    assert tab_texts(window) == ["Generator", "Discriminator", "TrainD", "TrainG", "Generate",
                                 "+"]
    editor, project = window.editor, window.project
    window.network_tabs.setCurrentIndex(5)  # the + tab
    assert tab_texts(window)[5] == "Network" and editor.network.name == "Network"
    assert len(window.canvas.items) == 0

    generator = project.network("Generator")
    assert tabs_module.rename_network(editor, generator, "Maker") is None
    assert tab_texts(window)[0] == "Maker"
    uses = [n.props["Network"] for net in project.networks for n in net.nodes if n.type == "Unit"
            and n.name.startswith("G")]
    assert uses == ["Maker"] * 3  # TrainD, TrainG and Generate follow
    assert "is not a usable network name" in tabs_module.rename_network(editor, generator, "2x")
    assert "already has a network named TrainD" in tabs_module.rename_network(
        editor, generator, "TrainD")

    twin = tabs_module.duplicate_network(editor, project.network("TrainG"))
    assert twin.name == "TrainG_2" and tab_texts(window)[4] == "TrainG_2"
    assert twin.nodes is not project.network("TrainG").nodes

    refused = tabs_module.delete_network(editor, project.network("TrainD"))
    assert refused.startswith("network TrainD is used by training.optimizers[0] (D)")
    refused = tabs_module.delete_network(editor, project.network("Discriminator"))
    assert "Unit D_real in TrainD" in refused
    assert tabs_module.delete_network(editor, twin) is None
    assert "TrainG_2" not in tab_texts(window)

    for _ in range(4):  # delete, duplicate, rename, add: each one step
        editor.undo_stack.undo()
    assert tab_texts(window) == ["Generator", "Discriminator", "TrainD", "TrainG", "Generate",
                                 "+"]
    assert project.training.executors[0].network == "Generate"
    assert all(n.props["Network"] == "Generator" for net in project.networks for n in net.nodes
               if n.type == "Unit" and n.name == "G")


def test_double_clicking_a_unit_opens_its_network(qtbot, window):
    assert window.files.open_path(PROJECTS / "digits_vgg_units.nnd")
    assert window.editor.network.name == "Main"
    block = window.project.network("Main").find("Block2")
    window.canvas.graph.node_double_clicked.emit(window.canvas.items[block.id])
    assert window.editor.network.name == "ConvBlock"
    assert window.network_tabs.tabText(window.network_tabs.currentIndex()) == "ConvBlock"
    assert len(window.canvas.items) == 7


def test_a_repeat_block_is_framed_around_the_layers_it_repeats(qtbot, window):
    assert window.files.open_path(PROJECTS / "digits_repeat_resnet.nnd")
    net = window.project.network()
    (start, frame), = window.frames.items.items()
    assert net.node(start).name == "RepeatStart"
    area = frame.sceneBoundingRect()
    inside = {n.name for n in net.nodes
              if area.contains(window.canvas.items[n.id].view.sceneBoundingRect())}
    assert inside == {"RepeatStart", "Convolution_2", "BatchNormalization_2", "ReLU_2",
                      "Convolution_3", "BatchNormalization_3", "Add2", "ReLU_3", "RepeatEnd"}
    assert frame.childItems()[0].text() == "×3"
    window.editor.remove([net.find("RepeatEnd").id])  # no end: no block, no frame
    assert window.frames.items == {}
    window.editor.undo_stack.undo()
    assert len(window.frames.items) == 1


def test_make_unit_moves_the_selection_into_a_network_of_its_own(qtbot, window,
                                                                  dialog_answers):
    project = load(PROJECTS / "digits_lenet.nnd")
    before = analyze(project.network(), project=project)
    assert window.files.open_path(PROJECTS / "digits_lenet.nnd")
    net = window.editor.network
    names = ["Convolution", "ReLU", "MaxPooling"]
    window.canvas.select([net.find(n).id for n in names])
    window.make_unit_action.trigger()
    assert dialog_answers.infos == []
    assert [n.name for n in window.project.networks] == ["Main", "Unit"]
    unit = window.project.network("Unit")
    assert [n.name for n in unit.nodes] == ["Input"] + names
    assert unit.find("Input").props["Size"] == [1, 28, 28]
    assert not {n.name for n in net.nodes} & set(names)
    drawn = [n for n in net.nodes if n.type == "Unit"]
    assert len(drawn) == 1 and drawn[0].props["ParameterScope"] == ""
    after = analyze(net, project=window.project)  # the same network, weights named alike
    assert after.ok and (after.total_params, after.total_macs) == (before.total_params,
                                                                   before.total_macs)
    assert compile_network(net, project=window.project).tensors().keys() == \
        compile_network(project.network(), project=project).tensors().keys()
    window.editor.undo_stack.undo()  # one step
    assert [n.name for n in window.project.networks] == ["Main"]
    assert {n.name for n in window.editor.network.nodes} >= set(names)

    window.canvas.select([net.find("Convolution").id, net.find("Affine").id])
    window.make_unit_action.trigger()
    assert "a unit has one input, but 2 links enter the selection" in dialog_answers.infos[0][1]


def test_properties_of_unit_networks_edit_as_text(qtbot, window):
    """A property holding an expression (*Maps) edits as text; a Unit's Arguments show as
    typed and list what its network takes."""
    assert window.files.open_path(PROJECTS / "digits_vgg_units.nnd")
    main = window.editor.network
    window.canvas.select([main.find("Block2").id])
    arguments = window.properties.editors["Arguments"]
    assert arguments.text() == "Maps=16" and arguments.placeholderText() == "Maps=8 (PInt)"
    arguments.setText("Maps=4")
    arguments.editingFinished.emit()
    assert main.find("Block2").props["Arguments"] == {"Maps": "4"}
    assert window.analysis.nodes[main.find("Block2").id].shape == (4, 2, 2)

    window.editor.show_network("ConvBlock")
    block = window.editor.network
    window.canvas.select([block.find("Convolution").id])
    maps = window.properties.editors["OutMaps"]
    assert maps.text() == "*Maps"
    maps.setText("Maps*2")
    maps.editingFinished.emit()
    assert block.find("Convolution").props["OutMaps"] == "Maps*2"
    assert window.analysis.nodes[block.find("Convolution").id].shape == (16, 8, 8)


def test_the_config_workspace_lists_optimizers_monitors_and_executors(qtbot, window):
    from designer.ui.workspaces import CONFIG

    assert window.files.open_path(PROJECTS / "digits_gan.nnd")
    window.show_workspace(CONFIG)
    config = window.config_workspace
    boxes = config.entry_boxes
    assert sorted(boxes) == [("executors", 0, "dataset"), ("executors", 0, "network"),
                             ("optimizers", 0, "dataset"), ("optimizers", 0, "network"),
                             ("optimizers", 1, "dataset"), ("optimizers", 1, "network")]
    assert boxes[("optimizers", 1, "network")].currentText() == "TrainG"
    assert boxes[("executors", 0, "network")].currentText() == "Generate"
    executor = boxes[("executors", 0, "network")]
    executor.setCurrentIndex(executor.findText("Generator"))
    executor.activated.emit(executor.currentIndex())
    assert window.project.training.executors[0].network == "Generator"
    assert config.entry_boxes[("executors", 0, "network")].currentText() == "Generator"
    window.undo_action.trigger()
    assert window.project.training.executors[0].network == "Generate"
    assert config.entry_boxes[("executors", 0, "network")].currentText() == "Generate"
