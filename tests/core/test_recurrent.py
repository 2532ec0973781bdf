"""Recurrent blocks built from RecurrentInput, Delay and RecurrentOutput: unrolled by the
compiler into exactly the recurrence written by hand in torch; statistics per step (parameters
once, multiply-adds every step); the cycles and Delays the validator refuses, by name."""
import pytest
import torch

from designer.core.analysis import analyze
from designer.core.compiler import compile_network
from designer.core.project import Network, Project


def link(net: Network, *pairs) -> None:
    for src, dst, *port in pairs:
        net.connect(src, dst, *port)


def elman() -> tuple[Project, dict]:
    """NNC's Elman tutorial: each image row is a time step; h_t = tanh(W·[x_t; h_{t−1}] + b)."""
    project = Project()
    net = project.network()
    n = {"x": net.add("Input", Size=[1, 28, 28]),
         "ri": net.add("RecurrentInput", Axis=1),
         "cat": net.add("Concatenate", Axis=0),
         "h": net.add("Delay", name="H", Size=[1, 28]),
         "cell": net.add("Affine", name="Affine_2", OutShape=[1, 28]),
         "tanh": net.add("Tanh"),
         "ro": net.add("RecurrentOutput", Axis=1),
         "last": net.add("Slice", Start=[0, 27, 0], Stop=[1, 28, 28], Step=[1, 1, 1]),
         "out": net.add("Affine", OutShape=[1]),
         "sig": net.add("Sigmoid"),
         "loss": net.add("BinaryCrossEntropy")}
    link(net, (n["x"], n["ri"]), (n["ri"], n["cat"]), (n["h"], n["cat"]),
         (n["cat"], n["cell"]), (n["cell"], n["tanh"]), (n["tanh"], n["h"]),
         (n["tanh"], n["ro"]), (n["ro"], n["last"]), (n["last"], n["out"]),
         (n["out"], n["sig"]), (n["sig"], n["loss"]))
    return project, n


def test_an_elman_cell_unrolled_equals_the_recurrence_written_in_torch():
    project, n = elman()
    torch.manual_seed(0)
    compiled = compile_network(project.network(), project=project)
    weight, bias = compiled.layers.Affine_2.linear.weight, compiled.layers.Affine_2.linear.bias
    x = torch.randn(4, 1, 28, 28)
    h = torch.zeros(4, 28)
    steps = []
    for t in range(28):
        h = torch.tanh(torch.cat([x[:, 0, t], h], dim=1) @ weight.T + bias)
        steps.append(h)
    expected = torch.sigmoid(compiled.layers.Affine(steps[-1][:, None]))
    assert torch.allclose(compiled.infer(x), expected, atol=1e-6)
    y = torch.randint(0, 2, (4, 1)).float()
    assert torch.allclose(compiled.train(x, y),
                          torch.nn.functional.binary_cross_entropy(expected, y), atol=1e-6)


def test_a_cell_counts_its_parameters_once_and_its_multiply_adds_every_step():
    project, n = elman()
    result = analyze(project.network(), project=project)
    assert result.ok, result.problems
    assert (result.total_params, result.total_macs) == (1625, 44718)
    cell = result.nodes[n["cell"].id]
    assert (cell.shape, cell.params, cell.steps, cell.macs) == ((1, 28), 1596, 28, 28 * 1568)
    assert result.nodes[n["ro"].id].shape == (1, 28, 28)


def lstm() -> tuple[Project, dict]:
    """NNC's LSTM tutorial, by hand: four gates from [x_t; h], c_t = g·i + c·f, h_t = o·tanh c_t."""
    project = Project()
    net = project.network()
    add = net.add
    n = {"x": add("Input", Size=[1, 28, 28]), "ri": add("RecurrentInput", Axis=1),
         "cat": add("Concatenate", Axis=0), "H": add("Delay", name="H", Size=[1, 28]),
         "C": add("Delay", name="C", Size=[1, 28])}
    for gate, act in (("Affine", "Tanh"), ("InputGate", "Sigmoid"),
                      ("ForgetGate", "Sigmoid"), ("OutputGate", "Sigmoid")):
        n[gate] = add("Affine", name=gate, OutShape=[1, 28])
        n[gate + "_act"] = add(act, name=f"{gate}_{act}")
        link(net, (n["cat"], n[gate]), (n[gate], n[gate + "_act"]))
    n.update(gi=add("Mul2", name="GI"), cf=add("Mul2", name="CF"), c=add("Add2", name="Cell"),
             tanh=add("Tanh", name="TanhC"), h=add("Mul2", name="Hidden"),
             ro=add("RecurrentOutput", Axis=1),
             last=add("Slice", Start=[0, 27, 0], Stop=[1, 28, 28], Step=[1, 1, 1]),
             out=add("Affine", name="Out", OutShape=[1]), sig=add("Sigmoid"),
             loss=add("BinaryCrossEntropy"))
    link(net, (n["x"], n["ri"]), (n["ri"], n["cat"]), (n["H"], n["cat"]),
         (n["Affine_act"], n["gi"]), (n["InputGate_act"], n["gi"], 1),
         (n["C"], n["cf"]), (n["ForgetGate_act"], n["cf"], 1),
         (n["gi"], n["c"]), (n["cf"], n["c"], 1), (n["c"], n["C"]), (n["c"], n["tanh"]),
         (n["OutputGate_act"], n["h"]), (n["tanh"], n["h"], 1), (n["h"], n["H"]),
         (n["h"], n["ro"]), (n["ro"], n["last"]), (n["last"], n["out"]),
         (n["out"], n["sig"]), (n["sig"], n["loss"]))
    return project, n


def test_an_lstm_by_hand_equals_its_torch_loop_and_nncs_counts():
    project, n = lstm()
    result = analyze(project.network(), project=project)
    assert result.ok, result.problems
    assert (result.total_params, result.total_macs) == (6413, 182702)
    torch.manual_seed(1)
    compiled = compile_network(project.network(), project=project)
    layer = {name: getattr(compiled.layers, name).linear
             for name in ("Affine", "InputGate", "ForgetGate", "OutputGate")}
    x = torch.randn(3, 1, 28, 28)
    h, c = torch.zeros(3, 28), torch.zeros(3, 28)
    for t in range(28):
        both = torch.cat([x[:, 0, t], h], dim=1)
        g = torch.tanh(layer["Affine"](both))
        i, f, o = (torch.sigmoid(layer[k](both)) for k in ("InputGate", "ForgetGate",
                                                            "OutputGate"))
        c = g * i + c * f
        h = o * torch.tanh(c)
    expected = torch.sigmoid(compiled.layers.Out(h[:, None]))
    assert torch.allclose(compiled.infer(x), expected, atol=1e-6)


def test_a_delay_may_start_from_a_linked_value_or_generated_noise():
    project, n = elman()
    net = project.network()
    start = net.add("Input", name="Start", Size=[1, 28], Dataset="h0")
    net.connect(start, n["h"], 1)
    compiled = compile_network(net, project=project)
    assert compiled.input_vars == ["x", "h0"]
    net.links = [k for k in net.links if k.src != start.id]
    net.remove(start.id)
    n["h"].props.update({"Initial.Generator": "Normal", "Initial.GeneratorMultiplier": 0.5})
    compiled = compile_network(net, project=project)
    assert compiled.input_vars == ["x", "H_Initial"]
    assert compiled.generated["H_Initial"].kind == "Normal"


@pytest.mark.parametrize("change, message", [
    (lambda net, n: net.connect(n["tanh"], n["cat"]),
     "Concatenate → Affine_2 → Tanh → Concatenate form a cycle without a Delay; only a Delay "
     "may feed a value back (it gives the previous time step's value)"),
    (lambda net, n: net.connect(n["out"], net.add("Delay", name="Late", Size=[1])),
     "Late: Delay Late is outside any recurrent block: its input must come from a layer "
     "between a RecurrentInput and a RecurrentOutput"),
    (lambda net, n: (net.connect(n["x"], net.add("RecurrentInput", name="Second", Axis=1)),
                     net.connect(net.find("Second"), n["cat"])),
     "recurrent blocks RecurrentInput and Second both reach Concatenate; a layer belongs to "
     "one recurrent block"),
    (lambda net, n: net.connect(n["tanh"], net.add("Affine", name="Escape", OutShape=[2])),
     "Escape: Escape is inside recurrent block RecurrentInput but its output reaches neither a "
     "RecurrentOutput nor a Delay; leave a recurrent block through RecurrentOutput"),
    (lambda net, n: n["h"].props.update(Size=[2, 28]),
     "H: Size is 2×28 but its input is 1×28"),
    (lambda net, n: net.remove(n["ro"].id),
     "RecurrentInput: recurrent block RecurrentInput has no RecurrentOutput; connect the "
     "cell's output to one"),
])
def test_recurrent_mistakes_are_named(change, message):
    project, n = elman()
    net = project.network()
    change(net, n)
    result = analyze(net, project=project)
    texts = [str(p) for p in result.problems + result.notices]
    assert any(message in t for t in texts), texts
