"""Speed switches against the plain float32 loop, in the same run: each trains digits_lenet with
the real trainer, and steady-state samples/second are compared.

On the CPU the switches that apply are measured: bfloat16 autocast (``precision: bfloat16``),
channels-last convolutions (``speed.channels_last``) and ``torch.compile`` (``speed.compile``).
With a CUDA GPU (``--device cuda``, the default when one is present) the GPU switches are
measured too: float16 with a gradient scaler, bfloat16, channels-last, torch.compile and cuDNN
benchmark mode, against float32 on the same GPU. The switches that do not apply to the device
are listed with the trainer's own refusal.

Each configuration trains EPOCHS epochs; the first (warm-up, compilation) is left out: the
figure is samples/second over the others, from the epochs' ``elapsed``. The configurations run
in turn, ROUNDS times; printed are medians and the median of per-round ratios to float32.

    python bench/bench_speed.py [--rounds 3] [--epochs 3] [--device cpu|cuda] [--threads 2]
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from designer.core.project import load  # noqa: E402
from designer.core.trainer import train  # noqa: E402

CONFIGS = {  # name: (precision, speed switches)
    "float32": ("float", {}),
    "bfloat16": ("bfloat16", {}),
    "float16 + scaler": ("float16", {}),
    "channels-last": ("float", {"channels_last": True}),
    "torch.compile": ("float", {"compile": True}),
    "cuDNN benchmark": ("float", {"cudnn_benchmark": True}),
    "bfloat16 + channels-last + compile": ("bfloat16", {"channels_last": True,
                                                        "compile": True}),
}


def samples_per_second(name: str, device: str, epochs: int, folder: Path):
    precision, speed = CONFIGS[name]
    project = load(ROOT / "projects" / "digits_lenet.nnd")
    project.training.device = device
    project.training.epochs = epochs
    project.training.precision = precision
    project.training.speed = dict(speed)
    project.path = folder / "lenet.nnd"
    seen = []
    result = train(project, on_event=lambda e: e["event"] in ("started", "epoch")
                   and seen.append(e))
    if result.status != "done":
        return None, result.message
    samples, epochs = seen[0]["train_samples"], seen[1:]
    return samples * (len(epochs) - 1) / (epochs[-1]["elapsed"] - epochs[0]["elapsed"]), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"digits_lenet on {args.device}, {args.threads} thread(s), {args.epochs} epochs "
          f"(the first left out), {args.rounds} rounds")
    if args.device == "cpu":
        print("GPU figures need a CUDA machine: run this script there (it measures the GPU "
              "switches against float32 on that GPU).")
    figures: dict[str, list[float]] = {}
    refused: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as temp:
        for r in range(args.rounds):
            for name in CONFIGS:
                if name in refused:
                    continue
                speed, message = samples_per_second(name, args.device, args.epochs, Path(temp))
                if speed is None:
                    refused[name] = message
                else:
                    figures.setdefault(name, []).append(speed)
    base = figures["float32"]
    for name, values in figures.items():
        ratios = [v / b for v, b in zip(values, base)]
        print(f"{name:>36}: {statistics.median(values):7.0f} samples/s, "
              f"{statistics.median(ratios):.2f}x float32 "
              f"[{min(ratios):.2f}–{max(ratios):.2f}]")
    for name, message in refused.items():
        print(f"{name:>36}: refused on {args.device}: {message}")


if __name__ == "__main__":
    main()
