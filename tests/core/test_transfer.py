"""Starting from a run's weights: which layers take them, which are left and why, frozen layers
that keep them bit for bit, and the typical flow of fine-tuning on new classes."""
import json
import shutil
import threading

import numpy as np
import pytest
import torch

from designer.core import cli, runs, transfer
from designer.core.data import embedded, write_csv
from designer.core.nnc.writer import write_text
from designer.core.project import Dataset, ProjectError, load, loads, rebase_datasets
from designer.core.session import prepare
from designer.core.trainer import train

from tests.conftest import PROJECTS
from tests.core.test_trainer import events_of, mlp


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A trained iris MLP (Affine 16 → ReLU → Affine_2 3 classes)."""
    folder = tmp_path_factory.mktemp("origin")
    project = mlp(folder, epochs=3)
    result = train(project, folder / "run")
    assert result.status == "done", result.message
    return project, result.run_dir


def new_head(folder, classes=3, **training):
    """The iris MLP again, its last Affine scoring ``classes`` classes."""
    return mlp(folder, name="next", classes=classes, **training)


def test_layers_that_fit_take_the_run_s_weights_and_the_report_says_why_others_do_not(
        iris_run, tmp_path):
    _, run = iris_run
    project = new_head(tmp_path, classes=5)  # Affine fits; Affine_2 now scores 5 classes
    project.training.init = {"run": str(run), "weights": "best"}
    seen = []
    result = train(project, tmp_path / "tuned", on_event=seen.append)
    assert result.status == "done", result.message
    init = next(e for e in seen if e["event"] == "init")
    assert init["taken"] == ["Affine"]
    assert init["left"] == [{"layer": "Affine_2",
                             "reason": "W is 5×16 here but 3×16 in the run"}]
    assert init["unused"] == []
    assert [e["event"] for e in events_of(result.run_dir)][:2] == ["started", "init"]
    # the window's check, without allocating the weights, says the same
    report = transfer.check(project.network(), run)
    assert report.taken == ["Affine"] and [x.layer for x in report.left] == ["Affine_2"]
    # taken: the run's values; left: the seed's initial values, as without a run
    origin = runs.load_weights(runs.weights_path(run, "best"))
    started = prepare(project, for_training=True).compiled.layers.state_dict()
    initial = prepare(project).compiled.layers.state_dict()
    assert torch.equal(started["Affine.linear.weight"], origin["Affine.linear.weight"])
    assert torch.equal(started["Affine.linear.bias"], origin["Affine.linear.bias"])
    assert torch.equal(started["Affine_2.linear.weight"], initial["Affine_2.linear.weight"])
    assert not torch.equal(initial["Affine.linear.weight"], origin["Affine.linear.weight"])


def test_frozen_layers_taken_from_a_run_keep_its_weights_bit_for_bit(iris_run, tmp_path):
    _, run = iris_run
    project = new_head(tmp_path, epochs=2)
    first = project.network().find("Affine")
    first.props["W.LRateMultiplier"] = 0.0
    first.props["b.LRateMultiplier"] = 0.0
    project.training.init = {"run": str(run), "weights": "last"}
    result = train(project, tmp_path / "tuned")
    assert result.status == "done", result.message
    before = runs.load_weights(runs.weights_path(run, "last"))
    after = runs.load_weights(runs.weights_path(result.run_dir, "last"))
    for key in ("Affine.linear.weight", "Affine.linear.bias"):
        assert torch.equal(before[key], after[key])
    assert not torch.equal(before["Affine_2.linear.weight"], after["Affine_2.linear.weight"])


def test_a_run_of_another_network_is_refused_with_what_differs(iris_run, tmp_path):
    _, run = iris_run
    project = load(PROJECTS / "digits_lenet.nnd")
    project.training.init = {"run": str(run), "weights": "best"}
    result = train(project, tmp_path / "other")
    assert result.status == "failed" and result.bad_input
    assert result.message.startswith(f"training.init: {run}: no layer of network 'Main' "
                                     "matches a layer of the run")
    assert "Convolution: the run has no layer of this name" in result.message
    assert "Affine: W is 120×256 here but 16×4 in the run" in result.message
    assert not (tmp_path / "other" / "best.safetensors").exists()


def test_missing_runs_and_weights_are_named(iris_run, tmp_path):
    _, run = iris_run
    project = new_head(tmp_path)
    for setting, expected in (
            ({"run": str(tmp_path / "nowhere")}, "run folder not found"),
            ({"run": str(tmp_path)}, "not a run folder (it has no project.nnd)")):
        project.training.init = {"weights": "best", **setting}
        result = train(project, tmp_path / f"r{len(expected)}")
        assert result.status == "failed" and result.bad_input and expected in result.message
    empty = tmp_path / "empty_run"
    empty.mkdir()
    runs.snapshot(project, empty)
    with pytest.raises(transfer.InitError, match="best.safetensors: weights file not found; "
                                                 "the run saved no weights"):
        transfer.check(project.network(), empty)


def test_the_setting_is_optional_checked_and_kept_with_the_project(iris_run, tmp_path):
    _, run = iris_run
    project = new_head(tmp_path)
    assert "init" not in json.loads(project.to_json())["training"]  # files stay as they were
    project.training.init = {"run": "origin/run", "weights": "last"}
    again = loads(project.to_json())
    assert again.training.init == {"run": "origin/run", "weights": "last"}
    text = project.to_json()
    for bad, message in (
            ('"weights": "last"', '"weights": "middle"', ),
            ('"run": "origin/run"', '"run": 3'),
            ('"run": "origin/run"', '"run": "origin/run", "seed": 1')):
        with pytest.raises(ProjectError) as error:
            loads(text.replace(bad, message))
        assert "training.init" in str(error.value)
    # the run snapshot names it absolutely; moving the project keeps it pointing at the run
    project.training.init = {"run": "run", "weights": "best"}
    project.path = run.parent / "next.nnd"
    snap = tmp_path / "snap"
    snap.mkdir()
    assert load(runs.snapshot(project, snap)).training.init["run"] == str(run.resolve())
    rebase_datasets(project, tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / project.training.init["run"]).resolve() == run.resolve()


def test_train_init_on_the_command_line_prints_the_report(iris_run, tmp_path, capsys):
    _, run = iris_run
    project = new_head(tmp_path, classes=5)
    code = cli.main(["train", str(project.path), "--init", str(run), "--init-weights", "last",
                     "--out", str(tmp_path / "cli")])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2:5] == [f"starting from the last weights of run {run.name}: 1 layer taken "
                        "(Affine)", "left at their initialisation: 1 layer",
                        "  Affine_2: W is 5×16 here but 3×16 in the run"]
    trained = load(runs.project_path(tmp_path / "cli"))
    assert trained.training.init == {"run": str(run.resolve()), "weights": "last"}



def test_a_resumed_run_goes_on_from_its_checkpoint_not_from_the_run_it_started_from(
        iris_run, tmp_path, capsys):
    _, run = iris_run
    origin = tmp_path / "origin"
    shutil.copytree(run, origin)
    project = new_head(tmp_path, epochs=4)
    project.training.init = {"run": str(origin), "weights": "best"}
    stop = threading.Event()
    first = train(project, tmp_path / "r", stop=stop,
                  on_event=lambda e: e["event"] == "epoch" and stop.set())
    assert first.status == "stopped", first.message
    shutil.rmtree(origin)  # its weights are in the checkpoint now
    seen = []
    resumed = train(load(runs.project_path(tmp_path / "r")), tmp_path / "r", resume=True,
                    on_event=seen.append)
    assert resumed.status == "done", resumed.message
    assert "init" not in [e["event"] for e in seen]
    assert cli.main(["train", "--resume", str(tmp_path / "r"), "--init", str(run)]) == 2
    assert "--init: a resumed run keeps its settings" in capsys.readouterr().err


def test_saving_for_nnc_says_the_run_to_start_from_is_not_carried_over(iris_run, tmp_path):
    _, run = iris_run
    project = new_head(tmp_path)
    project.training.init = {"run": str(run), "weights": "best"}
    project.training.distill = {"teacher": str(run), "weights": "best", "temperature": 4.0,
                                "alpha": 0.9}
    _, notes = write_text(project)
    assert f"training.init (start from the best weights of run {run}) not carried over (an NNC " \
           "project has no such setting)" in notes
    assert f"training.distill (learn from teacher run {run}) not carried over (an NNC project " \
           "has no such setting)" in notes

# ---- the typical flow: new classes on top of learned features ------------------------------

@pytest.mark.slow
def test_fine_tuning_on_new_classes_beats_training_from_scratch(tmp_path):
    """digits_lenet trained on digits 0–4; its head replaced to score 5–9, the convolutions
    frozen, fine-tuned on 20 samples of each new digit. It beats the same network trained
    from scratch on the same 100 samples for the same 6 epochs (validation: the other 5–9
    digits), and the frozen convolutions keep the first run's weights bit for bit."""
    digits = embedded("digits28")
    y = digits.arrays["y"].ravel()
    rng = np.random.default_rng(0)
    high = np.flatnonzero(y >= 5)
    small = np.concatenate([rng.choice(high[y[high] == c], 20, replace=False)
                            for c in range(5, 10)])
    folders = {"low": np.flatnonzero(y < 5), "new": small, "check": np.setdiff1d(high, small)}
    for name, rows in folders.items():
        part = digits.subset(np.sort(rows))
        if name != "low":
            part.arrays["y"] = part.arrays["y"] - 5  # classes 0–4 of the new head
        write_csv(part, tmp_path / name)

    def data(name):
        return Dataset(str(tmp_path / name / "index.csv"), normalize=True)

    first = load(PROJECTS / "digits_lenet.nnd")
    first.datasets = {"training": data("low")}
    first.training.epochs = 3
    first.save(tmp_path / "lenet.nnd")
    origin = train(first, tmp_path / "digits0-4")
    assert origin.status == "done" and origin.best_val_error < 0.1, origin.message

    def next_project():
        project = load(tmp_path / "lenet.nnd")
        net = project.network()
        net.find("Affine_3").props["OutShape"] = [5]
        for node in net.nodes:
            if node.type == "Convolution":
                node.props.update({"W.LRateMultiplier": 0.0, "b.LRateMultiplier": 0.0})
        project.datasets = {"training": data("new"), "validation": data("check")}
        project.training.epochs = 6
        project.training.batch_size = 16
        return project

    tuned_project = next_project()
    tuned_project.training.init = {"run": str(origin.run_dir), "weights": "best"}
    seen = []
    tuned = train(tuned_project, tmp_path / "fine-tuned", on_event=seen.append)
    scratch = train(next_project(), tmp_path / "from-scratch")
    assert tuned.status == scratch.status == "done"
    report = next(e for e in seen if e["event"] == "init")
    assert report["taken"] == ["Convolution", "Convolution_2", "Affine", "Affine_2"]
    assert report["left"][0]["layer"] == "Affine_3"
    tuned_accuracy, scratch_accuracy = 1 - tuned.best_val_error, 1 - scratch.best_val_error
    print(f"digits 5–9 after 6 epochs on 100 samples: fine-tuned {tuned_accuracy:.1%}, "
          f"from scratch {scratch_accuracy:.1%}")
    assert tuned_accuracy > scratch_accuracy + 0.03
    before = runs.load_weights(runs.weights_path(origin.run_dir, "best"))
    after = runs.load_weights(runs.weights_path(tuned.run_dir, "last"))
    for key in [k for k in before if k.startswith("Convolution")]:
        assert torch.equal(before[key], after[key]), key
