"""The layer spec: one declarative object per layer, from which everything else is generated.

Shapes never include the batch axis (as in Neural Network Console: an image is ``(1, 28, 28)``).
"""
from __future__ import annotations

import importlib
import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable

from nodes import expressions
from nodes.nnc import NncLayer

Shape = tuple[int, ...]

# No layer size, kernel, stride or padding needs more, and torch's kernels take 32-bit sizes
# in places (a pooling stride of 10**18 fails inside torch).
MAX_WHOLE = 2**31 - 1
MAX_AXES = 16  # values in one shape property (a sample of 16 axes is already exotic)
QUOTE_LIMIT = 60  # characters of a user's value quoted in a message


class _Quoter(reprlib.Repr):
    def __init__(self):
        super().__init__()
        self.maxstring = self.maxother = QUOTE_LIMIT
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 3, 6, 6, 4

    def repr_int(self, x, level):
        return number_text(x)


_QUOTER = _Quoter()


def quoted(value: Any) -> str:
    """``repr(value)`` cut to a readable length, whatever the value (a string of a million
    characters, a list nested a thousand deep, a 5,000-digit number)."""
    text = _QUOTER.repr(value)
    return text if len(text) <= 2 * QUOTE_LIMIT else text[:2 * QUOTE_LIMIT - 1] + "…"


def number_text(number: int) -> str:
    """A whole number as text, however large: ``123``, or ``a 5000-digit number``."""
    if abs(number) < 10**30:
        return str(number)
    digits = int(abs(number).bit_length() * math.log10(2)) + 1
    return f"{'-' if number < 0 else ''}a {digits}-digit number"


class ShapeError(ValueError):
    """A layer cannot accept its inputs or properties; the message is for the user."""


@dataclass(frozen=True)
class Prop:
    """A typed layer property.

    kind is one of: ``int``, ``float``, ``bool``, ``shape`` (tuple of ints, written ``3,3``),
    ``choice`` (one of ``choices``), ``str``, ``map`` (names to text values, written
    ``Name=value; Name=value``: a Unit's arguments).
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    allow_empty: bool = False  # for ``shape``: an empty tuple is a valid value
    former_name: str = ""  # its name in project format 2 (the migration to 3 renames it)

    def parse(self, value: Any) -> Any:
        """Return the value converted to this property's type, or raise ValueError with a hint.

        A number, shape or truth value may be an expression (``*Maps``, ``Input[0]*2``): its
        syntax is checked and its text kept, to be evaluated where the layer is used
        (``nodes.expressions``)."""
        try:
            return self._parse(value)
        except ValueError:
            if self.kind not in EXPRESSION_KINDS or not isinstance(value, str) \
                    or not expressions.looks_like_expression(value):
                raise
        try:
            expressions.parse(value)
        except expressions.ExpressionError as e:
            raise ValueError(f"{self.name}: {e}") from None
        return value.strip()

    def _parse(self, value: Any) -> Any:
        kind = self.kind
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(f"{self.name} must be a whole number")
            if isinstance(value, str):
                value = value.strip()
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"{self.name} must be a whole number, not {quoted(value)}") \
                    from None
            if isinstance(value, float) and value != number:
                raise ValueError(f"{self.name} must be a whole number, not {quoted(value)}")
            self._check_range(number)
            return number
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(f"{self.name} must be a number")
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"{self.name} must be a number, not {quoted(value)}") from None
            if not math.isfinite(number):
                raise ValueError(f"{self.name} must be a finite number")
            self._check_range(number)
            return number
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(f"{self.name} must be True or False, not {quoted(value)}")
        if kind == "shape":
            return self._parse_shape(value)
        if kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                listed = ", ".join(self.choices)
                if len(listed) > 100:  # a long list (initializers) would drown the value
                    listed = f"{', '.join(self.choices[:4])}, … ({len(self.choices)} choices)"
                raise ValueError(f"{self.name} must be one of {listed}, not {quoted(value)}")
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"{self.name} must be text, not {quoted(value)}")
            return value
        if kind == "map":
            return self._parse_map(value)
        raise AssertionError(f"unknown property kind {kind}")

    def _parse_map(self, value: Any) -> dict[str, str]:
        """Names and values: an object, or text ``Name=value; Name=value``."""
        if isinstance(value, str):
            pairs = {}
            for part in filter(str.strip, value.split(";")):
                key, sep, item = part.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"{self.name} must be Name=value pairs separated by ';', "
                                     f"not {quoted(value)}")
                pairs[key.strip()] = item.strip()
            value = pairs
        if not isinstance(value, dict) or len(value) > 1000:
            raise ValueError(f"{self.name} must be Name=value pairs, not {quoted(value)}")
        out = {}
        for key, item in value.items():
            if isinstance(item, bool):
                item = str(item)
            if isinstance(item, (int, float)):
                item = str(item)
            if not isinstance(key, str) or not isinstance(item, str) or len(item) > 400:
                raise ValueError(f"{self.name}: {quoted(key)} must have a value of text, not "
                                 f"{quoted(item)}")
            out[key] = item
        return out

    def _check_range(self, number: float) -> None:
        if self.min is not None and number < self.min:
            raise ValueError(f"{self.name} must be at least {_fmt(self.min)}, not {_fmt(number)}")
        highest = MAX_WHOLE if self.max is None and self.kind in ("int", "shape") else self.max
        if highest is not None and number > highest:
            raise ValueError(f"{self.name} must be at most {_fmt(highest)}, not {_fmt(number)}")

    def _parse_shape(self, value: Any) -> Shape:
        if isinstance(value, str):
            text = value.replace("×", ",").replace("x", ",").replace(" ", "")
            parts = [p for p in text.split(",")] if text else []
            try:
                items = tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError(f"{self.name} must be whole numbers separated by commas, like "
                                 f"3,3; got {quoted(value)}") from None
        elif isinstance(value, (list, tuple)):
            if any(isinstance(v, bool) or not isinstance(v, int) for v in value):
                raise ValueError(f"{self.name} must be whole numbers, got {quoted(list(value))}")
            items = tuple(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = (value,)
        else:
            raise ValueError(f"{self.name} must be a shape like 3,3, not {quoted(value)}")
        if not items and not self.allow_empty:
            raise ValueError(f"{self.name} must not be empty")
        if len(items) > MAX_AXES:
            raise ValueError(f"{self.name} has {len(items)} values; at most {MAX_AXES} are "
                             "allowed")
        for v in items:
            self._check_range(v)
        return items

    def format(self, value: Any) -> str:
        """The value as a user types it (shapes as ``3,3``)."""
        if isinstance(value, str):  # an expression, or text
            return value
        if self.kind == "map":
            return "; ".join(f"{k}={v}" for k, v in value.items())
        if self.kind == "shape":
            return ",".join(str(v) for v in value)
        return str(value)


EXPRESSION_KINDS = ("int", "float", "shape", "bool")


def is_expression(prop: "Prop", value: Any) -> bool:
    """A parsed value that is still an expression's text."""
    return prop.kind in EXPRESSION_KINDS and isinstance(value, str)


def _fmt(number: float) -> str:
    if isinstance(number, int):
        return number_text(number)
    return str(int(number)) if float(number).is_integer() else str(number)


class LazyModule:
    """A module imported when one of its attributes is first used.

    The catalog describes layers without torch (the window shows before torch has loaded);
    torch and ``nodes.modules`` load when a layer's module is first built.
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"


def shape_text(shape: Shape | None) -> str:
    """``(6, 24, 24)`` → ``6×24×24``; a scalar is ``1``."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) if shape else "scalar"


def numel(shape: Shape) -> int:
    return math.prod(shape)


def _zero(inputs: list[Shape], props: dict, out: Shape) -> int:
    return 0


initializers = LazyModule("nodes.initializers")

# NNC's initializers (nnabla's names). "Affine"/"Convolution" ones scale by the layer's fans.
INITIALIZERS = ("Normal", "Uniform", "Constant", "NormalAffineHeForward",
                "NormalAffineHeBackward", "NormalAffineGlorot", "UniformAffineGlorot",
                "NormalConvolutionHeForward", "NormalConvolutionHeBackward",
                "NormalConvolutionGlorot", "UniformConvolutionGlorot")


@dataclass(frozen=True)
class Weight:
    """A learned tensor of a layer, under NNC's name for it (W, b, beta, gamma, slope).

    Each gives its layer three properties, as NNC has them: ``<name>.Initializer`` and
    ``<name>.InitializerMultiplier`` (its initial values) and ``<name>.LRateMultiplier``
    (its learning rate is the optimizer's times this factor; 0 freezes it).
    """

    name: str
    attr: str  # the parameter in the built torch module, e.g. "linear.weight"
    initializer: str  # the default, one of INITIALIZERS
    multiplier: float = 1.0  # the default InitializerMultiplier
    # how the layer's fans read from this tensor's shape (for the fan-scaled initializers):
    # "affine" (out, in), "conv" (out, in/group, kernel…), "deconv" (in, out/group, kernel…),
    # "embed" (classes, size); "" for a tensor that does not define them (a bias)
    fans: str = ""

    def props(self) -> tuple[Prop, ...]:
        return (
            Prop(f"{self.name}.Initializer", "choice", self.initializer,
                 f"How {self.name} starts: Normal N(0, m), Uniform U(−m, m), Constant m, or "
                 "scaled by the layer's fan-in and fan-out (He, Glorot) times m.",
                 choices=INITIALIZERS),
            Prop(f"{self.name}.InitializerMultiplier", "float", self.multiplier,
                 f"m: the scale of {self.name}'s initializer."),
            Prop(f"{self.name}.LRateMultiplier", "float", 1.0,
                 f"{self.name} learns at the optimizer's learning rate times this factor; 0 "
                 "freezes it (NNC's own trainer only tells 0 from more than 0).", min=0.0),
        )


PARAMETER_SCOPE = Prop(
    "ParameterScope", "str", "",
    "Layers with the same scope share their weights, across the project's networks too; empty "
    "means the layer's own name (so a layer of the same name in another network shares them).")

# Data a layer can make in place of a dataset variable (NNC's generators): Normal N(0, m²),
# Uniform U(−m, m), Constant m; None reads the dataset variable.
GENERATORS = ("None", "Normal", "Uniform", "Constant")


def generator_props(prefix: str, default: str = "None", multiplier: float = 1.0,
                    what: str = "the dataset variable") -> tuple[Prop, ...]:
    """``<prefix>Generator`` and ``<prefix>GeneratorMultiplier`` (m)."""
    return (
        Prop(f"{prefix}Generator", "choice", default,
             f"Data made here in place of {what}: Normal N(0, m²), Uniform U(−m, m) or Constant "
             "m, drawn anew for every mini-batch; None reads the dataset.", choices=GENERATORS),
        Prop(f"{prefix}GeneratorMultiplier", "float", multiplier,
             "m: the generator's scale (Normal's standard deviation, Uniform's bound, "
             "Constant's value)."),
    )


@dataclass(frozen=True)
class OpsetNeed:
    """The layer needs ONNX opset ``opset`` or newer, when ``applies(props, input shapes)``.

    Found by exporting every layer in a minimal network at every offered opset (the export
    tests check each need fails one opset below and works at it); layers without a need export
    at all of them. Below opset 18 the legacy exporter does the work, so this is its need.
    """

    opset: int
    reason: str  # completes "not supported by ONNX opset N; ..."
    applies: Callable[[dict, list], bool] = lambda props, inputs: True


@dataclass(frozen=True)
class Prediction:
    """What the values a loss is trained on mean, and how they pick a class."""

    kind: str  # "scores", "logits", "probabilities" or "values"
    description: str  # for users of an exported model (its preprocessing notes)
    # "argmax": the class with the highest value; "threshold": each value says class 1 above
    # probability 0.5, its targets are 0 to 1 (one value per sample: a two-class task);
    # "": no classes (regression)
    pick: str = ""

    def __post_init__(self):
        assert self.kind in ("scores", "logits", "probabilities", "values"), self.kind
        assert self.pick in ("argmax", "threshold", ""), self.pick


VALUES = Prediction("values", "predicted values, in the units of the training target")


@dataclass(frozen=True)
class LayerSpec:
    """Everything the app knows about one layer type.

    ``infer(inputs, props) -> output shape`` raises ShapeError with a message for the user.
    ``params`` and ``macs`` take ``(inputs, props, output)`` and return counts.
    ``build(inputs, props) -> torch.nn.Module`` whose forward takes the inputs in port order
    (batch axis first) and returns the output. Losses' modules take ``(prediction, target)``.
    The other fields are facts the engine reads instead of testing layer names.
    """

    name: str
    category: str
    help: str
    infer: Callable[[list[Shape], dict], Shape]
    build: Callable[[list[Shape], dict], Any]
    props: tuple[Prop, ...] = ()
    inputs: tuple[str, ...] = ("x",)
    multi_input: bool = False  # the one input port takes several links, in link order
    params: Callable[[list[Shape], dict, Shape], int] = _zero
    macs: Callable[[list[Shape], dict, Shape], int] = _zero
    # Losses: the target is the dataset variable named by ``target_prop``.
    is_loss: bool = False
    target: Callable[[Shape, dict], "TargetSpec"] | None = None
    prediction: Prediction = VALUES  # losses: what their prediction input means
    # Input: the source is the dataset variable named by the ``Dataset`` property.
    is_input: bool = False
    # Layers that read class indices 0..n-1 from their input (a dataset variable fed straight
    # in holds class numbers): n, from the properties.
    input_classes: Callable[[dict], int] | None = None
    onnx_opset: OpsetNeed | None = None  # when some offered ONNX opsets cannot express it
    # Layers whose module is a class of nodes/modules.py with constructor arguments: those
    # arguments read back from a built module (the PyTorch code export writes them).
    code_args: Callable[[Any], list] | None = None
    # Losses: the property naming the dataset variable that holds the target.
    target_prop: str = "T.Dataset"
    # The learned tensors, each with its initializer and learning-rate properties (appended to
    # ``props``); tensors of the module not listed here learn at the optimizer's rate.
    weights: tuple[Weight, ...] = ()
    nnc: NncLayer | None = None  # how Neural Network Console writes it; None: NNC lacks it
    # How the layer treats the maps of its first axis (structured pruning reads it): "each"
    # computes each map on its own (and, with several inputs, from the same map of each);
    # "learned" does too, with a learned value per map (sliced when maps are removed);
    # "flatten" lays the maps out one after another as features; "" mixes or moves them.
    channels: str = ""
    examples: tuple[dict, ...] = field(default_factory=tuple)
    # input ports that may stay unconnected (a loss's target T, a Delay's Initial)
    optional_inputs: frozenset[str] = frozenset()
    # what a structural layer does to the graph (none for ordinary layers): "repeat_start",
    # "repeat_end", "unit", "argument", "recurrent_input", "recurrent_output", "delay",
    # "comment"
    role: str = ""

    def __post_init__(self):
        extra = tuple(p for w in self.weights for p in w.props())
        if self.params is not _zero:  # a layer with weights may share them (NNC's scope)
            extra += (PARAMETER_SCOPE,)
        object.__setattr__(self, "props", tuple(self.props) + extra)

    @property
    def has_output(self) -> bool:
        """Whether the layer gives a value other layers can take (an Argument does not)."""
        return self.role != "argument"

    @property
    def has_weights(self) -> bool:
        return self.params is not _zero

    @property
    def generator_prop(self) -> str:
        """The property choosing generated data in place of the dataset variable (Input's
        Generator, a loss's T.Generator); "" for other layers."""
        if self.is_input:
            return "Generator"
        if self.is_loss:
            return self.target_prop.replace(".Dataset", ".Generator")
        return ""

    def module(self, inputs: list[Shape], props: dict):
        """The layer's torch module with its weights initialised as its properties say (from
        torch's random generator, so a seed fixes them)."""
        built = self.build(inputs, props)
        if self.weights:
            initializers.initialize(built, self.weights, props)
        return built

    @property
    def prop_map(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props}

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.props}

    def parse_props(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``raw``, each value parsed. Raises ValueError naming the property."""
        props = self.prop_map
        unknown = sorted(set(raw) - set(props))
        if unknown:
            raise ValueError(f"{self.name} has no property {quoted(unknown[0])}")
        out = self.defaults()
        for key, value in raw.items():
            out[key] = props[key].parse(value)
        return out


@dataclass(frozen=True)
class TargetSpec:
    """What a loss expects of its dataset variable: a shape and whether it holds class indices."""

    shape: Shape
    kind: str  # "index" (class numbers, stored as one value per sample) or "float"
    classes: int = 0  # for "index": how many classes the prediction scores

    def describe(self) -> str:
        if self.kind == "index":
            return f"class indices 0..{self.classes - 1} of shape {shape_text(self.shape)}"
        return f"values of shape {shape_text(self.shape)}"
