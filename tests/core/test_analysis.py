"""Validation: every mistake a user can make is a named error on a named node."""
import pytest

from designer.core.analysis import analyze
from designer.core.project import Network, load

from tests.conftest import PROJECTS


def chain(*layers):
    net = Network()
    made = []
    for layer in layers:
        kind, props = (layer, {}) if isinstance(layer, str) else layer
        made.append(net.add(kind, **props))
    for a, b in zip(made, made[1:]):
        net.connect(a, b)
    return net, made


def messages(analysis):
    return [str(p) for p in analysis.problems]


def test_valid_network_gets_shapes_params_and_macs():
    net, (i, c, p, a, l) = chain(("Input", {"Size": [1, 28, 28]}),
                                 ("Convolution", {"OutMaps": 6, "KernelShape": [5, 5]}),
                                 "MaxPooling", ("Affine", {"OutShape": [10]}),
                                 "SoftmaxCrossEntropy")
    result = analyze(net)
    assert result.ok, messages(result)
    assert result.nodes[c.id].shape == (6, 24, 24)
    assert result.nodes[p.id].shape == (6, 12, 12)
    assert result.nodes[c.id].params == 6 * 25 + 6
    assert result.nodes[a.id].params == 864 * 10 + 10
    assert result.nodes[c.id].macs == 6 * 24 * 24 * 25
    assert result.total_params == 156 + 8650


def test_shape_error_is_attached_to_the_node_and_downstream_stays_quiet():
    net, (i, c, r, a, l) = chain(("Input", {"Size": [1, 4, 4]}),
                                 ("Convolution", {"KernelShape": [5, 5]}), "ReLU",
                                 ("Affine", {"OutShape": [3]}), "SoftmaxCrossEntropy")
    result = analyze(net)
    assert messages(result) == [
        "Convolution: kernel 5,5 does not fit the 1×4×4 input (output would be 0×0)"]
    assert result.nodes[c.id].error and result.nodes[c.id].shape is None
    assert result.nodes[r.id].shape is None and result.nodes[r.id].error is None


def test_cycle_is_named():
    net, (i, a, r, b, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [4]}),
                                 "ReLU", ("Affine", {"OutShape": [3]}), "SoftmaxCrossEntropy")
    net.links = [k for k in net.links if not (k.src == i.id)]
    net.connect(r, a)
    result = analyze(net)
    cycle = ("Affine → ReLU → Affine form a cycle without a Delay; only a Delay may feed a "
             "value back (it gives the previous time step's value)")
    assert messages(result) == [f"Affine: {cycle}", f"ReLU: {cycle}"]


def test_unconnected_input():
    net = Network()
    net.add("Input", Size=[4])
    a = net.add("Affine", OutShape=[3])
    l = net.add("SoftmaxCrossEntropy")
    net.connect(a, l)
    assert "Affine: input x is not connected" in messages(analyze(net))


def test_missing_loss():
    net, _ = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}))
    assert any("no loss layer" in m for m in messages(analyze(net)))


def test_two_losses_on_one_output():
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SoftmaxCrossEntropy")
    l2 = net.add("SquaredError")
    net.connect(a, l2)
    found = messages(analyze(net))
    assert ("SoftmaxCrossEntropy: SoftmaxCrossEntropy and SquaredError both take Affine's "
            "output; one prediction feeds one loss") in found
    assert any(m.startswith("SquaredError: ") for m in found)


def test_two_links_into_one_port():
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SoftmaxCrossEntropy")
    i2 = net.add("Input", Size=[4])
    net.connect(i2, a)
    assert "Affine: input x has 2 links (Input, Input_2); it takes one" in messages(analyze(net))


def test_a_loss_gives_one_value_per_element_and_may_feed_a_layer():
    """As in NNC: SquaredError per value, the class losses per sample; a Sum after a loss
    makes the sum the loss (an unconnected output adds to the loss, a notice says so)."""
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SquaredError")
    total = net.add("Sum", Axes=[0])
    net.connect(l, total)
    result = analyze(net)
    assert result.ok and result.nodes[l.id].shape == (3,)
    assert [str(n) for n in result.notices] == [
        "Sum: its output feeds nothing, so its mean is added to network Main's loss (as in "
        "Neural Network Console); connect it or delete it if that is not intended"]
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SoftmaxCrossEntropy")
    assert analyze(net).nodes[l.id].shape == (1,)


def test_classification_loss_needs_a_vector():
    net, _ = chain(("Input", {"Size": [1, 8, 8]}), "SoftmaxCrossEntropy")
    assert any("expects one score per class" in m for m in messages(analyze(net)))


def test_target_that_does_not_fit_its_loss():
    net, _ = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}), "SquaredError")
    found = messages(analyze(net, {"x": (4,), "y": (1,)}))
    assert found == ["SquaredError: expects values of shape 3 as target, but dataset variable "
                     "'y' holds 1 per sample"]


def test_input_variable_checks():
    net, _ = chain(("Input", {"Size": [4], "Dataset": "features"}),
                   ("Affine", {"OutShape": [3]}), "SoftmaxCrossEntropy")
    assert ("Input: dataset variable 'features' does not exist (the dataset has x, y)"
            in messages(analyze(net, {"x": (4,), "y": (1,)})))
    net.find("Input").props["Dataset"] = "x"
    assert ("Input: Size is 4 but dataset variable 'x' holds 5 per sample"
            in messages(analyze(net, {"x": (5,), "y": (1,)})))
    assert analyze(net, {"x": (4,), "y": (1,)}).ok


def test_bad_property_in_memory_is_a_node_error():
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SoftmaxCrossEntropy")
    a.props["OutShape"] = "x"
    assert any(m.startswith("Affine: OutShape must be") for m in messages(analyze(net)))


@pytest.mark.parametrize("path", sorted(PROJECTS.glob("*.nnd")), ids=lambda p: p.stem)
def test_every_sample_validates(path):
    project = load(path)
    for network in project.networks:
        result = analyze(network, project=project)
        assert result.ok, (network.name, messages(result))


# ---- what others' files can hold: linear analysis, short messages, buildable sizes ----------

def test_ten_thousand_duplicate_links_are_one_short_problem():
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SoftmaxCrossEntropy")
    net.links += [net.links[0]] * 10_000
    result = analyze(net)
    assert messages(result) == [
        "Affine: input x has 10001 links (Input, Input, Input and 9998 more); it takes one"]


def test_losses_sharing_a_prediction_and_long_cycles_are_named_briefly():
    net, (i, a, l) = chain(("Input", {"Size": [4]}), ("Affine", {"OutShape": [3]}),
                           "SquaredError")
    for _ in range(500):
        net.connect(a, net.add("SquaredError"))
    found = messages(analyze(net))
    assert len(found) == 501 and all(len(m) < 200 for m in found)
    assert found[0] == ("SquaredError: SquaredError, SquaredError_2, SquaredError_3 and 498 "
                        "more all take Affine's output; one prediction feeds one loss")
    ring = Network()
    layers = [ring.add("ReLU") for _ in range(1000)]
    for x, y in zip(layers, layers[1:] + layers[:1]):
        ring.connect(x, y)
    cycle = [m for m in messages(analyze(ring)) if "cycle" in m]
    assert len(cycle) == 1000
    assert cycle[0] == "ReLU: ReLU → ReLU_2 → ReLU_3 → … (997 more) → ReLU form a cycle " \
                       "without a Delay; only a Delay may feed a value back (it gives the " \
                       "previous time step's value)"


@pytest.mark.parametrize("layer, size, props, message", [
    ("Affine", [4], {"OutShape": [2**16, 2**16]},
     "Affine: its output would hold 4,294,967,296 values per sample (16.0 GiB); a layer may "
     "produce at most 2,147,483,647 (8.0 GiB) per sample"),
    ("LSTM", [5, 3], {"HiddenSize": 2**20},
     "LSTM: its weights would hold 4,398,067,482,624 parameters (16.0 TiB); a network may "
     "hold at most 17,179,869,184 (64.0 GiB)"),
    ("Convolution", [1, 28, 28], {"Padding": [2**30, 2**30], "KernelShape": [1, 1]},
     "Convolution: its output would hold 73,786,978,218,983,567,616 values per sample"),
    ("Embed", [3], {"NumClass": 2**31 - 1, "Shape": 2**31 - 1},
     "Embed: its output would hold 6,442,450,941 values per sample (24.0 GiB)"),
    ("Deconvolution", [1, 4, 4], {"Strides": [2**31 - 1, 2**31 - 1]},
     "Deconvolution: its output would hold"),
])
def test_sizes_that_cannot_be_built_are_problems_naming_the_size(layer, size, props, message):
    net, (i, x, l) = chain(("Input", {"Size": size}), (layer, props), "SquaredError")
    result = analyze(net)
    assert any(m.startswith(message) for m in messages(result)), messages(result)
    assert result.nodes[x.id].shape is None and result.nodes[x.id].params == 0


def test_the_whole_network_is_held_to_the_parameter_limit():
    net, made = chain(("Input", {"Size": [2**17]}), ("Affine", {"OutShape": [2**16]}),
                      ("Affine", {"OutShape": [2**16]}), ("Affine", {"OutShape": [2**16]}),
                      "SquaredError")
    found = messages(analyze(net))
    assert found[-1].startswith("the network would hold 17,180,065,792 parameters (64.0 GiB);")


def test_values_too_large_for_torch_are_property_problems():
    net, (i, p, l) = chain(("Input", {"Size": [1, 28, 28]}), "MaxPooling", "SquaredError")
    p.props["Strides"] = [10**18, 10**18]
    assert "MaxPooling: Strides must be at most 2147483647, not 1000000000000000000" \
        in messages(analyze(net))
    p.props["Strides"] = [10**5000, 1]
    assert "MaxPooling: Strides must be at most 2147483647, not a 5001-digit number" \
        in messages(analyze(net))
