"""Recurrent layers: LSTM, GRU and RNN over a whole T×F sequence."""
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, shape_text

modules = LazyModule("nodes.modules")

# weight matrices per layer and direction: LSTM has 4 gates, GRU 3, a plain RNN 1
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _infer(cell: str):
    def infer(inputs: list[Shape], p: dict) -> Shape:
        x = inputs[0]
        if len(x) != 2:
            raise ShapeError(f"{cell} takes a T×F sequence (time steps × features), got "
                             f"{shape_text(x)}; add a Reshape before it")
        width = p["HiddenSize"] * (2 if p["Bidirectional"] else 1)
        return (x[0], width) if p["ReturnSequences"] else (width,)
    return infer


def _layer_inputs(inputs: list[Shape], p: dict) -> list[int]:
    """Input width of each stacked layer: F for the first, H×directions after that."""
    dirs = 2 if p["Bidirectional"] else 1
    return [inputs[0][1]] + [p["HiddenSize"] * dirs] * (p["NumLayers"] - 1)


def _params(cell: str):
    def params(inputs: list[Shape], p: dict, out: Shape) -> int:
        h, dirs = p["HiddenSize"], (2 if p["Bidirectional"] else 1)
        # per layer and direction: gates × (input weights + recurrent weights + 2 biases)
        return sum(_GATES[cell] * (h * f + h * h + 2 * h) * dirs
                   for f in _layer_inputs(inputs, p))
    return params


def _macs(cell: str):
    def macs(inputs: list[Shape], p: dict, out: Shape) -> int:
        # per time step, layer and direction: gates × H × (F_layer + H) multiply-adds for the
        # input and recurrent matrix products (element-wise gate math is not counted);
        # all T steps are computed even when only the last one is returned
        h, dirs = p["HiddenSize"], (2 if p["Bidirectional"] else 1)
        steps = inputs[0][0]
        return steps * dirs * sum(_GATES[cell] * h * (f + h) for f in _layer_inputs(inputs, p))
    return macs


def _code_args(m) -> list:
    cell = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}[m.rnn.mode]
    return [cell, m.rnn.input_size, m.rnn.hidden_size, m.rnn.num_layers, m.rnn.bidirectional,
            m.return_sequences]


def recurrent(cell: str, help: str) -> LayerSpec:
    return LayerSpec(
        name=cell,
        category="Recurrent",
        help=help,
        props=(
            Prop("HiddenSize", "int", 64, "Number of features in the hidden state.", min=1),
            Prop("NumLayers", "int", 1, "Number of stacked recurrent layers.", min=1, max=16),
            Prop("Bidirectional", "bool", False,
                 "Also read the sequence backwards; doubles the output features."),
            Prop("ReturnSequences", "bool", False,
                 "True outputs every time step (T×H); False only the final state (H)."),
        ),
        infer=_infer(cell),
        params=_params(cell),
        macs=_macs(cell),
        build=lambda i, p: modules.Recurrent(cell, i[0][1], p["HiddenSize"], p["NumLayers"],
                                             p["Bidirectional"], p["ReturnSequences"]),
        code_args=_code_args,
    )


LSTM = recurrent("LSTM", "Long short-term memory over a T×F sequence (time steps × features).")
GRU = recurrent("GRU", "Gated recurrent unit over a T×F sequence (time steps × features).")
RNN = recurrent("RNN", "Plain tanh recurrent layer over a T×F sequence (time steps × features).")

SPECS = [LSTM, GRU, RNN]
