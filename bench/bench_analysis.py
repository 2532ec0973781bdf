"""Shape inference and compile time for generated graphs of 10 to 10,000 nodes.

Prints, per size: a cold analysis (empty memo), the analysis after one property edit (what
the editor runs after every change), and compilation to fx GraphModules; medians of several
repeats. Per-node figures show whether time grows linearly with the graph.

    python bench/bench_analysis.py [--sizes 10,100,1000,10000] [--repeats 7]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from designer.core import analysis  # noqa: E402
from designer.core.analysis import analyze  # noqa: E402
from designer.core.compiler import compile_network  # noqa: E402
from designer.core.project import Network  # noqa: E402


def residual_mlp(n_nodes: int) -> Network:
    """Input, then blocks Affine → ReLU → Affine → Add2(skip) → ..., then a loss."""
    net = Network()
    prev = net.add("Input", Size=[32], Dataset="x")
    y = 0
    while len(net.nodes) < n_nodes - 5:
        a = net.add("Affine", OutShape=[32], pos=(0, y := y + 80))
        r = net.add("ReLU", pos=(0, y := y + 80))
        b = net.add("Affine", OutShape=[32], pos=(0, y := y + 80))
        s = net.add("Add2", pos=(0, y := y + 80))
        net.connect(prev, a)
        net.connect(a, r)
        net.connect(r, b)
        net.connect(b, s, 0)
        net.connect(prev, s, 1)
        prev = s
    head = net.add("Affine", OutShape=[10])
    loss = net.add("SoftmaxCrossEntropy")
    net.connect(prev, head)
    net.connect(head, loss)
    return net


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'nodes':>7} {'cold ms':>9} {'edit ms':>9} {'edit µs/node':>13} {'compile ms':>11}")
    base_per_node = None
    for size in (int(s) for s in args.sizes.split(",")):
        net = residual_mlp(size)
        middle = [n for n in net.nodes if n.type == "Affine"][len(net.nodes) // 8]

        def cold():
            analysis._MEMO.clear()
            analyze(net)

        flip = iter(range(10**9))

        def edit():
            middle.props["OutShape"] = [32 + next(flip) % 2]  # alternate two values
            analyze(net)

        cold_ms = median_ms(cold, args.repeats)
        analyze(net)
        edit_ms = median_ms(edit, args.repeats)
        middle.props["OutShape"] = [32]
        result = analyze(net)
        assert result.ok, result.problems[:3]
        compile_ms = median_ms(lambda: compile_network(net, result),
                               max(1, args.repeats // 3) if size >= 10000 else args.repeats)
        per_node = edit_ms * 1000 / len(net.nodes)
        base_per_node = base_per_node or per_node
        print(f"{len(net.nodes):>7} {cold_ms:>9.2f} {edit_ms:>9.2f} {per_node:>13.2f} "
              f"{compile_ms:>11.1f}   edit µs/node ×{per_node / base_per_node:.2f} vs smallest")


if __name__ == "__main__":
    main()
