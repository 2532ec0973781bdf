"""What repeat blocks and recurrent loops cost: a ResNet-110 drawn with three repeat blocks
(18, 17 and 17 residual units) against the same network written out, layer by layer, in the
same run (cold analysis, which expands the blocks first, and compilation), and an Elman cell
unrolled over 28 and 200 steps (analysis and compilation) against the whole-sequence RNN layer
of the same size.

    python bench/bench_structures.py [--repeats 5]
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
from designer.core.project import Network, Project  # noqa: E402


def residual(net: Network, into, maps: int, suffix: str = ""):
    """Pre-activation residual unit: BN → ReLU → Conv → BN → ReLU → Conv → Add2 (+ into)."""
    chain = [net.add("BatchNormalization", name=f"BN{suffix}"), net.add("ReLU", name=f"R{suffix}"),
             net.add("Convolution", name=f"C{suffix}", OutMaps=maps, KernelShape=[3, 3],
                     Padding=[1, 1]),
             net.add("BatchNormalization", name=f"BNb{suffix}"),
             net.add("ReLU", name=f"Rb{suffix}"),
             net.add("Convolution", name=f"Cb{suffix}", OutMaps=maps, KernelShape=[3, 3],
                     Padding=[1, 1])]
    add = net.add("Add2", name=f"Add{suffix}")
    for a, b in zip([into] + chain, chain + [add]):
        net.connect(a, b)
    net.connect(into, add, 1)
    return add


def resnet110(written_out: bool) -> Project:
    project = Project()
    net = project.network()
    value = net.add("Input", Size=[3, 32, 32])
    stem = net.add("Convolution", name="Stem", OutMaps=16, KernelShape=[3, 3], Padding=[1, 1])
    net.connect(value, stem)
    value = stem
    for stage, (maps, times) in enumerate(((16, 18), (32, 17), (64, 17))):
        if stage:  # a transition: stride 2, more maps
            down = net.add("Convolution", name=f"Down{stage}", OutMaps=maps, KernelShape=[3, 3],
                           Padding=[1, 1], Strides=[2, 2])
            net.connect(value, down)
            value = down
        if written_out:
            for i in range(times):
                value = residual(net, value, maps, f"_{stage}_{i}")
        else:
            start = net.add("RepeatStart", name=f"Repeat{stage}", Times=times)
            end = net.add("RepeatEnd", name=f"RepeatEnd{stage}")
            net.connect(value, start)
            net.connect(residual(net, start, maps, f"_{stage}"), end)
            value = end
    pool = net.add("GlobalAveragePooling")
    head = net.add("Affine", OutShape=[10])
    loss = net.add("SoftmaxCrossEntropy")
    for a, b in ((value, pool), (pool, head), (head, loss)):
        net.connect(a, b)
    return project


def elman(steps: int, whole_sequence: bool) -> Project:
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[steps, 8])
    if whole_sequence:
        cell = net.add("RNN", HiddenSize=32)
        net.connect(x, cell)
        last = cell
    else:
        start = net.add("RecurrentInput", Axis=0)
        join = net.add("Concatenate", Axis=0)
        state = net.add("Delay", Size=[32])
        affine = net.add("Affine", name="Cell", OutShape=[32])
        tanh = net.add("Tanh")
        end = net.add("RecurrentOutput", Axis=0)
        for a, b in ((x, start), (start, join), (join, affine), (affine, tanh), (tanh, state),
                     (tanh, end)):
            net.connect(a, b)
        net.connect(state, join, 0)
        last = net.add("Slice", Start=[steps - 1, 0], Stop=[steps, 32], Step=[1, 1])
        net.connect(end, last)
    head = net.add("Affine", OutShape=[1])
    loss = net.add("SigmoidCrossEntropy")
    net.connect(last, head)
    net.connect(head, loss)
    return project


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        analysis._MEMO.clear()  # cold: no layer result remembered
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(project: Project, repeats: int) -> tuple[float, float, int, int]:
    net = project.network()
    result = analyze(net, project=project)
    assert result.ok, result.problems
    cold = median_ms(lambda: analyze(net, project=project), repeats)
    build = median_ms(lambda: compile_network(net, project=project), repeats)
    return cold, build, result.total_params, result.total_macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'network':<28} {'analysis ms':>12} {'compile ms':>11} {'params':>10} "
          f"{'mult-adds':>13}")
    rows = {}
    for name, project in (("ResNet-110, written out", resnet110(True)),
                          ("ResNet-110, repeat blocks", resnet110(False)),
                          ("RNN layer, 28 steps", elman(28, True)),
                          ("Elman by Delay, 28 steps", elman(28, False)),
                          ("RNN layer, 200 steps", elman(200, True)),
                          ("Elman by Delay, 200 steps", elman(200, False))):
        rows[name] = measure(project, args.repeats)
        cold, build, params, macs = rows[name]
        print(f"{name:<28} {cold:>12.1f} {build:>11.1f} {params:>10,} {macs:>13,}")
    a, b = rows["ResNet-110, repeat blocks"], rows["ResNet-110, written out"]
    assert a[2:] == b[2:], "the repeat blocks must count as the network written out"
    print(f"repeat blocks / written out: analysis {a[0] / b[0]:.2f}×, compile {a[1] / b[1]:.2f}×")
    for steps in (28, 200):
        d, r = rows[f"Elman by Delay, {steps} steps"], rows[f"RNN layer, {steps} steps"]
        print(f"Elman by Delay / RNN layer, {steps} steps: analysis {d[0] / r[0]:.1f}×, "
              f"compile {d[1] / r[1]:.1f}×")


if __name__ == "__main__":
    main()
