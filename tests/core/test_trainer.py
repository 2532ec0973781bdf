"""The trainer: runs that learn, leave the promised run folder, stop cleanly and fail clearly."""
import csv
import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from designer.core import cli, runs
from designer.core.compiler import compile_network
from designer.core.project import Dataset, Project, ProjectError, TrainingConfig, load
from designer.core.session import Feeder, prepare
from designer.core.trainer import train

from tests.conftest import PROJECTS, ROOT

EVENT_FIELDS = {
    "started": {"run_dir", "device", "device_name", "epochs", "iterations_per_epoch",
                "train_samples", "val_samples", "task", "classes", "time", "batch_size",
                "processes", "global_batch", "pids", "resumed"},
    "iteration": {"epoch", "iteration", "loss", "lr"},
    "epoch": {"epoch", "train_loss", "val_loss", "val_error", "lr", "elapsed", "eta"},
    "gradients": {"epoch", "iteration", "norms"},
    "checkpoint": {"epoch", "path", "best"},
    "finished": {"status", "best_val_error", "best_epoch", "elapsed"},
    "failed": {"kind", "message"},
    "resume_point": {"epoch", "position", "iteration", "path"},
    "cache": {"variable", "done", "total"},
}



def mlp(folder, name="mlp", source="embedded:iris", inputs=4, classes=3, hidden=16,
        loss="SoftmaxCrossEntropy", **training) -> Project:
    """Input → Affine → ReLU → Affine → loss, saved in ``folder``."""
    project = Project(name=name)
    net = project.networks[0]
    chain = [net.add("Input", Size=[inputs], Dataset="x"), net.add("Affine", OutShape=[hidden]),
             net.add("ReLU"), net.add("Affine", OutShape=[classes]),
             net.add(loss, **{"T.Dataset": "y"})]
    for a, b in zip(chain, chain[1:]):
        net.connect(a, b)
    project.datasets["training"] = Dataset(source)
    settings = {"epochs": 3, "batch_size": 16, "optimizer": {"type": "Adam", "lr": 0.01}}
    project.training = TrainingConfig(**{**settings, **training})
    project.save(folder / f"{name}.nnd")
    return project


def events_of(run_dir):
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


# ---- a run and its folder ------------------------------------------------------------------

@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris")
    project = mlp(folder, epochs=25)
    seen = []
    result = train(project, on_event=seen.append)
    return project, result, seen


def test_iris_learns(iris_run):
    _, result, _ = iris_run
    assert result.status == "done" and result.epochs_done == 25
    assert result.best_val_error <= 0.1  # at least 90% of the held-out flowers right


def test_the_run_folder_holds_what_was_promised(iris_run):
    project, result, seen = iris_run
    run_dir = result.run_dir
    assert run_dir.parent == project.path.parent / "mlp.runs"
    assert len(run_dir.name) == len("20260101-120000")

    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "done" and info["name"] == run_dir.name
    assert info["epochs"] == info["epochs_done"] == 25
    assert info["best_val_error"] == result.best_val_error
    assert info["best_epoch"] == result.best_epoch and info["device"] == "cpu"
    assert info["finished"] >= info["started"] and info["message"]

    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_error", "lr", "elapsed"]
    assert [int(r["epoch"]) for r in rows] == list(range(1, 26))
    assert min(float(r["val_error"]) for r in rows) == pytest.approx(result.best_val_error)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])

    assert events_of(run_dir) == seen  # every event given to the caller is on disk, in order
    keys = compile_network(project.network()).layers.state_dict().keys()
    for name in ("best", "last"):
        weights = load_file(str(run_dir / f"{name}.safetensors"))
        assert set(weights) == set(keys) and "Affine.linear.weight" in weights

    snapshot = load(run_dir / "project.nnd")
    assert snapshot.to_dict() == project.to_dict()


def test_events_follow_the_contract(iris_run):
    project, result, seen = iris_run
    for event in seen:
        assert set(event) == {"event"} | EVENT_FIELDS[event["event"]], event
    started, finished = seen[0], seen[-1]
    assert started["event"] == "started" and finished["event"] == "finished"
    assert (started["train_samples"], started["val_samples"]) == (120, 30)
    assert started["iterations_per_epoch"] == 8  # 120 samples in batches of 16
    assert (started["task"], started["classes"]) == ("classification", 3)
    assert (started["batch_size"], started["processes"], started["global_batch"]) == (16, 1, 16)
    assert started["pids"] == [os.getpid()] and started["resumed"] is None
    assert finished["status"] == "done" and finished["best_epoch"] == result.best_epoch

    iterations = [e["iteration"] for e in seen if e["event"] == "iteration"]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 25 * 8
    epochs = [e for e in seen if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 26)) and epochs[-1]["eta"] == 0
    gradients = [e for e in seen if e["event"] == "gradients"]
    assert {e["epoch"] for e in gradients} == set(range(1, 26))
    assert set(gradients[0]["norms"]) == {"Affine", "Affine_2"}  # ReLU has no weights
    assert all(v > 0 for v in gradients[0]["norms"].values())
    best = [e for e in seen if e["event"] == "checkpoint" and e["best"]]
    assert best[-1]["epoch"] == result.best_epoch
    assert best[-1]["path"] == str((result.run_dir / "best.safetensors").resolve())


def test_best_weights_score_the_best_validation_error(iris_run):
    from designer.core.evaluation import evaluate

    _, result, _ = iris_run
    assert 1 - evaluate(None, result.run_dir).accuracy == pytest.approx(result.best_val_error)


def test_the_same_seed_trains_the_same_weights(tmp_path):
    def weights(seed, folder):
        project = mlp(tmp_path, name=folder, source="embedded:xor", inputs=2, classes=2,
                      epochs=2, seed=seed)
        return load_file(str(train(project).run_dir / "last.safetensors"))

    first, again, other = weights(1, "a"), weights(1, "b"), weights(2, "c")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["Affine.linear.weight"], other["Affine.linear.weight"])


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    class Frozen:
        @staticmethod
        def now():
            from datetime import datetime
            return datetime(2026, 5, 1, 12, 0, 0)

    monkeypatch.setattr(runs, "datetime", Frozen)
    project_file = tmp_path / "p.nnd"
    names = [runs.new_run_dir(project_file).name for _ in range(3)]
    assert names == ["20260501-120000", "20260501-120000-2", "20260501-120000-3"]


def test_runs_are_listed_newest_first(tmp_path):
    project = mlp(tmp_path, source="embedded:xor", inputs=2, classes=2, epochs=1)
    first = train(project, run_dir=runs.runs_folder(project.path) / "a").run_dir
    second = train(project, run_dir=runs.runs_folder(project.path) / "b").run_dir
    (runs.runs_folder(project.path) / "not a run").mkdir()
    info = json.loads((first / "run.json").read_text())
    info["started"] = "2000-01-01T00:00:00+00:00"
    (first / "run.json").write_text(json.dumps(info))
    listed = runs.list_runs(project.path)
    assert [r["path"] for r in listed] == [str(second), str(first)]
    assert listed[0]["status"] == "done" and listed[0]["epochs_done"] == 1


def test_a_csv_project_trains_and_its_snapshot_loads_from_anywhere(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    lines = ["x__0,x__1,y"] + [f"{a},{b},{int(a > b)}" for a, b in x]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("\n".join(lines) + "\n")
    project = mlp(tmp_path, source="data/train.csv", inputs=2, classes=2, epochs=2)
    result = train(project, run_dir=tmp_path / "elsewhere" / "run")
    assert result.status == "done" and result.run_dir == tmp_path / "elsewhere" / "run"
    snapshot = load(result.run_dir / "project.nnd")
    assert snapshot.datasets["training"].source == str(tmp_path / "data" / "train.csv")
    assert project.datasets["training"].source == "data/train.csv"  # the user's file unchanged


def test_images_reach_the_network_scaled_and_arrays_are_reshaped_to_fit(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["x:image,y"]
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (2, 2), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png,{i % 2}")
    (tmp_path / "images.csv").write_text("\n".join(lines) + "\n")
    project = mlp(tmp_path, source="images.csv", inputs=4, classes=2, epochs=1)
    project.network().find("Input").props["Size"] = [1, 2, 2]
    project.datasets["training"].normalize = True
    prepared = prepare(project)
    data = prepared.train_data
    assert data.arrays["x"].dtype == np.uint8  # stored as bytes, scaled on the way in
    x, y = Feeder(data, ["x", "y"], prepared.device).batch(torch.tensor([3, 0]))
    np.testing.assert_allclose(x.numpy(), data.arrays["x"][[3, 0]] / 255, rtol=1e-6)
    assert x.dtype == y.dtype == torch.float32

    # a 1×4 data CSV per sample feeds a Size 4 Input: same values, rearranged
    for i in range(12):
        (tmp_path / f"{i}.csv").write_text(",".join(str(v) for v in rng.normal(size=4)) + "\n")
    (tmp_path / "rows.csv").write_text("x,y\n" + "".join(f"{i}.csv,{i % 2}\n" for i in range(12)))
    project.network().find("Input").props["Size"] = [4]
    project.datasets["training"] = Dataset("rows.csv")
    assert prepare(project).train_data.variables["x"] == (4,)
    assert train(project).status == "done"


def test_without_validation_data_the_best_epoch_has_the_lowest_training_loss(tmp_path):
    project = mlp(tmp_path, source="embedded:xor", inputs=2, classes=2, validation_split=0.0)
    seen = []
    result = train(project, on_event=seen.append)
    epochs = [e for e in seen if e["event"] == "epoch"]
    assert seen[0]["val_samples"] == 0 and all(e["val_loss"] is None for e in epochs)
    assert result.best_val_error is None
    assert result.best_epoch == min(epochs, key=lambda e: e["train_loss"])["epoch"]


def test_a_separate_validation_dataset_is_used_whole(tmp_path):
    project = mlp(tmp_path, source="embedded:xor", inputs=2, classes=2, epochs=1)
    project.datasets["validation"] = Dataset("embedded:xor")
    seen = []
    train(project, on_event=seen.append)
    assert (seen[0]["train_samples"], seen[0]["val_samples"]) == (400, 400)


def test_half_precision_and_a_schedule_train(tmp_path):
    project = mlp(tmp_path, source="embedded:xor", inputs=2, classes=2, precision="half",
                  schedule={"type": "step", "step": 1, "gamma": 0.5}, epochs=3)
    seen = []
    result = train(project, on_event=seen.append)
    assert result.status == "done"
    assert [e["lr"] for e in seen if e["event"] == "epoch"] == pytest.approx([0.01, 0.005, 0.0025])


# ---- stopping ------------------------------------------------------------------------------

def test_stop_ends_the_run_after_the_current_step_with_weights_saved(tmp_path):
    project = mlp(tmp_path, epochs=50)
    stop = threading.Event()
    seen = []

    def watch(event):
        seen.append(event)
        if event["event"] == "iteration" and event["epoch"] == 2:
            stop.set()

    result = train(project, on_event=watch, stop=stop)
    assert result.status == "stopped" and result.epochs_done == 1
    last_step = [e for e in seen if e["event"] == "iteration"][-1]
    assert last_step["epoch"] == 2  # stopped inside epoch 2, right after that step
    assert seen[-1]["event"] == "finished" and seen[-1]["status"] == "stopped"
    assert [e["event"] for e in seen[-2:]] == ["checkpoint", "finished"]
    assert (result.run_dir / "last.safetensors").is_file()
    info = json.loads((result.run_dir / "run.json").read_text())
    assert (info["status"], info["epochs_done"]) == ("stopped", 1)


def long_training_process(tmp_path):
    """``python -m designer train --events`` on a 1,000-epoch run, as the window starts it."""
    mlp(tmp_path, source="embedded:spirals", inputs=2, classes=2, epochs=1000)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "designer", "train", str(tmp_path / "mlp.nnd"), "--events",
         "--out", str(tmp_path / "run")], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_the_command_stops_on_a_signal(tmp_path):
    # SIGTERM is what the app sends its training process; SIGINT (Ctrl+C) takes the same path
    process = long_training_process(tmp_path)
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "epoch":
            process.send_signal(signal.SIGTERM)
            break
    events += [json.loads(line) for line in process.stdout]
    assert process.wait(timeout=60) == 0
    assert events[-1]["event"] == "finished" and events[-1]["status"] == "stopped"
    assert events[-1]["best_epoch"] >= 1 and (tmp_path / "run" / "last.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "stopped"


def test_a_run_killed_mid_epoch_leaves_loadable_weights(tmp_path):
    # SIGKILL gives the trainer no chance to clean up: what is on disk must already be whole
    process = long_training_process(tmp_path)
    seen = 0
    for line in process.stdout:
        event = json.loads(line)
        seen += event["event"] == "checkpoint"
        if seen and event["event"] == "iteration":  # mid-epoch, after a checkpoint was written
            process.kill()
            break
    process.wait(timeout=60)
    run_dir = tmp_path / "run"
    compiled = compile_network(load(run_dir / "project.nnd").network())
    compiled.layers.load_state_dict(load_file(str(run_dir / "best.safetensors")), strict=True)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"


# ---- failures ------------------------------------------------------------------------------

def test_divergence_fails_the_run_and_says_what_to_change(tmp_path):
    project = Project(name="linear")
    net = project.networks[0]
    x, affine = net.add("Input", Size=[50, 1], Dataset="x"), net.add("Affine", OutShape=[1])
    net.connect(x, affine)
    net.connect(affine, net.add("SquaredError", **{"T.Dataset": "y"}))
    project.datasets["training"] = Dataset("embedded:sine")
    # a step this large overshoots by more each time, until the numbers overflow
    project.training = TrainingConfig(epochs=20, optimizer={"type": "SGD", "lr": 10.0})
    project.save(tmp_path / "linear.nnd")
    seen = []
    result = train(project, on_event=seen.append)
    assert (result.status, result.kind, result.bad_input) == ("failed", "diverged", False)
    assert "training diverged. Lower the learning rate (training.optimizers[0].solver.lr is 10)" in \
        result.message
    assert seen[-1] == {"event": "failed", "kind": "diverged", "message": result.message}
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["status"] == "failed" and info["message"] == result.message


@pytest.mark.parametrize("change, kind, message", [
    (lambda p: p.network().find("Input").props.update(Size=[5]), "data",
     "embedded:iris does not fit network 'Main': Input: Size is 5 but dataset variable 'x' "
     "holds 4 per sample"),
    (lambda p: p.network().find("Input").props.update(Dataset="features"), "data",
     "Input: dataset variable 'features' does not exist (the dataset has x, y)"),
    (lambda p: p.network().find("Affine_2").props.update(OutShape=[2]), "data",
     "SoftmaxCrossEntropy: target variable 'y' holds 2 at sample 100 of embedded:iris; each "
     "value must be a class number from 0 to 1 (Affine_2 scores 2 classes)"),
    (lambda p: p.network().links.pop(), "error",
     "network 'Main' cannot be trained: SoftmaxCrossEntropy: input x is not connected"),
    (lambda p: p.datasets.clear(), "data", "the project has no training dataset"),
    (lambda p: p.datasets.update(training=Dataset("missing.csv")), "data",
     "missing.csv: dataset file not found"),
    (lambda p: p.training.optimizer.update(betas=[0.9, 0.9]), "error",
     "training.optimizers[0].solver (Adam): unknown setting 'betas'"),
])
def test_bad_input_fails_before_a_run_folder_is_made(tmp_path, change, kind, message):
    project = mlp(tmp_path)
    change(project)
    seen = []
    result = train(project, on_event=seen.append)
    assert (result.status, result.kind, result.bad_input) == ("failed", kind, True)
    assert message in result.message
    assert seen == [{"event": "failed", "kind": kind, "message": result.message}]
    assert not (tmp_path / "mlp.runs").exists()


def test_a_chosen_run_folder_records_even_a_failure_to_start(tmp_path):
    project = mlp(tmp_path)
    project.network().find("Input").props.update(Size=[5])
    result = train(project, run_dir=tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "failed" and "Size is 5" in info["message"]
    assert events_of(tmp_path / "run")[-1]["kind"] == "data" and result.run_dir == tmp_path / "run"


def test_a_used_run_folder_is_refused(tmp_path):
    project = mlp(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("keep me")
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "failed" and "the run folder is not empty" in result.message
    assert (tmp_path / "run" / "old.txt").read_text() == "keep me"


def test_the_command_exits_2_on_bad_input_and_says_why(tmp_path, capsys):
    project = mlp(tmp_path)
    project.network().find("Input").props.update(Size=[5])
    project.save()
    assert cli.main(["train", str(project.path), "--epochs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: embedded:iris does not fit network 'Main': "
                                        "Input: Size is 5")
    assert cli.main(["train", str(tmp_path / "nope.nnd"), "--events"]) == 2
    assert json.loads(capsys.readouterr().out) == {
        "event": "failed", "kind": "error", "message": f"{tmp_path / 'nope.nnd'}: file not found"}


def test_the_command_prints_events_and_text(tmp_path, capsys):
    project = mlp(tmp_path, source="embedded:xor", inputs=2, classes=2, epochs=1)
    assert cli.main(["train", str(project.path), "--events", "--epochs", "2",
                     "--out", str(tmp_path / "a")]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events == events_of(tmp_path / "a")
    assert events[0]["epochs"] == 2 and events[-1]["status"] == "done"
    assert load(tmp_path / "a" / "project.nnd").training.epochs == 2  # records what ran

    assert cli.main(["train", str(project.path), "--out", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("training on cpu") and text[1] == f"run folder: {tmp_path / 'b'}"
    assert text[2].startswith("epoch    1  train loss ") and "val error" in text[2]
    assert text[-1].startswith("done: best val error")


# ---- the sample projects -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name, best", [
    ("iris_mlp", 0.07),  # validation error: at least 93 % accuracy
    ("xor_mlp", 0.0),  # 100 % accuracy
    ("digits_lenet", 0.05),  # at least 95 % accuracy
    ("digits_resnet", 0.05),
    ("sine_lstm", 0.03),  # validation MSE; the target's variance is about 0.3 (well under 1/10)
    ("digits_autoencoder", 0.06),  # mean squared error per pixel (pixels span 0..1)
    ("digits_binary_mlp", 0.10),  # binary weights and activations: at least 90 %
])
def test_sample_projects_train_to_their_stated_results(tmp_path, name, best):
    # each sample trains with its own settings, as a user gets them
    project = load(PROJECTS / f"{name}.nnd")
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "done", result.message
    assert result.best_val_error <= best


# ---- learning-rate multipliers -------------------------------------------------------------

def test_a_zero_learning_rate_multiplier_freezes_that_tensor_and_a_factor_scales_it(tmp_path):
    """NNC's W.LRateMultiplier: 0 freezes W (no gradient, no weight decay, not in the
    optimizer); another factor multiplies the rate of that tensor alone, schedule included."""
    project = mlp(tmp_path, epochs=2, schedule={"type": "step", "step": 1, "gamma": 0.5},
                  optimizer={"type": "SGD", "lr": 0.05, "weight_decay": 0.01})
    first, second = [n for n in project.network().nodes if n.type == "Affine"]
    first.props["W.LRateMultiplier"] = 0.0
    second.props["b.LRateMultiplier"] = 3.0
    compiled = compile_network(project.network())
    w = compiled.layers.get_submodule(compiled.attr_of[first.id]).linear.weight
    b = compiled.layers.get_submodule(compiled.attr_of[second.id]).linear.bias
    trained = [id(p) for _, params in compiled.param_groups for p in params]
    assert id(w) not in trained and id(b) in trained
    assert [(factor, len(params)) for factor, params in compiled.param_groups] == [(1.0, 2),
                                                                                  (3.0, 1)]
    before = dict(compile_network(project.network()).layers.state_dict())
    torch.manual_seed(project.training.seed)
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "done", result.message
    after = load_file(tmp_path / "run" / "last.safetensors")
    torch.manual_seed(project.training.seed)
    initial = compile_network(project.network()).layers.state_dict()
    frozen = f"{compiled.attr_of[first.id]}.linear.weight"
    assert torch.equal(after[frozen], initial[frozen])
    moved = [k for k in initial if not torch.equal(after[k], initial[k])]
    assert sorted(moved) == sorted(k for k in initial if k != frozen)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [float(r["lr"]) for r in rows] == [0.05, 0.025]  # the optimizer's rate, not ×3
    assert before.keys() == initial.keys()


def test_a_device_is_named_by_kind_or_by_gpu_number(tmp_path):
    from designer.core.project import is_device
    from designer.core.session import TrainingError, available_devices, resolve_device

    assert all(is_device(name) for name in ("auto", "cpu", "cuda", "mps", "cuda:0", "cuda:12"))
    assert not any(is_device(name) for name in ("gpu", "cuda:", "cuda:x", "CPU"))
    devices = dict(available_devices())
    assert devices["cpu"].startswith("CPU (")
    assert [k for k in devices if k.startswith("cuda:")] == \
        [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, if any
    with pytest.raises(TrainingError, match=f"training.device is {missing}, but this"):
        resolve_device(missing)

    # The project file keeps the GPU's number; a bad one is named by its field.
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.device = "cuda:1"
    project.save(tmp_path / "gpu.nnd")
    assert load(tmp_path / "gpu.nnd").training.device == "cuda:1"
    text = (tmp_path / "gpu.nnd").read_text().replace('"cuda:1"', '"gpu1"')
    (tmp_path / "bad.nnd").write_text(text)
    with pytest.raises(ProjectError, match="training.device: 'gpu1' is not one of"):
        load(tmp_path / "bad.nnd")
