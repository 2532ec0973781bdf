"""Several processes: torchrun commands for one machine or many, two gloo processes training to
the same curve as one process with the same global batch, and settings refused where they
cannot work."""
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from designer.core import cli, launch
from designer.core.project import load
from designer.core.trainer import train

from tests.conftest import PROJECTS, ROOT

TOLERANCE = 1e-5  # relative: two processes add their gradients in another order than one


def iris(folder, epochs=8, **training):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.training.epochs = epochs
    project.training.device = "cpu"
    for key, value in training.items():
        setattr(project.training, key, value)
    project.save(folder / "iris.nnd")
    return project


def rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_launch_prints_a_torchrun_command_per_machine(tmp_path, capsys):
    iris(tmp_path)
    project = tmp_path / "iris.nnd"
    assert cli.main(["launch", str(project), "--nodes", "2", "--gpus-per-node", "8",
                     "--master-addr", "node0", "--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    commands = [shlex.split(line) for line in out.splitlines() if not line.startswith("#")]
    assert len(commands) == 2
    for node, command in enumerate(commands):
        assert command[:7] == ["torchrun", "--nnodes=2", "--nproc-per-node=8",
                               f"--node-rank={node}", "--master-addr=node0",
                               "--master-port=29500", "-m"]
        assert command[7:] == ["designer", "train", str(project), "--out", str(tmp_path / "run")]
    assert "global batch 16 x 16 = 256" in out  # 16 processes of iris_mlp's batch 16


def test_launch_writes_a_slurm_script_that_resumes_when_requeued(tmp_path, capsys):
    iris(tmp_path)
    script = tmp_path / "job.sbatch"
    assert cli.main(["launch", str(tmp_path / "iris.nnd"), "--nodes", "4", "--gpus-per-node",
                     "8", "--slurm", "--run-dir", str(tmp_path / "run"), "-o", str(script)]) == 0
    text = script.read_text()
    for line in ("#SBATCH --nodes=4", "#SBATCH --gpus-per-node=8", "#SBATCH --requeue",
                 'if [ -f "$RUN_DIR/checkpoint.safetensors" ]; then',
                 'TRAIN=(--resume "$RUN_DIR")', "srun torchrun --nnodes=\"$SLURM_NNODES\" "
                 "--nproc-per-node=8", '-m designer train "${TRAIN[@]}"'):
        assert line in text, line
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # it parses
    assert cli.main(["launch", str(tmp_path / "iris.nnd"), "--nodes", "0"]) == 2
    assert "--nodes must be at least 1, not 0" in capsys.readouterr().err


def test_two_processes_train_the_curve_of_one_with_the_same_global_batch(tmp_path, capsys):
    # torchrun started by hand with the command `launch` prints, as on a cluster node
    iris(tmp_path, batch_size=16)
    assert cli.main(["launch", str(tmp_path / "iris.nnd"), "--gpus-per-node", "2",
                     "--run-dir", str(tmp_path / "two")]) == 0
    command = [line for line in capsys.readouterr().out.splitlines()
               if not line.startswith("#")]
    argv = shlex.split(command[0])
    assert argv[0] == "torchrun"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", *argv[1:]], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    two = tmp_path / "two"

    (tmp_path / "single").mkdir()
    one = train(iris(tmp_path / "single", batch_size=32), tmp_path / "one").run_dir
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    a, b = rows(one), rows(two)
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == [str(e) for e in range(1, 9)]
    for key in ("train_loss", "val_loss"):
        for x, y in zip(a, b):
            assert float(y[key]) == pytest.approx(float(x[key]), rel=TOLERANCE)
    started = json.loads((two / "events.jsonl").read_text().splitlines()[0])
    assert (started["processes"], started["batch_size"], started["global_batch"]) == (2, 16, 32)
    assert started["iterations_per_epoch"] == 4 and len(started["pids"]) == 2
    info = json.loads((two / "run.json").read_text())
    assert (info["status"], info["epochs_done"]) == ("done", 8)


@pytest.mark.parametrize("change, field, message", [
    ({"sync_batchnorm": True}, "training.sync_batchnorm",
     "PyTorch synchronises batch normalization between CUDA GPUs only; this run is on the CPU"),
    ({"precision": "float16"}, "training.precision",
     "float16 (with a gradient scaler) needs a CUDA GPU; this run is on the CPU: choose "
     "bfloat16"),
    ({"speed": {"cudnn_benchmark": True}}, "training.speed.cudnn_benchmark",
     "cuDNN benchmark mode (the fastest convolution for each shape) needs a CUDA GPU; this run "
     "is on the CPU: turn it off"),
])
def test_gpu_only_switches_are_refused_on_the_cpu_with_the_reason(tmp_path, change, field,
                                                                  message):
    result = train(iris(tmp_path, **change))
    assert result.status == "failed" and result.bad_input and result.run_dir is None
    assert result.message.startswith(f"{field}: {message}")


def test_switches_that_apply_on_the_cpu_train(tmp_path):
    project = load(PROJECTS / "digits_lenet.nnd")
    project.training.epochs = 1
    project.training.device = "cpu"
    project.training.precision = "bfloat16"
    project.training.speed = {"channels_last": True}
    project.path = tmp_path / "lenet.nnd"
    result = train(project)
    assert result.status == "done", result.message
    assert project.to_dict()["training"]["speed"] == {"channels_last": True}
    assert load(result.run_dir / "project.nnd").training.precision == "bfloat16"


def test_the_first_failure_is_the_one_reported():
    def failure(code, timestamp):
        return SimpleNamespace(exitcode=code, timestamp=timestamp)

    # rank 1 killed; rank 0 lost contact, then torchrun ended it
    assert launch.root_cause({0: failure(-signal.SIGTERM, 5), 1: failure(-9, 5)})[0] == 1
    assert launch.root_cause({0: failure(3, 4), 1: failure(1, 5)})[0] == 1
    assert launch.root_cause({0: failure(2, 5), 1: failure(2, 5)})[0] == 0


def test_layers_that_do_not_lead_to_the_loss_are_found_for_ddp():
    from designer.core.compiler import compile_network
    from designer.core.distributed import _unused_parameters

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.aside = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)

        def forward(self, x):
            self.aside(x)  # computed, but the output does not depend on it
            return self.used(x).sum()

    assert _unused_parameters(torch.fx.symbolic_trace(TwoHeads())) == ["aside"]
    # the compiler keeps only layers that lead to a loss: DDP need not look for others
    graph = compile_network(load(PROJECTS / "digits_resnet.nnd").network()).train
    assert _unused_parameters(graph) == []
