"""Normalization layers: rescale activations to zero mean and unit variance."""
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, numel, shape_text

nn = LazyModule("torch.nn")


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
)

SPECS = [BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization]
