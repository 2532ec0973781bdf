"""Neural Network Console projects in the window: File → Open takes a .sdcproj (and says so),
shows what was not carried over in one message, refuses a file it cannot open without losing
the open project, and Save As writes a .sdcproj copy."""
import re
from pathlib import Path

from designer.core import nnc
from designer.ui import dialogs

SAMPLES = Path(__file__).resolve().parent.parent / "core" / "nnc_samples"


def test_the_open_and_save_dialogs_offer_nnc_projects():
    assert "*.nnd *.sdcproj" in dialogs.OPEN_FILTER.split(";;")[0]
    assert dialogs.NNC_FILTER in dialogs.OPEN_FILTER.split(";;")
    assert dialogs.NNC_FILTER in dialogs.SAVE_FILTER.split(";;")


def test_opening_an_nnc_project_shows_it_and_says_what_is_missing(qtbot, window,
                                                                  dialog_answers):
    lenet = SAMPLES / "image_recognition_MNIST_LeNet.sdcproj"
    assert window.files.open_path(lenet), dialog_answers.errors
    net = window.editor.network
    assert len(net.nodes) == 12 and len(net.links) == 11
    assert set(window.canvas.items) == {n.id for n in net.nodes}
    assert window.problems.problem_texts() == []
    assert window.project.path is None and window.isWindowModified()  # not saved as ours yet
    title, text = dialog_answers.infos[-1]
    assert title == "Opened Neural Network Console project"
    assert "Dataset not found: Training ({SDCPATH}samples\\sample_dataset\\mnist\\" in text
    assert window.totals.text().startswith("12 layers  ·  78,810 parameters")  # NNC's total


def test_a_file_that_cannot_be_opened_leaves_the_project_alone(qtbot, window, dialog_answers,
                                                              tmp_path):
    before = window.project.to_dict()
    # the residual tutorial with its repeat block made a unit, which this app cannot read yet
    residual = (SAMPLES / "tutorial_basics_12_residual_learning.sdcproj").read_bytes()
    unit = tmp_path / "unit.sdcproj"
    unit.write_bytes(re.sub(rb"Type=RepeatStart(\r?\n)", rb"Type=Unit\1", residual, count=1))
    assert not window.files.open_path(unit)
    title, text = dialog_answers.errors[-1]
    assert title == "Cannot open Neural Network Console project"
    assert "Unit `RepeatStart` (units (networks used as layers))" in text
    assert window.project.to_dict() == before


def test_save_as_sdcproj_writes_a_copy_that_opens_as_the_same_project(qtbot, window,
                                                                      dialog_answers, tmp_path):
    assert window.files.open_path(SAMPLES / "classification_iris_iris.sdcproj")
    expected = window.project.to_dict()
    dialog_answers.save_answer = tmp_path / "copy.sdcproj"
    assert window.files.save_as()
    assert nnc.import_project(tmp_path / "copy.sdcproj").project.to_dict() == {
        **expected, "name": "copy"}
    assert window.project.path is None and window.isWindowModified()  # still unsaved as ours
