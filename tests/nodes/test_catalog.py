"""Property-based tests of the layer catalog: every spec's shape inference, parameter count and
error handling are checked against a real torch forward pass."""
import ast
import math
import pathlib
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import nodes
from nodes import CATALOG, CATEGORIES, ShapeError, TargetSpec, get_spec, shape_text

from tests.conftest import ROOT

torch.set_num_threads(1)

BATCH = 2
SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- strategies

def shapes(min_rank: int = 1, max_rank: int = 3, max_side: int = 5):
    return st.lists(st.integers(1, max_side), min_size=min_rank, max_size=max_rank).map(tuple)


def ranked(ranks, max_side: int = 5):
    """Shapes whose rank is drawn from ``ranks`` (repeat a rank to favour it)."""
    return st.sampled_from(ranks).flatmap(lambda rank: shapes(rank, rank, max_side))


bools = st.booleans()


def no_props(shape_strategy=None):
    return st.tuples(st.tuples(shape_strategy if shape_strategy is not None else shapes()),
                     st.just({}))


def one_input(shape_strategy, **props):
    """A case (inputs, raw props) with one input drawn from ``shape_strategy``."""
    return st.tuples(st.tuples(shape_strategy), st.fixed_dictionaries(props))


@st.composite
def window_case(draw, max_channels=6, max_side=8, kernel=4, stride=3, pad=3, dilation=True,
                **extra):
    """Input and per-axis window properties; the rank and property lengths mostly agree."""
    rank = draw(st.sampled_from([2, 2, 2, 3, 3, 3, 1, 4]))
    x = (draw(st.integers(1, max_channels)),) + draw(shapes(rank - 1, rank - 1, max_side))
    nd = draw(st.sampled_from([max(rank - 1, 1)] * 8 + [1, 2]))

    def vec(lo, hi, often=None):
        values = st.integers(lo, hi)
        if often is not None:  # favour one value, as real networks do
            values = st.sampled_from([often] * (hi - lo + 1) + list(range(lo, hi + 1)))
        return tuple(draw(st.lists(values, min_size=nd, max_size=nd)))

    props = {"KernelShape": vec(1, kernel), "Strides": vec(1, stride),
             "Padding": vec(0, pad, often=0)}
    if dilation:
        props["Dilation"] = vec(1, 3, often=1)
    props.update({k: draw(v) for k, v in extra.items()})
    return (x,), props


@st.composite
def reshape_case(draw):
    x = draw(shapes(1, 3, 4))
    if draw(bools):  # a factorization of the same number of values
        n, out = math.prod(x), []
        while n > 1 and len(out) < 3:
            d = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
            out.append(d)
            n //= d
        out = tuple(out + [n]) if n > 1 or not out else tuple(out)
    else:
        out = draw(shapes(1, 3, 5))
    return (x,), {"OutShape": out}


@st.composite
def transpose_case(draw):
    x = draw(shapes(1, 4, 4))
    if draw(bools):
        axes = tuple(draw(st.permutations(range(len(x)))))
    else:
        axes = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))
    return (x,), {"Axes": axes}


@st.composite
def slice_case(draw):
    x = draw(shapes(1, 3, 6))
    nd = draw(st.sampled_from(list(range(1, len(x) + 1)) * 3 + [len(x) + 1]))
    start, stop, step = [], [], []
    for axis in range(nd):
        size = x[axis] if axis < len(x) else 3
        a = draw(st.integers(0, size))
        start.append(a)
        roll = draw(st.integers(0, 5))  # mostly a valid Stop, sometimes past the end or ≤ Start
        stop.append(draw(st.integers(a + 1, size)) if roll and a < size
                    else draw(st.integers(1, size + 1)))
        step.append(draw(st.integers(1, 3)))
    if draw(st.integers(0, 9)) == 0:
        stop.append(1)  # lengths disagree
    return (x,), {"Start": tuple(start), "Stop": tuple(stop), "Step": tuple(step)}


@st.composite
def concat_case(draw):
    base = draw(shapes(1, 3, 4))
    axis = draw(st.integers(0, 3))
    inputs = []
    for _ in range(draw(st.integers(1, 4))):
        shape = list(base)
        if axis < len(shape):
            shape[axis] = draw(st.integers(1, 4))
        roll = draw(st.integers(0, 9))
        if roll == 0:  # another axis differs
            i = draw(st.integers(0, len(shape) - 1))
            shape[i] = draw(st.integers(1, 4))
        elif roll == 1:  # a different rank
            shape = shape + [2]
        inputs.append(tuple(shape))
    return tuple(inputs), {"Axis": axis}


@st.composite
def binary_case(draw):
    a = draw(shapes(1, 3, 4))
    b = list(a)
    for i in range(len(b)):
        roll = draw(st.integers(0, 5))
        if roll == 0:
            b[i] = 1
        elif roll == 1:
            b[i] = draw(st.integers(1, 4))
    if draw(st.integers(0, 3)) == 0:
        b = b + [1]
    if draw(bools):
        a, b = tuple(b), a
    return (tuple(a), tuple(b)), {}


@st.composite
def recurrent_case(draw):
    rank = draw(st.sampled_from([2, 2, 1, 3]))
    return (draw(shapes(rank, rank, 5)),), {
        "HiddenSize": draw(st.integers(1, 5)), "NumLayers": draw(st.integers(1, 3)),
        "Bidirectional": draw(bools), "ReturnSequences": draw(bools)}


@st.composite
def axes_case(draw, **extra):
    """An input and Axes that mostly exist in it (sometimes twice, sometimes past its end)."""
    x = draw(shapes(1, 3, 5))
    axes = draw(st.lists(st.integers(0, len(x) - 1 + draw(st.sampled_from([0, 0, 1]))),
                         min_size=1, max_size=len(x) + 1))
    return (x,), {"Axes": tuple(axes), **{k: draw(v) for k, v in extra.items()}}


@st.composite
def pad_case(draw):
    x = draw(shapes(1, 3, 5))
    pairs = draw(st.integers(1, len(x) + 1))
    widths = draw(st.lists(st.integers(0, 3), min_size=2 * pairs, max_size=2 * pairs))
    if draw(st.integers(0, 9)) == 0:
        widths.append(1)  # an odd count
    return (x,), {"PadWidth": tuple(widths),
                  "Mode": draw(st.sampled_from(["constant", "reflect", "repeat"])),
                  "ConstantValue": draw(st.floats(-2, 2))}


@st.composite
def onehot_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    last = len(shape) + (0 if draw(st.integers(0, 2)) else draw(st.integers(1, 2)))
    return (draw(shapes(0, 2, 3)) + (last,),), {"Shape": shape}


@st.composite
def augment_case(draw):
    x = draw(ranked([3, 3, 2, 4], 6))
    shape = draw(st.sampled_from(["same", "empty", "crop", "rank", "channels"]))
    if shape == "same":
        out = x
    elif shape == "empty":
        out = ()
    elif shape == "crop":
        out = tuple(x[:-2]) + tuple(draw(st.integers(1, d + 2)) for d in x[-2:])
    elif shape == "rank" or len(x) == 2:  # refused: another number of axes
        out = x + (1,)
    else:  # refused: the channels change
        out = (x[0] + 1,) + tuple(x[1:])
    low = draw(st.floats(0.5, 1.5))
    return (x,), {"Shape": out, "MinScale": low, "MaxScale": low * draw(st.floats(1.0, 2.0)),
                  "Angle": draw(st.floats(0, 0.5)), "AspectRatio": draw(st.floats(1, 1.5)),
                  "Distortion": draw(st.floats(0, 0.3)), "FlipLR": draw(bools),
                  "FlipUD": draw(bools), "Brightness": draw(st.floats(0, 0.3)),
                  "BrightnessEach": draw(bools), "Contrast": draw(st.floats(1, 2)),
                  "ContrastEach": draw(bools), "Noise": draw(st.floats(0, 0.2)),
                  "Pad": (draw(st.integers(0, 2)), draw(st.integers(0, 2)))}


_unit = st.floats(0.0, 1.0)
_group = st.sampled_from([1, 1, 1, 2, 3])
_eps = st.floats(1e-8, 1e-2)
_recurrent = recurrent_case()

# Every layer except Input and the losses: a strategy of (input shapes, raw properties),
# drawn wider than what is valid so that refusals are exercised too.
CASES = {
    "Affine": one_input(shapes(1, 3, 5), OutShape=shapes(1, 2, 5), WithBias=bools),
    "Convolution": window_case(OutMaps=st.integers(1, 6), Group=_group,
                               WithBias=bools),
    "DepthwiseConvolution": window_case(Multiplier=st.integers(1, 3), WithBias=bools),
    "Deconvolution": window_case(max_side=5, OutMaps=st.integers(1, 6),
                                 Group=_group, WithBias=bools),
    "Embed": one_input(shapes(1, 3, 4), NumClass=st.integers(1, 10), Shape=st.integers(1, 6)),
    "MaxPooling": window_case(dilation=False, kernel=4, stride=4, pad=2, IgnoreBorder=bools),
    "AveragePooling": window_case(dilation=False, kernel=4, stride=4, pad=2,
                                  IgnoreBorder=bools),
    "GlobalAveragePooling": no_props(ranked([1, 1, 2, 3, 4])),
    "ReLU": no_props(),
    "LeakyReLU": one_input(shapes(), Alpha=_unit),
    "ELU": one_input(shapes(), Alpha=st.floats(0.0, 3.0)),
    "SELU": one_input(shapes(), Scale=st.floats(0.0, 3.0), Alpha=st.floats(0.0, 3.0)),
    "GELU": no_props(),
    "Swish": no_props(),
    "Tanh": no_props(),
    "Sigmoid": no_props(),
    "Softmax": no_props(),
    "LogSoftmax": no_props(),
    "BatchNormalization": one_input(ranked([1, 2, 3, 4, 4]), DecayRate=_unit, Epsilon=_eps),
    "LayerNormalization": one_input(shapes(1, 3, 5), Epsilon=_eps),
    "InstanceNormalization": one_input(ranked([1, 2, 2, 3, 3, 4], 4), Epsilon=_eps),
    "GroupNormalization": one_input(shapes(1, 3, 6), NumGroups=st.integers(1, 6),
                                    Epsilon=_eps),
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    "Dropout": one_input(shapes(), P=_unit),
    "Reshape": reshape_case(),
    "Flatten": no_props(),
    "Transpose": transpose_case(),
    "Slice": slice_case(),
    "Concatenate": concat_case(),
    "Add2": binary_case(),
    "Mul2": binary_case(),
    "Identity": no_props(),
    # layers NNC projects use (issue 11)
    "PReLU": one_input(shapes(), BaseAxis=st.integers(0, 3)),
    "BinaryConnectAffine": one_input(shapes(1, 3, 5), OutShape=shapes(1, 2, 5), WithBias=bools),
    "BinaryWeightAffine": one_input(shapes(1, 3, 5), OutShape=shapes(1, 2, 5), WithBias=bools),
    "BinaryConnectConvolution": window_case(OutMaps=st.integers(1, 6), WithBias=bools),
    "BinaryWeightConvolution": window_case(OutMaps=st.integers(1, 6), WithBias=bools),
    "BinaryTanh": no_props(),
    "BinarySigmoid": no_props(),
    **{name: one_input(shapes(), Value=st.floats(-3.0, 3.0)) for name in
       ("AddScalar", "MulScalar", "RSubScalar", "RDivScalar", "MaximumScalar", "MinimumScalar")},
    "PowScalar": one_input(shapes(), Value=st.floats(-2.0, 3.0)),
    "Sub2": binary_case(),
    "Div2": binary_case(),
    "Maximum2": binary_case(),
    "Minimum2": binary_case(),
    "Abs": no_props(),
    "Exp": no_props(),
    "Log": no_props(),
    "Sum": axes_case(KeepDims=bools),
    "Mean": axes_case(KeepDims=bools),
    "Max": axes_case(KeepDims=bools),
    "Min": axes_case(KeepDims=bools),
    "Pad": pad_case(),
    "Flip": axes_case(),
    "Unpooling": one_input(shapes(1, 3, 4), KernelShape=shapes(1, 3, 3)),
    "SumPooling": window_case(dilation=False, kernel=4, stride=4, pad=2, IgnoreBorder=bools),
    "OneHot": onehot_case(),
    "RandomFlip": axes_case(),
    "RandomShift": one_input(shapes(1, 3, 5), Shift=shapes(1, 3, 4).map(
        lambda s: tuple(v - 1 for v in s)), BorderMode=st.sampled_from(["nearest", "reflect"])),
    "ImageAugmentation": augment_case(),
}

# Layers whose strategy must also produce refused combinations.
CAN_REFUSE = {"Convolution", "DepthwiseConvolution", "Deconvolution", "MaxPooling",
              "AveragePooling", "GlobalAveragePooling", "BatchNormalization",
              "InstanceNormalization", "GroupNormalization", "LSTM", "GRU", "RNN", "Reshape",
              "Transpose", "Slice", "Concatenate", "Add2", "Mul2", "PReLU",
              "BinaryConnectConvolution", "BinaryWeightConvolution", "Sub2", "Div2", "Maximum2",
              "Minimum2", "Sum", "Mean", "Max", "Min", "Pad", "Flip", "Unpooling", "SumPooling",
              "OneHot", "RandomFlip", "ImageAugmentation"}

LAYERS = sorted(CASES)
LOSSES = sorted(name for name, spec in CATALOG.items() if spec.is_loss)


def make_input(name: str, shape, props: dict) -> torch.Tensor:
    if name == "Embed":
        return torch.randint(0, props["NumClass"], (BATCH,) + tuple(shape)).float()
    if name == "OneHot":  # indices, some counting from the end, some out of range
        largest = max(props["Shape"])
        return torch.randint(-largest - 1, largest + 2, (BATCH,) + tuple(shape)).float()
    if name in ("Log", "PowScalar"):  # their domain: positive numbers
        return torch.rand((BATCH,) + tuple(shape)) + 0.1
    return torch.randn((BATCH,) + tuple(shape))


# Layers whose every refusal is something torch cannot do either (it raises or returns an
# empty tensor). The other layers also refuse combinations that torch would run but silently
# get wrong: Reshape/Add2/Mul2 across the batch axis, Slice with too few Stop values, 2-D
# pooling with a one-value KernelShape, InstanceNormalization of a C vector, ...
TORCH_REFUSES_TOO = {"Convolution", "DepthwiseConvolution", "Deconvolution", "GroupNormalization",
                     "BatchNormalization", "Concatenate", "Transpose", "LSTM", "GRU", "RNN"}


def torch_fails(name, inputs, props) -> bool:
    """torch raises (at batch 2, or at batch 1 when training) or returns an empty tensor."""
    try:
        module = CATALOG[name].build(list(inputs), props)
        tensors = [make_input(name, s, props) for s in inputs]
        y = module(*tensors)
        module(*[t[:1] for t in tensors])
    except Exception:
        return True
    return y.numel() == 0


def try_infer(spec, inputs, props):
    """The inferred shape, or None when refused with a ShapeError (anything else fails)."""
    try:
        out = spec.infer(list(inputs), props)
    except ShapeError as e:
        message = str(e)
        # the app shows "<node name>: <message>", so the message carries no prefix of its own
        assert message and not message.startswith(f"{spec.name}:"), message
        assert "Traceback" not in message and "torch" not in message
        return None
    assert isinstance(out, tuple) and all(isinstance(d, int) and d >= 1 for d in out), out
    return out


# ---------------------------------------------------------------- catalog structure

def test_every_layer_has_a_strategy():
    """Every computing layer; losses, Input and the structural layers (repeat blocks,
    recurrent loops, units: tests/core/test_structures.py) have tests of their own."""
    expected = {name for name, spec in CATALOG.items()
                if not spec.is_loss and not spec.is_input and not spec.role}
    assert set(CASES) == expected


def test_every_category_has_a_layer():
    for category in CATEGORIES:
        assert any(s.category == category for s in CATALOG.values()), category


def test_required_layers_exist():
    required = """Input Affine Convolution DepthwiseConvolution Deconvolution Embed MaxPooling
        AveragePooling GlobalAveragePooling ReLU LeakyReLU ELU SELU GELU Swish Tanh Sigmoid
        Softmax LogSoftmax BatchNormalization LayerNormalization InstanceNormalization
        GroupNormalization LSTM GRU RNN Dropout Reshape Flatten Transpose Slice Concatenate
        Add2 Mul2 Identity SquaredError SoftmaxCrossEntropy AbsoluteError HuberLoss
        BinaryCrossEntropy SigmoidCrossEntropy CategoricalCrossEntropy KLMultinomial
        PReLU BinaryConnectAffine BinaryConnectConvolution BinaryWeightAffine
        BinaryWeightConvolution BinarySigmoid BinaryTanh AddScalar MulScalar RSubScalar
        RDivScalar PowScalar MaximumScalar MinimumScalar Sub2 Div2 Maximum2 Minimum2 Abs Exp Log
        Mean Sum Max Min Pad Flip Unpooling SumPooling OneHot ImageAugmentation RandomShift
        RandomFlip""".split()
    assert sorted(set(required) - set(CATALOG)) == []


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_spec_metadata_and_defaults(name):
    spec = CATALOG[name]
    assert spec.help.strip() and "\n" not in spec.help
    assert len({p.name for p in spec.props}) == len(spec.props)
    parsed = spec.parse_props({})
    assert parsed == spec.defaults()
    for prop in spec.props:
        assert prop.help, f"{name}.{prop.name} has no help"
        # the default survives parsing and a round trip through its text form
        assert prop.parse(prop.default) == prop.default
        assert prop.parse(prop.format(prop.default)) == prop.default
        if prop.kind in ("int", "float"):
            assert prop.min is None or prop.default >= prop.min
            assert prop.max is None or prop.default <= prop.max
    if spec.is_loss:
        assert spec.target_prop in spec.prop_map and spec.target is not None
    assert get_spec(name) is spec


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_what_a_loss_prediction_means_agrees_with_its_targets(name):
    """A loss that picks classes by argmax reads class indices; one that picks by a 0.5
    threshold reads one value per prediction value; layers that are not losses predict
    nothing."""
    spec = CATALOG[name]
    if not spec.is_loss:
        assert spec.prediction == nodes.VALUES
        return
    target = spec.target((5,), spec.defaults())
    assert (spec.prediction.pick == "argmax") == (target.kind == "index")
    if spec.prediction.pick == "threshold":
        assert target == TargetSpec((5,), "float")
        assert spec.prediction.kind in ("logits", "probabilities")
    if spec.prediction.pick == "argmax":
        assert spec.prediction.kind in ("scores", "probabilities")


def test_layer_facts_live_in_the_specs():
    """No code outside the catalog compares a layer type with a layer's name, keeps a table
    keyed by layer names or a list of them: such facts are fields of the layer's spec."""
    found = []
    for path in sorted((ROOT / "designer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                names = [c for o in operands for c in _constants(o)]
            elif isinstance(node, ast.Dict):
                names = [c for k in node.keys if k is not None for c in _constants(k)]
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = _constants(node)
                names = names if names and all(n in CATALOG for n in names) else []
            else:
                continue
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                      if name in CATALOG]
    assert found == []


def _constants(node) -> list:
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def test_get_spec_suggests():
    with pytest.raises(KeyError, match="Convolution"):
        get_spec("Convolutoin")


def test_modules_imports_only_math_and_torch():
    path = pathlib.Path(nodes.__file__).parent / "modules.py"
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"math", "torch"}, roots


def test_the_catalog_and_the_document_load_without_torch():
    """The window lists layers and opens projects before torch has loaded; torch comes with
    the first layer module built."""
    code = ("import sys, nodes, designer.core.project, designer.core.analysis, "
            "designer.core.runs; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' "
            "or m == 'nodes.modules')); "
            "nodes.get_spec('Affine').build([(4,)], {'OutShape': (3,), "
            "'WithBias': True}); "
            "print('torch' in sys.modules and 'nodes.modules' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "True"]

# ---------------------------------------------------------------- property parsing

_BAD = {"int": ["x", 1.5, True, None], "float": ["abc", "nan", float("inf"), True],
        "bool": ["maybe", 2, None], "shape": ["3,a", "", [1, "2"], 1.5, True],
        "choice": ["no-such-choice"], "str": [5, None], "map": ["no pairs", 5, ["A"]]}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_bad_prop_values_name_the_property(name):
    spec = CATALOG[name]
    for prop in spec.props:
        bad = list(_BAD[prop.kind])
        if prop.kind == "shape" and prop.allow_empty:
            bad.remove("")
        if prop.min is not None:
            below = prop.min - 1
            bad.append((int(below),) if prop.kind == "shape" else below)
        if prop.max is not None and prop.kind in ("int", "float"):
            bad.append(prop.max + 1)
        for value in bad:
            with pytest.raises(ValueError, match=prop.name.replace(".", r"\.")):
                spec.parse_props({prop.name: value})


def test_unknown_prop_is_refused():
    with pytest.raises(ValueError, match="NoSuchProp"):
        get_spec("Convolution").parse_props({"NoSuchProp": 1})


def test_props_parse_from_text():
    p = get_spec("Convolution").parse_props(
        {"OutMaps": " 8 ", "KernelShape": "5×5", "WithBias": "false"})
    assert (p["OutMaps"], p["KernelShape"], p["WithBias"]) == (8, (5, 5), False)
    assert get_spec("Dropout").parse_props({"P": "0.25"})["P"] == 0.25
    with pytest.raises(ValueError, match="P must be at most 1"):
        get_spec("Dropout").parse_props({"P": "1.5"})
    with pytest.raises(ValueError, match="NumGroups must be at least 1"):
        get_spec("GroupNormalization").parse_props({"NumGroups": 0})


# ---------------------------------------------------------------- infer vs torch

@pytest.mark.parametrize("name", LAYERS)
def test_infer_matches_torch(name):
    """Either infer refuses with a ShapeError, or torch runs and gives exactly that shape,
    params equals the module's parameter count, and the output is finite."""
    spec = CATALOG[name]
    outcomes = []

    @SETTINGS
    @given(case=CASES[name])
    def check(case):
        inputs, raw = case
        props = spec.parse_props(raw)
        out = try_infer(spec, inputs, props)
        outcomes.append(out is not None)
        if out is None:
            event("refused")
            if name in TORCH_REFUSES_TOO:
                assert torch_fails(name, inputs, props), "refused what torch can do"
            return
        event("accepted")
        module = spec.build(list(inputs), props)
        assert_mode_is_a_flag(module)
        y = module(*[make_input(name, s, props) for s in inputs])
        assert tuple(y.shape) == (BATCH,) + out
        assert spec.params(list(inputs), props, out) == sum(
            p.numel() for p in module.parameters())
        macs = spec.macs(list(inputs), props, out)
        assert isinstance(macs, int) and macs >= 0
        assert bool(torch.isfinite(y).all())

    check()
    # guard against a vacuous property: the strategy reached accepted combinations and, for
    # layers with constraints, refused ones
    assert True in outcomes, f"{name}: no accepted combination drawn"
    if name in CAN_REFUSE:
        assert False in outcomes, f"{name}: no refused combination drawn"


def assert_mode_is_a_flag(module):
    """Switching to evaluation and back is setting each module's ``training`` flag (the run
    session does that directly): no module the catalog builds overrides train()."""
    assert all(type(m).train is torch.nn.Module.train for m in module.modules())


def test_input_layer():
    spec = get_spec("Input")
    props = spec.parse_props({"Size": "3,8,8"})
    assert spec.infer([], props) == (3, 8, 8)
    assert spec.build([], props)(torch.zeros(BATCH, 3, 8, 8)).shape == (BATCH, 3, 8, 8)
    assert spec.params([], props, (3, 8, 8)) == 0


# ---------------------------------------------------------------- losses

@st.composite
def loss_case(draw, name):
    if CATALOG[name].target(((3,)), CATALOG[name].defaults()).kind == "index":
        rank = draw(st.sampled_from([1, 1, 1, 2]))
        pred = draw(shapes(rank, rank, 6))
    else:
        pred = draw(shapes(1, 3, 5))
    raw = {CATALOG[name].target_prop: draw(st.sampled_from(["y", "label"]))}
    if name == "HuberLoss":
        raw["Delta"] = draw(st.floats(1e-3, 5.0))
    return pred, raw


def _probabilities(shape) -> torch.Tensor:
    return torch.softmax(torch.randn(BATCH, math.prod(shape)), dim=1).reshape((BATCH,) + shape)


def loss_tensors(name: str, pred: tuple, target: TargetSpec):
    if name in ("CategoricalCrossEntropy", "KLMultinomial"):
        y = _probabilities(pred)
    elif name == "BinaryCrossEntropy":
        y = torch.rand((BATCH,) + pred)
    else:
        y = torch.randn((BATCH,) + pred)
    if target.kind == "index":
        t = torch.randint(0, target.classes, (BATCH,) + target.shape).float()
    elif name in ("BinaryCrossEntropy", "SigmoidCrossEntropy"):
        t = torch.randint(0, 2, (BATCH,) + target.shape).float()
    elif name == "KLMultinomial":
        t = _probabilities(target.shape)
    else:
        t = torch.randn((BATCH,) + target.shape)
    return y, t


@pytest.mark.parametrize("name", LOSSES)
@SETTINGS
@given(data=st.data())
def test_loss_is_finite_per_value(name, data):
    """A loss gives one value per prediction value (per sample, N×1, for the losses of class
    scores and distributions); training minimises their mean."""
    spec = CATALOG[name]
    pred, raw = data.draw(loss_case(name), label="case")
    props = spec.parse_props(raw)
    assert spec.is_loss and spec.target_prop in props
    out = try_infer(spec, [pred], props)
    if out is None:
        assert len(pred) != 1  # only class losses refuse, and only non-vectors
        return
    target = spec.target(pred, props)
    per_sample = target.kind == "index" or name == "KLMultinomial"
    assert out == ((1,) if per_sample else pred)
    assert isinstance(target, TargetSpec) and target.describe()
    if target.kind == "index":
        assert target.shape == (1,) and target.classes == pred[0]
    else:
        assert target.kind == "float" and target.shape == pred
    y, t = loss_tensors(name, pred, target)
    module = spec.build([pred], props)
    assert_mode_is_a_flag(module)
    value = module(y, t)
    assert value.shape == (BATCH,) + out and bool(torch.isfinite(value).all())
    assert spec.params([pred], props, out) == 0
    assert spec.macs([pred], props, out) >= 0


# ---------------------------------------------------------------- specific behaviour

def _refusal(name, inputs, raw) -> str:
    spec = get_spec(name)
    with pytest.raises(ShapeError) as info:
        spec.infer(inputs, spec.parse_props(raw))
    return str(info.value)


def test_reshape_message_names_both_shapes():
    assert _refusal("Reshape", [(16, 5, 5)], {"OutShape": "10,10"}) == \
        "16×5×5 has 400 values but OutShape 10,10 has 100"


def test_concatenate_messages():
    message = _refusal("Concatenate", [(3, 28, 28), (5, 27, 28)], {"Axis": 0})
    assert "3×28×28" in message and "5×27×28" in message
    assert "at least one" in _refusal("Concatenate", [], {})
    spec = get_spec("Concatenate")
    assert spec.multi_input and len(spec.inputs) == 1
    assert spec.infer([(3, 28, 28), (5, 28, 28)], spec.defaults()) == (8, 28, 28)


def test_binary_ops_messages_and_ports():
    for name in ("Add2", "Mul2"):
        assert get_spec(name).inputs == ("x0", "x1")
        message = _refusal(name, [(3, 4), (3, 5)], {})
        assert "3×4" in message and "3×5" in message


def test_window_layers_name_the_property():
    assert "KernelShape 3,3" in _refusal("Convolution", [(1, 50)], {})
    assert "Group 3" in _refusal("Convolution", [(4, 8, 8)], {"Group": 3})
    assert "Padding" in _refusal("MaxPooling", [(1, 8, 8)], {"KernelShape": "2,2",
                                                              "Padding": "2,2"})
    assert "KernelShape 5,5" in _refusal("AveragePooling", [(1, 3, 3)], {"KernelShape": "5,5"})
    assert "NumGroups 4" in _refusal("GroupNormalization", [(6, 4, 4)], {})
    assert "T×F" in _refusal("LSTM", [(1, 28, 28)], {})


def test_pooling_ceil_mode_matches_torch():
    # IgnoreBorder=False is torch's ceil_mode, which drops a last window that would start in
    # the right padding: a 2-wide input, kernel 1, stride 2 gives 1 value, not 2.
    for name in ("MaxPooling", "AveragePooling"):
        spec = get_spec(name)
        props = spec.parse_props({"KernelShape": "1", "Strides": "2", "Padding": "0",
                                  "IgnoreBorder": False})
        assert spec.infer([(3, 2)], props) == (3, 1)
        assert spec.build([(3, 2)], props)(torch.randn(BATCH, 3, 2)).shape == (BATCH, 3, 1)


def test_deconvolution_output_size():
    spec = get_spec("Deconvolution")
    props = spec.parse_props({"OutMaps": 4, "KernelShape": "4,4", "Strides": "2,2",
                              "Padding": "1,1"})
    assert spec.infer([(8, 7, 7)], props) == (4, 14, 14)


def test_selu_defaults_equal_torch_selu():
    spec = get_spec("SELU")
    x = torch.linspace(-4, 4, 101).reshape(1, 101)
    module = spec.build([(101,)], spec.defaults())
    torch.testing.assert_close(module(x), torch.nn.SELU()(x))
    doubled = spec.build([(101,)], spec.parse_props({"Scale": 2.0, "Alpha": 0.5}))
    torch.testing.assert_close(doubled(x), 2.0 * torch.nn.functional.elu(x, 0.5))


def test_batchnorm_momentum_and_buffers():
    spec = get_spec("BatchNormalization")
    module = spec.build([(6, 4, 4)], spec.parse_props({"DecayRate": 0.75, "Epsilon": 1e-3}))
    assert isinstance(module, torch.nn.BatchNorm2d)
    assert module.momentum == pytest.approx(0.25) and module.eps == pytest.approx(1e-3)
    assert spec.params([(6, 4, 4)], spec.defaults(), (6, 4, 4)) == 12


def test_leaky_relu_and_elu_use_their_props():
    x = torch.tensor([[-2.0, 3.0]])
    leaky = get_spec("LeakyReLU")
    assert leaky.defaults()["Alpha"] == 0.1
    torch.testing.assert_close(leaky.build([(2,)], {"Alpha": 0.5})(x), torch.tensor([[-1.0, 3.0]]))
    elu = get_spec("ELU").build([(2,)], {"Alpha": 2.0})
    torch.testing.assert_close(elu(x), torch.tensor([[2.0 * (math.exp(-2.0) - 1.0), 3.0]]))


def test_huber_is_nncs_and_uses_delta():
    """NNC's Huber loss: d² inside Delta, Delta·(2|d| − Delta) outside."""
    spec = get_spec("HuberLoss")
    module = spec.build([(1,)], spec.parse_props({"Delta": 0.5}))
    value = module(torch.tensor([[3.0], [0.25]]), torch.tensor([[0.0], [0.0]]))
    assert value.flatten().tolist() == pytest.approx([0.5 * (2 * 3.0 - 0.5), 0.25 ** 2])


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_bidirectional_last_state_sees_whole_sequence(cell):
    spec = get_spec(cell)
    props = spec.parse_props({"HiddenSize": 3, "Bidirectional": True, "ReturnSequences": False})
    module = spec.build([(5, 2)], props)
    x = torch.randn(BATCH, 5, 2)
    full, _ = module.rnn(x)
    last = module(x)
    assert last.shape == (BATCH, 6)
    torch.testing.assert_close(last[:, :3], full[:, -1, :3])  # forward: after the last step
    torch.testing.assert_close(last[:, 3:], full[:, 0, 3:])   # backward: after the first step


def test_embed_output_and_params():
    spec = get_spec("Embed")
    props = spec.parse_props({"NumClass": 7, "Shape": 4})
    assert spec.infer([(5,)], props) == (5, 4)
    assert spec.params([(5,)], props, (5, 4)) == 28


def test_shape_text():
    assert shape_text((6, 24, 24)) == "6×24×24"


def test_convolution_messages():
    assert _refusal("Convolution", [(1, 4, 4)], {"KernelShape": "5,5"}) == \
        "kernel 5,5 does not fit the 1×4×4 input (output would be 0×0)"
    assert "Padding 3" in _refusal("Deconvolution", [(2, 1)], {"KernelShape": "1",
                                                               "Strides": "1", "Padding": "3",
                                                               "Dilation": "1"})


# ---------------------------------------------------------------- learned tensors

@pytest.mark.parametrize("name", sorted(n for n, s in CATALOG.items() if s.weights))
def test_each_learned_tensor_has_nncs_three_properties_and_exists_in_the_module(name):
    """W, b, gamma, … each have Initializer, InitializerMultiplier and LRateMultiplier, and
    name a real parameter of the built module (a bias only while WithBias is on)."""
    from nodes.initializers import parameter
    spec = CATALOG[name]
    for weight in spec.weights:
        for suffix in ("Initializer", "InitializerMultiplier", "LRateMultiplier"):
            assert f"{weight.name}.{suffix}" in spec.prop_map
    inputs, props = _some_accepted_case(name)
    module = spec.module(list(inputs), props)
    found = {w.name: parameter(module, w.attr) for w in spec.weights}
    assert all(tensor is not None for tensor in found.values()), found
    assert sum(t.numel() for t in found.values()) <= sum(p.numel() for p in module.parameters())


def _some_accepted_case(name):
    spec = CATALOG[name]
    for shape in [(3, 8, 8), (4, 6), (6,), (1, 28, 28)]:
        props = spec.defaults()
        try:
            spec.infer([shape], props)
        except ShapeError:
            continue
        return (shape,), props
    raise AssertionError(f"{name}: no shape fits its defaults")


@pytest.mark.parametrize("layer, shape, props, std, uniform", [
    # N input maps, M output maps, K kernel positions: nnabla's formulas
    ("Affine", (400,), {"OutShape": (300,)}, math.sqrt(2 / 700), False),  # Glorot (default)
    ("Affine", (400,), {"OutShape": (300,), "W.Initializer": "NormalAffineHeForward",
                        "W.InitializerMultiplier": 2.0}, 2 * math.sqrt(2 / 400), False),
    ("Affine", (400,), {"OutShape": (300,), "W.Initializer": "UniformAffineGlorot"},
     math.sqrt(6 / 700) / math.sqrt(3), True),
    ("Convolution", (16, 12, 12), {"OutMaps": 32, "W.Initializer": "NormalConvolutionHeBackward"},
     math.sqrt(2 / (9 * 32)), False),
    ("Convolution", (16, 12, 12), {"OutMaps": 32},  # NormalConvolutionGlorot
     math.sqrt(2 / (9 * 48)), False),
    ("Deconvolution", (16, 6, 6), {"OutMaps": 32},  # NormalConvolutionHeForward
     math.sqrt(2 / (9 * 16)), False),
    ("Affine", (400,), {"OutShape": (300,), "W.Initializer": "Normal",
                        "W.InitializerMultiplier": 0.05}, 0.05, False),
    ("Embed", (5,), {"NumClass": 400, "Shape": 300}, 1 / math.sqrt(3), True),  # U(−1, 1)
])
def test_initializers_follow_nnabla(layer, shape, props, std, uniform):
    spec = get_spec(layer)
    torch.manual_seed(0)
    module = spec.module([shape], spec.parse_props(props))
    weight = next(p for n, p in module.named_parameters() if "weight" in n).detach()
    assert float(weight.mean()) == pytest.approx(0.0, abs=3 * std / math.sqrt(weight.numel()) * 3)
    assert float(weight.std()) == pytest.approx(std, rel=0.03)
    if uniform:
        assert float(weight.abs().max()) <= std * math.sqrt(3) + 1e-6


def test_constant_initializers_and_bias():
    spec = get_spec("Affine")
    module = spec.module([(4,)], spec.parse_props({"OutShape": (3,), "b.InitializerMultiplier": 0.5,
                                                   "W.Initializer": "Constant",
                                                   "W.InitializerMultiplier": -2.0}))
    assert torch.equal(module.linear.bias.detach(), torch.full((3,), 0.5))
    assert torch.equal(module.linear.weight.detach(), torch.full((3, 4), -2.0))
    # no bias: its properties stay, nothing to initialise
    bare = spec.module([(4,)], spec.parse_props({"WithBias": False}))
    assert bare.linear.bias is None
    norm = get_spec("BatchNormalization").module([(3, 4, 4)],
                                                 get_spec("BatchNormalization").defaults())
    assert torch.equal(norm.weight.detach(), torch.ones(3))  # gamma Constant ×1
    assert torch.equal(norm.bias.detach(), torch.zeros(3))  # beta Constant ×0


# ---------------------------------------------------------------- NNC facts

def test_nnc_facts_agree_with_the_spec():
    """Each NNC property that carries one of ours names a real property, every property of
    ours is carried (so a project written for NNC loses none), and no two layers read as the
    same NNC type."""
    readers = {}
    for name, spec in CATALOG.items():
        if spec.nnc is None:
            continue
        carried = [p.ours for p in spec.nnc.props if p.ours]
        assert set(carried) <= set(spec.prop_map), name
        assert sorted(carried) == sorted(spec.prop_map), name
        assert len({p.name for p in spec.nnc.props}) == len(spec.nnc.props), name
        for p in spec.nnc.props:
            if not p.ours and p.accepts is None:
                assert p.silent(p.neutral, name), (name, p.name)
        if spec.nnc.reads:
            assert spec.nnc.type not in readers, (name, readers.get(spec.nnc.type))
            readers[spec.nnc.type] = name
    assert readers["Affine"] == "Affine" and "Reshape" in readers


def test_convolution_padding_from_border_mode_is_nncs():
    """valid 0, same ⌊d·(k−1)/2⌋ (an even kernel shrinks by one), full d·(k−1)."""
    from nodes.nnc import padding_from_border_mode as pad
    props = {"KernelShape": (3, 2), "Dilation": (2, 1)}
    assert pad({"BorderMode": "valid"}, props) == (0, 0)
    assert pad({"BorderMode": "same"}, props) == (2, 0)
    assert pad({"BorderMode": "full"}, props) == (4, 1)
    with pytest.raises(ValueError, match="BorderMode must be valid, same or full"):
        pad({"BorderMode": "circular"}, props)
