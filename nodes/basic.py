"""Basic layers: fully connected and convolutions."""
import math

from nodes.nnc import (BORDER_MODE, CONVOLUTION_PADDING, FIXED_BASE_AXIS, PARAMETER_SCOPE,
                       NncLayer, fixed, learned, read_only, same)
from nodes.spec import (LayerSpec, LazyModule, OpsetNeed, Prop, Shape, ShapeError, Weight, numel,
                        shape_text)

modules = LazyModule("nodes.modules")
nn = LazyModule("torch.nn")


def conv_weights(initializer: str, fans: str = "conv") -> tuple[Weight, Weight]:
    """W and b of a layer built as a torch convolution (attributes weight and bias)."""
    return (Weight("W", "weight", initializer, 1.0, fans), Weight("b", "bias", "Constant", 0.0))


def _affine_infer(inputs: list[Shape], p: dict) -> Shape:
    return p["OutShape"]


Affine = LayerSpec(
    name="Affine",
    category="Basic",
    help="Fully connected layer: every input value feeds every output neuron. "
         "Trailing input axes are flattened first, so 16×5×5 gives 400 features.",
    props=(
        Prop("OutShape", "shape", (100,), "Number of output neurons (or their shape).", min=1),
        Prop("WithBias", "bool", True, "Add a learned bias to each output."),
    ),
    infer=_affine_infer,
    params=lambda i, p, o: numel(i[0]) * numel(o) + (numel(o) if p["WithBias"] else 0),
    macs=lambda i, p, o: numel(i[0]) * numel(o),
    build=lambda i, p: modules.Affine(numel(i[0]), p["OutShape"], p["WithBias"]),
    code_args=lambda m: [m.linear.in_features, m.out_shape, m.linear.bias is not None],
    weights=(Weight("W", "linear.weight", "NormalAffineGlorot", 1.0, "affine"),
             Weight("b", "linear.bias", "Constant", 0.0)),
    nnc=NncLayer("Affine", same("OutShape") + (FIXED_BASE_AXIS,) + same("WithBias")
                 + (PARAMETER_SCOPE,) + learned("W", "b"), pins=("W", "b")),
    onnx_opset=OpsetNeed(13, "an OutShape of more than one axis needs Unflatten, which ONNX has "
                             "from opset 13", lambda props, inputs: len(props["OutShape"]) > 1),
)


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def fmt_shape(value: tuple) -> str:
    """A shape property as the user typed it: ``3,3``."""
    return ",".join(str(v) for v in value)


def _spatial_props(inputs: list[Shape], p: dict, layer: str) -> tuple[int, ...]:
    """Check rank and per-axis property lengths; return the spatial size of the input."""
    x = inputs[0]
    if len(x) not in (2, 3):
        raise ShapeError(f"{layer} takes C×L (1-D) or C×H×W (2-D) input, got {shape_text(x)}")
    spatial = x[1:]
    for name in ("KernelShape", "Strides", "Padding", "Dilation"):
        if name in p and len(p[name]) != len(spatial):
            axes = "axis" if len(spatial) == 1 else "axes"
            raise ShapeError(
                f"{name} {fmt_shape(p[name])} has {len(p[name])} value(s) but the "
                f"{shape_text(x)} input has {len(spatial)} spatial {axes}")
    return spatial


def _check_fits(layer: str, inputs: list[Shape], p: dict, out: tuple[int, ...]) -> None:
    if any(o < 1 for o in out):
        raise ShapeError(f"kernel {fmt_shape(p['KernelShape'])} does not fit the "
                         f"{shape_text(inputs[0])} input (output would be {shape_text(out)})")


def _conv_infer(inputs: list[Shape], p: dict) -> Shape:
    spatial = _spatial_props(inputs, p, "Convolution")
    channels = inputs[0][0]
    if channels % p["Group"] or p["OutMaps"] % p["Group"]:
        raise ShapeError(f"Group {p['Group']} must divide the {channels} input maps "
                         f"and the {p['OutMaps']} output maps")
    out = tuple(conv_out_size(s, k, st, pd, d) for s, k, st, pd, d in
                zip(spatial, p["KernelShape"], p["Strides"], p["Padding"], p["Dilation"]))
    _check_fits("Convolution", inputs, p, out)
    return (p["OutMaps"],) + out


def _conv_params(inputs: list[Shape], p: dict, out: Shape) -> int:
    weights = p["OutMaps"] * (inputs[0][0] // p["Group"]) * math.prod(p["KernelShape"])
    return weights + (p["OutMaps"] if p["WithBias"] else 0)


def _conv_macs(inputs: list[Shape], p: dict, out: Shape) -> int:
    return numel(out) * (inputs[0][0] // p["Group"]) * math.prod(p["KernelShape"])


def _conv_build(inputs: list[Shape], p: dict):
    conv = nn.Conv1d if len(inputs[0]) == 2 else nn.Conv2d
    return conv(inputs[0][0], p["OutMaps"], p["KernelShape"], stride=p["Strides"],
                padding=p["Padding"], dilation=p["Dilation"], groups=p["Group"],
                bias=p["WithBias"])


Convolution = LayerSpec(
    name="Convolution",
    category="Basic",
    help="Convolves the input with OutMaps learned kernels: 2-D for C×H×W input, "
         "1-D for C×L input.",
    props=(
        Prop("OutMaps", "int", 16, "Number of kernels (output channels).", min=1),
        Prop("KernelShape", "shape", (3, 3), "Kernel size per spatial axis, e.g. 3,3.", min=1),
        Prop("Strides", "shape", (1, 1), "Step between kernel positions per axis.", min=1),
        Prop("Padding", "shape", (0, 0), "Zeros added on each side per axis.", min=0),
        Prop("Dilation", "shape", (1, 1), "Spacing between kernel taps per axis.", min=1),
        Prop("Group", "int", 1, "Split input and output maps into this many groups.", min=1),
        Prop("WithBias", "bool", True, "Add a learned bias per output map."),
    ),
    infer=_conv_infer,
    params=_conv_params,
    macs=_conv_macs,
    build=_conv_build,
    weights=conv_weights("NormalConvolutionGlorot"),
    nnc=NncLayer("Convolution", same("OutMaps", "KernelShape") + (BORDER_MODE,)
                 + same("Padding", "Strides", "Dilation", "Group")
                 + (fixed("ChannelLast", "False"), FIXED_BASE_AXIS) + same("WithBias")
                 + (PARAMETER_SCOPE,) + learned("W", "b"), pins=("W", "b"),
                 computed=CONVOLUTION_PADDING),
)



def _window_props(stride_help: str) -> tuple[Prop, ...]:
    return (
        Prop("KernelShape", "shape", (3, 3), "Kernel size per spatial axis, e.g. 3,3.", min=1),
        Prop("Strides", "shape", (1, 1), stride_help, min=1),
        Prop("Padding", "shape", (0, 0), "Zeros added on each side per axis.", min=0),
        Prop("Dilation", "shape", (1, 1), "Spacing between kernel taps per axis.", min=1),
    )


# DepthwiseConvolution: one kernel set per input map (groups = input maps).

def _dwconv_infer(inputs: list[Shape], p: dict) -> Shape:
    spatial = _spatial_props(inputs, p, "DepthwiseConvolution")
    out = tuple(conv_out_size(s, k, st, pd, d) for s, k, st, pd, d in
                zip(spatial, p["KernelShape"], p["Strides"], p["Padding"], p["Dilation"]))
    _check_fits("DepthwiseConvolution", inputs, p, out)
    return (inputs[0][0] * p["Multiplier"],) + out


def _dwconv_params(inputs: list[Shape], p: dict, out: Shape) -> int:
    maps = inputs[0][0] * p["Multiplier"]
    return maps * math.prod(p["KernelShape"]) + (maps if p["WithBias"] else 0)


def _dwconv_build(inputs: list[Shape], p: dict):
    conv = nn.Conv1d if len(inputs[0]) == 2 else nn.Conv2d
    channels = inputs[0][0]
    return conv(channels, channels * p["Multiplier"], p["KernelShape"], stride=p["Strides"],
                padding=p["Padding"], dilation=p["Dilation"], groups=channels,
                bias=p["WithBias"])


DepthwiseConvolution = LayerSpec(
    name="DepthwiseConvolution",
    category="Basic",
    help="Convolves each input map with its own Multiplier kernels (no mixing across maps).",
    props=_window_props("Step between kernel positions per axis.") + (
        Prop("Multiplier", "int", 1, "Output maps per input map.", min=1),
        Prop("WithBias", "bool", True, "Add a learned bias per output map."),
    ),
    infer=_dwconv_infer,
    params=_dwconv_params,
    macs=lambda i, p, o: numel(o) * math.prod(p["KernelShape"]),
    build=_dwconv_build,
    weights=conv_weights("NormalConvolutionGlorot"),
    nnc=NncLayer("DepthwiseConvolution",
                 (read_only("OutMaps"),) + same("KernelShape") + (BORDER_MODE,)
                 + same("Padding", "Strides", "Dilation") + (read_only("Group"),)
                 + same("Multiplier") + (FIXED_BASE_AXIS,) + same("WithBias")
                 + (PARAMETER_SCOPE,) + learned("W", "b"), pins=("W", "b"),
                 computed=CONVOLUTION_PADDING),
)


# Deconvolution (transposed convolution).

def deconv_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + 1


def _deconv_infer(inputs: list[Shape], p: dict) -> Shape:
    spatial = _spatial_props(inputs, p, "Deconvolution")
    channels = inputs[0][0]
    if channels % p["Group"] or p["OutMaps"] % p["Group"]:
        raise ShapeError(f"Group {p['Group']} must divide the {channels} input maps "
                         f"and the {p['OutMaps']} output maps")
    out = tuple(deconv_out_size(s, k, st, pd, d) for s, k, st, pd, d in
                zip(spatial, p["KernelShape"], p["Strides"], p["Padding"], p["Dilation"]))
    if any(o < 1 for o in out):
        raise ShapeError(f"Padding {fmt_shape(p['Padding'])} is too large for "
                         f"the {shape_text(inputs[0])} input and KernelShape "
                         f"{fmt_shape(p['KernelShape'])} (output would be {shape_text(out)})")
    return (p["OutMaps"],) + out


def _deconv_params(inputs: list[Shape], p: dict, out: Shape) -> int:
    weights = inputs[0][0] * (p["OutMaps"] // p["Group"]) * math.prod(p["KernelShape"])
    return weights + (p["OutMaps"] if p["WithBias"] else 0)


def _deconv_macs(inputs: list[Shape], p: dict, out: Shape) -> int:
    # every input value is scattered into OutMaps/Group maps through the whole kernel
    return numel(inputs[0]) * (p["OutMaps"] // p["Group"]) * math.prod(p["KernelShape"])


def _deconv_build(inputs: list[Shape], p: dict):
    conv = nn.ConvTranspose1d if len(inputs[0]) == 2 else nn.ConvTranspose2d
    return conv(inputs[0][0], p["OutMaps"], p["KernelShape"], stride=p["Strides"],
                padding=p["Padding"], dilation=p["Dilation"], groups=p["Group"],
                bias=p["WithBias"])


Deconvolution = LayerSpec(
    name="Deconvolution",
    category="Basic",
    help="Transposed convolution: upsamples C×H×W (or C×L) input with OutMaps learned kernels.",
    props=(Prop("OutMaps", "int", 16, "Number of kernels (output channels).", min=1),)
    + _window_props("Upsampling factor per axis.") + (
        Prop("Group", "int", 1, "Split input and output maps into this many groups.", min=1),
        Prop("WithBias", "bool", True, "Add a learned bias per output map."),
    ),
    infer=_deconv_infer,
    params=_deconv_params,
    macs=_deconv_macs,
    build=_deconv_build,
    weights=conv_weights("NormalConvolutionHeForward", "deconv"),
    nnc=NncLayer("Deconvolution", same("OutMaps", "KernelShape", "Padding", "Strides",
                                       "Dilation", "Group") + (FIXED_BASE_AXIS,)
                 + same("WithBias") + (PARAMETER_SCOPE,) + learned("W", "b"), pins=("W", "b")),
)


# Embed: class indices to learned vectors.

Embed = LayerSpec(
    name="Embed",
    category="Basic",
    help="Turns class indices 0..NumClass-1 (e.g. word ids) into learned vectors of length "
         "Shape; output is the input shape plus one axis.",
    props=(
        Prop("NumClass", "int", 10, "Number of distinct indices (vocabulary size).", min=1),
        Prop("Shape", "int", 16, "Length of the vector assigned to each index.", min=1),
    ),
    infer=lambda i, p: tuple(i[0]) + (p["Shape"],),
    params=lambda i, p, o: p["NumClass"] * p["Shape"],
    build=lambda i, p: modules.Embed(p["NumClass"], p["Shape"]),
    code_args=lambda m: [m.embedding.num_embeddings, m.embedding.embedding_dim],
    input_classes=lambda p: p["NumClass"],
    weights=(Weight("W", "embedding.weight", "Uniform", 1.0, "embed"),),
    nnc=NncLayer("Embed", same("NumClass", "Shape") + (PARAMETER_SCOPE,) + learned("W"),
                 pins=("W",)),
)

SPECS = [Affine, Convolution, DepthwiseConvolution, Deconvolution, Embed]
