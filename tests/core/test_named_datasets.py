"""Named datasets in a project, and ``--dataset NAME=SOURCE`` on train and evaluate."""
import json
import shutil

import pytest

from designer.core import runs
from designer.core.cli import main
from designer.core.project import Dataset, ProjectError, load, loads
from tests.conftest import PROJECTS


def test_a_project_keeps_datasets_under_names_of_its_own(tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.datasets["test"] = Dataset("data/test.csv", shuffle=False)
    project.datasets["hold-out_2"] = Dataset("embedded:iris")
    project.save(tmp_path / "p.nnd")
    again = load(tmp_path / "p.nnd")
    assert list(again.datasets) == ["training", "test", "hold-out_2"]
    assert again.datasets["test"] == Dataset("data/test.csv", shuffle=False)

    doc = json.loads(project.to_json())
    doc["datasets"]["my set"] = {"source": "x.csv"}
    with pytest.raises(ProjectError, match=r"<project>: datasets\.my set: a dataset name is "
                                           "letters, digits, _ and -"):
        loads(json.dumps(doc))


def iris_copy(tmp_path):
    shutil.copy(PROJECTS / "iris_mlp.nnd", tmp_path / "iris.nnd")
    return tmp_path / "iris.nnd"


def test_training_reads_only_training_and_validation(tmp_path, capsys):
    path = iris_copy(tmp_path)
    project = load(path)
    project.datasets["test"] = Dataset("no/such/file.csv")
    project.save()
    assert main(["train", str(path), "--epochs", "1"]) == 0


def test_train_and_evaluate_take_other_data_from_the_command_line(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = iris_copy(tmp_path)
    assert main(["dataset", "iris", "-o", "mine"]) == 0
    capsys.readouterr()
    assert main(["train", "iris.nnd", "--epochs", "30", "--dataset", "training=mine/index.csv",
                 "--out", "run"]) == 0
    assert "120 training and 30 validation samples" in capsys.readouterr().out
    trained = load(runs.project_path(tmp_path / "run"))
    assert trained.datasets["training"].source == str(tmp_path / "mine" / "index.csv")
    assert load(path).datasets["training"].source == "embedded:iris"  # the file is unchanged

    assert main(["evaluate", "iris.nnd", "--run", "run", "--dataset",
                 "validation=embedded:iris"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("150 samples of embedded:iris")

    assert main(["train", "iris.nnd", "--dataset", "training"]) == 2
    assert "--dataset 'training': write NAME=SOURCE" in capsys.readouterr().err
    assert main(["evaluate", "iris.nnd", "--run", "run", "--dataset", "validation=none.csv"]) == 2
    assert "none.csv: dataset file not found" in capsys.readouterr().err
