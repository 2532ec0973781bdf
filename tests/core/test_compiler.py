"""The compiler: valid documents become fx GraphModules that run forward and backward."""
import subprocess
import sys

import pytest
import torch

from designer.core.compiler import CompileError, compile_network
from designer.core.project import Network, load

from tests.conftest import PROJECTS, ROOT


def batch_for(compiled, n=5):
    tensors = []
    target_of = {l.target: l.target_spec for l in compiled.losses}
    for var in compiled.train_vars:
        if var in compiled.input_shapes:
            tensors.append(torch.rand((n,) + compiled.input_shapes[var]))
        else:
            spec = target_of[var]
            if spec.kind == "index":
                tensors.append(torch.randint(0, spec.classes, (n,) + spec.shape).float())
            else:
                tensors.append(torch.rand((n,) + spec.shape))
    return tensors


@pytest.mark.parametrize("path", sorted(PROJECTS.glob("*.nnd")), ids=lambda p: p.stem)
def test_sample_compiles_and_trains_one_step(path):
    torch.manual_seed(0)
    project = load(path)
    compiled = compile_network(project.network(), project=project)
    tensors = batch_for(compiled)
    loss = compiled.train(*tensors)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in compiled.layers.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    compiled.layers.eval()
    inputs = [t for v, t in zip(compiled.train_vars, tensors) if v in compiled.input_vars]
    out = compiled.infer(*inputs)
    first = out[0] if isinstance(out, tuple) else out
    assert first.shape[0] == 5


def test_graphs_share_weights_and_read_as_code():
    net = Network()
    i = net.add("Input", Size=[4])
    a = net.add("Affine", OutShape=[3])
    l = net.add("SoftmaxCrossEntropy")
    net.connect(i, a)
    net.connect(a, l)
    compiled = compile_network(net)
    assert compiled.train.Affine is compiled.infer.Affine is compiled.layers.Affine
    assert "self.Affine(x)" in compiled.infer.code
    assert "self.SoftmaxCrossEntropy(affine, y)" in compiled.train.code
    assert compiled.input_vars == ["x"] and compiled.train_vars == ["x", "y"]
    assert compiled.outputs == ["Affine"]
    assert list(compiled.layers.state_dict()) == ["Affine.linear.weight", "Affine.linear.bias"]


def test_autoencoder_takes_its_input_once_as_target():
    compiled = compile_network(load(PROJECTS / "digits_autoencoder.nnd").network())
    assert compiled.train_vars == ["x"]
    assert compiled.losses[0].target == "x"


def test_names_that_are_not_identifiers_become_safe_attributes():
    net = Network()
    i = net.add("Input", Size=[4])
    a = net.add("Affine", name="forward", OutShape=[2])
    l = net.add("SquaredError")
    net.connect(i, a)
    net.connect(a, l)
    compiled = compile_network(net)
    assert compiled.attr_of[a.id] == "layer_forward"
    assert compiled.infer(torch.ones(2, 4)).shape == (2, 2)


def test_invalid_network_raises_with_the_problems():
    net = Network()
    net.add("Input", Size=[4])
    net.add("Affine")
    with pytest.raises(CompileError, match="Affine: input x is not connected") as err:
        compile_network(net)
    assert len(err.value.problems) >= 2


def test_engine_never_imports_qt():
    code = ("import sys, designer.core.compiler, designer.core.info; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'NodeGraphQt', 'Qt', 'pyqtgraph')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inference_graph_traces_under_torch_compile():
    compiled = compile_network(load(PROJECTS / "digits_resnet.nnd").network())
    compiled.layers.eval()
    x = torch.rand(3, 1, 8, 8)
    # the eager backend runs dynamo's full graph capture without compiling C++ kernels
    traced = torch.compile(compiled.infer, backend="eager", fullgraph=True)
    assert torch.equal(traced(x), compiled.infer(x))


# ---- names from files: whatever they are, the network compiles and runs ---------------------

COLLIDING = ["training", "graph", "code", "self", "forward", "torch", "layers", "meta",
             "recompile", "_modules", "_code", "class", "lambda", "None", "print", "getattr",
             "to", "eval", "cuda", "_tensor_constant0", "fx_pytree", "inf"]


@pytest.mark.parametrize("name", COLLIDING)
def test_layer_and_variable_names_that_mean_something_to_python_or_torch_run(name):
    def network(layer_name, variable, target):
        net = Network()
        i = net.add("Input", Size=[4], Dataset=variable)
        a = net.add("Affine", name=layer_name, OutShape=[3])
        r = net.add("ReLU", name=f"{layer_name}_2" if layer_name != "ReLU" else "ReLU")
        l = net.add("SquaredError", **{"T.Dataset": target})
        net.connect(i, a), net.connect(a, r), net.connect(r, l)
        return net

    torch.manual_seed(0)
    plain = compile_network(network("Affine", "x", "y"))
    torch.manual_seed(0)
    odd = compile_network(network(name, name, name + "_target"))
    assert odd.input_vars == [name] and odd.outputs == [f"{name}_2"]  # the user's names stay
    assert odd.train_vars == [name, name + "_target"]
    x, y = torch.rand(5, 4), torch.rand(5, 3)
    assert torch.equal(odd.infer(x), plain.infer(x))
    assert torch.equal(odd.train(x, y), plain.train(x, y))


@pytest.mark.parametrize("variable", ["", "a b", "x-y", "é", "1abc", '"""', "a\nb", "\u2028",
                                      "__import__('os').system('false')", "self.x"])
def test_dataset_variables_that_are_no_identifiers_become_safe_arguments(variable):
    net = Network()
    i = net.add("Input", Size=[2], Dataset=variable)
    l = net.add("SquaredError", **{"T.Dataset": variable})
    a = net.add("Affine", OutShape=[2])
    net.connect(i, a), net.connect(a, l)
    compiled = compile_network(net)
    assert compiled.train_vars == [variable]
    assert all(name.isidentifier() for name in compiled.infer.code.split("(")[1].split(")")[0]
               .replace("self, ", "").split(", "))
    assert compiled.train(torch.rand(3, 2)).shape == ()


def test_compile_allocates_nothing_the_analysis_did_not_promise(monkeypatch):
    import dataclasses

    import nodes

    net = Network()
    i = net.add("Input", Size=[4])
    a = net.add("Affine", OutShape=[3])
    net.connect(i, a), net.connect(a, net.add("SquaredError"))
    from designer.core import analysis

    lying = dataclasses.replace(nodes.CATALOG["Affine"], params=lambda i, p, o: 1)
    monkeypatch.setitem(nodes.CATALOG, "Affine", lying)
    monkeypatch.setattr(analysis, "_MEMO", {})  # forget what the honest spec said
    with pytest.raises(CompileError, match="Affine: Affine builds 15 values where the analysis "
                                           "promised 1 parameters; nothing was allocated"):
        compile_network(net)


def test_weights_larger_than_the_memory_are_refused_before_allocation(monkeypatch):
    from designer.core import compiler

    net = Network()
    i = net.add("Input", Size=[2**12])
    a = net.add("Affine", name="Big", OutShape=[2**12])
    net.connect(i, a), net.connect(a, net.add("SquaredError"))
    monkeypatch.setattr(compiler, "available_memory", lambda: 10 << 20)
    with pytest.raises(CompileError, match=r"Big: the network's weights need 64.0 MiB \(Big "
                                           r"alone 64.0 MiB\) but this machine has 10.0 MiB"):
        compile_network(net)
