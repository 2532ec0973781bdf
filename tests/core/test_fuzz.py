"""Whatever a file holds, the app answers with its own message in bounded time.

Mutants of the sample projects and of dataset CSV files (tests/core/fuzzing.py makes them; its
``__main__`` runs a larger campaign) and values drawn by hypothesis must end in a loaded project,
a ProjectError, analysis problems, a CompileError or a DataError; never another exception. The
per-example deadline bounds the time of each file; messages are bounded in length.
"""
import json
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nodes
from designer.core.data import DataError, read_csv
from designer.core.project import ProjectError, loads

from tests.core import fuzzing

FUZZ = settings(max_examples=300, deadline=timedelta(seconds=20), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
DOCUMENTS = [json.loads(p.read_text()) for p in fuzzing.SAMPLES]
LAYERS = sorted(nodes.CATALOG)


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_sample_projects_end_in_the_apps_own_answer(seed, tmp_path):
    rng = random.Random(seed)
    document = fuzzing.mutate_project(rng.choice(DOCUMENTS), rng, LAYERS)
    path = tmp_path / "mutant.nnd"
    path.write_text(fuzzing.project_text(document, rng), encoding="utf-8",
                    errors="surrogatepass")
    # big weights are checked by the analysis and the compiler's memory check; a test machine
    # does not allocate them
    outcome = fuzzing.check_project_file(path, max_params=2_000_000)
    assert outcome in ("refused", "problems", "analysed", "compiled", "ran")


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets")
    bases = fuzzing.base_datasets(folder)
    fuzzing.dataset_extras(folder)
    return folder, [b.read_text() for b in bases]


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_datasets_are_read_or_refused_by_file_and_line(seed, dataset_folder):
    folder, texts = dataset_folder
    rng = random.Random(seed)
    path = folder / f"mutant-{seed}.csv"
    path.write_text(fuzzing.mutate_dataset(rng.choice(texts), rng), encoding="utf-8")
    try:
        assert fuzzing.check_dataset_file(path) in ("read", "refused")
    finally:
        path.unlink()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=timedelta(seconds=5), derandomize=True)
@given(where=st.sampled_from(["name", "description", "networks", "networks.0",
                              "networks.0.nodes.1", "networks.0.nodes.1.props",
                              "networks.0.nodes.1.props.OutShape", "networks.0.nodes.1.pos",
                              "networks.0.links.0", "networks.0.links.0.port", "datasets",
                              "datasets.training", "training", "training.seed",
                              "training.optimizers", "training.optimizers.0",
                              "training.optimizers.0.solver", "training.monitors",
                              "training.executors.0", "version"]),
       value=JSON)
def test_any_value_in_any_field_loads_or_is_refused_by_field(where, value):
    document = json.loads(fuzzing.SAMPLES[0].read_text())
    *path, last = where.split(".")
    target = document
    for key in path:
        target = target[int(key) if key.isdigit() else key]
    target[int(last) if last.isdigit() else last] = value
    try:
        project = loads(json.dumps(document), source="mutant.nnd")
    except ProjectError as e:
        assert str(e).startswith("mutant.nnd: ") and len(str(e)) < fuzzing.MESSAGE_LIMIT
    else:
        project.to_json().encode("utf-8")  # what loads can be saved


@settings(max_examples=200, deadline=timedelta(seconds=5), derandomize=True)
@given(text=st.text(alphabet=st.sampled_from('[]{}",:0123456789.eE-+ntrufalsIiyN\\\n ud8'),
                    max_size=300))
def test_any_text_loads_or_is_refused(text):
    try:
        loads(text, source="mutant.nnd")
    except ProjectError as e:
        assert str(e).startswith("mutant.nnd: ") and len(str(e)) < fuzzing.MESSAGE_LIMIT


@settings(max_examples=150, deadline=timedelta(seconds=5), derandomize=True)
@given(layer=st.sampled_from(LAYERS), value=JSON | st.integers(-2**80, 2**80))
def test_any_property_value_parses_or_is_refused_by_name(layer, value):
    spec = nodes.get_spec(layer)
    for prop in spec.props:
        try:
            spec.parse_props({prop.name: value})
        except ValueError as e:
            assert prop.name in str(e) and len(str(e)) < 300


@settings(max_examples=100, deadline=timedelta(seconds=5), derandomize=True)
@given(cells=st.lists(st.text(alphabet=st.sampled_from("0123456789.eE-+,\"\n :x_ainf"),
                              max_size=12), min_size=1, max_size=12))
def test_any_csv_text_is_read_or_refused(cells, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    path.write_text("x__0,x__1,y\n" + "\n".join(cells) + "\n")
    try:
        data = read_csv(path)
    except DataError as e:
        assert str(e).startswith(str(path)) and len(str(e)) < fuzzing.MESSAGE_LIMIT
    else:
        assert all(a.dtype.kind == "f" for a in data.arrays.values())
