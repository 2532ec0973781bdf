"""Loss layers: each takes the prediction and a target: a dataset variable, generated values,
or the output of a layer linked to its T input.

As in Neural Network Console a loss gives one value per element (per sample for the class
losses), and training minimises the mean of each output that feeds nothing; a loss can feed
another layer (a Sum, a MulScalar that weights it)."""
from nodes.nnc import NncLayer, fixed, same
from nodes.nnc import target as nnc_target
from nodes.spec import (VALUES, LayerSpec, LazyModule, Prediction, Prop, Shape, ShapeError,
                        TargetSpec, generator_props, numel, shape_text)

modules = LazyModule("nodes.modules")


def _target(name: str = "T.Dataset") -> Prop:
    return Prop(name, "str", "y", "Name of the dataset variable holding the target.",
                former_name="T.Dataset" if name != "T.Dataset" else "")


def _elementwise(inputs: list[Shape], p: dict) -> Shape:
    return inputs[0]


def _per_sample(inputs: list[Shape], p: dict) -> Shape:
    return (1,)


def same_shape_target(pred: Shape, p: dict) -> TargetSpec:
    return TargetSpec(pred, "float")


def _class_infer(inputs: list[Shape], p: dict) -> Shape:
    if len(inputs[0]) != 1:
        raise ShapeError(f"expects one score per class (a vector), got {shape_text(inputs[0])}; "
                         "add an Affine layer before it")
    return (1,)


def class_target(pred: Shape, p: dict) -> TargetSpec:
    return TargetSpec((1,), "index", classes=pred[0])


def loss(name: str, help: str, build, target=same_shape_target, infer=_elementwise,
         props: tuple[Prop, ...] = (), prediction: Prediction = VALUES,
         code_args=None, target_prop: str = "T.Dataset", nnc_head=()) -> LayerSpec:
    """A loss; NNC writes ``nnc_head`` (then our other properties) before its target."""
    pin = target_prop.split(".")[0]
    nnc = NncLayer(name, tuple(nnc_head) + same(*(p.name for p in props)) + nnc_target(pin),
                   pins=(pin,))
    generated = generator_props(f"{pin}.", what="the target variable")
    return LayerSpec(name=name, category="Loss", help=help,
                     props=(_target(target_prop),) + generated + props, infer=infer,
                     build=build, inputs=("x", pin), optional_inputs=frozenset({pin}),
                     is_loss=True, target=target, prediction=prediction, code_args=code_args,
                     macs=lambda i, p, o: numel(i[0]), target_prop=target_prop, nnc=nnc)


_FIRST_AXIS = fixed("Axis", "0")


SquaredError = loss("SquaredError", "Squared error against the target, per value (regression; training minimises its mean).",
                    lambda i, p: modules.SquaredError())
AbsoluteError = loss("AbsoluteError", "Absolute error against the target, per value (regression).",
                     lambda i, p: modules.AbsoluteError())
HuberLoss = loss(
    "HuberLoss", "The squared error for differences d below Delta, Delta·(2|d| − Delta) above "
                 "it (regression that is robust to outliers).",
    lambda i, p: modules.HuberLoss(p["Delta"]),
    props=(Prop("Delta", "float", 1.0, "Difference at which the loss turns linear.",
                min=1e-6),),
    code_args=lambda m: [m.delta])
BinaryCrossEntropy = loss(
    "BinaryCrossEntropy",
    "Cross entropy of probabilities (0 to 1, e.g. after Sigmoid) against 0/1 targets.",
    lambda i, p: modules.BinaryCrossEntropy(),
    prediction=Prediction("probabilities", "probabilities of class 1, from 0 to 1 (above 0.5 "
                                           "means class 1)", pick="threshold"))
SigmoidCrossEntropy = loss(
    "SigmoidCrossEntropy",
    "Sigmoid + binary cross entropy of raw scores against 0/1 targets, computed stably.",
    lambda i, p: modules.SigmoidCrossEntropy(),
    prediction=Prediction("logits", "raw scores (logits); apply sigmoid for the probability of "
                                    "class 1 (a score above 0 means class 1)", pick="threshold"))
SoftmaxCrossEntropy = loss(
    "SoftmaxCrossEntropy",
    "Softmax + cross entropy of class scores against a class index (classification). "
    "Feed it raw scores, not probabilities.",
    lambda i, p: modules.SoftmaxCrossEntropy(), target=class_target,
    infer=_class_infer, nnc_head=(_FIRST_AXIS,),
    prediction=Prediction("scores", "raw class scores (logits); apply softmax over axis 1 for "
                                    "probabilities, the predicted class is the argmax",
                          pick="argmax"))
CategoricalCrossEntropy = loss(
    "CategoricalCrossEntropy",
    "Cross entropy of class probabilities (e.g. after Softmax) against a class index.",
    lambda i, p: modules.CategoricalCrossEntropy(), target=class_target,
    infer=_class_infer, nnc_head=(_FIRST_AXIS,),
    prediction=Prediction("probabilities", "class probabilities (they sum to 1 over axis 1); "
                                           "the predicted class is the argmax", pick="argmax"))
KLMultinomial = loss(
    "KLMultinomial",
    "Kullback-Leibler divergence of the predicted probabilities from target probabilities.",
    lambda i, p: modules.KLMultinomial(), infer=_per_sample,
    prediction=Prediction("probabilities", "a probability distribution over axis 1"),
    target_prop="q.Dataset", nnc_head=(fixed("BaseAxis", "0"),))

SPECS = [SquaredError, AbsoluteError, HuberLoss, BinaryCrossEntropy, SigmoidCrossEntropy,
         SoftmaxCrossEntropy, CategoricalCrossEntropy, KLMultinomial]
