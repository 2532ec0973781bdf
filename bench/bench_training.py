"""Training speed of the trainer against a hand-written PyTorch loop, in the same run.

For iris_mlp and digits_lenet: the baseline is the same network written by hand as an
``nn.Sequential``, trained on the same tensors, batch size, optimizer and epochs, with a
validation pass per epoch, as a PyTorch user would write it. The trainer runs the project as the
app does (compiled graph, events, metrics.csv and checkpoints in a run folder). The two run in
turn, ROUNDS pairs; printed are median samples/second and the median of the per-pair ratios
(trainer / loop), so the figure holds on a noisy machine. On a machine shared with other work,
``--clock cpu`` times both with this thread's CPU time (the trainer runs in the calling thread),
which leaves out the time other processes take; it also leaves out the trainer's waits for the
disk, so quote it beside the wall-clock figure, not instead of it.

    python bench/bench_training.py [--rounds 5] [--threads 1] [--device cpu|cuda]
                                   [--clock wall|cpu]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from designer.core.project import load  # noqa: E402
from designer.core.session import prepare  # noqa: E402
from designer.core.trainer import train  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]


def hand_written(name: str) -> nn.Module:
    if name == "iris_mlp":
        return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
        nn.ReLU(), nn.Linear(84, 10))


def project(name: str, device: str):
    p = load(ROOT / "projects" / f"{name}.nnd")
    p.training.device = device
    return p


def loop_seconds(name: str, device: str) -> float:
    p = project(name, device)
    prepared = prepare(p)
    cfg = p.training
    dev = torch.device(device)
    tensors = {}
    for split, data in (("train", prepared.train_data), ("val", prepared.val_data)):
        x = torch.from_numpy(data.values("x")).float().to(dev)
        y = torch.from_numpy(data.values("y")).reshape(-1).long().to(dev)
        tensors[split] = (x, y)
    torch.manual_seed(cfg.seed)
    model = hand_written(name).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optimizer["lr"])
    (x, y), (xv, yv) = tensors["train"], tensors["val"]
    start = clock()
    for _ in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(len(x), device=dev).split(cfg.batch_size):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():  # validation loss and accuracy, as the trainer reports them
            correct, total = 0, 0
            for idx in torch.arange(len(xv), device=dev).split(cfg.batch_size * 2):
                out = model(xv[idx])
                total += nn.functional.cross_entropy(out, yv[idx], reduction="sum")
                correct += (out.argmax(1) == yv[idx]).sum()
            float(correct), float(total)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return clock() - start


def trainer_seconds(name: str, device: str) -> float:
    marks = {}

    def mark(event):
        marks.setdefault(event["event"], clock())
        marks["last"] = clock()

    with tempfile.TemporaryDirectory() as folder:
        result = train(project(name, device), run_dir=Path(folder) / "run", on_event=mark)
    assert result.status == "done", result.message
    return marks["last"] - marks["started"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=CLOCKS, default="wall")
    args = parser.parse_args()
    if args.clock == "cpu" and (args.device != "cpu" or args.threads != 1):
        parser.error("--clock cpu counts this thread's time alone: use it with --device cpu "
                     "and --threads 1")
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    print(f"device {args.device}, {args.threads} thread(s), {args.rounds} interleaved pairs, "
          f"{args.clock} clock")
    for name in ("iris_mlp", "digits_lenet"):
        p = project(name, args.device)
        samples = len(prepare(p).train_data) * p.training.epochs
        loop_seconds(name, args.device)  # warm-up: first-use costs belong to neither side
        loops, trainers = [], []
        for _ in range(args.rounds):
            loops.append(loop_seconds(name, args.device))
            trainers.append(trainer_seconds(name, args.device))
        ratio = statistics.median(l / t for l, t in zip(loops, trainers))
        print(f"{name:>13}: loop {samples / statistics.median(loops):8.0f} samples/s, "
              f"trainer {samples / statistics.median(trainers):8.0f} samples/s, "
              f"ratio (trainer / loop) median {ratio:.2f} "
              f"[{min(l / t for l, t in zip(loops, trainers)):.2f}–"
              f"{max(l / t for l, t in zip(loops, trainers)):.2f}]")


if __name__ == "__main__":
    main()
