"""Activation layers: element-wise, shape preserving."""
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, numel

modules = LazyModule("nodes.modules")
nn = LazyModule("torch.nn")


def _same(inputs, p):
    return inputs[0]


def elementwise(name: str, help: str, build, props: tuple[Prop, ...] = (),
                infer=_same, code_args=None) -> LayerSpec:
    return LayerSpec(name=name, category="Activation", help=help, props=props, infer=infer,
                     build=build, macs=lambda i, p, o: numel(o), code_args=code_args)


def _axis1(name: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        if not inputs[0]:
            raise ShapeError(f"{name} needs at least one axis to normalize over, got a scalar")
        return inputs[0]
    return infer


# torch.nn.SELU's constants (NNC's defaults, to float precision)
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

ReLU = elementwise("ReLU", "max(0, x) element-wise.", lambda i, p: nn.ReLU())
LeakyReLU = elementwise(
    "LeakyReLU", "x for positive x, alpha·x for negative x.",
    lambda i, p: nn.LeakyReLU(p["alpha"]),
    props=(Prop("alpha", "float", 0.1, "Slope for negative inputs.", min=0),))
ELU = elementwise(
    "ELU", "x for positive x, Alpha·(exp(x) − 1) for negative x.",
    lambda i, p: nn.ELU(p["Alpha"]),
    props=(Prop("Alpha", "float", 1.0, "Scale of the negative part.", min=0),))
SELU = elementwise(
    "SELU", "Scaled ELU: Scale·(x for positive x, Alpha·(exp(x) − 1) for negative x); "
            "self-normalizing with the default constants.",
    lambda i, p: modules.SELU(p["Scale"], p["Alpha"]),
    props=(Prop("Scale", "float", SELU_SCALE, "Overall scale λ.", min=0),
           Prop("Alpha", "float", SELU_ALPHA, "Scale of the negative part.", min=0)),
    code_args=lambda m: [m.scale, m.alpha])
GELU = elementwise("GELU", "Gaussian error linear unit x·Φ(x), a smooth ReLU.",
                   lambda i, p: nn.GELU())
Swish = elementwise("Swish", "x·sigmoid(x), a smooth ReLU (also called SiLU).",
                    lambda i, p: nn.SiLU())
Tanh = elementwise("Tanh", "Hyperbolic tangent element-wise; outputs between −1 and 1.",
                   lambda i, p: nn.Tanh())
Sigmoid = elementwise("Sigmoid", "1 / (1 + exp(−x)) element-wise; outputs between 0 and 1.",
                      lambda i, p: nn.Sigmoid())
Softmax = elementwise(
    "Softmax", "Turns scores into probabilities that sum to 1 along the first axis.",
    lambda i, p: modules.Softmax(), infer=_axis1("Softmax"))
LogSoftmax = elementwise(
    "LogSoftmax", "Logarithm of Softmax along the first axis, computed stably.",
    lambda i, p: modules.LogSoftmax(), infer=_axis1("LogSoftmax"))

SPECS = [ReLU, LeakyReLU, ELU, SELU, GELU, Swish, Tanh, Sigmoid, Softmax, LogSoftmax]
