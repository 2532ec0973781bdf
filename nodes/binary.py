"""Binary neural network layers: weights or activations reduced to ±1 (or 0/1) in the forward
pass, trained with the straight-through estimator as Neural Network Console documents them.

The weights keep learning in full precision; each forward pass uses their signs (sign(0) = +1).
At inference, and in an exported model, the layers compute the signs alone.
"""
import math

from nodes.basic import _check_fits, _spatial_props, conv_out_size
from nodes.nnc import (BORDER_MODE, CONVOLUTION_PADDING, FIXED_BASE_AXIS, PARAMETER_SCOPE,
                       NncLayer, learned, not_learned, read_only, same)
from nodes.maths import elementwise
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, Weight, numel

modules = LazyModule("nodes.modules")

_NNC_COUNT = ("NNC's statistics count each binary weight as 1/32 of a parameter; this count "
              "is the full-precision weights that train.")


def _affine(name: str, scaled: bool, what: str) -> LayerSpec:
    return LayerSpec(
        name=name,
        category="Basic",
        help=f"Fully connected layer whose weights are {what} in the forward pass; the "
             f"gradient passes straight through to the real-valued weights. {_NNC_COUNT}",
        props=(
            Prop("OutShape", "shape", (100,), "Number of output neurons (or their shape).",
                 min=1),
            Prop("WithBias", "bool", True, "Add a learned (full-precision) bias to each output."),
        ),
        infer=lambda i, p: p["OutShape"],
        params=lambda i, p, o: numel(i[0]) * numel(o) + (numel(o) if p["WithBias"] else 0),
        macs=lambda i, p, o: numel(i[0]) * numel(o),
        build=lambda i, p: modules.BinaryAffine(numel(i[0]), p["OutShape"], p["WithBias"],
                                                scaled),
        code_args=lambda m: [m.weight.shape[1], m.out_shape, m.bias is not None, m.scaled],
        weights=(Weight("W", "weight", "UniformAffineGlorot", 1.0, "affine"),
                 Weight("b", "bias", "Constant", 0.0)),
        nnc=NncLayer(name, same("OutShape", "WithBias") + (FIXED_BASE_AXIS, PARAMETER_SCOPE)
                     + learned("W") + not_learned("Wb", "Constant", "0.0", "0.0")
                     + learned("b"), pins=("W", "Wb", "b")),
    )


def _conv_infer(layer: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        spatial = _spatial_props(inputs, p, layer)
        out = tuple(conv_out_size(s, k, st, pd, d) for s, k, st, pd, d in
                    zip(spatial, p["KernelShape"], p["Strides"], p["Padding"], p["Dilation"]))
        _check_fits(layer, inputs, p, out)
        return (p["OutMaps"],) + out
    return infer


def _conv_params(inputs: list[Shape], p: dict, out: Shape) -> int:
    weights = p["OutMaps"] * inputs[0][0] * math.prod(p["KernelShape"])
    return weights + (p["OutMaps"] if p["WithBias"] else 0)


def _convolution(name: str, scaled: bool, what: str) -> LayerSpec:
    return LayerSpec(
        name=name,
        category="Basic",
        help=f"Convolution whose kernels are {what} in the forward pass; the gradient passes "
             f"straight through to the real-valued kernels. {_NNC_COUNT}",
        props=(
            Prop("OutMaps", "int", 16, "Number of kernels (output channels).", min=1),
            Prop("KernelShape", "shape", (5, 5), "Kernel size per spatial axis, e.g. 5,5.",
                 min=1),
            Prop("WithBias", "bool", True, "Add a learned (full-precision) bias per output map."),
            Prop("Padding", "shape", (0, 0), "Zeros added on each side per axis.", min=0),
            Prop("Strides", "shape", (1, 1), "Step between kernel positions per axis.", min=1),
            Prop("Dilation", "shape", (1, 1), "Spacing between kernel taps per axis.", min=1),
        ),
        infer=_conv_infer(name),
        params=_conv_params,
        macs=lambda i, p, o: numel(o) * i[0][0] * math.prod(p["KernelShape"]),
        build=lambda i, p: modules.BinaryConvolution(
            i[0][0], p["OutMaps"], p["KernelShape"], p["Strides"], p["Padding"], p["Dilation"],
            p["WithBias"], scaled),
        code_args=lambda m: [m.weight.shape[1], m.weight.shape[0], tuple(m.weight.shape[2:]),
                             m.stride, m.padding, m.dilation, m.bias is not None, m.scaled],
        weights=(Weight("W", "weight", "UniformConvolutionGlorot", 1.0, "conv"),
                 Weight("b", "bias", "Constant", 0.0)),
        nnc=NncLayer(name, same("OutMaps", "KernelShape", "WithBias") + (BORDER_MODE,)
                     + same("Padding", "Strides", "Dilation")
                     + (read_only("Group"), FIXED_BASE_AXIS, PARAMETER_SCOPE) + learned("W")
                     + not_learned("Wb", "Constant", "0.0", "0.0") + learned("b"),
                     pins=("W", "Wb", "b"), computed=CONVOLUTION_PADDING),
    )


_SIGNS = "their signs (±1)"
_SCALED = "their signs times the mean absolute weight of each output"

BinaryConnectAffine = _affine("BinaryConnectAffine", False, _SIGNS)
BinaryConnectConvolution = _convolution("BinaryConnectConvolution", False, _SIGNS)
BinaryWeightAffine = _affine("BinaryWeightAffine", True, _SCALED)
BinaryWeightConvolution = _convolution("BinaryWeightConvolution", True, _SCALED)


BinaryTanh = elementwise(
    "BinaryTanh",
    "+1 where the input is above 0, −1 elsewhere; trains with the gradient of a hard tanh "
    "(1 where |x| < 1, 0 elsewhere).",
    category="Activation")
BinarySigmoid = elementwise(
    "BinarySigmoid",
    "1 where the input is above 0, 0 elsewhere; trains with the gradient of a hard sigmoid "
    "(½ where |x| < 1, 0 elsewhere).",
    category="Activation")

SPECS = [BinaryConnectAffine, BinaryConnectConvolution, BinaryWeightAffine,
         BinaryWeightConvolution, BinaryTanh, BinarySigmoid]
