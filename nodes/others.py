"""Other layers: dropout, reshaping, joining and element-wise arithmetic."""
from nodes.basic import fmt_shape
from nodes.nnc import TRAINING_ONLY, NncLayer, NncProp, ignored, same
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, numel, shape_text

modules = LazyModule("nodes.modules")
nn = LazyModule("torch.nn")


def _same(inputs: list[Shape], p: dict) -> Shape:
    return inputs[0]


Dropout = LayerSpec(
    name="Dropout",
    category="Others",
    help="During training, sets each value to 0 with probability P (and scales the rest up); "
         "does nothing at inference.",
    props=(Prop("P", "float", 0.5, "Probability of zeroing a value (0 to 1).", min=0.0, max=1.0),),
    infer=_same,
    build=lambda i, p: nn.Dropout(p["P"]),
    nnc=NncLayer("Dropout", same("P") + TRAINING_ONLY), channels="each",
)


def _reshape_infer(inputs: list[Shape], p: dict) -> Shape:
    x, out = inputs[0], p["OutShape"]
    if numel(x) != numel(out):
        raise ShapeError(f"{shape_text(x)} has {numel(x)} values but OutShape "
                         f"{fmt_shape(out)} has {numel(out)}")
    return out


Reshape = LayerSpec(
    name="Reshape",
    category="Others",
    help="Rearranges the values into OutShape; the number of values must stay the same.",
    props=(Prop("OutShape", "shape", (1, 28, 28),
                "Shape after reshaping, without the batch axis, e.g. 10,5.", min=1),),
    infer=_reshape_infer,
    build=lambda i, p: modules.Reshape(p["OutShape"]),
    code_args=lambda m: [m.out_shape],
    nnc=NncLayer("Reshape", same("OutShape")),
)

Flatten = LayerSpec(
    name="Flatten",
    category="Others",
    help="Flattens each sample into a vector: 16×5×5 becomes 400.",
    infer=lambda i, p: (numel(i[0]),),
    build=lambda i, p: nn.Flatten(),
    # NNC's editor has no Flatten: a Reshape to one axis says the same (and reads back as one)
    nnc=NncLayer("Reshape", (NncProp("OutShape"),), reads=False,
                 write=lambda props, inputs: {"OutShape": str(numel(inputs[0]))}),
    channels="flatten",
)


def _transpose_infer(inputs: list[Shape], p: dict) -> Shape:
    x, axes = inputs[0], p["Axes"]
    if sorted(axes) != list(range(len(x))):
        wanted = ",".join(str(a) for a in range(len(x)))
        raise ShapeError(f"Axes {fmt_shape(axes)} must list each axis of the "
                         f"{shape_text(x)} input exactly once (a reordering of {wanted})")
    return tuple(x[a] for a in axes)


Transpose = LayerSpec(
    name="Transpose",
    category="Others",
    help="Reorders the axes: Axes 0,2,1 turns 3×20×10 into 3×10×20.",
    props=(Prop("Axes", "shape", (0, 2, 1),
                "Which input axis becomes each output axis, counting from 0.", min=0),),
    infer=_transpose_infer,
    build=lambda i, p: modules.Transpose(p["Axes"]),
    code_args=lambda m: [tuple(a - 1 for a in m.axes[1:])],
    nnc=NncLayer("Transpose", same("Axes")),
)


def _slice_infer(inputs: list[Shape], p: dict) -> Shape:
    x, start, stop, step = inputs[0], p["Start"], p["Stop"], p["Step"]
    if not len(start) == len(stop) == len(step):
        raise ShapeError(f"Start {fmt_shape(start)}, Stop {fmt_shape(stop)} and "
                         f"Step {fmt_shape(step)} must have the same number of values")
    if len(start) > len(x):
        raise ShapeError(f"Start {fmt_shape(start)} has {len(start)} values but the "
                         f"{shape_text(x)} input has only {len(x)} axes")
    out = list(x)
    for axis, (a, b, c) in enumerate(zip(start, stop, step)):
        if b > x[axis]:
            raise ShapeError(f"Stop {b} is past the end of axis {axis} "
                             f"(size {x[axis]}) of the {shape_text(x)} input")
        if a >= b:
            raise ShapeError(f"Start {a} must be less than Stop {b} on axis {axis}")
        out[axis] = -(-(b - a) // c)
    return tuple(out)


Slice = LayerSpec(
    name="Slice",
    category="Others",
    help="Keeps part of each axis: from Start up to (not including) Stop, every Step values; "
         "axes beyond the given values are kept whole.",
    props=(
        Prop("Start", "shape", (0,), "First index kept on each axis, from the first.", min=0),
        Prop("Stop", "shape", (1,), "Index where keeping stops (exclusive) on each axis.", min=1),
        Prop("Step", "shape", (1,), "Keep every Step-th value on each axis.", min=1),
    ),
    infer=_slice_infer,
    build=lambda i, p: modules.Slice(p["Start"], p["Stop"], p["Step"]),
    code_args=lambda m: [tuple(s.start for s in m.index), tuple(s.stop for s in m.index),
                         tuple(s.step for s in m.index)],
    nnc=NncLayer("Slice", same("Start", "Stop", "Step")),
)


def _concat_infer(inputs: list[Shape], p: dict) -> Shape:
    if not inputs:
        raise ShapeError("Concatenate needs at least one input")
    axis, first = p["Axis"], inputs[0]
    for shape in inputs:
        if len(shape) != len(first):
            raise ShapeError(f"inputs {shape_text(first)} and {shape_text(shape)} must have the "
                             "same number of axes")
    if axis >= len(first):
        raise ShapeError(f"Axis {axis} does not exist in {shape_text(first)} "
                         f"input (axes are 0..{len(first) - 1})")
    for shape in inputs[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis):
            raise ShapeError(f"inputs {shape_text(first)} and {shape_text(shape)} differ "
                             f"on an axis other than Axis {axis}")
    return tuple(sum(s[axis] for s in inputs) if i == axis else d for i, d in enumerate(first))


Concatenate = LayerSpec(
    name="Concatenate",
    category="Others",
    help="Joins all linked inputs along Axis; the other axes must match "
         "(3×28×28 and 5×28×28 on Axis 0 give 8×28×28).",
    props=(Prop("Axis", "int", 0, "Axis to join along, counting from 0.", min=0),),
    multi_input=True,
    infer=_concat_infer,
    build=lambda i, p: modules.Concatenate(p["Axis"]),
    code_args=lambda m: [m.axis - 1],
    nnc=NncLayer("Concatenate", same("Axis"), multiple=True),
)


def broadcast_infer(layer: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        a, b = inputs
        if len(a) != len(b):
            raise ShapeError(f"inputs {shape_text(a)} and {shape_text(b)} have "
                             f"different numbers of axes")
        if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
            raise ShapeError(f"inputs {shape_text(a)} and {shape_text(b)} must have "
                             f"the same shape (or size 1 on the axes that differ)")
        return tuple(max(x, y) if 1 in (x, y) else x for x, y in zip(a, b))
    return infer


Add2 = LayerSpec(
    name="Add2",
    category="Others",
    help="Adds its two inputs element-wise (e.g. a residual connection).",
    inputs=("x0", "x1"),
    infer=broadcast_infer("Add2"),
    build=lambda i, p: modules.Add2(),
    macs=lambda i, p, o: numel(o),
    nnc=NncLayer("Add2", (ignored("InPlace", "*AutoInPlace"),), multiple=True),
    channels="each",
)

Mul2 = LayerSpec(
    name="Mul2",
    category="Others",
    help="Multiplies its two inputs element-wise.",
    inputs=("x0", "x1"),
    infer=broadcast_infer("Mul2"),
    build=lambda i, p: modules.Mul2(),
    macs=lambda i, p, o: numel(o),
    nnc=NncLayer("Mul2", multiple=True), channels="each",
)

Identity = LayerSpec(
    name="Identity",
    category="Others",
    help="Passes its input through unchanged; useful to name a point in the network.",
    infer=_same,
    build=lambda i, p: nn.Identity(),
    nnc=NncLayer("Identity"), channels="each",
)



def _pad_infer(inputs: list[Shape], p: dict) -> Shape:
    x, widths = inputs[0], p["PadWidth"]
    if len(widths) % 2 or len(widths) > 2 * len(x):
        raise ShapeError(f"PadWidth {fmt_shape(widths)} must be (before, after) pairs for at "
                         f"most the {len(x)} axes of the {shape_text(x)} input")
    first = len(x) - len(widths) // 2
    out = list(x)
    for i in range(len(widths) // 2):
        if p["Mode"] == "reflect" and x[first + i] == 1 and widths[2 * i] + widths[2 * i + 1]:
            raise ShapeError(f"axis {first + i} has one value, which cannot be reflected")
        out[first + i] += widths[2 * i] + widths[2 * i + 1]
    return tuple(out)


Pad = LayerSpec(
    name="Pad",
    category="Others",
    help="Pads the last axes: PadWidth holds (before, after) pairs, the first pair for the "
         "first padded axis; filled with ConstantValue, a mirror image (reflect) or the edge "
         "value repeated.",
    props=(
        Prop("PadWidth", "shape", (0, 0, 0, 0), "Values added before and after, per axis "
                                                "(1,1,2,2 pads the last two axes).", min=0),
        Prop("Mode", "choice", "constant", "constant, reflect (mirror without repeating the "
                                           "edge) or repeat (the edge value).",
             choices=("constant", "reflect", "repeat")),
        Prop("ConstantValue", "float", 0.0, "The value constant mode pads with."),
    ),
    infer=_pad_infer,
    build=lambda i, p: modules.Pad(p["PadWidth"], p["Mode"], p["ConstantValue"]),
    code_args=lambda m: [tuple(w for pair in m.pairs for w in pair), m.mode, m.value],
    nnc=NncLayer("Pad", same("PadWidth", "Mode", "ConstantValue")),
)


def axes_infer(inputs: list[Shape], p: dict) -> Shape:
    """The input's shape, once each of Axes is an axis of it."""
    x, axes = inputs[0], p["Axes"]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"Axes {fmt_shape(axes)} names an axis twice")
    if any(a >= len(x) for a in axes):
        raise ShapeError(f"Axes {fmt_shape(axes)} goes past the {shape_text(x)} input "
                         f"(axes are 0..{len(x) - 1})")
    return x


Flip = LayerSpec(
    name="Flip",
    category="Others",
    help="Reverses the order of the values along each of Axes.",
    props=(Prop("Axes", "shape", (0,), "The axes to reverse, counting from 0.", min=0),),
    infer=axes_infer,
    build=lambda i, p: modules.Flip(p["Axes"]),
    code_args=lambda m: [tuple(a - 1 for a in m.axes)],
    nnc=NncLayer("Flip", same("Axes")),
)


SPECS = [Dropout, Reshape, Flatten, Transpose, Slice, Concatenate, Add2, Mul2, Identity, Pad,
         Flip]
