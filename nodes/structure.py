"""Layers that shape the graph rather than compute: repeat blocks, recurrent loops and units.

None of them is built as it is. A repeat block and a unit are expanded before analysis (a
block's layers copied Times times, a unit replaced by its network's layers), so shapes,
parameters and multiply-adds count the network as written out; a recurrent block is analysed
per time step and unrolled by the compiler (``designer.core.expand``, ``designer.core.graph``).
"""
from nodes.nnc import NncLayer, ignored, same
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, shape_text

nn = LazyModule("torch.nn")

# NNC's argument types: P is at least 1, U at least 0
ARGUMENT_TYPES = ("Boolean", "BooleanOrMacro", "Int", "IntArray", "PInt", "PIntArray",
                  "PIntArrays", "UInt", "UIntArray", "Float", "FloatArray", "FloatArrays", "Text",
                  "File")


def _same(inputs: list[Shape], p: dict) -> Shape:
    return inputs[0]


def _identity(inputs, p):
    return nn.Identity()


def _drop_axis(inputs: list[Shape], p: dict) -> Shape:
    x, axis = inputs[0], p["Axis"]
    if axis >= len(x):
        raise ShapeError(f"Axis {axis} does not exist in the {shape_text(x)} input (axes "
                         f"0..{len(x) - 1})")
    if len(x) == 1:
        raise ShapeError(f"the input {shape_text(x)} has only the time axis; give each step "
                         "at least one value (e.g. a T×1 sequence)")
    return x[:axis] + x[axis + 1:]


def _not_alone(inputs: list[Shape], p: dict) -> Shape:
    raise ShapeError("a RecurrentOutput stacks the steps of a recurrent block")


RepeatStart = LayerSpec(
    name="RepeatStart",
    category="LoopControl",
    help="Starts a block of layers repeated Times times up to its RepeatEnd, each repetition "
         "with its own weights and feeding the next; a link from RepeatStart may skip ahead "
         "(a residual connection within each repetition).",
    props=(Prop("Times", "int", 3, "How many times the block is repeated.", min=1,
                max=10_000),),
    infer=_same,
    build=_identity,
    role="repeat_start",
    nnc=NncLayer("RepeatStart", same("Times")),
)

RepeatEnd = LayerSpec(
    name="RepeatEnd",
    category="LoopControl",
    help="Ends the repeat block of the RepeatStart that reaches it; its output is the last "
         "repetition's.",
    infer=_same,
    build=_identity,
    role="repeat_end",
    nnc=NncLayer("RepeatEnd"),
)

RecurrentInput = LayerSpec(
    name="RecurrentInput",
    category="LoopControl",
    help="Starts a recurrent block: the layers after it run once per time step, along Axis "
         "of its input, each step reading one slice (the axis removed). Delay layers inside "
         "give the previous step's values.",
    props=(Prop("Axis", "int", 0, "The time axis of the input (0 is the first after the "
                                  "batch axis).", min=0, max=15),),
    infer=_drop_axis,
    build=_identity,
    role="recurrent_input",
    nnc=NncLayer("RecurrentInput", same("Axis")),
)

RecurrentOutput = LayerSpec(
    name="RecurrentOutput",
    category="LoopControl",
    help="Ends a recurrent block: stacks the value of its input at every time step along "
         "Axis (its output has the steps' shape with the time axis put in).",
    props=(Prop("Axis", "int", 0, "Where the time axis goes in the output.", min=0,
                max=15),),
    infer=_not_alone,
    build=_identity,
    role="recurrent_output",
    nnc=NncLayer("RecurrentOutput", same("Axis")),
)

Delay = LayerSpec(
    name="Delay",
    category="LoopControl",
    help="Inside a recurrent block, gives its input's value of the previous time step (at the "
         "first step, the Initial value): the one way a value may be fed back.",
    inputs=("x", "Initial"),
    optional_inputs=frozenset({"Initial"}),
    props=(
        Prop("Size", "shape", (1,), "The shape of the value fed back (its input's shape).",
             min=1),
        Prop("Initial.Generator", "choice", "Constant",
             "The value at the first step, unless a layer is linked to Initial: Normal "
             "N(0, m²), Uniform U(−m, m) or Constant m.",
             choices=("Normal", "Uniform", "Constant")),
        Prop("Initial.GeneratorMultiplier", "float", 0.0, "m: the initial value's scale."),
    ),
    infer=lambda inputs, p: tuple(p["Size"]),
    build=_identity,
    role="delay",
    # NNC's Initial.Dataset is read only when its generator is None, which ours lacks
    nnc=NncLayer("Delay", same("Size", "Initial.Generator", "Initial.GeneratorMultiplier")
                 + (ignored("Initial.Dataset", ""),), pins=("Initial",)),
)

Unit = LayerSpec(
    name="Unit",
    category="Unit",
    help="Another network of the project used as one layer: its Input takes this layer's "
         "input and its last layer gives the output; Arguments set its Argument layers.",
    props=(
        Prop("Network", "str", "", "The network used here (it has one Input and ends in one "
                                   "layer)."),
        Prop("ParameterScope", "str", "*Name",
             "*Name: the unit's weights are its own (prefixed with this layer's name); empty: "
             "the inner layers' own names, shared with same-named layers elsewhere; other "
             "text: shared by every unit with that scope."),
        Prop("Arguments", "map", {}, "Values for the network's Argument layers, as "
                                     "Name=value; Name=value (the others keep their Value)."),
        Prop("LRateMultiplier", "float", 1.0, "Multiplies the learning rate of every weight "
                                              "inside (0 freezes the unit here).", min=0.0),
    ),
    infer=_same,
    build=_identity,
    role="unit",
)

Argument = LayerSpec(
    name="Argument",
    category="Unit",
    help="A setting of a unit network: its name is the argument's name, used as *Name (or in "
         "arithmetic) by the network's layers' properties; a Unit layer may give another "
         "value.",
    inputs=(),
    props=(
        Prop("Value", "str", "1", "The value when a Unit gives none."),
        Prop("Type", "choice", "Text", "What the value must be: P… at least 1, U… at least "
                                       "0, …Array a list like 3,3.", choices=ARGUMENT_TYPES),
        Prop("Search", "bool", False, "Whether a structure search may vary it (kept for "
                                      "NNC files)."),
    ),
    infer=lambda inputs, p: (1,),
    build=_identity,
    role="argument",
)

SPECS = [RepeatStart, RepeatEnd, RecurrentInput, RecurrentOutput, Delay, Unit, Argument]
