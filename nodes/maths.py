"""Math layers: element-wise functions and reductions over axes."""
from nodes.nnc import NncLayer, fixed, same
from nodes.others import axes_infer
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, numel

modules = LazyModule("nodes.modules")


def _same(inputs: list[Shape], p: dict) -> Shape:
    return inputs[0]


def elementwise(name: str, help: str, category: str = "Math") -> LayerSpec:
    """A layer without properties that applies ``nodes.modules.<name>`` to each value."""
    return LayerSpec(name=name, category=category, help=help, infer=_same,
                     macs=lambda i, p, o: numel(o), build=lambda i, p: getattr(modules, name)(),
                     nnc=NncLayer(name), channels="each")


Abs = elementwise("Abs", "|x| element-wise.")
Exp = elementwise("Exp", "e to the power x element-wise.")
Log = elementwise("Log", "Natural logarithm element-wise (NaN below 0, −inf at 0).")


def _reduce_infer(inputs: list[Shape], p: dict) -> Shape:
    x, axes = axes_infer(inputs, p), p["Axes"]
    if p["KeepDims"]:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _reduction(name: str, op: str, what: str, *extra) -> LayerSpec:
    return LayerSpec(
        name=name,
        category="Math",
        help=f"The {what} over Axes; those axes are dropped, or kept with size 1 (KeepDims).",
        props=(Prop("Axes", "shape", (0,), "The axes to reduce, counting from 0.", min=0),
               Prop("KeepDims", "bool", False, "Keep the reduced axes, with size 1.")),
        infer=_reduce_infer,
        macs=lambda i, p, o: numel(i[0]),
        build=lambda i, p: modules.Reduce(op, p["Axes"], p["KeepDims"]),
        code_args=lambda m: [m.op, tuple(a - 1 for a in m.axes), m.keep_dims],
        nnc=NncLayer(name, same("Axes", "KeepDims") + extra),
    )


# Max and Min can also give where the extreme is (OnlyIndex); that is not carried over.
_VALUES_ONLY = (fixed("WithIndex", "False", written=False), fixed("OnlyIndex", "False"))

Sum = _reduction("Sum", "sum", "sum")
Mean = _reduction("Mean", "mean", "mean")
Max = _reduction("Max", "max", "largest value", *_VALUES_ONLY)
Min = _reduction("Min", "min", "smallest value", *_VALUES_ONLY)

SPECS = [Abs, Exp, Log, Sum, Mean, Max, Min]
