"""The project document: round trips, migration, atomic saves and every broken-file message."""
import json
import os
from pathlib import Path

import pytest

from designer.core import project as proj
from designer.core.project import ProjectError, load

from tests.conftest import PROJECTS

SAMPLES = sorted(PROJECTS.glob("*.nnd"))
REQUIRED = ["iris_mlp", "xor_mlp", "digits_lenet", "sine_lstm", "digits_autoencoder",
            "digits_resnet"]


def test_every_required_sample_ships():
    stems = [p.stem for p in SAMPLES]
    for name in REQUIRED:
        assert name in stems


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_round_trips(path, tmp_path):
    project = load(path)
    saved = project.save(tmp_path / path.name)
    again = load(saved)
    assert again.to_dict() == project.to_dict()
    # Saving what was loaded writes the same bytes: files stay diff-friendly.
    again.save(tmp_path / "twice.nnd")
    assert (tmp_path / "twice.nnd").read_text() == saved.read_text()


def minimal() -> dict:
    p = proj.Project(name="tiny")
    net = p.network()
    i = net.add("Input", Size=[4], Dataset="x")
    a = net.add("Affine", OutShape=[3])
    l = net.add("SoftmaxCrossEntropy")
    net.connect(i, a)
    net.connect(a, l)
    return p.to_dict()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.nnd"
    path.write_text(text)
    return path


def assert_refused(tmp_path, text: str, *fragments: str):
    path = write(tmp_path, text)
    before = path.read_bytes()
    with pytest.raises(ProjectError) as err:
        load(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert path.read_bytes() == before  # nothing was written
    return message


def test_truncated_file_names_line_and_says_truncated(tmp_path):
    text = json.dumps(minimal(), indent=2)
    cut = text[: len(text) // 2]
    line = cut.count("\n") + 1
    assert_refused(tmp_path, cut, f"line {line}", "truncated")


def test_invalid_json_names_line_and_column(tmp_path):
    text = json.dumps(minimal(), indent=2).replace('"name": "tiny"', '"name": tiny', 1)
    assert_refused(tmp_path, text, "line 4, column 11")


def test_empty_file(tmp_path):
    assert_refused(tmp_path, "  \n", "empty")


def test_not_a_project(tmp_path):
    assert_refused(tmp_path, '{"hello": 1}', "not a project file", "format")


def test_newer_version_is_refused_with_versions(tmp_path):
    doc = minimal()
    doc["version"] = proj.VERSION + 1
    assert_refused(tmp_path, json.dumps(doc), f"format {proj.VERSION + 1}",
                   f"reads up to {proj.VERSION}")


def test_unknown_layer_names_node_and_suggests(tmp_path):
    doc = minimal()
    doc["networks"][0]["nodes"][1]["type"] = "Afine"
    assert_refused(tmp_path, json.dumps(doc), "networks[0].nodes[1] (Affine).type",
                   "unknown layer type 'Afine'", "did you mean 'Affine'")


def test_bad_property_value_names_field(tmp_path):
    doc = minimal()
    doc["networks"][0]["nodes"][1]["props"]["OutShape"] = "ten"
    assert_refused(tmp_path, json.dumps(doc), "networks[0].nodes[1] (Affine).props",
                   "OutShape")


def test_unknown_property_is_refused(tmp_path):
    doc = minimal()
    doc["networks"][0]["nodes"][1]["props"]["OutMaps"] = 3
    assert_refused(tmp_path, json.dumps(doc), "Affine has no property 'OutMaps'")


def test_wrong_field_type(tmp_path):
    doc = minimal()
    doc["training"]["epochs"] = "many"
    assert_refused(tmp_path, json.dumps(doc), "training.epochs", "whole number")


def test_link_to_missing_node(tmp_path):
    doc = minimal()
    doc["networks"][0]["links"][0]["to"] = "n99"
    assert_refused(tmp_path, json.dumps(doc), "networks[0].links[0]", "'n99'")


def test_duplicate_node_names(tmp_path):
    doc = minimal()
    doc["networks"][0]["nodes"][1]["name"] = "Input"
    assert_refused(tmp_path, json.dumps(doc), "two nodes are named 'Input'")


def test_bad_optimizer(tmp_path):
    doc = minimal()
    doc["training"]["optimizers"][0]["solver"] = {"type": "Adamm", "lr": 0.1}
    assert_refused(tmp_path, json.dumps(doc), "training.optimizers[0].solver.type", "'Adamm'")


def test_missing_file():
    with pytest.raises(ProjectError, match="file not found"):
        load("/nonexistent/x.nnd")


def test_version_1_is_migrated():
    doc = minimal()
    net = doc.pop("networks")[0]
    net.pop("name")
    doc["network"] = net
    doc["version"] = 1
    doc["training"] = {"epochs": 3}
    project = proj.from_dict(doc)
    assert [n.name for n in project.networks] == ["Main"]
    assert project.network().find("Affine").props["OutShape"] == [3]
    assert project.to_dict()["version"] == proj.VERSION


def test_defaults_are_filled_when_properties_are_missing():
    doc = minimal()
    doc["networks"][0]["nodes"][1]["props"] = {}
    project = proj.from_dict(doc)
    assert project.network().find("Affine").props == {
        "OutShape": [100], "WithBias": True,
        "W.Initializer": "NormalAffineGlorot", "W.InitializerMultiplier": 1.0,
        "W.LRateMultiplier": 1.0, "b.Initializer": "Constant", "b.InitializerMultiplier": 0.0,
        "b.LRateMultiplier": 1.0, "ParameterScope": ""}


def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "keep.nnd"
    project = proj.from_dict(minimal())
    project.save(path)
    before = path.read_text()
    project.name = "changed"

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        project.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.nnd"]  # no temporary file left


def test_paths_resolve_against_the_project_folder(tmp_path):
    project = proj.from_dict(minimal())
    project.save(tmp_path / "p.nnd")
    assert project.resolve("data/index.csv") == tmp_path / "data" / "index.csv"


def test_settings_for_bigger_runs_are_optional_and_written_only_when_set(tmp_path):
    project = load(PROJECTS / "digits_lenet.nnd")
    before = project.to_dict()
    assert not {"processes", "sync_batchnorm", "workers", "deterministic", "speed"} & set(
        before["training"])
    assert set(before["datasets"]["training"]) == {"source", "shuffle", "normalize"}
    project.training.processes = 4
    project.training.speed = {"channels_last": True, "compile": False}
    project.training.precision = "bfloat16"
    project.datasets["training"].cache = True
    project.datasets["training"].stream = "always"
    again = load(project.save(tmp_path / "big.nnd"))
    data = again.to_dict()
    assert data["training"]["processes"] == 4 and data["training"]["speed"] == {
        "channels_last": True}
    assert (again.datasets["training"].cache, again.datasets["training"].stream) == (
        True, "always")
    assert data["version"] == before["version"]  # no new format: older files read as before


@pytest.mark.parametrize("training, field, message", [
    ({"processes": 0}, "training.processes", "must be from 1 to 65536, not 0"),
    ({"workers": -1}, "training.workers", "must be from 0 to 256, not -1"),
    ({"speed": {"turbo": True}}, "training.speed.turbo",
     "unknown speed switch; the switches are channels_last, compile, cudnn_benchmark"),
    ({"speed": {"compile": "yes"}}, "training.speed.compile", "must be true or false"),
    ({"precision": "fp8"}, "training.precision",
     "'fp8' is not one of float, half, bfloat16, float16"),
])
def test_bad_settings_for_bigger_runs_name_their_field(tmp_path, training, field, message):
    data = json.loads((PROJECTS / "iris_mlp.nnd").read_text())
    data["training"].update(training)
    path = tmp_path / "bad.nnd"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=f"{field}: {message}"):
        load(path)


def test_a_dataset_stream_setting_is_checked(tmp_path):
    data = json.loads((PROJECTS / "iris_mlp.nnd").read_text())
    data["datasets"]["training"]["stream"] = "sometimes"
    path = tmp_path / "bad.nnd"
    path.write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="datasets.training.stream: 'sometimes' is not one "
                                           "of auto, always, never"):
        load(path)


def test_version_2_takes_nncs_property_names():
    """LeakyReLU's alpha became Alpha and KLMultinomial's target q.Dataset (NNC's names)."""
    doc = minimal()
    doc["version"] = 2
    doc["training"] = {"network": "Main"}
    net = doc["networks"][0]
    net["nodes"] += [
        {"id": "l", "type": "LeakyReLU", "name": "Leaky", "props": {"alpha": 0.3}},
        {"id": "k", "type": "KLMultinomial", "name": "KL", "props": {"T.Dataset": "p"}},
        {"id": "b", "type": "LeakyReLU", "name": "Odd", "props": "not an object"}]
    with pytest.raises(proj.ProjectError, match=r"Odd\)\.props: must be an object"):
        proj.from_dict(doc)
    net["nodes"].pop()
    project = proj.from_dict(doc)
    assert project.network().find("Leaky").props["Alpha"] == 0.3
    assert "alpha" not in project.network().find("Leaky").props
    assert project.network().find("KL").props["q.Dataset"] == "p"
    assert project.to_dict()["version"] == proj.VERSION == 4
    doc["version"] = 3  # a version 3 file with the old name is an error naming it
    with pytest.raises(proj.ProjectError, match="LeakyReLU has no property 'alpha'"):
        proj.from_dict(doc)


# ---- files from others: every one refused by file and field, in bounded time ---------------

def test_deep_nesting_is_refused_with_its_line(tmp_path):
    text = json.dumps(minimal(), indent=2).replace('"description": ""',
                                                   '"description": ' + "[" * 100_000, 1)
    assert_refused(tmp_path, text, "line 5, column", "nested more than 64 levels deep")
    doc = minimal()
    doc["description"] = json.loads("[" * 70 + "]" * 70)  # parses, but is no project value
    assert_refused(tmp_path, json.dumps(doc), "description", "nested more than 64 levels")


@pytest.mark.parametrize("number, field, fragment", [
    ("9" * 5000, "networks[0].nodes[1].props.OutShape[0]", "a 5000-digit number"),
    ("1" + "0" * 400, "networks[0].nodes[1].pos[0]", "a 401-digit number"),
    ("1e400", "networks[0].nodes[1].pos[0]", "'1e400', beyond the range of numbers"),
    ("Infinity", "networks[0].nodes[1].props.OutShape[0]", "Infinity is not a usable number"),
    ("NaN", "training.validation_split", "NaN is not a usable number"),
])
def test_numbers_python_cannot_use_are_refused_by_field(tmp_path, number, field, fragment):
    doc = minimal()
    target = {"networks[0].nodes[1].props.OutShape[0]": (doc["networks"][0]["nodes"][1]["props"]
                                                         ["OutShape"], 0),
              "networks[0].nodes[1].pos[0]": (doc["networks"][0]["nodes"][1]["pos"], 0),
              "training.validation_split": (doc["training"], "validation_split")}[field]
    target[0][target[1]] = "PLACEHOLDER"
    text = json.dumps(doc).replace('"PLACEHOLDER"', number)
    assert_refused(tmp_path, text, f"{field}: {fragment}")


def test_an_integer_property_of_infinity_from_code_is_refused_by_name():
    doc = minimal()
    node = doc["networks"][0]["nodes"][1]
    node.update(type="Convolution", props={"OutMaps": float("inf")})
    with pytest.raises(ProjectError, match=r"\(Affine\)\.props: OutMaps must be a whole number, "
                                           "not inf"):
        proj.from_dict(doc, "x.nnd")
    node.update(type="Dropout", props={"P": 10**400})
    with pytest.raises(ProjectError, match="P must be a number, not a 401-digit number"):
        proj.from_dict(doc, "x.nnd")


@pytest.mark.parametrize("field, value, fragment", [
    ("network", [], "network: must be an object, not []"),
    ("network", "ab", "network: must be an object, not 'ab'"),
    ("training", "ab", "training: must be an object, not 'ab'"),
])
def test_version_1_files_of_the_wrong_shape_are_refused(tmp_path, field, value, fragment):
    doc = {"format": proj.FORMAT, "version": 1, "network": {"nodes": [], "links": []}}
    doc[field] = value
    assert_refused(tmp_path, json.dumps(doc), fragment, "(a version 1 file)")


def test_a_lone_surrogate_is_refused_at_load_not_at_save(tmp_path):
    text = json.dumps(minimal()).replace('"tiny"', '"ti\\ud800ny"')
    assert_refused(tmp_path, text, "name: 'ti\\ud800ny' holds a lone surrogate")
    text = json.dumps(minimal()).replace('"seed": 0', '"\\udfff": 1, "seed": 0', 1)
    assert_refused(tmp_path, text, "training.'\\udfff': a field name holds a lone surrogate")


@pytest.mark.parametrize("seed, ok", [(0, True), (2**64 - 1, True), (2**64, False), (-1, False)])
def test_seeds_are_those_torch_and_numpy_take(tmp_path, seed, ok):
    doc = minimal()
    doc["training"]["seed"] = seed
    if ok:
        assert proj.from_dict(doc).training.seed == seed
    else:
        assert_refused(tmp_path, json.dumps(doc), "training.seed: must be from 0 to "
                                                  "18446744073709551615")


def test_quoted_values_are_cut_to_a_readable_length(tmp_path):
    doc = minimal()
    doc["training"]["device"] = "cuda" * 10_000
    message = assert_refused(tmp_path, json.dumps(doc), "training.device: 'cudacuda")
    assert len(message) < len(str(tmp_path)) + 200
    doc = minimal()
    doc["networks"][0]["nodes"][1]["props"]["OutShape"] = ["x" * 100_000]
    message = assert_refused(tmp_path, json.dumps(doc), "OutShape must be whole numbers")
    assert len(message) < len(str(tmp_path)) + 300


@pytest.mark.parametrize("change, fragment", [
    (lambda doc: doc["networks"][0]["links"][0].update(port=-1), "links[0].port: must be 0 or "
                                                                 "more, not -1"),
    (lambda doc: doc["networks"][0]["nodes"][1].update(name="A" * 256), "is not a node name"),
    (lambda doc: doc["datasets"].update(training={"source": "a\0b.csv"}),
     "datasets.training.source: a file name cannot hold the NUL character"),
    (lambda doc: doc["networks"][0]["nodes"][1]["props"].update(OutShape=[1] * 17),
     "OutShape has 17 values; at most 16"),
    (lambda doc: doc["networks"][0]["nodes"][1]["props"].update(OutShape=[2**31]),
     "OutShape must be at most 2147483647, not 2147483648"),
])
def test_other_unusable_values_are_refused_by_field(tmp_path, change, fragment):
    doc = minimal()
    doc.setdefault("datasets", {})
    change(doc)
    assert_refused(tmp_path, json.dumps(doc), fragment)


def test_a_file_too_large_or_not_regular_is_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path, json.dumps(minimal()))
    monkeypatch.setattr(proj, "MAX_FILE_BYTES", 100)
    with pytest.raises(ProjectError, match="a project file is at most 100 bytes"):
        load(path)
    with pytest.raises(ProjectError, match="is a folder"):
        load(tmp_path)
    if hasattr(os, "mkfifo"):  # a pipe would be read for ever
        os.mkfifo(tmp_path / "pipe.nnd")
        with pytest.raises(ProjectError, match="not a regular file"):
            load(tmp_path / "pipe.nnd")


# ---- version 4: optimizers, monitors and executors -------------------------------------------

def version_3(doc: dict) -> dict:
    """``doc`` as a version 3 file: one training block."""
    first = doc["training"]["optimizers"][0]
    training = {k: v for k, v in doc["training"].items()
                if k not in ("optimizers", "monitors", "executors", "monitor_interval")}
    return {**doc, "version": 3, "training": {**training, "network": first["network"],
                                              "optimizer": first["solver"],
                                              "schedule": first["schedule"]}}


def test_version_3_becomes_one_optimizer_monitor_and_executor():
    doc = version_3(minimal())
    doc["training"]["optimizer"] = {"type": "SGD", "lr": 0.5}
    doc["training"]["schedule"] = {"type": "cosine"}
    training = proj.from_dict(doc).training
    assert [(o.name, o.network, o.dataset, o.solver, o.schedule, o.update_interval)
            for o in training.optimizers] == [
        ("Optimizer", "Main", "training", {"type": "SGD", "lr": 0.5}, {"type": "cosine"}, 1)]
    assert [(m.name, m.network, m.dataset) for m in training.monitors] == [
        ("valid_error", "Main", "validation")]
    assert [(e.name, e.network, e.dataset, e.num_evaluations, e.repeat_evaluation)
            for e in training.executors] == [("Executor", "Main", "validation", 1, "mean")]
    assert training.monitor_interval == 1
    # the one-network form reads the first optimizer
    assert (training.network, training.optimizer, training.schedule) == (
        "Main", {"type": "SGD", "lr": 0.5}, {"type": "cosine"})


@pytest.mark.parametrize("field, value, fragments", [
    ("optimizers", [{"name": "D"}, {"name": "D"}], ["training.optimizers[1].name",
                                                    "two optimizers are named 'D'"]),
    ("optimizers", [{"update_interval": 0}], ["training.optimizers[0].update_interval",
                                              "must be from 1 to 64"]),
    ("optimizers", [{"schedule": {"type": "linear"}}], ["training.optimizers[0].schedule.type"]),
    ("monitors", [{"dataset": "a b"}], ["training.monitors[0].dataset",
                                        "is not a dataset name"]),
    ("executors", [{"repeat_evaluation": "std"}], ["training.executors[0].repeat_evaluation",
                                                   "'std' is not one of mean, last"]),
    ("executors", [3], ["training.executors[0]: must be an object"]),
    ("monitor_interval", 0, ["training.monitor_interval: must be from 1"]),
])
def test_bad_training_entries_are_refused_by_field(tmp_path, field, value, fragments):
    doc = minimal()
    doc["training"][field] = value
    assert_refused(tmp_path, json.dumps(doc), *fragments)


def test_a_project_keeps_several_optimizers_monitors_and_executors(tmp_path):
    doc = minimal()
    doc["networks"].append({"name": "Other", "nodes": [], "links": []})
    doc["training"]["optimizers"].append({"name": "G", "network": "Other", "dataset": "test",
                                          "solver": {"type": "SGD", "lr": 0.1},
                                          "update_interval": 4})
    doc["training"]["monitors"] = []
    doc["training"]["executors"][0]["num_evaluations"] = 10
    project = proj.from_dict(doc)
    assert [o.name for o in project.training.optimizers] == ["Optimizer", "G"]
    assert project.training.optimizers[1].update_interval == 4
    project.save(tmp_path / "p.nnd")
    assert load(tmp_path / "p.nnd").to_dict() == project.to_dict()
    project.training.rename_network("Other", "Renamed")
    assert project.training.optimizers[1].network == "Renamed"
