"""New projects from templates: each trains as written on data that fits it, and a template
started with a dataset takes its sizes from the data (created images and tables included)."""
import json

import numpy as np
import pytest

from designer.core.cli import main
from designer.core.data_checks import check_project
from designer.core.dataset_create import create_from_images, create_from_table
from designer.core.evaluation import evaluate
from designer.core.project import Dataset, load
from designer.core.templates import TEMPLATES, TemplateError, new_project
from designer.core.trainer import train
from tests.core.test_dataset_create import image_folder


def trained(project, run_dir, epochs=None, batch_size=None):
    if epochs:
        project.training.epochs = epochs
    if batch_size:
        project.training.batch_size = batch_size
    events = []
    result = train(project, run_dir, on_event=events.append)
    assert result.status == "done", result.message
    losses = [e["train_loss"] for e in events if e["event"] == "epoch"]
    return result, losses


@pytest.mark.parametrize("template, source, epochs, best_error", [
    ("image-classification", "embedded:digits", 3, 0.3),  # 1 - accuracy
    ("tabular-classification", "embedded:iris", 30, 0.1),
    ("regression", "embedded:sine", 10, 0.01),  # squared error; the target's variance is 0.30
    ("sequence", "embedded:sine", 3, 0.01),
    ("autoencoder", "embedded:digits", 5, 0.06),
])
def test_each_template_trains_on_data_that_fits_it(tmp_path, template, source, epochs,
                                                   best_error):
    project = new_project(template, {"training": Dataset(source)})
    assert check_project(project) == []
    result, losses = trained(project, tmp_path / "run", epochs)
    assert losses[-1] < losses[0] / 2
    assert result.best_val_error < best_error


def test_without_data_a_template_is_sized_for_its_sample_set():
    for name, template in TEMPLATES.items():
        project = new_project(name)
        assert project.datasets == {}
        if template.sample:
            project.datasets["training"] = Dataset(template.sample)
            assert check_project(project) == [], name
    empty = new_project("empty")
    assert empty.network().nodes == []
    assert [str(p) for p in check_project(empty)][-1].startswith(
        "the project has no training dataset")


def test_templates_say_when_the_data_does_not_suit_them():
    with pytest.raises(TemplateError, match=r"image-classification needs images \(channels×"
                                            r"height×width\); variable 'x' holds 4 values per "
                                            "sample; use tabular-classification"):
        new_project("image-classification", {"training": Dataset("embedded:iris")})
    with pytest.raises(TemplateError, match="does not hold class numbers; use the regression"):
        new_project("tabular-classification", {"training": Dataset("embedded:sine")})
    with pytest.raises(TemplateError, match="no template named 'mlp'; the templates are empty"):
        new_project("mlp")


def test_a_dataset_made_from_image_folders_trains_the_image_template(tmp_path):
    source = image_folder(tmp_path / "pictures", per_class=24)
    created = create_from_images(source, tmp_path / "data", size=(16, 16), gray=True, split=75)
    project = new_project("image-classification",
                          {"training": Dataset(str(created.train)),
                           "validation": Dataset(str(created.validation))})
    assert project.network().find("Input").props["Size"] == [1, 16, 16]
    assert project.network().find("Affine_2").props["OutShape"] == [3]
    assert project.datasets["training"].normalize  # stored 0..255, seen 0..1
    result, _ = trained(project, tmp_path / "run", epochs=15, batch_size=16)
    assert 1 - result.best_val_error >= 0.9  # 18 validation pictures of 3 classes
    report = evaluate(project, result.run_dir)
    assert report.class_names == ["across", "down", "square"]


def spread_table(path, rows=400):
    """Income in the thousands beside a rate below 1; the class depends on both."""
    rng = np.random.default_rng(0)
    income, rate = rng.normal(5000, 2000, rows), rng.uniform(0, 1, rows)
    risk = np.where((income - 5000) / 2000 + 3 * (rate - 0.5) > 0, "high", "low")
    path.write_text("income,rate,risk\n" + "".join(
        f"{a:.2f},{b:.4f},{c}\n" for a, b, c in zip(income, rate, risk)))
    return path


def test_standardisation_lets_columns_of_very_different_ranges_train(tmp_path):
    table = spread_table(tmp_path / "loans.csv")
    accuracy = {}
    for standardize in (True, False):
        created = create_from_table(table, tmp_path / f"data{standardize}", target="risk",
                                    standardize=standardize)
        project = new_project("tabular-classification",
                              {"training": Dataset(str(created.train)),
                               "validation": Dataset(str(created.validation))})
        result, _ = trained(project, tmp_path / f"run{standardize}", epochs=20)
        accuracy[standardize] = 1 - result.best_val_error
    # seen here: 100 % with standardisation, 51 % (a guess between two classes) without
    assert accuracy[True] >= 0.95
    assert accuracy[False] < 0.9


def test_the_export_notes_say_how_raw_rows_become_inputs(tmp_path):
    from designer.core import export

    table = spread_table(tmp_path / "loans.csv", rows=60)
    created = create_from_table(table, tmp_path / "data", target="risk")
    project = new_project("tabular-classification", {"training": Dataset(str(created.train))})
    notes = export.preprocessing(export.load_model(project))
    step = created.preprocessing["x"]
    raw = notes["inputs"][0]["raw_input"]
    assert raw["standardize"] == {"columns": ["income", "rate"], "mean": list(step.mean),
                                  "std": list(step.std)}
    assert raw["description"].startswith("standardised per feature: (income - ")
    assert notes["outputs"][0]["class_names"] == ["high", "low"]


def test_the_new_command_writes_a_project_sized_from_the_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = spread_table(tmp_path / "loans.csv", rows=60)
    assert main(["dataset", "create", "--table", str(table), "--target", "risk",
                 "-o", "data"]) == 0
    capsys.readouterr()
    (tmp_path / "projects").mkdir()
    assert main(["new", "projects/loans.nnd", "--template", "tabular-classification",
                 "--dataset", "training=data/train.csv",
                 "--dataset", "validation=data/validation.csv"]) == 0
    assert "projects/loans.nnd: 7 layers from the tabular-classification template (Input " \
           "Size 2)" in capsys.readouterr().out
    saved = json.loads((tmp_path / "projects" / "loans.nnd").read_text())
    assert saved["datasets"]["training"]["source"] == "../data/train.csv"  # from the file
    project = load(tmp_path / "projects" / "loans.nnd")
    assert check_project(project) == []

    assert main(["new", "projects/loans.nnd", "--template", "regression"]) == 2
    assert "exists; choose another name or replace it with --force" in capsys.readouterr().err
    assert main(["new", "x.nnd", "--template", "image-classification",
                 "--dataset", "training=embedded:iris"]) == 2
    assert "needs images" in capsys.readouterr().err
    assert not (tmp_path / "x.nnd").exists()
    assert main(["new", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(TEMPLATES)
