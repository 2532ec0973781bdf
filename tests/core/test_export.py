"""Export: ONNX, PyTorch code and weights, each proven to compute what the app computes.

Every sample project is trained for one epoch by the real trainer, exported with the default
(dynamo-first) ONNX exporter and as PyTorch code, and the exports are run: ONNX Runtime must match
PyTorch within 1e-4 on random and real inputs at batch sizes 1 and 7, the PyTorch file must
reproduce the app's outputs exactly in a fresh interpreter. Every catalog layer is exported on its
own in a minimal network. Exports are shared across tests (module-scoped caches) because the
dynamo exporter takes seconds per model.
"""
import ast
import contextlib
import io
import os
import json
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file, save_file

import nodes
from designer.core import cli
from designer.core import export as ex
from designer.core import runs
from designer.core.analysis import analyze
from designer.core.compiler import compile_network
from designer.core.project import Dataset, Network, Project, load
from designer.core.trainer import train

from tests.conftest import PROJECTS

SAMPLES = sorted(p.stem for p in PROJECTS.glob("*.nnd"))
# the structural layers (repeat blocks, recurrent loops, units) export as the layers they
# expand to (tests/core/test_structures.py)
LAYERS = [name for name, spec in nodes.CATALOG.items() if not spec.is_input and not spec.role]
TOLERANCE = 1e-4



# ---- shared artefacts ------------------------------------------------------------------------

class Cache:
    """Computes each artefact once per module, on first use (a failure stays with its test)."""

    def __init__(self, folder):
        self.folder = folder
        self.items = {}

    def get(self, key, make):
        if key not in self.items:
            self.items[key] = make()
        return self.items[key]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("export"))


def trained_run(cache, name):
    """A run folder of sample project ``name`` trained for one epoch by the trainer."""
    def make():
        project = load(PROJECTS / f"{name}.nnd")
        project.training.epochs = 1
        torch.set_num_threads(1)
        result = train(project, cache.folder / "runs" / name)
        assert result.status == "done", result.message
        return result.run_dir
    return cache.get(("run", name), make)


def exported(cache, name, fmt):
    def make():
        run = trained_run(cache, name)
        return ex.export(load(PROJECTS / f"{name}.nnd"), fmt, cache.folder / fmt / name / "",
                         run_dir=run)
    return cache.get((fmt, name), make)


def executed(project):
    """The network evaluation and export use (the executor's), compiled."""
    network = project.network(project.training.executors[0].network)
    return network, compile_network(network, project=project)


def app_outputs(run_dir, inputs):
    """What the app computes: the run's project compiled afresh, its best weights loaded."""
    network, compiled = executed(load(run_dir / "project.nnd"))
    runs.load_into(compiled, network, run_dir / "best.safetensors", others=True)
    compiled.layers.eval()
    with torch.no_grad():
        out = compiled.infer(*inputs)
    return compiled, list(out) if isinstance(out, tuple) else [out]


def checked_on(cache, name):
    """The inputs an export is checked on: random ones, and validation data when the network
    reads any (a generator reads only noise)."""
    _, compiled = executed(load(trained_run(cache, name) / "project.nnd"))
    data = {("validation data", 1), ("validation data", 7)} if compiled.data_inputs else set()
    return {("random", 1), ("random", 7)} | data


# ---- sample projects: ONNX -----------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLES)
def test_sample_project_exports_to_onnx_that_matches_pytorch(cache, name):
    result = exported(cache, name, "onnx")
    assert result.ok, result.summary()
    assert result.exporter == "dynamo" and result.note == "", result.summary()
    assert result.checker == "passed" and result.opset == ex.DEFAULT_OPSET
    onnx.checker.check_model(result.path, full_check=True)
    assert {(c.inputs, c.batch) for c in result.comparisons} == checked_on(cache, name)
    assert all(c.max_abs_diff < TOLERANCE for c in result.comparisons), result.summary()


@pytest.mark.parametrize("name", SAMPLES)
def test_onnx_file_has_named_io_and_a_dynamic_batch_axis(cache, name):
    """Independent of the export's own check: run the file on new inputs of another batch size
    and compare with the run's weights loaded into a freshly compiled network."""
    result = exported(cache, name, "onnx")
    run = trained_run(cache, name)
    _, compiled = executed(load(run / "project.nnd"))
    model = onnx.load(result.path)
    assert [i.name for i in model.graph.input] == compiled.input_vars
    assert [o.name for o in model.graph.output] == compiled.outputs
    for value in list(model.graph.input) + list(model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param, f"{value.name}: batch axis fixed"
    assert not any(n.op_type in ("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss")
                   for n in model.graph.node), "a loss was exported"
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.rand((5,) + compiled.input_shapes[v], generator=generator)
              for v in compiled.input_vars]
    _, expected = app_outputs(run, inputs)
    session = ort.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    got = session.run(None, {v: t.numpy() for v, t in zip(compiled.input_vars, inputs)})
    for e, g in zip(expected, got, strict=True):
        assert g.shape == tuple(e.shape)
        assert np.abs(g - e.numpy()).max() < TOLERANCE


# ---- sample projects: PyTorch code -----------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLES)
def test_sample_project_exports_pytorch_code_that_reproduces_the_app_exactly(cache, name):
    result = exported(cache, name, "pytorch")
    assert result.ok, result.summary()
    assert result.max_abs_diff == 0 and all(c.exact for c in result.comparisons)
    assert {(c.inputs, c.batch) for c in result.comparisons} == checked_on(cache, name)
    source = open(result.path, encoding="utf-8").read()
    assert "nodes" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                           if line.startswith(("import ", "from "))}
    _, compiled = executed(load(trained_run(cache, name) / "project.nnd"))
    for node_id, attr in compiled.attr_of.items():
        if attr in {n.target for n in compiled.infer.graph.nodes if n.op == "call_module"}:
            assert f"self.{attr} = " in source  # layers keep the names the user gave them


def test_pytorch_files_load_with_safetensors_in_a_fresh_interpreter(cache, tmp_path):
    """The usage the docstring promises, for every sample at once, in one isolated interpreter:
    ``load_state_dict(safetensors.torch.load_file(...))``, and ``python file.py`` runs."""
    cases = []
    for name in SAMPLES:
        result = exported(cache, name, "pytorch")
        run = trained_run(cache, name)
        _, compiled = executed(load(run / "project.nnd"))
        generator = torch.Generator().manual_seed(2)
        inputs = [torch.randn((3,) + compiled.input_shapes[v], generator=generator)
                  for v in compiled.input_vars]
        _, expected = app_outputs(run, inputs)
        cases.append({"file": result.path, "weights": result.files[1],
                      "class": ex.class_name(load(run / "project.nnd").name),
                      "inputs": inputs, "expected": expected})
    torch.save(cases, tmp_path / "cases.pt")
    child = textwrap.dedent("""
        import importlib.util, runpy, sys, torch
        from safetensors.torch import load_file
        torch.set_num_threads(1)
        for case in torch.load(sys.argv[1], weights_only=True):
            spec = importlib.util.spec_from_file_location("exported", case["file"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = getattr(module, case["class"])()
            model.load_state_dict(load_file(case["weights"]))
            model.eval()
            with torch.no_grad():
                out = model(*case["inputs"])
            out = list(out) if isinstance(out, tuple) else [out]
            assert all(torch.equal(a, b) for a, b in zip(out, case["expected"], strict=True)), \\
                case["file"]
            runpy.run_path(case["file"], run_name="__main__")
        assert not [m for m in sys.modules if m.split(".")[0] in ("designer", "nodes")]
        print("all equal")
    """)
    done = subprocess.run([sys.executable, "-I", "-c", child, str(tmp_path / "cases.pt")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("all equal")


# ---- weights and preprocessing -------------------------------------------------------------

def test_weights_export_is_the_runs_weights_with_preprocessing_beside(cache):
    result = exported(cache, "iris_mlp", "weights")
    assert result.ok
    written = load_file(result.path)
    original = load_file(trained_run(cache, "iris_mlp") / "best.safetensors")
    assert written.keys() == original.keys()
    assert all(torch.equal(written[k], original[k]) for k in original)
    info = json.loads(open(result.files[1], encoding="utf-8").read())
    assert result.files[1].endswith("iris_mlp.preprocessing.json")
    assert info["inputs"][0]["name"] == "x" and info["inputs"][0]["shape"] == [4]
    assert info["inputs"][0]["normalization"]["divide_by"] == 1.0
    low, high = info["inputs"][0]["training_range"]
    assert 0 < low < high < 10  # iris measurements in cm
    assert info["outputs"] == [{
        "name": "Affine_2", "shape": [3], "batch_axis": 0, "dtype": "float32", "kind": "scores",
        "meaning": nodes.get_spec("SoftmaxCrossEntropy").prediction.description,
        "trained_with": "SoftmaxCrossEntropy", "classes": 3,
        "class_names": ["setosa", "versicolor", "virginica"]}]


@pytest.mark.parametrize("name, kind", [("xor_mlp", "logits"), ("sine_lstm", "values"),
                                        ("digits_autoencoder", "values")])
def test_preprocessing_says_what_the_outputs_mean(cache, name, kind):
    info = json.loads(open(exported(cache, name, "onnx").files[1], encoding="utf-8").read())
    assert [o["kind"] for o in info["outputs"]] == [kind]
    # the same description rides inside the ONNX file
    model = onnx.load(exported(cache, name, "onnx").path)
    inside = {p.key: p.value for p in model.metadata_props}
    assert json.loads(inside["nn-designer.preprocessing"]) == info


def test_preprocessing_names_the_divide_by_255_step_when_the_dataset_normalizes():
    project = load(PROJECTS / "digits_lenet.nnd")
    project.datasets["training"].normalize = True
    info = ex.preprocessing(ex.load_model(project))
    assert info["inputs"][0]["normalization"]["divide_by"] == 255.0
    assert "by 255" in info["inputs"][0]["normalization"]["description"]


def test_untrained_export_is_reproducible_from_the_seed(tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    first = ex.export(project, "weights", tmp_path / "a.safetensors")
    second = ex.export(project, "weights", tmp_path / "b.safetensors")
    assert first.weights == "untrained: initial weights from seed 0"
    a, b = load_file(first.path), load_file(second.path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_exports_the_network_it_trained_even_after_the_project_changed(cache, tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    project.network().find("Affine").props["OutShape"] = [32]  # edited after training
    result = ex.export(project, "weights", tmp_path / "w.safetensors",
                       run_dir=trained_run(cache, "iris_mlp"), weights="last")
    assert load_file(result.path)["Affine.linear.weight"].shape == (16, 4)
    assert result.weights == f"last.safetensors of run {trained_run(cache, 'iris_mlp').name}"


# ---- every catalog layer -------------------------------------------------------------------

SHAPES = [(3, 8, 8), (4, 6, 6), (6, 4), (4,), (1, 28, 28), (4, 1)]


def add_layer(net: Network, layer: str, shape, tag: str) -> None:
    """Input → layer → SquaredError; a loss layer gets Input → Affine → loss."""
    spec = nodes.get_spec(layer)
    source = net.add("Input", name=f"In_{tag}", Size=list(shape), Dataset=f"x_{tag}")
    if spec.is_loss:
        scores = net.add("Affine", name=f"Scores_{tag}", OutShape=[5])
        net.connect(source, scores)
        net.connect(scores, net.add(layer, name=f"{layer}_{tag}", **{spec.target_prop: f"t_{tag}"}))
        return
    node = net.add(layer, name=f"{layer}_{tag}")
    for port in range(1 if spec.multi_input else len(spec.inputs)):
        net.connect(source, node, port)
    net.connect(node, net.add("SquaredError", name=f"Loss_{tag}", **{"T.Dataset": f"t_{tag}"}))


def minimal_network(layer: str) -> tuple[Network, tuple]:
    """The layer with default properties on the first input shape it accepts."""
    for shape in SHAPES:
        net = Network("Main")
        add_layer(net, layer, shape, "0")
        if analyze(net).ok:
            return net, shape
    raise AssertionError(f"{layer}: no input shape in {SHAPES} suits its default properties; "
                         "add one")


def layer_project(layer: str) -> Project:
    return Project(name=f"only_{layer}", networks=[minimal_network(layer)[0]])


@pytest.mark.parametrize("layer", LAYERS)
def test_every_catalog_layer_exports_to_onnx_and_pytorch_code(layer, tmp_path):
    """At the lowest offered opset the layer supports and at the highest, with the fast
    exporter; the layer-by-layer PyTorch code must reproduce the app exactly."""
    project = layer_project(layer)
    lowest = next(opset for opset in range(ex.MIN_OPSET, ex.MAX_OPSET + 1)
                  if not ex.refusals(project.network(), "onnx", opset))
    for opset in (lowest, ex.MAX_OPSET):
        result = ex.export(project, "onnx", tmp_path / f"{opset}.onnx", opset=opset,
                           exporter="legacy")
        assert result.ok and result.checker == "passed", result.summary()
        assert {c.batch for c in result.comparisons} == {1, 7}
        assert all(c.max_abs_diff < TOLERANCE for c in result.comparisons), result.summary()
        outputs = [o.name for o in onnx.load(result.path).graph.output]
        assert outputs == ["Scores_0" if nodes.get_spec(layer).is_loss else f"{layer}_0"]

    model = ex.load_model(project)
    namespace = {}
    exec(compile(ex.pytorch_source(model, "only"), "only.py", "exec"), namespace)
    rebuilt = namespace[ex.class_name(project.name)]()
    rebuilt.load_state_dict(ex.inference_state(model))
    rebuilt.eval()
    for _, _, inputs in ex.sample_inputs(model):
        with torch.no_grad():
            assert ex.identical(rebuilt(*inputs), model.compiled.infer(*inputs))


# Properties under which each layer's spec.onnx_opset applies, and under which it does not
OPSET_CASES = {"Affine": ({"OutShape": [2, 3]}, {"OutShape": [6]})}
OPSET_LAYERS = sorted(name for name, spec in nodes.CATALOG.items() if spec.onnx_opset)


def test_every_opset_table_entry_has_a_case():
    assert set(OPSET_CASES) == set(OPSET_LAYERS)


@pytest.mark.parametrize("layer", OPSET_LAYERS)
def test_the_opset_table_is_exact_for_the_layers_it_lists(layer, tmp_path):
    """One opset below its spec's need the layer really fails to export, and the export is
    refused by name instead, before anything is written; at the need's opset it exports. With
    properties the need does not apply to, the layer exports one opset below."""
    need = nodes.get_spec(layer).onnx_opset
    applies, does_not = OPSET_CASES[layer]
    project = layer_project(layer)
    node = project.network().find(f"{layer}_0")
    node.props.update(applies)
    with pytest.raises(ex.ExportFailed):
        ex.write_onnx(ex.load_model(project), tmp_path / "direct.onnx", need.opset - 1, "legacy")
    with pytest.raises(ex.ExportRefused) as refused:
        ex.export(project, "onnx", tmp_path / "refused.onnx", opset=need.opset - 1)
    assert refused.value.refusals == [
        f"{layer}_0 ({layer}): not supported by ONNX opset {need.opset - 1}; {need.reason} "
        f"(choose opset {need.opset} or newer)"]
    assert not (tmp_path / "refused.onnx").exists()
    assert ex.export(project, "onnx", tmp_path / "at.onnx", opset=need.opset).ok
    node.props.update(does_not)
    assert ex.export(project, "onnx", tmp_path / "below.onnx", opset=need.opset - 1).ok


@pytest.mark.slow
def test_every_catalog_layer_exports_with_the_dynamo_exporter(tmp_path):
    """All layers side by side in one network (one Input, layer and loss per layer), exported
    once with the dynamo exporter, then checked output by output."""
    net = Network("Main")
    for i, layer in enumerate(LAYERS):
        add_layer(net, layer, minimal_network(layer)[1], str(i))
    result = ex.export(Project(name="catalog", networks=[net]), "onnx", tmp_path / "all.onnx",
                       exporter="dynamo")
    assert result.ok and result.exporter == "dynamo", result.summary()
    assert all(c.max_abs_diff < TOLERANCE for c in result.comparisons), result.summary()
    assert len(onnx.load(result.path).graph.output) == len(LAYERS)


def test_refusals_name_every_layer_before_anything_is_written(tmp_path):
    project = load(PROJECTS / "digits_lenet.nnd")
    project.network().find("Affine").props["OutShape"] = [8, 15]
    project.network().find("Affine_2").props["OutShape"] = [2, 42]
    project.save(tmp_path / "grid.nnd")
    reason = nodes.get_spec("Affine").onnx_opset.reason
    expected = [f"{name} (Affine): not supported by ONNX opset 12; {reason} (choose opset 13 "
                "or newer)" for name in ("Affine", "Affine_2")]
    assert ex.refusals(project.network(), "onnx", 12) == expected
    assert ex.refusals(project.network(), "onnx", 13) == []
    assert ex.refusals(project.network(), "pytorch", 12) == []
    status, err = export_error(["export", str(tmp_path / "grid.nnd"), "--format",
                                "onnx", "-o", str(tmp_path / "out" / "m.onnx"), "--opset", "12"])
    assert status == 2
    assert err == "\n".join(["error: cannot export; these layers cannot be expressed:"] +
                            [f"  {line}" for line in expected])
    assert not (tmp_path / "out").exists()


# ---- the exporters' fallback and failures --------------------------------------------------

def test_auto_falls_back_to_the_legacy_exporter_and_says_why(monkeypatch, tmp_path):
    real = torch.onnx.export

    def dynamo_breaks(*args, **kwargs):
        if kwargs.get("dynamo"):
            raise RuntimeError("unsupported operator for this test")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_breaks)
    result = ex.export(load(PROJECTS / "iris_mlp.nnd"), "onnx", tmp_path / "m.onnx")
    assert result.ok and result.exporter == "legacy"
    assert result.note == ("the dynamo exporter failed: RuntimeError: unsupported operator for "
                           "this test; used the legacy exporter")


def test_an_export_that_fails_both_ways_writes_nothing_and_exits_1(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr(torch.onnx, "export", broken)
    status, err = export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--format", "onnx",
                                "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert err == (
        "error: ONNX export failed: the dynamo exporter failed: RuntimeError: no luck; the legacy "
        "exporter failed: RuntimeError: no luck")
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_model_that_does_not_match_exits_1(monkeypatch, tmp_path):
    monkeypatch.setattr(ex, "TOLERANCE", 0.0)  # any rounding difference now counts
    status, out, _ = run_cli(["export", str(PROJECTS / "iris_mlp.nnd"), "--format", "onnx",
                              "--exporter", "legacy", "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert "the export does NOT match PyTorch" in out


# ---- the command line and bad input --------------------------------------------------------

def run_cli(argv):
    """cli.main in this process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


def test_cli_exports_and_prints_the_check(cache, tmp_path):
    run = trained_run(cache, "iris_mlp")
    status, out, err = run_cli(["export", str(PROJECTS / "iris_mlp.nnd"), "--run", str(run),
                                "--weights", "last", "--format", "onnx", "--exporter", "legacy",
                                "-o", str(tmp_path / "iris.onnx"), "--opset", "17"])
    assert status == 0, err
    assert err.splitlines() == ["loading the network and its weights…",
                                "loading the project's data…",
                                "exporting with the legacy exporter (opset 17)…",
                                "checking the file (onnx.checker) and running it in ONNX "
                                "Runtime…"]
    lines = out.splitlines()
    assert lines[0] == (f"Exported iris_mlp (last.safetensors of run {run.name}) to "
                        f"{tmp_path / 'iris.onnx'}")
    assert lines[1].startswith("  exporter: legacy, ONNX opset 17, dynamic batch axis")
    assert lines[2] == "  onnx.checker: passed"
    assert lines[3].startswith("  ONNX Runtime vs PyTorch, max abs difference: random batch 1: ")
    assert "the export matches PyTorch" in lines[4]
    assert lines[5] == f"  also wrote {tmp_path / 'iris.preprocessing.json'}"
    assert onnx.load(tmp_path / "iris.onnx").opset_import[0].version == 17


def test_cli_json_output(tmp_path):
    status, out, _ = run_cli(["export", str(PROJECTS / "xor_mlp.nnd"), "--format", "weights",
                              "-o", str(tmp_path), "--json"])
    assert status == 0
    result = json.loads(out)
    assert result["ok"] and result["path"] == str(tmp_path / "xor_mlp.safetensors")
    project = load(PROJECTS / "xor_mlp.nnd")
    project.network().find("Affine").props["OutShape"] = [2, 4]
    project.save(tmp_path / "xor_grid.nnd")
    status, out, _ = run_cli(["export", str(tmp_path / "xor_grid.nnd"), "--format", "onnx",
                              "-o", str(tmp_path), "--opset", "12", "--json"])
    assert status == 2
    assert json.loads(out)["refusals"] == ex.refusals(project.network(), "onnx", 12) != []


@pytest.fixture
def fake_run(tmp_path):
    """A run folder of iris_mlp whose weights are the network's own, slightly changed."""
    project = load(PROJECTS / "iris_mlp.nnd")
    run = tmp_path / "run"
    run.mkdir()
    project.save(run / "project.nnd")
    compiled = compile_network(project.network())
    state = {k: v + 0.01 for k, v in compiled.layers.state_dict().items()}
    save_file(state, str(run / "best.safetensors"))
    return run, state


def export_error(argv) -> tuple[int, str]:
    """(status, what stderr says after the progress lines)."""
    status, _, err = run_cli(argv)
    return status, "\n".join(line for line in err.strip().splitlines()
                             if not line.endswith("…"))


def test_missing_run_folder(tmp_path):
    assert export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--run",
                         str(tmp_path / "nope"), "--format", "onnx", "-o", str(tmp_path)]) == (
        2, f"error: {tmp_path / 'nope'}: run folder not found")


def test_missing_weights_file(fake_run, tmp_path):
    run, _ = fake_run
    assert export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--run", str(run),
                         "--weights", "last", "--format", "weights", "-o", str(tmp_path)]) == (
        2, f"error: {run / 'last.safetensors'}: weights file not found; it holds "
           "best.safetensors (choose --weights best)")
    (run / "best.safetensors").unlink()
    assert export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--run", str(run),
                         "--format", "weights", "-o", str(tmp_path)]) == (
        2, f"error: {run / 'best.safetensors'}: weights file not found; the run has saved no "
           "weights yet (it may have failed or be starting)")


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"Affine_2.linear.weight": torch.zeros(4, 16)}),
     "tensor 'Affine_2.linear.weight' is 4×16 but layer Affine_2 (Affine) needs 3×16; the "
     "weights were saved from a different network"),
    (lambda s: s.pop("Affine.linear.bias"),
     "tensor 'Affine.linear.bias' (layer Affine (Affine)) is missing; the weights were saved "
     "from a different network"),
    (lambda s: s.update({"Conv.weight": torch.zeros(1)}),
     "tensor 'Conv.weight' belongs to no layer of the network; the weights were saved from a "
     "different network"),
    (lambda s: s["Affine.linear.weight"].__setitem__((0, 0), float("nan")),
     "tensor 'Affine.linear.weight' (layer Affine (Affine)) holds NaN or infinite values (did "
     "training diverge?)"),
])
def test_weights_that_do_not_fit_name_the_tensor(fake_run, tmp_path, change, message):
    run, state = fake_run
    change(state)
    save_file(state, str(run / "best.safetensors"))
    assert export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--run", str(run),
                         "--format", "onnx", "-o", str(tmp_path / "out")]) == (
        2, f"error: {run / 'best.safetensors'}: {message}")
    assert not (tmp_path / "out").exists()


def test_damaged_weights_file(fake_run, tmp_path):
    run, _ = fake_run
    (run / "best.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    status, err = export_error(["export", str(PROJECTS / "iris_mlp.nnd"), "--run", str(run),
                                "--format", "pytorch", "-o", str(tmp_path)])
    assert status == 2
    assert err.startswith(f"error: {run / 'best.safetensors'}: not a readable safetensors file (")


def test_unwritable_output_paths(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    project = str(PROJECTS / "iris_mlp.nnd")
    assert export_error(["export", project, "--format", "onnx",
                         "-o", str(blocker / "sub" / "m.onnx")]) == (
        2, f"error: {blocker / 'sub' / 'm.onnx'}: cannot write there: {blocker} is a file, not "
           "a folder")
    assert export_error(["export", project, "--format", "onnx", "-o", "/proc/m.onnx"])[1] \
        .startswith("error: /proc/m.onnx: cannot write to folder /proc (")
    assert export_error(["export", project, "--format", "onnx",
                         "-o", str(tmp_path / "m.txt")]) == (
        2, f"error: {tmp_path / 'm.txt'}: an ONNX model is a .onnx file; name it m.onnx")
    assert export_error(["export", project, "--format", "pytorch",
                         "-o", str(tmp_path / "my-model.py")]) == (
        2, f"error: {tmp_path / 'my-model.py'}: the file name must be a Python module name "
           "(letters, digits and _, not starting with a digit), e.g. my_model.py")


def test_bad_opset_and_bad_network(tmp_path):
    project = str(PROJECTS / "iris_mlp.nnd")
    assert export_error(["export", project, "--format", "onnx", "-o", str(tmp_path),
                         "--opset", "9"]) == (
        2, f"error: ONNX opset 9 is not offered; choose {ex.MIN_OPSET} to {ex.MAX_OPSET} "
           f"({ex.DEFAULT_OPSET} is the default)")
    broken = load(project)
    broken.network().find("Affine_2").props["OutShape"] = [0]
    broken.save(tmp_path / "broken.nnd")
    status, err = export_error(["export", str(tmp_path / "broken.nnd"), "--format", "pytorch",
                                "-o", str(tmp_path)])
    assert status == 2
    assert "Affine_2" in err and "OutShape" in err


# ---- projects from others: their text is never code ----------------------------------------

def hostile(marker) -> list[str]:
    """Texts that end a docstring or a string literal, then run code that makes ``marker``."""
    payload = f"__import__('os').system('touch {marker}')"
    return ['"""', "'''", "\\", '\\"""', f'""" + {payload} + """', f"'''; {payload}; '''",
            f"\n{payload}\n", f"\r{payload}", f"\u2028{payload}", f"\u2029\x0c{payload}", "\x00",
            "\x1b[2J", "{module}", "end with a backslash\\", 'end with a quote"']


def test_hostile_names_and_descriptions_export_to_code_that_runs_nothing_but_the_model(tmp_path):
    marker = tmp_path / "PWNED"
    texts = hostile(marker)
    project = Project(name=f'x"""; {texts[4]}', description="\n".join(texts))
    net = project.networks[0]
    chain = [net.add("Input", name="self", Size=[4], Dataset="x"),
             net.add("Affine", name="forward", OutShape=[8]), net.add("ReLU", name="training"),
             net.add("Tanh", name="torch"), net.add("Affine", name="load_weights", OutShape=[3]),
             net.add("Identity", name="F"), net.add("SoftmaxCrossEntropy", name="graph")]
    for a, b in zip(chain, chain[1:]):
        net.connect(a, b)
    project.datasets["training"] = Dataset("embedded:iris")
    project.training.epochs = 1
    project.save(tmp_path / "p.nnd")
    run = train(project, tmp_path / f'run"""; {texts[4]}').run_dir

    result = ex.export(project, "pytorch", tmp_path / "model.py", run_dir=run)
    assert result.ok, result.summary()
    source = (tmp_path / "model.py").read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    assert project.name in docstring and project.description in docstring
    assert f"best.safetensors of run {run.name}" in docstring  # the run's folder, as it is
    done = subprocess.run([sys.executable, "-I", str(tmp_path / "model.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("(2, 3) ")  # its own example: the model, and nothing else
    assert not marker.exists()


def test_hostile_dataset_variables_export_to_code_that_runs(tmp_path):
    variables = ["self", "class", "a b", '"""', "'''\n", "\\", "\u2028",
                 f"__import__('os').system('touch {tmp_path / 'PWNED'}')"]
    project = Project(name=variables[3], description=variables[4])
    net = project.networks[0]
    join = net.add("Concatenate")
    for variable in variables:
        net.connect(net.add("Input", Size=[1], Dataset=variable), join)
    a = net.add("Affine", OutShape=[2])
    net.connect(join, a), net.connect(a, net.add("SquaredError", **{"T.Dataset": variables[4]}))
    result = ex.export(project, "pytorch", tmp_path / "model.py")
    assert result.ok, result.summary()
    docstring = ast.get_docstring(ast.parse((tmp_path / "model.py").read_text(encoding="utf-8")),
                                  clean=False)
    assert all(variable in docstring for variable in variables)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name, expected", [("class", "Class"), ("none", "NoneModel"),
                                            ("f", "FModel"), ("exception", "ExceptionModel"),
                                            ("affine", "AffineModel"), ("iris mlp", "IrisMlp")])
def test_class_names_never_shadow_what_the_file_uses(name, expected):
    assert ex.class_name(name) == expected


def test_the_writability_check_leaves_nothing_beside_the_model(tmp_path):
    project = load(PROJECTS / "iris_mlp.nnd")
    assert ex.output_path(f"{tmp_path}/out/", "onnx", project) == tmp_path / "out" / "iris_mlp.onnx"
    assert list((tmp_path / "out").iterdir()) == []
    assert ex.output_path(tmp_path, "pytorch", Project(name="class")).name == "class_model.py"
    with pytest.raises(ex.ExportError, match="must be a Python module name"):
        ex.output_path(tmp_path / "class.py", "pytorch", project)


def test_an_export_leaves_only_its_files_with_the_users_permissions(tmp_path):
    """The dynamo exporter writes the weights beside its file: nothing of that stays behind,
    and the model is as readable as any file the user saves."""
    mask = os.umask(0o022)
    os.umask(mask)
    status, out, err = run_cli(["export", str(PROJECTS / "iris_mlp.nnd"), "--format", "onnx",
                                "--exporter", "dynamo", "-o", str(tmp_path / "iris.onnx")])
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.onnx",
                                                          "iris.preprocessing.json"]
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name


@pytest.mark.parametrize("fmt, name", [("onnx", "m.onnx"), ("pytorch", "m.py")])
def test_an_export_cancelled_while_checking_leaves_nothing_new(tmp_path, fmt, name):
    """Cancel (SIGTERM in the command) can come after the files are written, while they are
    being checked: they go too; a file of the same name that was there before is replaced,
    never deleted."""
    (tmp_path / "m.preprocessing.json").write_text("kept")

    def cancel_when_checking(text):
        if text.startswith(("checking the file", "running the exported code")):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ex.export(load(PROJECTS / "iris_mlp.nnd"), fmt, tmp_path / name,
                  log=cancel_when_checking)
    assert [p.name for p in tmp_path.iterdir()] == ["m.preprocessing.json"]
