"""Compressing a trained run: int8 quantization in ONNX Runtime, structured pruning and
distillation, each measured before and after, and the bad inputs each refuses by name."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from designer.core import cli, runs
from designer.core.compiler import compile_network
from designer.core.compress.methods import prune_run, quantize_run
from designer.core.compress.prune import plan, prune
from designer.core.compress.result import CompressError, Compressed, Figures
from designer.core.project import load
from designer.core.trainer import train

from tests.conftest import PROJECTS


# ---- quantization ----------------------------------------------------------------------------

def test_int8_lenet_is_under_a_third_of_the_float_file_and_as_accurate(lenet_run, tmp_path,
                                                                       capsys):
    project, run = lenet_run
    out = tmp_path / "models" / "lenet_int8.onnx"
    code = cli.main(["compress", str(project.path), "--run", str(run), "--method", "quantize",
                     "-o", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    before, after = result["before"], result["after"]
    print(f"digits_lenet int8: {after['size']} of {before['size']} bytes "
          f"({after['size'] / before['size']:.1%}), accuracy {before['accuracy']:.2%} → "
          f"{after['accuracy']:.2%}, agreement {result['agreement']:.2%}, latency (ms) "
          f"float {before['latency_ms']} int8 {after['latency_ms']}")
    assert after["size"] == out.stat().st_size
    assert after["size"] <= 0.30 * before["size"]
    assert abs(after["accuracy"] - before["accuracy"]) <= 0.01
    assert result["agreement"] >= 0.98
    assert set(after["latency_ms"]) == {"1", "32"} and min(after["latency_ms"].values()) > 0
    assert result["settings"]["mode"].startswith("static int8 (QDQ, per-channel weights), "
                                                 "calibrated on 300 samples")
    # every weight tensor is int8, per output channel; the file runs as a model of its own
    model = onnx.load(str(out))
    weights = [t for t in model.graph.initializer if len(t.dims) >= 2]
    assert len(weights) == 5 and all(t.data_type == onnx.TensorProto.INT8 for t in weights)
    assert {len(t.dims) and t.dims[0] for t in model.graph.initializer
            if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 1} >= {6, 16, 120, 84}
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((2, 1, 28, 28), np.float32)})[0].shape == (2, 10)
    assert (out.parent / "lenet_int8.preprocessing.json").is_file()
    # the report stays with the run, for the Runs view
    kept = runs.compressions(run)
    assert kept[-1]["method"] == "quantize" and kept[-1]["output"] == str(out.resolve())


def recurrent_run(folder, layer: str):
    """sine_lstm with its LSTM swapped for ``layer``, trained one epoch."""
    project = load(PROJECTS / "sine_lstm.nnd")
    for node in project.network().nodes:
        if node.type == "LSTM":
            node.type, node.name = layer, layer
    project.training.epochs = 1
    project.save(folder / f"sine_{layer.lower()}.nnd")
    result = train(project, folder / f"run_{layer}")
    assert result.status == "done", result.message
    return project, result.run_dir


def test_a_layer_onnx_runtime_cannot_quantize_is_named_and_can_be_kept_in_float(tmp_path):
    project, run = recurrent_run(tmp_path, "GRU")
    out = tmp_path / "gru_int8.onnx"
    with pytest.raises(CompressError) as error:
        quantize_run(project, run, out)
    assert str(error.value) == (
        "ONNX Runtime cannot quantize GRU (GRU): it has no int8 form of its ONNX operator GRU, "
        "so its weights would stay in float. Leave it in float with --keep-float GRU, or use "
        "other layers")
    assert not out.exists() and not runs.compressions(run)
    result = quantize_run(project, run, out, keep_float=("GRU",))
    assert result.settings["mode"].startswith("dynamic int8")
    assert "kept in float: GRU" in result.notes
    assert result.agreement is None and result.after.accuracy is None
    assert result.after.error < 0.5  # mean squared error of a one-epoch sine predictor


def test_recurrent_networks_are_quantized_dynamically(tmp_path):
    project, run = recurrent_run(tmp_path, "LSTM")
    result = quantize_run(project, run, tmp_path / "lstm.onnx")
    assert result.settings["mode"].startswith("dynamic int8")
    assert result.notes[1].startswith("largest difference from the float model on the "
                                      "validation data: ")
    assert result.after.size < 0.5 * result.before.size


def test_quantizing_needs_a_run_with_weights_and_an_onnx_file_name(lenet_run, tmp_path):
    project, run = lenet_run
    with pytest.raises(CompressError, match=r"lenet\.int8: a quantized model is an ONNX file; "
                                            r"name it lenet\.onnx"):
        quantize_run(project, run, tmp_path / "lenet.int8")
    with pytest.raises(CompressError, match="run folder not found"):
        quantize_run(project, tmp_path / "none", tmp_path / "x.onnx")
    with pytest.raises(CompressError, match="--keep-float: no layer of the network is named "
                                            "'Conv'"):
        quantize_run(project, run, tmp_path / "x.onnx", keep_float=("Conv",))


# ---- pruning ---------------------------------------------------------------------------------

def masked_outputs(network, compiled, pruned_plan, kept, inputs):
    """The original network's outputs with every removed map zeroed where a layer reads it:
    what the pruned network must compute."""
    by_id = {n.id: n for n in network.nodes}
    handles = []
    for node_id, layout in pruned_plan.reads.items():
        maps = kept[layout.group.root().names[0]]
        keep = torch.zeros(layout.group.size, dtype=torch.bool)
        keep[maps] = True
        module = compiled.layers.get_submodule(compiled.attr_of[node_id])

        def zero(module, args, keep=keep, layout=layout):
            x = args[0]
            if layout.flat:
                mask = keep.repeat_interleave(layout.inner)
                return (x * mask.to(x.dtype),) + args[1:]
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return (x * keep.to(x.dtype).reshape(shape),) + args[1:]

        handles.append(module.register_forward_pre_hook(zero))
        assert by_id[node_id].type in ("Convolution", "Affine")
    try:
        with torch.no_grad():
            return compiled.infer(*inputs)
    finally:
        for handle in handles:
            handle.remove()


def test_pruned_lenet_is_smaller_and_computes_what_the_kept_maps_did(lenet_run, tmp_path):
    project, run = lenet_run
    out = tmp_path / "lenet_pruned.nnd"
    result = prune_run(project, run, out)
    pruned = load(out)
    net = pruned.network()
    assert net.find("Convolution").props["OutMaps"] == 3
    assert net.find("Convolution_2").props["OutMaps"] == 8
    assert result.settings["kept"] == {"Convolution": "3 of 6", "Convolution_2": "8 of 16"}
    assert result.after.macs <= 0.6 * result.before.macs
    assert result.after.params < result.before.params and result.after.size < result.before.size
    # the project starts training from the pruned weights, kept in a run of its own
    made = runs.list_runs(out)
    assert len(made) == 1 and made[0]["status"] == "done"
    assert made[0]["name"] == "pruned from run" and made[0]["method"] == "prune"
    assert pruned.resolve(pruned.training.init["run"]).resolve() == runs.latest_run(out)
    assert result.output == str(runs.latest_run(out).resolve())
    # the same outputs as the original network with the removed maps zeroed
    original = load(runs.project_path(run))
    compiled = compile_network(original.network())
    runs.load_into(compiled, original.network(), runs.weights_path(run, "best"))
    compiled.infer.eval()
    smaller = compile_network(net)
    runs.load_into(smaller, net, runs.weights_path(runs.latest_run(out), "best"))
    smaller.infer.eval()
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    kept = {"Convolution": [], "Convolution_2": []}
    _, _, kept = prune(original.network(), compiled, ["Convolution", "Convolution_2"], 0.5)
    expected = masked_outputs(original.network(), compiled,
                              plan(original.network(), ["Convolution", "Convolution_2"]),
                              kept, (x,))
    with torch.no_grad():
        torch.testing.assert_close(smaller.infer(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(CompressError, match="the file exists; choose a new name"):
        prune_run(project, run, out)


def test_residual_branches_are_pruned_together_or_refused(tmp_path):
    project = load(PROJECTS / "digits_resnet.nnd")
    net = project.network()
    torch.manual_seed(0)
    compiled = compile_network(net)
    with torch.no_grad():  # statistics that are not the identity, to catch a wrong slice
        for module in compiled.layers.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 2)
                module.bias.uniform_(-1, 1)
    compiled.infer.eval()
    with pytest.raises(CompressError) as error:
        prune(net, compiled, ["Convolution_3"], 0.5)
    assert str(error.value) == (
        "cannot prune Convolution_3: its outputs reach Add2 (Add2), which combines them map "
        "by map with the output of ReLU, which keeps all its maps; prune the layers that make "
        "that input too, so both keep the same maps")
    chosen = ["Convolution", "Convolution_2", "Convolution_3"]
    smaller, state, kept = prune(net, compiled, chosen, 0.5)
    assert kept["Convolution"] == kept["Convolution_3"]  # both branches keep the same maps
    assert len(kept["Convolution_2"]) == 8
    small = compile_network(smaller)
    small.layers.load_state_dict(state)
    small.infer.eval()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = masked_outputs(net, compiled, plan(net, chosen), kept, (x,))
    with torch.no_grad():
        torch.testing.assert_close(small.infer(x), expected, rtol=1e-4, atol=1e-5)


def test_what_cannot_be_pruned_is_refused_by_name():
    project = load(PROJECTS / "digits_lenet.nnd")
    net = project.network()
    compiled = compile_network(net)
    cases = [
        (["Affine_3"], 0.5, "cannot prune Affine_3: its outputs reach SoftmaxCrossEntropy "
                            "(SoftmaxCrossEntropy), which compares them with the dataset's "
                            "targets (a prediction keeps all its values)"),
        (["ReLU"], 0.5, "ReLU (ReLU) cannot be pruned: only layers with output maps or units of "
                        "their own (Convolution, Affine) can"),
        (["Conv"], 0.5, "--layers: the network has no layer named 'Conv'"),
        (["Affine"], 1.0, "--amount must be more than 0 and less than 1 (the share of maps "
                          "removed), not 1"),
    ]
    for layers, amount, message in cases:
        with pytest.raises(CompressError) as error:
            prune(net, compiled, layers, amount)
        assert str(error.value) == message
    # units of a hidden Affine prune like maps: the next Affine reads fewer features
    smaller, state, kept = prune(net, compiled, ["Affine", "Affine_2"], 0.25)
    assert [len(kept[n]) for n in ("Affine", "Affine_2")] == [90, 63]
    assert state["Affine_2.linear.weight"].shape == (63, 90)


@pytest.mark.slow
def test_pruning_half_of_lenet_s_maps_then_fine_tuning_keeps_it_accurate(lenet_run, tmp_path):
    project, run = lenet_run
    result = prune_run(project, run, tmp_path / "pruned.nnd", amount=0.5, fine_tune=3)
    print(f"digits_lenet pruned to {result.after.macs / result.before.macs:.1%} of the "
          f"multiply-adds: accuracy {result.before.accuracy:.2%} → {result.after.accuracy:.2%} "
          f"after 3 epochs of fine-tuning")
    assert result.after.macs <= 0.6 * result.before.macs
    assert result.after.accuracy >= 0.95
    tuned = runs.read_run(result.output)
    assert tuned["status"] == "done" and tuned["epochs_done"] == 3


# ---- the report --------------------------------------------------------------------------------

def test_the_before_after_table_reads_as_a_table():
    before = Figures("float32", "a.onnx", 180_000, {"1": 0.02, "32": 0.3}, 0.03, 0.97, 44_426,
                     290_814)
    after = Figures("int8", "b.onnx", 52_000, {"1": 0.04, "32": 0.8}, 0.031, 0.969, 44_426,
                    290_814)
    report = Compressed("quantize", "run", "b.onnx", before, after, agreement=0.995)
    assert report.table().splitlines() == [
        "                       float32      int8  after / before",
        "file size            175.8 KiB  50.8 KiB           0.29×",
        "latency, batch 1       0.02 ms   0.04 ms           2.00×",
        "latency, batch 32       0.3 ms    0.8 ms           2.67×",
        "validation accuracy     97.00%    96.90%    -0.10 points",
        "parameters              44,426    44,426           1.00×",
        "multiply-adds          290,814   290,814           1.00×",
    ]
    assert Compressed.from_json(json.loads(json.dumps(report.to_json()))) == report
    assert "classifies 99.50% of the validation samples as the float model does" in \
        report.summary()
    assert report.summary().splitlines()[0] == "quantize: b.onnx"
    pruned = Compressed("prune", "run", "small.runs/1", before, after, project="small.nnd")
    assert pruned.summary().splitlines()[0] == "prune: small.nnd (its run: small.runs/1)"
