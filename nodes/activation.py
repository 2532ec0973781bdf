"""Activation layers: element-wise, shape preserving."""
from nodes.nnc import PARAMETER_SCOPE, NncLayer, fixed, ignored, learned, same
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, Weight, numel, shape_text

modules = LazyModule("nodes.modules")
nn = LazyModule("torch.nn")


def _same(inputs, p):
    return inputs[0]


def elementwise(name: str, help: str, build, props: tuple[Prop, ...] = (),
                infer=_same, code_args=None, nnc: NncLayer | None = None, **facts) -> LayerSpec:
    """An activation; NNC writes it under its name with our properties unless ``nnc`` says."""
    facts.setdefault("channels", "each")
    return LayerSpec(name=name, category="Activation", help=help, props=props, infer=infer,
                     build=build, macs=lambda i, p, o: numel(o), code_args=code_args,
                     nnc=nnc or NncLayer(name, same(*(p.name for p in props))), **facts)


IN_PLACE = ignored("InPlace", "*AutoInPlaceOnce")
FIRST_AXIS = fixed("Axis", "0")


def _axis1(name: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        if not inputs[0]:
            raise ShapeError(f"{name} needs at least one axis to normalize over, got a scalar")
        return inputs[0]
    return infer


# torch.nn.SELU's constants (NNC's defaults, to float precision)
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717

ReLU = elementwise("ReLU", "max(0, x) element-wise.", lambda i, p: nn.ReLU(),
                   nnc=NncLayer("ReLU", (IN_PLACE,)))
LeakyReLU = elementwise(
    "LeakyReLU", "x for positive x, Alpha·x for negative x.",
    lambda i, p: nn.LeakyReLU(p["Alpha"]),
    props=(Prop("Alpha", "float", 0.1, "Slope for negative inputs.", min=0,
                former_name="alpha"),),
    nnc=NncLayer("LeakyReLU", same("Alpha") + (IN_PLACE,)))
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
    lambda i, p: modules.Softmax(), infer=_axis1("Softmax"), channels="",
    nnc=NncLayer("Softmax", (FIRST_AXIS,)))
LogSoftmax = elementwise(
    "LogSoftmax", "Logarithm of Softmax along the first axis, computed stably.",
    lambda i, p: modules.LogSoftmax(), infer=_axis1("LogSoftmax"), channels="",
    nnc=NncLayer("LogSoftmax", (FIRST_AXIS,)))



def _prelu_infer(inputs: list[Shape], p: dict) -> Shape:
    if p["BaseAxis"] >= len(inputs[0]):
        raise ShapeError(f"BaseAxis {p['BaseAxis']} does not exist in the {shape_text(inputs[0])} "
                         f"input (axes are 0..{len(inputs[0]) - 1})")
    return inputs[0]


PReLU = elementwise(
    "PReLU", "x for positive x, slope·x for negative x, with a learned slope for each index of "
             "BaseAxis (each map of C×H×W input with BaseAxis 0).",
    lambda i, p: modules.PReLU(i[0][p["BaseAxis"]], p["BaseAxis"], len(i[0])),
    props=(Prop("BaseAxis", "int", 0, "The axis whose every index has its own slope.", min=0),),
    infer=_prelu_infer, code_args=lambda m: [m.weight.numel(), m.axis, m.rank], channels="",
    params=lambda i, p, o: i[0][p["BaseAxis"]],
    weights=(Weight("slope", "weight", "Constant", 0.25),),
    nnc=NncLayer("PReLU", same("BaseAxis") + (fixed("Shared", "False", written=False),
                                              PARAMETER_SCOPE) + learned("slope"),
                 pins=("slope",)))


SPECS = [ReLU, LeakyReLU, PReLU, ELU, SELU, GELU, Swish, Tanh, Sigmoid, Softmax, LogSoftmax]
