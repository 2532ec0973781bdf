"""Training in several processes or on several machines, with PyTorch's torchrun.

``train --processes N`` (``train_processes``): this process runs torchrun
(``torch.distributed.run``, the engine behind the ``torchrun`` command) with N copies of the
same ``train`` command, one run folder for all, and stays to say which process failed first
and why when one does (torchrun then stops the others).

``python -m designer launch PROJECT --nodes 2 --gpus-per-node 8 [--slurm] [--run-dir DIR]
[-o FILE]`` prints (or writes) the torchrun command to start on each machine, or a Slurm batch
script that runs it with srun, resubmittable: a requeued job goes on from the run's checkpoint.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from designer.core import runs
from designer.core.distributed import EXIT_PEER_LOST
from designer.core.project import Project, ProjectError, load

Say = Callable[[dict[str, Any]], None]
DEFAULT_PORT = 29500


def under_torchrun() -> bool:
    """Whether torchrun (or another launcher of its kind) started this process."""
    env = os.environ
    return "TORCHELASTIC_RUN_ID" in env or ("RANK" in env and "WORLD_SIZE" in env)


# ---- several processes on this machine --------------------------------------------------------

def train_processes(args: argparse.Namespace, project: Project, processes: int, say: Say) -> int:
    """``train`` in ``processes`` processes under torchrun; the exit status of the run."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if args.resume is not None:
        run_dir = Path(args.resume)
        command = ["train", "--resume", str(run_dir)]
    else:
        try:  # made here, so this process knows where the run is
            run_dir = runs.new_run_dir(runs.runs_home(project), args.out)
        except (OSError, ValueError) as e:
            say({"event": "failed", "kind": "error", "message": f"cannot create the run folder: "
                                                                f"{e}"})
            return 2
        command = ["train", str(Path(args.project).resolve()), "--out", str(run_dir)]
    for option in ("epochs", "batch_size", "seed", "device", "checkpoint_every"):
        if getattr(args, option, None) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    for choice in getattr(args, "dataset", None) or []:
        command += ["--dataset", choice]
    if args.events:
        command.append("--events")
    # the CPU shared between the processes (torchrun would give each one thread, and warn)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    try:
        torchrun.run(torchrun.parse_args(
            ["--standalone", f"--nproc-per-node={processes}", "-m", "designer", *command]))
        return 0
    except ChildFailedError as e:
        return _report_failure(e.failures, processes, run_dir, say)
    except SignalException:  # stopped by a signal, passed on to every process
        return 0 if _status(run_dir) == "stopped" else 1


def _status(run_dir: Path) -> str | None:
    try:
        return runs.read_run(run_dir).get("status")
    except (OSError, ValueError):
        return None


def root_cause(failures: dict) -> tuple[int, Any]:
    """(rank, failure) of the process that failed first: not one that lost contact with the
    others, nor one torchrun ended because another failed (SIGTERM)."""
    def collateral(failure) -> bool:
        return failure.exitcode in (EXIT_PEER_LOST, -signal.SIGTERM)

    candidates = {r: f for r, f in failures.items() if not collateral(f)} or failures
    return min(candidates.items(), key=lambda item: (item[1].timestamp, item[0]))


def _report_failure(failures: dict, processes: int, run_dir: Path, say: Say) -> int:
    rank, failure = root_cause(failures)
    if rank == 0 and failure.exitcode in (1, 2) and _status(run_dir) == "failed":
        return failure.exitcode  # rank 0 said what went wrong, in its events and run.json
    message = describe_failure(rank, failure, processes, run_dir)
    runs.mark_failed(run_dir, message, replace=True)
    say({"event": "failed", "kind": "error", "message": message})
    return 1


def describe_failure(rank: int, failure, processes: int, run_dir: Path) -> str:
    who = f"training process rank {rank} of {processes} (pid {failure.pid})"
    own = failure.error_file_data.get("message") if isinstance(
        failure.error_file_data, dict) else None
    if failure.exitcode < 0:
        name = failure.signal_name()
        why = (" (killed by a user, by the system when memory ran out, or by a scheduler)"
               if name == "SIGKILL" else "")
        head = f"{who} was ended by {name}{why}"
    elif isinstance(own, str) and own:
        head = f"{who} failed: {own}"
    else:
        head = f"{who} ended with exit status {failure.exitcode} (its error output says why)"
    tail = "; torchrun stopped the other processes."
    if runs.checkpoint_path(run_dir).is_file():
        tail += (f" The run can go on from its last checkpoint: Runs → Resume, or python -m "
                 f"designer train --resume {run_dir}")
    return head + tail


# ---- several machines: python -m designer launch ----------------------------------------------

def node_commands(project: Path, run_dir: Path, nodes: int, per_node: int, master: str,
                  port: int) -> list[str]:
    """The torchrun command for each machine (one when ``nodes`` is 1)."""
    train = ["-m", "designer", "train", str(project), "--out", str(run_dir)]
    if nodes == 1:
        return [shlex.join(["torchrun", "--standalone", f"--nproc-per-node={per_node}",
                            *train])]
    return [shlex.join(["torchrun", f"--nnodes={nodes}", f"--nproc-per-node={per_node}",
                        f"--node-rank={node}", f"--master-addr={master}",
                        f"--master-port={port}", *train]) for node in range(nodes)]


def slurm_script(project: Path, run_dir: Path, nodes: int, per_node: int, port: int,
                 name: str, batch: int) -> str:
    """A batch script: one srun task per node, each running torchrun for its GPUs. A job that
    is requeued (pre-empted) or submitted again goes on from the run's checkpoint."""
    q = shlex.quote
    return f"""#!/bin/bash
# nn-designer: {name} on {nodes} node(s) x {per_node} GPU(s),
# global batch {per_node * nodes} x {batch} = {per_node * nodes * batch}
#SBATCH --job-name={q(name)}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={per_node}
#SBATCH --requeue
#SBATCH --signal=TERM@120
#SBATCH --output={q(str(run_dir.parent / 'slurm-%j.out'))}
# SIGTERM (pre-emption, or 120 s before the time limit) makes the trainer finish its step
# and save a checkpoint; the run folder must be on a disk every node sees.
set -euo pipefail
RUN_DIR={q(str(run_dir))}
if [ -f "$RUN_DIR/{runs.CHECKPOINT_FILE}" ]; then
    TRAIN=(--resume "$RUN_DIR")
else
    TRAIN=({q(str(project))} --out "$RUN_DIR")
fi
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun torchrun --nnodes="$SLURM_NNODES" --nproc-per-node={per_node} \\
    --rdzv-id="$SLURM_JOB_ID" --rdzv-backend=c10d --rdzv-endpoint="$HEAD:{port}" \\
    -m designer train "${{TRAIN[@]}}"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--nodes", type=int, default=1, help="machines (default 1)")
    p.add_argument("--gpus-per-node", type=int, default=1, metavar="N",
                   help="training processes per machine, one per GPU (default 1)")
    p.add_argument("--slurm", action="store_true",
                   help="write a Slurm batch script instead of one command per machine")
    p.add_argument("--run-dir", metavar="DIR", help="the run folder, on a disk every machine "
                                                     "sees (default: a new one in "
                                                     "<project>.runs/)")
    p.add_argument("--master-addr", metavar="HOST",
                   help="the first machine's address (default: this machine's name)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"the port the machines meet on (default {DEFAULT_PORT})")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")


def run(args: argparse.Namespace) -> int:
    try:
        project = load(args.project)
        for option in ("nodes", "gpus_per_node"):
            if getattr(args, option) < 1:
                raise ProjectError(f"--{option.replace('_', '-')} must be at least 1, not "
                                   f"{getattr(args, option)}")
    except ProjectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = Path(args.project).resolve()
    run_dir = Path(args.run_dir).resolve() if args.run_dir else (
        runs.runs_folder(path) / datetime.now().strftime("%Y%m%d-%H%M%S"))
    batch = project.training.batch_size
    processes = args.nodes * args.gpus_per_node
    if args.slurm:
        run_dir.parent.mkdir(parents=True, exist_ok=True)  # Slurm writes its log there
        text = slurm_script(path, run_dir, args.nodes, args.gpus_per_node, args.port,
                            project.name, batch)
    else:
        master = args.master_addr or socket.gethostname()
        lines = [f"# nn-designer: {project.name} in {processes} process(es), global batch "
                 f"{processes} x {batch} = {processes * batch}",
                 f"# run folder {run_dir}: rank 0 writes it; a disk every machine sees",
                 "# run where `python -m designer` works (the checkout, or nn-designer "
                 "installed); to resume, replace `PROJECT --out DIR` by `--resume DIR`"]
        for node, command in enumerate(node_commands(path, run_dir, args.nodes,
                                                     args.gpus_per_node, master, args.port)):
            if args.nodes > 1:
                lines.append(f"# on machine {node}{' (' + master + ')' if node == 0 else ''}:")
            lines.append(command)
        text = "\n".join(lines) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            print(f"error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            return 2
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
