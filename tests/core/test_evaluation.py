"""Evaluation of trained runs: metrics that agree with training and with each other."""
import json

import numpy as np
import pytest

from designer.core import cli
from designer.core.evaluation import EvaluationError, confusion_matrix, evaluate, per_class
from designer.core.project import load
from designer.core.trainer import train

from tests.conftest import PROJECTS



def trained(folder, name, epochs):
    project = load(PROJECTS / f"{name}.nnd")
    project.training.epochs = epochs
    result = train(project, run_dir=folder / name)
    assert result.status == "done", result.message
    return result


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("runs"), "iris_mlp", 15)


@pytest.fixture(scope="module")
def sine(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("runs"), "sine_lstm", 2)


def test_classification_metrics_agree_with_training_and_each_other(iris):
    result = evaluate(None, iris.run_dir)
    assert result.task == "classification" and result.classes == 3 and result.samples == 30
    assert 1 - result.accuracy == pytest.approx(iris.best_val_error)
    assert result.targets.shape == result.predictions.shape == result.confidences.shape == (30,)
    assert result.accuracy == pytest.approx((result.targets == result.predictions).mean())
    assert result.confusion.sum() == 30
    assert np.trace(result.confusion) == round(result.accuracy * 30)
    assert [c["support"] for c in result.per_class] == result.confusion.sum(axis=1).tolist()
    assert ((result.confidences > 1 / 3) & (result.confidences <= 1)).all()
    assert result.inputs.shape == (30, 4)
    assert result.class_names == ["setosa", "versicolor", "virginica"]
    assert result.weights == str(iris.run_dir / "best.safetensors")


def test_the_validation_samples_are_the_ones_training_held_out(iris):
    from designer.core.data import embedded, split

    held = split(embedded("iris"), 0.2, seed=0)[1]
    result = evaluate(None, iris.run_dir)
    np.testing.assert_array_equal(result.inputs, held.arrays["x"])
    np.testing.assert_array_equal(result.targets, held.arrays["y"][:, 0])


def test_to_json_keeps_the_confusion_matrix_and_drops_per_sample_arrays(iris):
    result = evaluate(None, iris.run_dir, weights="last")
    data = json.loads(json.dumps(result.to_json()))
    assert data["confusion"] == result.confusion.tolist() and data["accuracy"] == result.accuracy
    assert not {"targets", "predictions", "confidences", "inputs"} & set(data)
    assert data["weights"].endswith("last.safetensors")


def test_other_data_can_be_evaluated(iris):
    result = evaluate(None, iris.run_dir, data="embedded:iris")
    assert result.samples == 150 and result.data == "embedded:iris"


def test_regression_metrics(sine):
    result = evaluate(None, sine.run_dir)
    assert result.task == "regression" and result.classes == 0 and result.confidences is None
    assert result.targets.shape == result.predictions.shape == (200,)
    difference = result.predictions - result.targets
    assert result.mse == pytest.approx(np.mean(difference ** 2))
    assert result.mae == pytest.approx(np.mean(np.abs(difference)))
    assert result.loss == pytest.approx(result.mse, rel=1e-4)  # SquaredError is the mean square
    assert result.loss == pytest.approx(sine.best_val_error, rel=1e-4)
    assert result.confusion.shape == (0, 0) and result.per_class == []


def test_binary_classification_from_one_sigmoid_output(tmp_path):
    result = evaluate(None, trained(tmp_path, "xor_mlp", 5).run_dir)
    assert result.task == "classification" and result.classes == 2
    assert set(np.unique(result.predictions)) <= {0, 1}
    assert (result.confidences >= 0.5).all()


def test_per_class_figures():
    confusion = confusion_matrix(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 1, 1, 0, 0]), 3)
    assert confusion.tolist() == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    stats = per_class(confusion)
    assert stats[1] == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3),
                        "f1": pytest.approx(2 / 3), "support": 3}
    assert stats[2] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


# ---- what users get wrong ------------------------------------------------------------------

def test_weights_that_no_longer_fit_the_network_are_explained(iris):
    project = load(iris.run_dir / "project.nnd")
    project.network().find("Affine").props["OutShape"] = [32]
    with pytest.raises(EvaluationError, match=r"tensor 'Affine.linear.weight' is 16×4 but layer "
                                              r"Affine \(Affine\) needs 32×4; the weights were "
                                              r"saved from a different network"):
        evaluate(project, iris.run_dir)


def test_missing_and_damaged_weights(iris, tmp_path):
    with pytest.raises(EvaluationError, match=r"final.safetensors: no such weights file$"):
        evaluate(None, iris.run_dir, weights=str(tmp_path / "final.safetensors"))
    with pytest.raises(EvaluationError, match=r"no such weights file; weights are best, last or"):
        evaluate(None, iris.run_dir, weights="first")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(EvaluationError, match="bad.safetensors: not a readable safetensors file"):
        evaluate(None, iris.run_dir, weights=str(tmp_path / "bad.safetensors"))
    with pytest.raises(EvaluationError, match="not a run folder"):
        evaluate(None, tmp_path)


def test_a_run_stopped_before_its_first_epoch_points_to_last(tmp_path):
    import threading

    project = load(PROJECTS / "iris_mlp.nnd")
    stop = threading.Event()
    stop.set()
    result = train(project, run_dir=tmp_path / "run", stop=stop)
    assert result.status == "stopped" and result.epochs_done == 0
    with pytest.raises(EvaluationError, match=r"before its first epoch did\); evaluate 'last'"):
        evaluate(None, result.run_dir)
    assert evaluate(None, result.run_dir, weights="last").samples == 30


def test_data_that_does_not_fit_is_reported(iris):
    with pytest.raises(EvaluationError, match=r"embedded:xor does not fit network 'Main': Input: "
                                              r"Size is 4 but dataset variable 'x' holds 2"):
        evaluate(None, iris.run_dir, data="embedded:xor")


def test_the_command(iris, capsys):
    assert cli.main(["evaluate", str(iris.run_dir)]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "virginica" in text and "precision" in text
    assert cli.main(["evaluate", str(iris.run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 30
    assert cli.main(["evaluate", str(iris.run_dir), "--weights", "first"]) == 2
    assert "error: " in capsys.readouterr().err


def test_train_then_evaluate_the_project_by_its_latest_run(tmp_path, capsys):
    project = load(PROJECTS / "iris_mlp.nnd")
    path = project.save(tmp_path / "iris.nnd")
    assert cli.main(["evaluate", str(path)]) == 2
    assert "no finished run to evaluate" in capsys.readouterr().err
    assert cli.main(["train", str(path), "--epochs", "3", "--batch-size", "8",
                     "--seed", "5"]) == 0
    capsys.readouterr()
    (run_dir,) = (tmp_path / "iris.runs").iterdir()
    snapshot = load(run_dir / "project.nnd")
    assert (snapshot.training.epochs, snapshot.training.batch_size,
            snapshot.training.seed) == (3, 8, 5)
    assert cli.main(["evaluate", str(path), "--json"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert cli.main(["evaluate", str(path), "--run", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == latest
    assert latest["samples"] == 30


def test_the_command_evaluates_on_a_dataset_of_the_project_by_its_name(tmp_path, capsys):
    # as the Evaluation workspace offers the project's datasets (a test set, say)
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.epochs = 2
    path = project.save(tmp_path / "iris.nnd")
    assert cli.main(["train", str(path)]) == 0
    text = path.read_text()
    data = json.loads(text)
    data["datasets"]["test"] = {**data["datasets"]["training"], "source": "embedded:iris"}
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert cli.main(["evaluate", str(path), "--data", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["samples"], result["data"]) == (150, "embedded:iris")
    assert cli.main(["evaluate", str(path), "--data", "tset"]) == 2
    assert "tset" in capsys.readouterr().err
