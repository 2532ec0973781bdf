"""Normalization layers: rescale activations to zero mean and unit variance."""
from nodes.nnc import PARAMETER_SCOPE, NncLayer, fixed, learned, not_learned, same
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, Weight, numel, shape_text

nn = LazyModule("torch.nn")


# the learned shift and scale, built as torch's bias and weight
SHIFT_SCALE = (Weight("beta", "bias", "Constant", 0.0), Weight("gamma", "weight", "Constant", 1.0))


def _nnc(name: str, *head) -> NncLayer:
    return NncLayer(name, tuple(head) + (PARAMETER_SCOPE,) + learned("beta", "gamma"),
                    pins=("beta", "gamma"))


# NNC's batch axis -1 (0 with the batch axis counted) and channel axis 0: as ours
_PER_SAMPLE = fixed("BatchAxis", "-1")
_CHANNELS_FIRST = fixed("ChannelAxis", "0")


def _epsilon() -> Prop:
    return Prop("Epsilon", "float", 1e-5, "Added to the variance to avoid dividing by zero.",
                min=1e-12, max=1.0)


def _batchnorm_infer(inputs: list[Shape], p: dict) -> Shape:
    x = inputs[0]
    if len(x) not in (1, 2, 3):
        raise ShapeError(f"BatchNormalization takes C, C×L or C×H×W input, got {shape_text(x)}")
    return x


def _batchnorm_build(inputs: list[Shape], p: dict):
    cls = nn.BatchNorm2d if len(inputs[0]) == 3 else nn.BatchNorm1d
    return cls(inputs[0][0], eps=p["Epsilon"], momentum=1.0 - p["DecayRate"])


BatchNormalization = LayerSpec(
    name="BatchNormalization",
    category="Normalization",
    help="Normalizes each map (first axis) over the batch, then applies a learned scale and "
         "shift; speeds up training after Convolution or Affine.",
    props=(
        Prop("DecayRate", "float", 0.9,
             "How much of the running mean and variance is kept at each step (0 to 1).",
             min=0.0, max=1.0),
        _epsilon(),
    ),
    infer=_batchnorm_infer,
    # gamma and beta per map; the running mean and variance are buffers, not parameters
    params=lambda i, p, o: 2 * i[0][0],
    macs=lambda i, p, o: numel(o),
    build=_batchnorm_build,
    weights=SHIFT_SCALE,
    nnc=NncLayer("BatchNormalization",
                 (fixed("Axes", "0"),) + same("DecayRate", "Epsilon")
                 + (fixed("BatchStat", "True"), PARAMETER_SCOPE) + learned("beta", "gamma")
                 + not_learned("mean", "Constant", "0.0", "0.0")
                 + not_learned("var", "Constant", "0.0", "0.0"),
                 pins=("beta", "gamma", "mean", "var")),
    channels="learned",
)


LayerNormalization = LayerSpec(
    name="LayerNormalization",
    category="Normalization",
    help="Normalizes each sample over all its values, then applies a learned scale and shift "
         "per value.",
    props=(_epsilon(),),
    infer=lambda i, p: i[0],
    params=lambda i, p, o: 2 * numel(i[0]),
    macs=lambda i, p, o: numel(o),
    build=lambda i, p: nn.LayerNorm(tuple(i[0]), eps=p["Epsilon"]),
    weights=SHIFT_SCALE,
    nnc=_nnc("LayerNormalization", _PER_SAMPLE, *same("Epsilon")),
)


def _instancenorm_infer(inputs: list[Shape], p: dict) -> Shape:
    x = inputs[0]
    if len(x) not in (2, 3):
        raise ShapeError(f"InstanceNormalization takes C×L or C×H×W input, got {shape_text(x)}")
    if numel(x[1:]) < 2:
        raise ShapeError(f"InstanceNormalization needs more than one value per map to "
                         f"normalize, but the {shape_text(x)} input has one")
    return x


def _instancenorm_build(inputs: list[Shape], p: dict):
    cls = nn.InstanceNorm2d if len(inputs[0]) == 3 else nn.InstanceNorm1d
    return cls(inputs[0][0], eps=p["Epsilon"], affine=True)


InstanceNormalization = LayerSpec(
    name="InstanceNormalization",
    category="Normalization",
    help="Normalizes each map of each sample on its own, then applies a learned scale and "
         "shift per map.",
    props=(_epsilon(),),
    infer=_instancenorm_infer,
    params=lambda i, p, o: 2 * i[0][0],
    macs=lambda i, p, o: numel(o),
    build=_instancenorm_build,
    weights=SHIFT_SCALE,
    nnc=_nnc("InstanceNormalization", _CHANNELS_FIRST, _PER_SAMPLE, *same("Epsilon")),
    channels="learned",
)


def _groupnorm_infer(inputs: list[Shape], p: dict) -> Shape:
    x = inputs[0]
    if not x:
        raise ShapeError("GroupNormalization needs a channel axis, got a scalar")
    if x[0] % p["NumGroups"]:
        raise ShapeError(f"NumGroups {p['NumGroups']} must divide the "
                         f"{x[0]} maps of the {shape_text(x)} input")
    if x[0] // p["NumGroups"] * numel(x[1:]) == 1:
        raise ShapeError(f"with NumGroups {p['NumGroups']} each group of the {shape_text(x)} "
                         "input holds one value, which always normalizes to 0; use fewer groups")
    return x


GroupNormalization = LayerSpec(
    name="GroupNormalization",
    category="Normalization",
    help="Splits the maps (first axis) into NumGroups groups and normalizes each group of "
         "each sample, then applies a learned scale and shift per map.",
    props=(
        Prop("NumGroups", "int", 4, "Number of groups; must divide the number of maps.", min=1),
        _epsilon(),
    ),
    infer=_groupnorm_infer,
    params=lambda i, p, o: 2 * i[0][0],
    macs=lambda i, p, o: numel(o),
    build=lambda i, p: nn.GroupNorm(p["NumGroups"], i[0][0], eps=p["Epsilon"]),
    weights=SHIFT_SCALE,
    nnc=_nnc("GroupNormalization", _CHANNELS_FIRST, _PER_SAMPLE,
             *same("NumGroups", "Epsilon")),
)

SPECS = [BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization]
