"""Dataset previews: variables read cheaply, and a CSV file read row by row on demand."""
import os

import numpy as np
import pytest
from PIL import Image

from designer.core import preview
from designer.core.data import DataError, read_csv
from designer.core.preview import CsvPreview, dataset_variables, shapes
from designer.core.progress import Cancelled


def image_csv(folder, rows=40, size=(6, 5), labels=3):
    """An NNC image dataset: gray PNGs of ``size`` (W, H) and class numbers."""
    (folder / "img").mkdir(parents=True)
    lines = ["x:image,y:label"]
    for i in range(rows):
        pixels = np.full((size[1], size[0]), (i * 7) % 256, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{i % labels}")
    path = folder / "index.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def count_decodes(monkeypatch):
    calls = []
    real = preview.read_image
    monkeypatch.setattr(preview, "read_image", lambda path: calls.append(path) or real(path))
    return calls


def test_variables_of_an_image_csv_decode_only_the_first_image(tmp_path, monkeypatch):
    path = image_csv(tmp_path, rows=40)
    decoded = count_decodes(monkeypatch)
    found = dataset_variables(str(path), normalize=True)
    assert len(decoded) == 1
    assert shapes(found) == {"x": (1, 5, 6), "y": (1,)} == read_csv(path).variables
    x, y = found["x"], found["y"]
    assert (x.kind, x.samples, x.counted, x.minimum) == ("image", 40, 1, 0.0)
    assert (y.kind, y.minimum, y.maximum, y.whole) == ("numbers", 0.0, 2.0, True)
    assert y.class_counts == [14, 13, 13] and y.counted == 40

    everything = dataset_variables(str(path), decode_all=True)
    assert len(decoded) == 41 and everything["x"].counted == 40
    assert everything["x"].maximum == max((i * 7) % 256 for i in range(40))


def test_decoding_everything_finds_a_bad_file_far_down_and_can_be_cancelled(tmp_path):
    path = image_csv(tmp_path, rows=30)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "img" / "25.png")
    assert dataset_variables(str(path))["x"].error is None  # not looked at
    found = dataset_variables(str(path), decode_all=True)
    assert found["x"].error == (f"{path}: line 27, column 'x:image': image 'img/25.png' is "
                                "1×9×9 but the first sample's is 1×5×6")
    with pytest.raises(Cancelled):
        dataset_variables(str(path), decode_all=True, cancelled=lambda: True)


def test_embedded_variables_carry_class_names_and_counts():
    found = dataset_variables("embedded:iris")
    assert found["x"].shape == (4,) and found["x"].class_counts is None
    assert found["y"].class_names == ["setosa", "versicolor", "virginica"]
    assert found["y"].class_counts == [50, 50, 50]


def test_rows_are_read_on_demand_with_their_file_lines(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(b"")  # unreadable, but only row 2 shows it
    Image.fromarray(np.zeros((2, 3), np.uint8)).save(tmp_path / "ok.png")
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffx:image,y:label,note\r\n"
                     "ok.png,1,plain\r\n"
                     "\r\n"
                     'ok.png,2,"two\r\nlines"\r\n'
                     "a.png,3,x\r\n"
                     "ok.png,abc,x\r\n"
                     "ok.png,1\r\n"
                     "missing.png,1,x".encode("utf-8"))
    decoded = count_decodes(monkeypatch)
    rows = CsvPreview(path)
    assert rows.row_count == 6
    assert [rows.line(i) for i in range(6)] == [2, 4, 6, 7, 8, 9]
    assert [c.header for c in rows.columns] == ["x:image", "y:label", "note"]
    assert rows.texts(1) == ["ok.png", "2", "two\r\nlines"]
    first = rows.row(0)
    assert first[0].value.shape == (1, 2, 3) and first[1].value == 1.0 and not first[0].error
    assert rows.cell(0, 0) is first[0] and len(decoded) == 1  # decoded once, then cached
    assert rows.cell(2, 0).error.startswith(f"{path}: line 6, column 'x:image': cannot read "
                                            "image file 'a.png'")
    assert rows.cell(3, 1).error == f"{path}: line 7, column 'y:label': 'abc' is not a " \
                                    "number"  # as read_csv says it
    assert rows.cell(4, 0).error == f"{path}: line 8 has 2 cells; the header has 3"
    assert "image file 'missing.png' not found" in rows.cell(5, 0).error


def test_a_file_the_preview_cannot_open_says_why(tmp_path):
    with pytest.raises(DataError, match="dataset file not found"):
        CsvPreview(tmp_path / "nothing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        CsvPreview(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("x,y\n\n")
    with pytest.raises(DataError, match="has a header but no samples"):
        CsvPreview(tmp_path / "header.csv")
    (tmp_path / "bad.csv").write_text("x,y\n1,abc\n")
    assert dataset_variables(str(tmp_path / "bad.csv"))["y"].error == (
        f"{tmp_path / 'bad.csv'}: line 2, column 'y': 'abc' is not a number")


def test_a_wide_row_is_parsed_once_not_once_per_cell(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"x__{i}" for i in range(2000)) + "\n"
                    + (",".join(["1"] * 2000) + "\n") * 2)
    rows = CsvPreview(path)
    rows.row(0)
    parses = []
    real = preview.csv.reader
    monkeypatch.setattr(preview.csv, "reader", lambda *a, **k: parses.append(1) or real(*a, **k))
    assert [cell.value for cell in rows.row(1)] == [1.0] * 2000
    assert len(parses) == 1


def test_what_read_csv_refuses_the_preview_refuses_alike(tmp_path):
    (tmp_path / "big.csv").write_text("x,y\n1,1e39\n")
    assert CsvPreview(tmp_path / "big.csv").cell(0, 1).error == (
        f"{tmp_path / 'big.csv'}: line 2, column 'y': '1e39' is beyond the range of 32-bit "
        "floats (±3.4e+38), which networks compute in")
    if hasattr(os, "mkfifo"):  # a pipe would be read for ever
        os.mkfifo(tmp_path / "pipe.csv")
        with pytest.raises(DataError, match="pipe.csv: cannot read \\(not a regular file"):
            CsvPreview(tmp_path / "pipe.csv")
