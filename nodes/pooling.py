"""Pooling layers."""
import math

from nodes.basic import _spatial_props, fmt_shape
from nodes.nnc import NncLayer, fixed, same
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, numel, shape_text

modules = LazyModule("nodes.modules")
nn = LazyModule("torch.nn")


def _pool_out(size: int, kernel: int, stride: int, pad: int, ignore_border: bool) -> int:
    span = size + 2 * pad - kernel
    if ignore_border:
        return span // stride + 1
    out = -(-span // stride) + 1
    # torch's ceil_mode drops a last region that would start inside the right padding
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_infer(layer: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        spatial = _spatial_props(inputs, p, layer)
        for k, pd in zip(p["KernelShape"], p["Padding"]):
            if pd > k // 2:
                raise ShapeError(f"Padding {pd} must be at most half of the kernel "
                                 f"size {k} (KernelShape {fmt_shape(p['KernelShape'])})")
        out = tuple(_pool_out(s, k, st, pd, p["IgnoreBorder"]) for s, k, st, pd in
                    zip(spatial, p["KernelShape"], p["Strides"], p["Padding"]))
        # IgnoreBorder=False pools partial regions, even one larger than the whole input
        too_large = p["IgnoreBorder"] and any(
            s + 2 * pd < k for s, k, pd in zip(spatial, p["KernelShape"], p["Padding"]))
        if too_large or any(o < 1 for o in out):
            raise ShapeError(f"KernelShape {fmt_shape(p['KernelShape'])} is larger "
                             f"than the {shape_text(inputs[0])} input")
        return (inputs[0][0],) + out
    return infer


def _pool_build(kind: str):
    def build(inputs: list[Shape], p: dict):
        dims = len(inputs[0]) - 1
        cls = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d,
               ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d}[kind, dims]
        extra = {"count_include_pad": True} if kind == "avg" else {}
        return cls(p["KernelShape"], stride=p["Strides"], padding=p["Padding"],
                   ceil_mode=not p["IgnoreBorder"], **extra)
    return build


def _pool_props() -> tuple[Prop, ...]:
    return (
        Prop("KernelShape", "shape", (2, 2), "Size of each pooled region, e.g. 2,2.", min=1),
        Prop("Strides", "shape", (2, 2), "Step between regions per axis.", min=1),
        Prop("IgnoreBorder", "bool", True,
             "True drops border samples that do not fill a whole region."),
        Prop("Padding", "shape", (0, 0), "Zeros added on each side per axis.", min=0),
    )


def pool_caveats(props: dict) -> list[str]:
    """NNC sizes a pooling without IgnoreBorder as ⌈(in + 2p)/s⌉ whatever the kernel; torch's
    ceil mode, which we follow, agrees only when each kernel is at most its stride."""
    if props["IgnoreBorder"] or all(k <= s for k, s in zip(props["KernelShape"],
                                                           props["Strides"])):
        return []
    return ["IgnoreBorder=False with a KernelShape larger than Strides: the output size may "
            "differ from NNC's (it rounds ⌈(size + 2·Padding)/Strides⌉)"]


def pool_nnc(name: str, *extra) -> NncLayer:
    return NncLayer(name, same("KernelShape", "Strides", "IgnoreBorder", "Padding") + extra,
                    caveats=pool_caveats)


MaxPooling = LayerSpec(
    name="MaxPooling", category="Pooling",
    help="Outputs the maximum of each local region.",
    props=_pool_props(), infer=_pool_infer("MaxPooling"), build=_pool_build("max"),
    macs=lambda i, p, o: math.prod(o) * math.prod(p["KernelShape"]),
    nnc=pool_nnc("MaxPooling", fixed("ChannelLast", "False")), channels="each",
)

AveragePooling = LayerSpec(
    name="AveragePooling", category="Pooling",
    help="Outputs the average of each local region (padding zeros count in the average).",
    props=_pool_props(), infer=_pool_infer("AveragePooling"), build=_pool_build("avg"),
    macs=lambda i, p, o: math.prod(o) * math.prod(p["KernelShape"]),
    nnc=pool_nnc("AveragePooling", fixed("ChannelLast", "False"), fixed("IncludingPad", "True")),
    channels="each",
)


def _gap_infer(inputs: list[Shape], p: dict) -> Shape:
    x = inputs[0]
    if len(x) < 2:
        raise ShapeError(f"GlobalAveragePooling averages the last two axes (H×W of C×H×W), "
                         f"but the {shape_text(x)} input has only {len(x)} axis")
    return tuple(x[:-2]) + (1, 1)


GlobalAveragePooling = LayerSpec(
    name="GlobalAveragePooling", category="Pooling",
    help="Averages each map over its last two axes: C×H×W becomes C×1×1.",
    infer=_gap_infer, build=lambda i, p: modules.GlobalAveragePooling(),
    macs=lambda i, p, o: numel(i[0]),
    nnc=NncLayer("GlobalAveragePooling"), channels="each",
)



def _sum_pool_build(inputs: list[Shape], p: dict):
    spatial, out = inputs[0][1:], _pool_infer("SumPooling")(inputs, p)[1:]
    extra = tuple(max(0, (o - 1) * s + k - (n + 2 * pd)) for n, o, k, s, pd in
                  zip(spatial, out, p["KernelShape"], p["Strides"], p["Padding"]))
    return modules.SumPooling(inputs[0][0], p["KernelShape"], p["Strides"], p["Padding"], extra)


SumPooling = LayerSpec(
    name="SumPooling", category="Pooling",
    help="Outputs the sum of each local region.",
    props=_pool_props(), infer=_pool_infer("SumPooling"), build=_sum_pool_build,
    macs=lambda i, p, o: math.prod(o) * math.prod(p["KernelShape"]),
    code_args=lambda m: [m.maps, m.kernel, m.stride, m.padding, m.extra],
    nnc=pool_nnc("SumPooling"),
)


def _unpool_infer(inputs: list[Shape], p: dict) -> Shape:
    x, kernel = inputs[0], p["KernelShape"]
    if len(kernel) > len(x):
        raise ShapeError(f"KernelShape {fmt_shape(kernel)} has more values than the "
                         f"{shape_text(x)} input has axes")
    lead = len(x) - len(kernel)
    return tuple(x[:lead]) + tuple(d * k for d, k in zip(x[lead:], kernel))


Unpooling = LayerSpec(
    name="Unpooling", category="Pooling",
    help="Enlarges the last axes by repeating each value KernelShape times (2,2 doubles the "
         "height and width).",
    props=(Prop("KernelShape", "shape", (2, 2), "How many times each value is repeated, per "
                                                "axis (the last axes).", min=1),),
    infer=_unpool_infer, build=lambda i, p: modules.Unpooling(p["KernelShape"]),
    code_args=lambda m: [m.kernel],
    nnc=NncLayer("Unpooling", same("KernelShape")),
)

SPECS = [MaxPooling, AveragePooling, GlobalAveragePooling, SumPooling, Unpooling]
