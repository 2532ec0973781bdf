"""The network checked against its data: each mismatch is a named problem, with a fix where one
edit obviously resolves it, and applying the fix leaves nothing to complain about."""
import pytest

from designer.core.analysis import Fix, analyze
from designer.core.data_checks import check_network, check_project
from designer.core.preview import dataset_variables
from designer.core.project import Dataset, Network, Project
from designer.core.templates import new_project


def iris_project(**changes) -> Project:
    project = new_project("tabular-classification", {"training": Dataset("embedded:iris")})
    for name, props in changes.items():
        project.network().find(name).props.update(props)
    return project


def apply(project: Project, fix: Fix) -> None:
    project.network().node(fix.node_id).props[fix.prop] = fix.value


def test_an_input_that_does_not_fit_names_both_shapes_and_the_fix():
    project = iris_project(Input={"Size": [13]})
    [problem] = check_project(project)
    assert str(problem) == "Input: Size is 13 but dataset variable 'x' holds 4 per sample"
    assert problem.node_id == project.network().find("Input").id
    assert problem.fix == Fix(problem.node_id, "Input", "Size", [4])
    assert str(problem.fix) == "set Input Size to 4"
    apply(project, problem.fix)
    assert check_project(project) == []


def test_more_classes_than_outputs_offers_to_widen_the_last_affine():
    project = iris_project(Affine_3={"OutShape": [2]})
    [problem] = check_project(project)
    assert str(problem) == ("SoftmaxCrossEntropy: target variable 'y' of embedded:iris holds "
                            "class numbers up to 2 (3 classes) but Affine_3 scores 2 classes")
    assert str(problem.fix) == "set Affine_3 OutShape to 3"
    apply(project, problem.fix)
    assert check_project(project) == []


def test_a_regression_output_of_the_wrong_size_offers_the_target_size():
    project = new_project("regression", {"training": Dataset("embedded:iris")})
    project.network().find("Input").props["Size"] = [4]
    project.network().find("Affine_3").props["OutShape"] = [3]
    [problem] = check_project(project)
    assert str(problem) == ("SquaredError: expects values of shape 3 as target, but dataset "
                            "variable 'y' holds 1 per sample")
    assert str(problem.fix) == "set Affine_3 OutShape to 1"


def binary_network() -> Network:
    net = Network()
    inp = net.add("Input", Size=[4])
    out = net.add("Affine", OutShape=[1])
    loss = net.add("SigmoidCrossEntropy")
    net.connect(inp, out)
    net.connect(out, loss)
    return net


def test_threshold_losses_need_targets_from_0_to_1():
    iris = dataset_variables("embedded:iris")
    [problem] = check_network(binary_network(), iris, "embedded:iris")
    assert str(problem) == (
        "SigmoidCrossEntropy: target variable 'y' of embedded:iris holds values from 0 to 2; "
        "SigmoidCrossEntropy needs targets from 0 to 1 (two classes); for more classes use "
        "SoftmaxCrossEntropy with one output per class")
    assert problem.fix is None
    two = dataset_variables("embedded:xor")
    net = binary_network()
    net.find("Input").props["Size"] = [2]
    assert check_network(net, two) == []


def test_class_targets_must_be_whole_and_not_negative(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x__0,x__1,x__2,x__3,y\n1,2,3,4,0.5\n1,2,3,4,1\n")
    project = iris_project()
    project.datasets["training"] = Dataset(str(path))
    assert "holds values that are not whole numbers (0.5 to 1); SoftmaxCrossEntropy needs " \
           "class numbers 0 to 2" in str(check_project(project)[0])
    path.write_text("x__0,x__1,x__2,x__3,y\n1,2,3,4,-1\n1,2,3,4,1\n")
    assert "holds -1; class numbers start at 0" in str(check_project(project)[0])


def test_a_variable_that_only_needs_rearranging_is_no_problem(tmp_path):
    (tmp_path / "s.csv").write_text("1,2\n3,4\n")
    (tmp_path / "d.csv").write_text("x,y\ns.csv,1\ns.csv,0\n")
    project = iris_project()
    project.datasets["training"] = Dataset(str(tmp_path / "d.csv"))
    assert dataset_variables(str(tmp_path / "d.csv"))["x"].shape == (2, 2)
    assert check_project(project) == []  # 2×2 values feed a Size 4 Input, as training does


@pytest.mark.parametrize("datasets, message", [
    ({}, "the project has no training dataset; choose one"),
    ({"training": Dataset("missing.csv")}, "missing.csv: dataset file not found"),
    ({"training": Dataset("embedded:iris"), "validation": Dataset("embedded:xor")},
     "the training data has variables x (4), y (1) but the validation data (embedded:xor) has "
     "x (2), y (1); they must match"),
])
def test_missing_or_unreadable_data_is_a_problem(tmp_path, datasets, message):
    project = iris_project()
    project.path = tmp_path / "p.nnd"
    project.datasets = datasets
    problems = [str(p) for p in check_project(project)]
    assert len(problems) == 1 and message in problems[0]


def test_a_test_dataset_does_not_take_part(tmp_path):
    project = iris_project()
    project.datasets["test"] = Dataset("does-not-matter.csv")
    assert check_project(project) == []
    assert analyze(project.network(), {"x": (4,), "y": (1,)}).ok
