"""Arithmetic layers: element-wise operations with a constant or between two inputs."""
from nodes.nnc import NncLayer, ignored, same
from nodes.others import broadcast_infer
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, numel

modules = LazyModule("nodes.modules")


def _same(inputs: list[Shape], p: dict) -> Shape:
    return inputs[0]


def _scalar(name: str, op: str, help: str, value: float) -> LayerSpec:
    return LayerSpec(
        name=name,
        category="Arithmetic",
        help=help,
        props=(Prop("Value", "float", value, "The constant v."),),
        infer=_same,
        macs=lambda i, p, o: numel(o),
        build=lambda i, p: modules.ScalarOp(op, p["Value"]),
        code_args=lambda m: [m.op, m.value],
        nnc=NncLayer(name, same("Value")),
        channels="each",
    )


AddScalar = _scalar("AddScalar", "add", "x + v element-wise.", 0.0)
MulScalar = _scalar("MulScalar", "mul", "x · v element-wise.", 1.0)
RSubScalar = _scalar("RSubScalar", "rsub", "v − x element-wise.", 0.0)
RDivScalar = _scalar("RDivScalar", "rdiv", "v / x element-wise.", 1.0)
PowScalar = _scalar("PowScalar", "pow", "x to the power v element-wise (a negative x with a "
                                        "fractional v gives NaN).", 2.0)
MaximumScalar = _scalar("MaximumScalar", "max", "The larger of x and v element-wise.", 0.0)
MinimumScalar = _scalar("MinimumScalar", "min", "The smaller of x and v element-wise.", 1.0)

# Sub2 and Div2 take the right operand on NNC's side input R; NNC's settings for an R drawn
# from a generator or the dataset mean nothing while R is linked.
_R_SOURCE = (ignored("R.Dataset", ""), ignored("R.Generator", "Constant"),
             ignored("R.GeneratorMultiplier", "1.0"))


def _two_inputs(name: str, help: str, module: str, ports: tuple[str, str]) -> LayerSpec:
    side = ports[1] == "R"
    return LayerSpec(
        name=name,
        category="Arithmetic",
        help=help,
        inputs=ports,
        infer=broadcast_infer(name),
        macs=lambda i, p, o: numel(o),
        build=lambda i, p: getattr(modules, module)(),
        nnc=NncLayer(name, _R_SOURCE if side else (), pins=("R",) if side else (),
                     multiple=not side),
        channels="each",
    )


Sub2 = _two_inputs("Sub2", "x − R element-wise (the shapes must match, or be 1 on the axes "
                           "that differ).", "Sub2", ("x", "R"))
Div2 = _two_inputs("Div2", "x / R element-wise (the shapes must match, or be 1 on the axes "
                           "that differ).", "Div2", ("x", "R"))
Maximum2 = _two_inputs("Maximum2", "The larger of its two inputs element-wise.", "Maximum2",
                       ("x0", "x1"))
Minimum2 = _two_inputs("Minimum2", "The smaller of its two inputs element-wise.", "Minimum2",
                       ("x0", "x1"))

SPECS = [AddScalar, MulScalar, RSubScalar, RDivScalar, PowScalar, MaximumScalar, MinimumScalar,
         Sub2, Div2, Maximum2, Minimum2]
