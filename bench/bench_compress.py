"""int8 quantization of digits_lenet against its float model, in the same run.

Trains digits_lenet (``--epochs``, on the CPU), quantizes the run as ``python -m designer
compress --method quantize`` does (static, QDQ, per-channel weights, calibrated on training
samples), then times the float and the int8 ONNX model in ONNX Runtime on the CPU (one thread,
as the compress report does) at batch 1 and 32: ROUNDS interleaved pairs, each taking the
median of many runs. Printed are the file sizes, validation accuracies, median milliseconds
and the median of the per-pair ratios (int8 / float), so the figure holds on a noisy machine.

    python bench/bench_compress.py [--rounds 5] [--epochs 5]
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from designer.core.compress.measure import latency, validation_of, write_float  # noqa: E402
from designer.core.compress.methods import quantize_run  # noqa: E402
from designer.core.compress.result import BATCHES  # noqa: E402
from designer.core.export import load_model  # noqa: E402
from designer.core.project import load  # noqa: E402
from designer.core.trainer import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as tmp:
        folder = Path(tmp)
        project = load(ROOT / "projects" / "digits_lenet.nnd")
        project.training.epochs = args.epochs
        project.training.device = "cpu"
        project.save(folder / "digits_lenet.nnd")
        trained = train(project, folder / "run")
        assert trained.status == "done", trained.message
        result = quantize_run(project, trained.run_dir, folder / "lenet_int8.onnx")
        model = load_model(project, trained.run_dir, "best")
        float_path = folder / "lenet_float.onnx"
        write_float(model, float_path)
        data = validation_of(model)
        int8_path = Path(result.output)
        times = {"float": {str(b): [] for b in BATCHES}, "int8": {str(b): [] for b in BATCHES}}
        for round_ in range(args.rounds):
            order = [("float", float_path), ("int8", int8_path)]
            for name, path in order if round_ % 2 == 0 else order[::-1]:
                for batch, ms in latency(path, data).items():
                    times[name][batch].append(ms)
    before, after = result.before, result.after
    print(f"digits_lenet, {args.epochs} epochs, {len(data.targets)} validation samples, "
          f"{args.rounds} interleaved pairs, ONNX Runtime CPU, 1 thread")
    print(f"  file: float {before.size:,} bytes, int8 {after.size:,} bytes "
          f"({after.size / before.size:.1%})")
    print(f"  validation accuracy: float {before.accuracy:.2%}, int8 {after.accuracy:.2%} "
          f"({(after.accuracy - before.accuracy) * 100:+.2f} points; "
          f"{result.agreement:.2%} of samples classified alike)")
    for batch in (str(b) for b in BATCHES):
        f, q = times["float"][batch], times["int8"][batch]
        ratio = statistics.median(b / a for a, b in zip(f, q))
        print(f"  batch {batch:>2}: float {statistics.median(f):.4f} ms, int8 "
              f"{statistics.median(q):.4f} ms, int8 / float {ratio:.2f}×")


if __name__ == "__main__":
    main()
