"""Loss layers: each takes the prediction and a target bound to a dataset variable."""
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, TargetSpec, numel, shape_text

modules = LazyModule("nodes.modules")

_TARGET = Prop("T.Dataset", "str", "y", "Name of the dataset variable holding the target.")


def _scalar(inputs: list[Shape], p: dict) -> Shape:
    return ()


def same_shape_target(pred: Shape, p: dict) -> TargetSpec:
    return TargetSpec(pred, "float")


def _class_infer(inputs: list[Shape], p: dict) -> Shape:
    if len(inputs[0]) != 1:
        raise ShapeError(f"expects one score per class (a vector), got {shape_text(inputs[0])}; "
                         "add an Affine layer before it")
    return ()


def class_target(pred: Shape, p: dict) -> TargetSpec:
    return TargetSpec((1,), "index", classes=pred[0])


def loss(name: str, help: str, build, target=same_shape_target, infer=_scalar,
         props: tuple[Prop, ...] = ()) -> LayerSpec:
    return LayerSpec(name=name, category="Loss", help=help, props=(_TARGET,) + props,
                     infer=infer, build=build, is_loss=True, target=target,
                     macs=lambda i, p, o: numel(i[0]))


SquaredError = loss("SquaredError", "Mean squared error against the target (regression).",
                    lambda i, p: modules.SquaredError())
AbsoluteError = loss("AbsoluteError", "Mean absolute error against the target (regression).",
                     lambda i, p: modules.AbsoluteError())
HuberLoss = loss(
    "HuberLoss", "Half the squared error for differences below Delta, linear above it "
                 "(regression that is robust to outliers; half of NNC's value).",
    lambda i, p: modules.HuberLoss(p["Delta"]),
    props=(Prop("Delta", "float", 1.0, "Difference at which the loss turns linear.",
                min=1e-6),))
BinaryCrossEntropy = loss(
    "BinaryCrossEntropy",
    "Cross entropy of probabilities (0 to 1, e.g. after Sigmoid) against 0/1 targets.",
    lambda i, p: modules.BinaryCrossEntropy())
SigmoidCrossEntropy = loss(
    "SigmoidCrossEntropy",
    "Sigmoid + binary cross entropy of raw scores against 0/1 targets, computed stably.",
    lambda i, p: modules.SigmoidCrossEntropy())
SoftmaxCrossEntropy = loss(
    "SoftmaxCrossEntropy",
    "Softmax + cross entropy of class scores against a class index (classification). "
    "Feed it raw scores, not probabilities.",
    lambda i, p: modules.SoftmaxCrossEntropy(), target=class_target,
    infer=_class_infer)
CategoricalCrossEntropy = loss(
    "CategoricalCrossEntropy",
    "Cross entropy of class probabilities (e.g. after Softmax) against a class index.",
    lambda i, p: modules.CategoricalCrossEntropy(), target=class_target,
    infer=_class_infer)
KLMultinomial = loss(
    "KLMultinomial",
    "Kullback-Leibler divergence of the predicted probabilities from target probabilities.",
    lambda i, p: modules.KLMultinomial())

SPECS = [SquaredError, AbsoluteError, HuberLoss, BinaryCrossEntropy, SigmoidCrossEntropy,
         SoftmaxCrossEntropy, CategoricalCrossEntropy, KLMultinomial]
