"""Repeat blocks and units expand to exactly the network written out by hand: the same shapes,
parameter and multiply-add totals, and the same outputs given the same weights; structures
that cannot be expanded are refused with a named error."""
import pytest
import torch

from designer.core.analysis import analyze
from designer.core.compiler import compile_network
from designer.core.project import Network, Project


def link(net: Network, *chain, port: int = 0) -> None:
    for a, b in zip(chain, chain[1:]):
        net.connect(a, b, port if b is chain[-1] else 0)


def residual_body(net: Network, into, suffix: str = ""):
    """Conv → BN → ReLU → Conv → Add2 (with ``into``): one residual unit."""
    conv = net.add("Convolution", name=f"Conv{suffix}", OutMaps=4, KernelShape=[3, 3],
                   Padding=[1, 1])
    bn = net.add("BatchNormalization", name=f"BN{suffix}")
    relu = net.add("ReLU", name=f"ReLU{suffix}")
    conv2 = net.add("Convolution", name=f"Conv2{suffix}", OutMaps=4, KernelShape=[3, 3],
                    Padding=[1, 1])
    add = net.add("Add2", name=f"Add{suffix}")
    link(net, into, conv, bn, relu, conv2, add)
    net.connect(into, add, 1)
    return add


def head(net: Network, into) -> None:
    affine = net.add("Affine", name="Out", OutShape=[10])
    link(net, into, affine, net.add("SoftmaxCrossEntropy"))


def repeated(times: int) -> Project:
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[1, 8, 8])
    stem = net.add("Convolution", name="Stem", OutMaps=4, KernelShape=[3, 3], Padding=[1, 1])
    start = net.add("RepeatStart", Times=times)
    end = net.add("RepeatEnd")
    link(net, x, stem, start)
    net.connect(residual_body(net, start), end)
    head(net, end)
    return project


def written_out(times: int) -> Project:
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[1, 8, 8])
    value = net.add("Convolution", name="Stem", OutMaps=4, KernelShape=[3, 3], Padding=[1, 1])
    net.connect(x, value)
    for i in range(times):
        value = residual_body(net, value, f"_r{i}")
    head(net, value)
    return project


def copy_weights(source, target) -> None:
    """The repeat copies' weights (``Conv[1]``) into the written-out layers (``Conv_r1``)."""
    state = {}
    for name, tensor in source.tensors().items():
        key, _, rest = name.partition(".")
        if "[" in key:
            layer, index = key[:-1].split("[")
            key = f"{layer}_r{index}"
        state[f"{key}.{rest}"] = tensor
    target.load_tensors(state)


def test_a_repeat_block_is_the_network_written_out():
    times = 3
    project, hand = repeated(times), written_out(times)
    a = analyze(project.network(), project=project)
    b = analyze(hand.network(), project=hand)
    assert a.ok and b.ok, (a.problems, b.problems)
    assert (a.total_params, a.total_macs) == (b.total_params, b.total_macs)
    assert a.total_params == 40 + times * (148 + 8 + 148) + 2570
    flat = a.written_out
    assert len(flat.nodes) == len(b.nodes) + times + 1  # the RepeatStarts and RepeatEnd
    shapes = sorted(i.shape for i in flat.nodes.values())
    assert [s for s in shapes] == sorted([i.shape for i in b.nodes.values()]
                                         + [(4, 8, 8)] * (times + 1))
    drawn = {n.name: a.nodes[n.id] for n in project.network().nodes}  # folded for the canvas
    assert (drawn["Conv"].params, drawn["Conv"].copies) == (times * 148, times)
    assert drawn["Conv"].shape == (4, 8, 8) and drawn["Out"].params == 2570

    torch.manual_seed(0)
    ours = compile_network(project.network(), project=project)
    theirs = compile_network(hand.network(), project=hand)
    copy_weights(ours, theirs)
    ours.infer.eval(), theirs.infer.eval()
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(ours.infer(x), theirs.infer(x), atol=1e-6)
    ours.infer.train(), theirs.infer.train()
    assert torch.allclose(ours.infer(x), theirs.infer(x), atol=1e-6)  # batch statistics too


def test_each_repetition_has_its_own_weights_named_by_its_index():
    project = repeated(2)
    names = set(compile_network(project.network(), project=project).tensors())
    assert {"Conv[0].weight", "Conv[1].weight", "BN[1].running_mean", "Stem.weight"} <= names


def test_nested_repeat_blocks_index_outer_first():
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[4])
    outer = net.add("RepeatStart", name="Outer", Times=2)
    inner = net.add("RepeatStart", name="Inner", Times=3)
    affine = net.add("Affine", OutShape=[4])
    inner_end = net.add("RepeatEnd", name="InnerEnd")
    outer_end = net.add("RepeatEnd", name="OuterEnd")
    link(net, x, outer, inner, affine, inner_end, outer_end)
    head(net, outer_end)
    result = analyze(net, project=project)
    assert result.ok, result.problems
    keys = sorted(k for k in result.written_out.keys.values() if k.startswith("Affine"))
    assert keys == [f"Affine[{i}][{j}]" for i in range(2) for j in range(3)]
    assert result.nodes[affine.id].copies == 6
    assert result.total_params == 6 * 20 + 50


@pytest.mark.parametrize("change, message", [
    (lambda net, ids: net.remove(ids["end"]),
     "RepeatStart: RepeatStart RepeatStart has no RepeatEnd: none is reached from it"),
    (lambda net, ids: net.connect(ids["relu"], net.add("Affine", name="Leak", OutShape=[2])),
     "ReLU: ReLU is inside repeat block RepeatStart but its output goes to Leak outside it; a "
     "repeat block is left only through its RepeatEnd"),
    (lambda net, ids: net.connect(net.add("Input", name="Other", Size=[4]),
                                  net.add("RepeatEnd", name="Lone")),
     "Lone: RepeatEnd Lone is not reached from any RepeatStart; a repeat block runs from a "
     "RepeatStart to its RepeatEnd"),
])
def test_broken_repeat_blocks_are_named(change, message):
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[4])
    start = net.add("RepeatStart")
    relu = net.add("ReLU")
    end = net.add("RepeatEnd")
    link(net, x, start, relu, end)
    head(net, end)
    change(net, {"end": end.id, "relu": relu})
    result = analyze(net, project=project)
    assert message in [str(p) for p in result.problems]


def test_a_block_that_changes_the_shape_is_refused():
    project = Project()
    net = project.network()
    x = net.add("Input", Size=[4])
    start = net.add("RepeatStart", Times=2)
    grow = net.add("Affine", name="Grow", OutShape=[6])
    end = net.add("RepeatEnd")
    link(net, x, start, grow, end)
    head(net, end)
    messages = [str(p) for p in analyze(net, project=project).problems]
    assert messages == ["RepeatStart: RepeatStart[0]: repeat block RepeatStart takes 4 but gives "
                        "6; each repetition feeds the next, so the block must keep the shape"]


# ---- units ---------------------------------------------------------------------------------

def block_network(project: Project) -> Network:
    """A unit: Convolution(OutMaps=*Maps) → ReLU → Convolution 1×1 keeping the maps
    (``Input[0]``) → MaxPooling; Argument Maps (PInt, 8)."""
    net = Network("ConvBlock")
    project.networks.append(net)
    x = net.add("Input", Size=[1, 8, 8])
    net.add("Argument", name="Maps", Value="8", Type="PInt")
    conv = net.add("Convolution", OutMaps="*Maps", KernelShape=[3, 3], Padding=[1, 1])
    mix = net.add("Convolution", name="Mix", OutMaps="Input[0]", KernelShape=[1, 1])
    link(net, x, conv, net.add("ReLU"), mix, net.add("MaxPooling", KernelShape=[2, 2]))
    return net


def vgg_units() -> Project:
    project = Project()
    block_network(project)
    net = project.network("Main")
    value = net.add("Input", Size=[1, 16, 16])
    for name, maps in (("Block1", 4), ("Block2", 8), ("Block3", 16)):
        unit = net.add("Unit", name=name, Network="ConvBlock", Arguments={"Maps": str(maps)})
        net.connect(value, unit)
        value = unit
    head(net, value)
    return project


def vgg_written_out() -> Project:
    project = Project()
    net = project.network()
    value = net.add("Input", Size=[1, 16, 16])
    for name, maps in (("Block1", 4), ("Block2", 8), ("Block3", 16)):
        conv = net.add("Convolution", name=f"{name}_Convolution", OutMaps=maps,
                       KernelShape=[3, 3], Padding=[1, 1])
        mix = net.add("Convolution", name=f"{name}_Mix", OutMaps=maps, KernelShape=[1, 1])
        pool = net.add("MaxPooling", name=f"{name}_Pool", KernelShape=[2, 2])
        link(net, value, conv, net.add("ReLU", name=f"{name}_ReLU"), mix, pool)
        value = pool
    head(net, value)
    return project


def test_one_unit_used_three_times_with_different_arguments_is_the_network_written_out():
    project, hand = vgg_units(), vgg_written_out()
    a = analyze(project.network(), project=project)
    b = analyze(hand.network(), project=hand)
    assert a.ok and b.ok, (a.problems, b.problems)
    assert (a.total_params, a.total_macs) == (b.total_params, b.total_macs)
    assert sorted(i.shape for i in a.written_out.nodes.values()) == \
        sorted(i.shape for i in b.nodes.values())
    drawn = {n.name: a.nodes[n.id] for n in project.network().nodes}
    assert drawn["Block2"].shape == (8, 4, 4)  # its last layer's
    assert drawn["Block2"].params == 4 * 8 * 9 + 8 + 8 * 8 + 8
    torch.manual_seed(0)
    ours = compile_network(project.network(), project=project)
    theirs = compile_network(hand.network(), project=hand)
    theirs.load_tensors({name.replace("/", "_"): t for name, t in ours.tensors().items()})
    x = torch.randn(3, 1, 16, 16)
    assert torch.allclose(ours.infer(x), theirs.infer(x), atol=1e-6)


def test_units_with_one_scope_share_their_weights_and_own_scopes_do_not():
    project = vgg_units()
    net = project.network()
    for name in ("Block2", "Block3"):
        unit = net.find(name)
        unit.props["Arguments"] = {"Maps": "1"}
    net.find("Block1").props["Arguments"] = {"Maps": "1"}
    own = compile_network(net, project=project)
    assert len([k for k in own.tensors() if k.endswith("Mix.weight")]) == 3
    for name in ("Block1", "Block2", "Block3"):
        net.find(name).props["ParameterScope"] = "Shared"
    shared = compile_network(net, project=project)
    assert [k for k in shared.tensors() if k.endswith("weight")] == [
        "Shared/Convolution.weight", "Shared/Mix.weight", "Out.linear.weight"]
    assert analyze(net, project=project).total_params == 10 + 2 + 4 * 10 + 10


@pytest.mark.parametrize("change, message", [
    (lambda p: p.network().find("Block2").props.update(Network="ConvBlok"),
     "Block2: Unit Block2: network 'ConvBlok' does not exist (did you mean 'ConvBlock'?)"),
    (lambda p: p.network().find("Block2").props.update(Arguments={"Map": "3"}),
     "Block2: Unit Block2: network ConvBlock has no Argument 'Map' (it has Maps)"),
    (lambda p: p.network().find("Block2").props.update(Arguments={"Maps": "0"}),
     "Block2: Unit Block2: argument Maps must be at least 1, not '0' (PInt)"),
    (lambda p: p.network("ConvBlock").find("Mix").props.update(OutMaps="Input[0]/3"),
     "Block1: Block1/Mix: OutMaps: Input[0]/3 is 1.333, not a whole number"),
    (lambda p: p.network("ConvBlock").connect(
        p.network("ConvBlock").find("Input"), p.network("ConvBlock").add(
            "Unit", name="Again", Network="ConvBlock")),
     "Block1: Unit Again: network 'ConvBlock' contains itself (Main → ConvBlock → ConvBlock); "
     "a unit cannot use its own network"),
])
def test_broken_units_are_named(change, message):
    project = vgg_units()
    change(project)
    result = analyze(project.network(), project=project)
    assert message in [str(p) for p in result.problems], result.problems


def test_a_unit_network_alone_uses_its_arguments_values():
    project = vgg_units()
    result = analyze(project.network("ConvBlock"), project=project)
    assert result.ok, result.problems
    assert result.nodes[project.network("ConvBlock").find("Convolution").id].shape == (8, 8, 8)
    assert result.nodes[project.network("ConvBlock").find("Mix").id].shape == (8, 8, 8)


@pytest.mark.parametrize("value, maps", [("Maps*2", (8, 16, 32)), ("(Maps+4)/2", (4, 6, 10))])
def test_arithmetic_on_bare_argument_names_is_computed(value, maps):
    project = vgg_units()
    project.network("ConvBlock").find("Convolution").props["OutMaps"] = value
    result = analyze(project.network(), project=project)
    assert result.ok, result.problems
    shapes = [result.nodes[project.network().find(b).id].shape[0] for b in ("Block1", "Block2",
                                                                          "Block3")]
    assert tuple(shapes) == maps  # Mix keeps its input's maps (Input[0])
