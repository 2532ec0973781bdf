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
    doc["training"]["optimizer"] = {"type": "Adamm", "lr": 0.1}
    assert_refused(tmp_path, json.dumps(doc), "training.optimizer.type", "'Adamm'")


def test_missing_file():
    with pytest.raises(ProjectError, match="file not found"):
        load("/nonexistent/x.nnd")


def test_version_1_is_migrated():
    doc = minimal()
    net = doc.pop("networks")[0]
    net.pop("name")
    doc["network"] = net
    doc["version"] = 1
    doc["training"].pop("network")
    project = proj.from_dict(doc)
    assert [n.name for n in project.networks] == ["Main"]
    assert project.network().find("Affine").props["OutShape"] == [3]
    assert project.to_dict()["version"] == proj.VERSION


def test_defaults_are_filled_when_properties_are_missing():
    doc = minimal()
    doc["networks"][0]["nodes"][1]["props"] = {}
    project = proj.from_dict(doc)
    assert project.network().find("Affine").props == {"OutShape": [100], "WithBias": True}


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


def test_a_saved_project_gets_the_users_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = proj.from_dict(minimal()).save(tmp_path / "shared.nnd")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not private to its owner
