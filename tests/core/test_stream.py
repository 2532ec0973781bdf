"""Datasets read as they are needed: streamed images train exactly as images in memory, the
cache is written once and reused until a file changes, and a broken image is named."""
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from designer.core import stream
from designer.core.data import DataError, embedded, read_csv, write_csv
from designer.core.project import Dataset, load
from designer.core.session import prepare
from designer.core.session import Feeder
from designer.core.stream import CachedImages, ImageFiles, StreamFeeder, open_csv
from designer.core.trainer import train

from tests.conftest import PROJECTS


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory):
    """300 of the 28×28 digits written out as PNG files and an index.csv."""
    folder = tmp_path_factory.mktemp("digits")
    return write_csv(embedded("digits28").subset(np.arange(300)), folder)


def test_streamed_columns_read_what_memory_holds(digits_csv):
    whole = read_csv(digits_csv, normalize=True)
    lazy = open_csv(digits_csv, normalize=True, stream="always")
    column = lazy.arrays["x"]
    assert isinstance(column, ImageFiles) and column.shape == whole.arrays["x"].shape
    assert lazy.scales == whole.scales and np.array_equal(lazy.arrays["y"], whole.arrays["y"])
    picked = np.array([5, 0, 299, 17])
    assert np.array_equal(column.read(picked), whole.arrays["x"][picked])
    part = column[np.array([3, 4, 5])].reshape((3, 784))  # a split stays lazy
    assert isinstance(part, ImageFiles) and np.array_equal(
        np.asarray(part), whole.arrays["x"][3:6].reshape(3, 784))
    # small and not told to stream: in memory, as before
    assert isinstance(open_csv(digits_csv).arrays["x"], np.ndarray)


def lenet(tmp_path, csv, **dataset):
    project = load(PROJECTS / "digits_lenet.nnd")
    project.datasets["training"] = Dataset(str(csv), normalize=True, **dataset)
    project.training.epochs = 2
    project.training.device = "cpu"
    project.training.workers = 2
    project.path = tmp_path / "lenet.nnd"
    return project


def test_a_streamed_dataset_trains_to_the_same_weights_as_in_memory(tmp_path, digits_csv):
    in_memory = train(lenet(tmp_path, digits_csv), tmp_path / "memory")
    streamed = train(lenet(tmp_path, digits_csv, stream="always"), tmp_path / "streamed")
    assert in_memory.status == streamed.status == "done", streamed.message
    a = load_file(str(in_memory.run_dir / "last.safetensors"))
    b = load_file(str(streamed.run_dir / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert in_memory.best_val_error == streamed.best_val_error


def test_the_cache_is_written_once_and_rewritten_when_an_image_changes(tmp_path, digits_csv):
    progress = []
    data = open_csv(digits_csv, True, cache=True, stream="always", workers=2,
                    progress=lambda *p: progress.append(p))
    column = data.arrays["x"]
    assert isinstance(column, CachedImages) and progress[-1] == ("x", 300, 300)
    cache = stream.cache_folder(digits_csv)
    assert column.path.parent == cache and (cache / "cache.json").is_file()
    assert np.array_equal(np.asarray(column), read_csv(digits_csv).arrays["x"])
    written = column.path.stat().st_mtime_ns
    # a cache that fits in memory is read in the training process; decoding takes the workers
    cpu = torch.device("cpu")
    assert StreamFeeder(data, ["x", "y"], cpu, workers=2).loader.num_workers == 0
    decoding = StreamFeeder(open_csv(digits_csv, stream="always"), ["x"], cpu, workers=2)
    assert decoding.loader.num_workers == 2

    progress.clear()
    again = open_csv(digits_csv, True, cache=True, stream="always", progress=progress.append)
    assert not progress and again.arrays["x"].path.stat().st_mtime_ns == written  # reused
    small = open_csv(digits_csv, True, cache=True)  # small: read from the cache into memory
    assert isinstance(small.arrays["x"], np.ndarray) and not progress

    image = digits_csv.parent / "data" / "x" / "7.png"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    open_csv(digits_csv, True, cache=True, stream="always", progress=lambda *p: progress.append(p))
    assert progress[-1] == ("x", 300, 300)  # a changed file: written again


def test_a_broken_image_is_named_when_it_is_read(tmp_path):
    csv = write_csv(embedded("digits28").subset(np.arange(20)), tmp_path)
    (tmp_path / "data" / "x" / "4.png").write_bytes(b"not a picture")
    data = open_csv(csv, stream="always")
    feeder = StreamFeeder(data, ["x", "y"], torch.device("cpu"), workers=1)
    with pytest.raises(DataError, match=r"line 6, column 'x:image': cannot read image file "
                                        r"'data/x/4.png'"):
        list(feeder.batches(feeder.in_order(8)))
    feeder.close()
    (tmp_path / "data" / "x" / "9.png").unlink()
    with pytest.raises(DataError, match=r"line 11, column 'x:image': image file "
                                        r"'data/x/9.png' not found"):
        open_csv(csv, stream="always")  # a missing file is named before training starts


def test_the_feeder_streams_only_what_is_streamed(tmp_path, digits_csv):
    prepared = prepare(lenet(tmp_path, digits_csv, stream="always"))
    assert isinstance(prepared.feeder(prepared.train_data), StreamFeeder)
    assert isinstance(prepared.feeder(open_csv(digits_csv, True)), Feeder)
