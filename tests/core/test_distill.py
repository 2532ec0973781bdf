"""Distillation: a student trained against a teacher run's soft targets, mixed with the true
labels; the teacher's knowledge reaches the student, and a teacher that cannot teach this
student is refused by name."""
import json

import numpy as np
import pytest

from designer.core import runs
from designer.core.compress.methods import distill_run
from designer.core.compress.result import CompressError
from designer.core.data import embedded, split, write_csv
from designer.core.project import Dataset, Project, load
from designer.core.trainer import train


def student(folder, name="student", hidden=32, classes=10, **training) -> Project:
    """A small MLP on 1×28×28 digits: 25 thousand parameters and multiply-adds, LeNet's
    44 thousand and 291 thousand."""
    project = Project(name=name)
    net = project.networks[0]
    chain = [net.add("Input", Size=[1, 28, 28], Dataset="x"),
             net.add("Affine", OutShape=[hidden]), net.add("ReLU"),
             net.add("Affine", OutShape=[classes]), net.add("SoftmaxCrossEntropy")]
    for a, b in zip(chain, chain[1:]):
        net.connect(a, b)
    project.training.epochs = 20
    project.training.batch_size = 32
    project.training.optimizer = {"type": "Adam", "lr": 0.002}
    for key, value in training.items():
        setattr(project.training, key, value)
    project.path = folder / f"{name}.nnd"
    return project


@pytest.fixture(scope="module")
def digit_sets(lenet_run, tmp_path_factory):
    """The teacher's training share of the digits with all but five 3s left out, and the
    validation share the teacher never saw, as dataset files."""
    folder = tmp_path_factory.mktemp("digits")
    project, _ = lenet_run
    train_share, val_share = split(embedded("digits28"), project.training.validation_split,
                                   project.training.seed)
    y = train_share.arrays["y"].ravel()
    threes = np.flatnonzero(y == 3)
    rows = np.sort(np.concatenate([np.flatnonzero(y != 3), threes[:5]]))
    write_csv(train_share.subset(rows), folder / "few_threes")
    write_csv(val_share, folder / "validation")
    return {name: Dataset(str(folder / name / "index.csv"), normalize=True)
            for name in ("few_threes", "validation")}


@pytest.mark.slow
def test_a_small_mlp_learns_more_from_a_lenet_teacher_than_from_the_labels_alone(
        lenet_run, digit_sets, tmp_path):
    """Hinton et al.'s demonstration: the student's data holds five 3s, the teacher knew
    many; its soft targets on the other digits carry what a 3 looks like. Same MLP, same 20
    epochs, same seed, same validation data."""
    project, teacher_run = lenet_run
    alone = student(tmp_path, name="alone")
    alone.datasets = {"training": digit_sets["few_threes"],
                      "validation": digit_sets["validation"]}
    alone.save()
    by_itself = train(alone, tmp_path / "alone-run")
    assert by_itself.status == "done", by_itself.message
    taught = student(tmp_path)
    taught.datasets = dict(alone.datasets)
    taught.save()
    result = distill_run(project, teacher_run, taught.path, tmp_path / "taught-run",
                         temperature=4.0, alpha=0.9)
    accuracy_alone = 1 - by_itself.best_val_error
    print(f"MLP (32 hidden units), 20 epochs, seed 0: alone {accuracy_alone:.2%}, distilled "
          f"from digits_lenet ({result.before.accuracy:.2%}) {result.after.accuracy:.2%}")
    assert result.after.accuracy > accuracy_alone + 0.005
    assert result.after.params < result.before.params and result.after.macs < result.before.macs
    lines = runs.events_path(result.output).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines][:2] == ["started", "distill"]
    trained = load(runs.project_path(result.output))
    assert trained.training.distill == {"teacher": str(teacher_run.resolve()), "weights": "best",
                                        "temperature": 4.0, "alpha": 0.9}
    assert runs.compressions(teacher_run)[-1]["method"] == "distill"


def test_a_teacher_that_cannot_teach_the_student_is_refused(lenet_run, tmp_path):
    project, teacher_run = lenet_run
    five = student(tmp_path, name="twelve", classes=12)
    five.datasets = {"training": Dataset("embedded:digits28")}
    five.save()
    with pytest.raises(CompressError, match=r"the teacher \(run\) scores 10 classes with "
                                            r"Affine_3 but the student scores 12 with Affine_2"):
        distill_run(project, teacher_run, five.path, tmp_path / "r1")
    regression = student(tmp_path, name="values")
    net = regression.network()
    loss = net.find("SoftmaxCrossEntropy")
    loss.type, loss.props = "SquaredError", {"T.Dataset": "y"}
    net.find("Affine_2").props["OutShape"] = [1]
    regression.datasets = {"training": Dataset("embedded:digits28")}
    regression.save()
    with pytest.raises(CompressError, match=r"the student's SoftmaxCrossEntropy \(SquaredError\) "
                                            "does not score classes"):
        distill_run(project, teacher_run, regression.path, tmp_path / "r2")
    with pytest.raises(CompressError, match="--epochs must be at least 1"):
        distill_run(project, teacher_run, five.path, tmp_path / "r3", epochs=0)
