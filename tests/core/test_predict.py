"""Trying the model on one raw sample: converted as training saw its data, scored with the
run's weights, and bad samples explained."""
import json

import numpy as np
import pytest
from PIL import Image

from designer.core import cli
from designer.core.dataset_create import create_from_table
from designer.core.predict import PredictError, Predictor
from designer.core.project import Dataset, load
from designer.core.templates import new_project
from designer.core.trainer import train

from tests.conftest import PROJECTS


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.epochs = 30
    result = train(project, run_dir=tmp_path_factory.mktemp("runs") / "iris")
    assert result.status == "done", result.message
    return result.run_dir


def test_typed_numbers_get_the_class_and_its_probability(iris_run):
    predictor = Predictor(iris_run)
    assert predictor.wanted.startswith("4 numbers: sepal length (cm)")
    result = predictor.predict("5.1, 3.5, 1.4, 0.2")  # the first setosa of the set
    assert result.chosen == "setosa"
    names = [name for name, _ in result.probabilities]
    assert sorted(names) == ["setosa", "versicolor", "virginica"]
    assert sum(p for _, p in result.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert result.probabilities[0][0] == "setosa" and result.probabilities[0][1] > 0.6
    assert predictor.predict([6.7, 3.0, 5.2, 2.3]).chosen == "virginica"


def test_the_command_tries_samples_as_the_window_does(iris_run, capsys):
    assert cli.main(["predict", str(iris_run), "5.1,3.5,1.4,0.2", "6.7 3.0 5.2 2.3",
                     "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["sample"], d["chosen"]) for d in lines] == [("5.1,3.5,1.4,0.2", "setosa"),
                                                           ("6.7 3.0 5.2 2.3", "virginica")]
    assert cli.main(["predict", str(iris_run), "5.1,3.5,1.4,0.2"]) == 0
    assert capsys.readouterr().out.startswith("5.1,3.5,1.4,0.2: setosa  (setosa ")
    assert cli.main(["predict", str(iris_run), "5.1,3.5"]) == 2
    assert "x takes 4 numbers" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("5.1 3.5 1.4", "x takes 4 numbers: sepal length (cm), sepal width (cm), petal length "
                    "(cm), petal width (cm); got 3"),
    ("5.1, wide, 1.4, 0.2", "value 2, 'wide', is not a number"),
    ("", "type the sample's numbers"),
    ("leaf.png", "x takes 4 numbers"),
])
def test_a_bad_sample_is_explained(iris_run, text, message):
    with pytest.raises(PredictError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Predictor(iris_run).predict(text)


def test_a_standardised_table_is_standardised_as_in_training(tmp_path):
    rng = np.random.default_rng(0)
    income = rng.uniform(1000, 9000, 200)
    rate = rng.uniform(0, 1, 200)
    risk = np.where(income * rate > 2500, "high", "low")
    lines = ["income,rate,risk"] + [f"{i:.1f},{r:.4f},{k}" for i, r, k in zip(income, rate, risk)]
    (tmp_path / "loans.csv").write_text("\n".join(lines) + "\n")
    created = create_from_table(tmp_path / "loans.csv", tmp_path / "data", target="risk")
    project = new_project("tabular-classification",
                          {"training": Dataset(str(created.train)),
                           "validation": Dataset(str(created.validation))})
    project.training.epochs = 60
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "done", result.message
    predictor = Predictor(result.run_dir)
    assert predictor.class_names == ["high", "low"]
    high = predictor.predict("8000, 0.9")
    assert high.conversion.startswith("standardised per feature: (income - ")
    assert high.network_input.max() < 5  # standardised, not 8000
    assert high.chosen == "high" and predictor.predict("1500, 0.1").chosen == "low"


def test_an_image_of_any_size_is_fitted_and_scaled_like_the_digits(tmp_path):
    project = new_project("image-classification", {"training": Dataset("embedded:digits")})
    project.training.epochs = 1
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "done", result.message
    predictor = Predictor(result.run_dir)
    picture = np.zeros((40, 20), np.uint8)
    picture[5:35, 4:16] = 255  # a tall bar, twice as high as wide
    Image.fromarray(picture).save(tmp_path / "one.png")
    tried = predictor.predict(str(tmp_path / "one.png"))
    assert tried.network_input.shape == (1, 8, 8)
    assert 0.9 < tried.network_input.max() <= 1.0  # embedded digits are 0..1
    assert "pixel values divided by 255" in tried.conversion
    assert len(tried.probabilities) == 10
    with pytest.raises(PredictError, match="missing.png: file not found"):
        predictor.predict(str(tmp_path / "missing.png"))
    with pytest.raises(PredictError, match="x takes an image"):
        predictor.predict("1, 2, 3")
