"""Stop and resume: a run killed mid-epoch goes on from its checkpoint and ends with bitwise the
same weights as a run that was never interrupted; stop files; what resuming refuses."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from designer.core import checkpoint, runs
from designer.core.project import Dataset, Project, TrainingConfig, load
from designer.core.trainer import train

from tests.conftest import ROOT


def dropout_mlp(folder, epochs=12, **training) -> Project:
    """digits → Affine → ReLU → Dropout → Affine → SoftmaxCrossEntropy: dropout draws from the
    random state, so only a resume that restores it ends with the same weights."""
    project = Project(name="digits")
    net = project.networks[0]
    chain = [net.add("Input", Size=[64], Dataset="x"), net.add("Affine", OutShape=[48]),
             net.add("ReLU"), net.add("Dropout", P=0.2), net.add("Affine", OutShape=[10]),
             net.add("SoftmaxCrossEntropy", **{"T.Dataset": "y"})]
    for a, b in zip(chain, chain[1:]):
        net.connect(a, b)
    project.datasets["training"] = Dataset("embedded:digits")
    settings = {"epochs": epochs, "batch_size": 8, "device": "cpu", "deterministic": True,
                "optimizer": {"type": "Adam", "lr": 0.002},
                "schedule": {"type": "cosine", "warmup": 1}}
    project.training = TrainingConfig(**{**settings, **training})
    project.save(folder / "digits.nnd")
    return project


@pytest.fixture
def deterministic():
    yield
    torch.use_deterministic_algorithms(False)


def child_run(project_file, run_dir, *arguments):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "designer", "train", *arguments, "--events"]
                            + ([str(project_file), "--out", str(run_dir)] if project_file else []),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(row["epoch"], row["train_loss"], row["val_loss"]) for row in csv.DictReader(f)]


def test_a_run_killed_mid_epoch_resumes_to_bitwise_the_same_weights(tmp_path, deterministic):
    project = dropout_mlp(tmp_path, epochs=8)
    whole = train(project, tmp_path / "whole")
    assert whole.status == "done"
    # no checkpoint is left behind by a finished run: there is nothing to resume
    assert not runs.checkpoint_path(whole.run_dir).exists()

    cut = tmp_path / "cut"
    process = child_run(tmp_path / "digits.nnd", cut, "--checkpoint-every", "0.05")
    mid_epoch = False
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "resume_point" and 0 < event["position"]:
            mid_epoch = True
        elif mid_epoch and event["event"] == "iteration":
            process.kill()  # SIGKILL: nothing is saved on the way out
            break
    process.wait(timeout=60)
    assert mid_epoch, "the run ended before a checkpoint inside an epoch"
    rest = [json.loads(line) for line in process.stdout]
    assert not any(e["event"] == "finished" for e in rest)
    saved = checkpoint.load(runs.checkpoint_path(cut)).info  # the last one written

    seen = []
    resumed = train(load(cut / "project.nnd"), cut, on_event=seen.append, resume=True)
    assert resumed.status == "done" and resumed.epochs_done == 8
    started = seen[0]
    assert started["resumed"] == {key: saved[key] for key in
                                  ("epoch", "position", "iteration", "epochs_done")}
    assert saved["position"] > 0 and saved["epochs_done"] == saved["epoch"] - 1
    first = [e["iteration"] for e in seen if e["event"] == "iteration"][0]
    assert first > saved["iteration"]  # it went on, it did not start over

    a, b = (load_file(str(run / "last.safetensors")) for run in (whole.run_dir, cut))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert metrics(whole.run_dir) == metrics(cut)  # every epoch's losses, to the last digit
    info = json.loads((cut / "run.json").read_text())
    assert (info["status"], info["epochs_done"]) == ("done", 8)


def test_a_stop_file_stops_the_run_and_resuming_ends_as_if_it_never_stopped(tmp_path,
                                                                             deterministic):
    project = dropout_mlp(tmp_path, epochs=6, optimizer={"type": "Momentum", "lr": 0.02})
    # learning-rate multipliers: each parameter group's factor goes on with the schedule
    project.network().find("Affine").props["b.LRateMultiplier"] = 3.0
    project.network().find("Affine_2").props["W.LRateMultiplier"] = 0.5
    project.save()
    whole = train(project, tmp_path / "whole")
    folder = tmp_path / "stopped"

    def stop_in_epoch_two(event):
        if event["event"] == "iteration" and event["epoch"] == 2:
            runs.request_stop(folder)  # what the window's Stop does, here or on another machine

    stopped = train(project, folder, on_event=stop_in_epoch_two)
    # the file is looked for a few times a second: the run stops within a few steps
    assert stopped.status == "stopped" and 1 <= stopped.epochs_done < 6
    assert not runs.stop_path(folder).exists()  # honoured, then removed
    saved = checkpoint.load(runs.checkpoint_path(folder)).info
    assert saved["epoch"] == stopped.epochs_done + 1 and saved["position"] > 0
    again = train(load(folder / "project.nnd"), folder, resume=True)
    assert again.status == "done"
    a, b = (load_file(str(run / "last.safetensors")) for run in (whole.run_dir, folder))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert metrics(whole.run_dir) == metrics(folder)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["status"] for e in events if e["event"] == "finished"] == ["stopped", "done"]


def test_the_checkpoint_keeps_the_optimizer_state_as_tensors_and_json(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "checkpoint.safetensors"
    checkpoint.save(path, model, optimizer, {"epoch": 1}, [torch.tensor(0.5)],
                    [checkpoint.random_state()])
    saved = checkpoint.load(path)
    assert {k for k in saved.tensors if k.startswith("optimizer.")} == {
        f"optimizer.{i}.{name}" for i in (0, 1) for name in ("step", "exp_avg", "exp_avg_sq")}
    twin = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    checkpoint.restore_optimizer(twin, saved)
    assert twin.param_groups[0]["betas"] == (0.8, 0.9) and twin.param_groups[0]["lr"] == 0.01
    for mine, theirs in zip(optimizer.state.values(), twin.state.values()):
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    # only tensors and JSON: the file opens without pickle
    with safe_open(str(path), "pt") as f:
        header = json.loads(f.metadata()["checkpoint"])
    assert header["epoch"] == 1 and header["format"] == checkpoint.FORMAT


def test_resuming_refuses_what_cannot_go_on(tmp_path, capsys, deterministic):
    from designer.core import cli

    project = dropout_mlp(tmp_path, epochs=2)
    done = train(project, tmp_path / "done")
    assert done.status == "done"
    assert cli.main(["train", "--resume", str(done.run_dir)]) == 2
    assert "the run trained all its epochs; there is nothing to resume" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(done.run_dir), "--epochs", "5"]) == 2
    assert "--epochs: a resumed run keeps its settings" in capsys.readouterr().err
    runs.mark_failed(done.run_dir, "pretend it died")
    info = json.loads((done.run_dir / "run.json").read_text())
    info["status"] = "failed"
    (done.run_dir / "run.json").write_text(json.dumps(info))
    assert cli.main(["train", "--resume", str(done.run_dir)]) == 2
    assert "checkpoint.safetensors: no checkpoint" in capsys.readouterr().err
    assert cli.main(["train"]) == 2
    assert "name the project file to train, or --resume RUN_DIR" in capsys.readouterr().err
