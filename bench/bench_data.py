"""Streaming a dataset bigger than memory: the trainer's DataLoader against a hand-written one,
and what the image cache saves, in the same run.

Generates a 60,000-image CSV of 28×28 gray PNGs (the bundled digits, shifted and noised) in a
temporary folder, once. Then, ROUNDS times in turn:

* hand-written: a ``Dataset`` whose ``__getitem__`` opens one PNG with PIL, in a
  ``DataLoader`` (shuffled, batch 64, WORKERS worker processes, persistent), each batch made
  float and scaled by 1/255 as a network reads it;
* the trainer's: the same CSV opened with ``stream: always`` and read through
  ``StreamFeeder`` (the same workers and batch, a shuffled order), as a training epoch reads it.

Printed: median images/second of each and the median of the per-round ratios (trainer /
hand-written); with ``--clock cpu``, images per CPU-second of the process and its workers,
which holds on a machine shared with other work. Then the cache (wall time): the first epoch with ``cache`` on writes the cache (decoding
every image with the workers) and reads the epoch from it; the second reads it only. Printed:
both times and their ratio, and the decoding pass against a pass over the cache.

    python bench/bench_data.py [--rounds 3] [--workers 2] [--images 60000] [--clock wall|cpu]
                               [--threads 1]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from designer.core import stream  # noqa: E402
from designer.core.data import embedded  # noqa: E402
from designer.core.stream import StreamFeeder, open_csv  # noqa: E402

BATCH = 64


def generate(folder: Path, count: int) -> Path:
    """``count`` 28×28 PNGs and index.csv: the digits, shifted by up to 2 pixels, with noise."""
    digits = embedded("digits28")
    images = (digits.arrays["x"][:, 0] * 255).astype(np.uint8)
    labels = digits.arrays["y"][:, 0].astype(int)
    rng = np.random.default_rng(0)
    (folder / "x").mkdir(parents=True)
    lines = ["x:image,y:label"]
    for i in range(count):
        k = i % len(images)
        dx, dy = rng.integers(-2, 3, size=2)
        image = np.roll(np.roll(images[k], dx, axis=1), dy, axis=0)
        image = np.clip(image.astype(np.int16) + rng.integers(-8, 9, image.shape), 0, 255)
        Image.fromarray(image.astype(np.uint8)).save(folder / "x" / f"{i}.png")
        lines.append(f"x/{i}.png,{labels[k]}")
    csv = folder / "index.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


class Files(torch.utils.data.Dataset):
    """The hand-written baseline: one PNG per item."""

    def __init__(self, folder: Path, count: int, labels: np.ndarray):
        self.files = [str(folder / "x" / f"{i}.png") for i in range(count)]
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as image:
            pixels = torch.from_numpy(np.asarray(image.convert("L")).copy())
        return pixels[None], self.labels[i]


CLOCK = "wall"  # or "cpu": this process's and its loader workers' CPU time


def cpu_seconds(loader) -> float:
    """CPU time of this process and of ``loader``'s worker processes (from /proc)."""
    total = time.process_time()
    iterator = getattr(loader, "_iterator", None)
    for worker in getattr(iterator, "_workers", []):
        try:
            fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def epoch_seconds(batches, loader=None) -> float:
    """One pass; by the CPU clock when asked for and ``loader`` is given, else wall time."""
    clock = (lambda: cpu_seconds(loader)) if CLOCK == "cpu" and loader else time.perf_counter
    start = clock()
    for batch in batches:
        x = batch[0]
        if x.dtype != torch.float32:  # the hand-written loader's last step
            x = x.float() / 255
    return clock() - start


def orders(count: int, seed: int) -> list[torch.Tensor]:
    return list(torch.randperm(count, generator=torch.Generator().manual_seed(seed)).split(BATCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: time the streaming by the CPU time of the process and its "
                             "workers, for figures that hold on a machine shared with other work")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of this process (its batches' float conversion)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = args.clock
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        start = time.perf_counter()
        csv = generate(folder, args.images)
        print(f"generated {args.images:,} PNGs in {time.perf_counter() - start:.1f} s; "
              f"{args.workers} workers, batch {BATCH}, {args.rounds} rounds")

        data = open_csv(csv, normalize=True, stream="always")
        ours = StreamFeeder(data, ["x", "y"], cpu, args.workers)
        baseline = torch.utils.data.DataLoader(
            Files(folder, args.images, data.arrays["y"][:, 0]), batch_size=BATCH, shuffle=True,
            num_workers=args.workers, persistent_workers=True,
            prefetch_factor=stream.PREFETCH)
        epoch_seconds(baseline)  # warm-up: the workers start, the files enter the page cache
        epoch_seconds(ours.batches(orders(args.images, 0)))
        hand, trainer = [], []
        for r in range(args.rounds):
            hand.append(epoch_seconds(baseline, baseline))
            trainer.append(epoch_seconds(ours.batches(orders(args.images, r + 1)), ours.loader))
        ratio = statistics.median(h / t for h, t in zip(hand, trainer))
        per = "CPU-second" if CLOCK == "cpu" else "s"
        print(f"streaming ({CLOCK} clock): hand-written {args.images / statistics.median(hand):7.0f} images/{per}, "
              f"trainer {args.images / statistics.median(trainer):7.0f} images/{per}, ratio "
              f"(trainer / hand-written) median {ratio:.2f} "
              f"[{min(h / t for h, t in zip(hand, trainer)):.2f}–"
              f"{max(h / t for h, t in zip(hand, trainer)):.2f}]")
        del ours, baseline

        firsts, seconds, writes, reads = [], [], [], []
        for r in range(args.rounds):
            shutil.rmtree(stream.cache_folder(csv), ignore_errors=True)
            start = time.perf_counter()
            cached = open_csv(csv, normalize=True, cache=True, stream="always",
                              workers=args.workers)
            writes.append(time.perf_counter() - start)
            feeder = StreamFeeder(cached, ["x", "y"], cpu, args.workers)
            reads.append(epoch_seconds(feeder.batches(orders(args.images, 2 * r))))
            firsts.append(writes[-1] + reads[-1])
            seconds.append(epoch_seconds(feeder.batches(orders(args.images, 2 * r + 1))))
            del feeder
        first, second = statistics.median(firsts), statistics.median(seconds)
        print(f"cache: first epoch {first:.2f} s (writing the cache {statistics.median(writes):.2f}"
              f" s, then reading it {statistics.median(reads):.2f} s), second epoch "
              f"{second:.2f} s: {first / second:.1f}x faster; a pass that decodes the PNGs "
              f"takes {statistics.median(trainer) / second:.1f}x a pass over the cache")


if __name__ == "__main__":
    main()
