"""Datasets: the CSV format users bring, the embedded sets, and the validation split."""
import os

import numpy as np
import pytest
from PIL import Image

from designer.core.data import (EMBEDDED, DataError, DataSet, embedded, open_dataset, read_csv,
                                 split, write_csv)


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def image(path, pixels, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode).save(path)


# ---- numbers -------------------------------------------------------------------------------

def test_vector_columns_form_one_variable_in_index_order(tmp_path):
    csv_file = write(tmp_path / "d.csv", "x__1:width,x__0:length,y:label\n"
                                         "2,1,0\n"
                                         "\n"
                                         "4,3,1\n")
    data = read_csv(csv_file)
    assert data.variables == {"x": (2,), "y": (1,)}
    np.testing.assert_array_equal(data.arrays["x"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(data.arrays["y"], [[0], [1]])
    assert data.labels == {"x": ["length", "width"], "y": ["label"]}
    assert data.arrays["x"].dtype == np.float32
    assert data.where(1) == f"line 4 of {csv_file}"  # the blank line is skipped, not renumbered


def test_excel_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    data = read_csv(write(tmp_path / "d.csv", "\ufeffx,y\n1,2\n"))
    assert list(data.variables) == ["x", "y"]


def test_folder_means_its_index_csv(tmp_path):
    write(tmp_path / "set" / "index.csv", "x,y\n1,0\n")
    assert len(open_dataset("set", folder=tmp_path)) == 1


# ---- files in cells ------------------------------------------------------------------------

def test_images_become_channel_first_bytes_and_normalize_scales_them(tmp_path):
    gray = np.arange(12).reshape(3, 4) * 20
    image(tmp_path / "data" / "a.png", gray)
    image(tmp_path / "data" / "b.png", gray[::-1])
    csv_file = write(tmp_path / "index.csv", "x:image,y:label\ndata/a.png,0\ndata/b.png,1\n")

    raw = read_csv(csv_file)
    assert raw.variables == {"x": (1, 3, 4), "y": (1,)}
    assert raw.arrays["x"].dtype == np.uint8
    np.testing.assert_array_equal(raw.values("x")[0, 0], gray)

    scaled = read_csv(csv_file, normalize=True)
    np.testing.assert_allclose(scaled.values("x")[1, 0], gray[::-1] / 255, rtol=1e-6)


def test_color_images_have_three_channels_and_alpha_is_dropped(tmp_path):
    rgba = np.zeros((2, 5, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    image(tmp_path / "a.png", rgba, "RGBA")
    data = read_csv(write(tmp_path / "d.csv", "x\na.png\n"))
    assert data.variables["x"] == (3, 2, 5)
    assert (data.arrays["x"][0, 0] == 200).all() and (data.arrays["x"][0, 1:] == 0).all()


def test_absolute_image_paths_work(tmp_path):
    image(tmp_path / "far" / "a.bmp", np.zeros((2, 2)))
    data = read_csv(write(tmp_path / "d.csv", f"x\n{tmp_path / 'far' / 'a.bmp'}\n"))
    assert data.variables["x"] == (1, 2, 2)


def test_data_csv_cells_are_row_by_column_arrays(tmp_path):
    for i in range(3):
        write(tmp_path / "seq" / f"{i}.csv", "\n".join(f"{i + t / 10}" for t in range(5)) + "\n")
    rows = "".join(f"seq/{i}.csv,{i}\n" for i in range(3))
    data = read_csv(write(tmp_path / "d.csv", "x:wave,y\n" + rows))
    assert data.variables["x"] == (5, 1)
    np.testing.assert_allclose(data.arrays["x"][2, :, 0], [2.0, 2.1, 2.2, 2.3, 2.4], rtol=1e-6)


def test_many_images_load_in_row_order(tmp_path):
    rows = []
    for i in range(80):  # enough to load on several threads
        image(tmp_path / f"{i}.png", np.full((2, 2), i))
        rows.append(f"{i}.png,{i}")
    data = read_csv(write(tmp_path / "d.csv", "x,y\n" + "\n".join(rows) + "\n"))
    np.testing.assert_array_equal(data.arrays["x"][:, 0, 0, 0], np.arange(80))


# ---- what users get wrong ------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("", "the file is empty; the first line must name the variables"),
    ("x,y\n", "the file has a header but no samples"),
    ("x,y\n1,2\n3\n", "line 3 has 1 cells; the header has 2"),
    ("x,y:label\n1,2\n3,abc\n", "line 3, column 'y:label': 'abc' is not a number"),
    ("x,y\n1,2\n3,\n", "line 3, column 'y': is empty"),
    ("x,y\n1,nan\n", "line 2, column 'y': 'nan' is not a finite number"),
    ("x__0,x__2\n1,2\n", "variable 'x' has no column x__1; its indices must run 0 to 1"),
    ("x__0,x__0:again\n1,2\n", "columns 'x__0' and 'x__0:again' both hold x__0"),
    ("x,x__0\n1,2\n", "variable 'x' has column 'x' without an index beside indexed columns"),
    (",y\n1,2\n", "line 1, column 1: header '' names no variable"),
    ("x, y\n1,2\n", "line 1, column 2: header ' y' has spaces around the variable name"),
    ("x,y\n1,2\n,\n", "line 3, column 'x': is empty"),
    ("x\nnotes.txt\n", "line 2, column 'x': 'notes.txt' is not a number, an image"),
    ("x\na.png\n", "line 2, column 'x': image file 'a.png' not found"),
    ('x,y\n1,2\n"3,4\n5,6\n', "line 3: a quote (\") opened here is never closed"),
    ('x,y\n"1"2,3\n', "line 2: ',' expected after '\"'"),
])
def test_bad_csv_files_are_explained_by_line_and_column(tmp_path, text, message):
    csv_file = write(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as error:
        read_csv(csv_file)
    assert str(error.value).startswith(f"{csv_file}: ")
    assert message in str(error.value)


def test_images_of_different_sizes_name_both_files(tmp_path):
    image(tmp_path / "a.png", np.zeros((4, 4)))
    image(tmp_path / "b.png", np.zeros((5, 4)))
    with pytest.raises(DataError, match=r"line 3, column 'x': image 'b.png' is 1×5×4 but "
                                        r"'a.png' \(line 2\) is 1×4×4"):
        read_csv(write(tmp_path / "d.csv", "x\na.png\nb.png\n"))


def test_a_number_among_images_is_reported(tmp_path):
    image(tmp_path / "a.png", np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"line 3, column 'x': '7' is not a image file like the "
                                        r"samples above it"):
        read_csv(write(tmp_path / "d.csv", "x\na.png\n7\n"))


def test_a_file_that_is_not_an_image_is_reported(tmp_path):
    write(tmp_path / "a.png", "not really a picture")
    with pytest.raises(DataError, match=r"line 2, column 'x': cannot read image file 'a.png': "
                                        r"not an image this app can read"):
        read_csv(write(tmp_path / "d.csv", "x\na.png\n"))


def test_a_ragged_data_csv_is_reported_with_its_own_line(tmp_path):
    write(tmp_path / "s.csv", "1,2\n3\n")
    with pytest.raises(DataError, match=r"cannot read data CSV file 's.csv': line 2 has 1 "
                                        r"values, line 1 has 2"):
        read_csv(write(tmp_path / "d.csv", "x\ns.csv\n"))


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="nothing.csv: dataset file not found"):
        open_dataset("nothing.csv", folder=tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"x\n\xff\xfe\x00")
    with pytest.raises(DataError, match="bin.csv: not a CSV text file"):
        read_csv(tmp_path / "bin.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="a dataset folder must hold index.csv"):
        read_csv(tmp_path / "empty")


# ---- files from others: refused by file, line and column, never read as something else ----

@pytest.mark.parametrize("cell, message", [
    ("1e39", "'1e39' is beyond the range of 32-bit floats (±3.4e+38)"),
    ("-3.5e38", "'-3.5e38' is beyond the range of 32-bit floats"),
    ("9" * 5000, "'9999999999"),
    ("inf", "'inf' is not a finite number"),
])
def test_numbers_beyond_float32_are_refused_by_cell_not_read_as_infinity(tmp_path, cell, message):
    with pytest.raises(DataError, match=r"line 3, column 'y': ") as error:
        read_csv(write(tmp_path / "d.csv", f"x,y\n1,2\n3,{cell}\n"))
    assert message in str(error.value) and len(str(error.value)) < len(str(tmp_path)) + 250
    write(tmp_path / "a.csv", f"1,2\n3,{cell}\n")
    with pytest.raises(DataError, match=r"line 2, column 'x': cannot read data CSV file 'a.csv': "
                                        r"line 2, value 2: "):
        read_csv(write(tmp_path / "e.csv", "x\na.csv\n"))


def test_a_decompression_bomb_is_refused_by_file_and_line(tmp_path):
    from tests.core.fuzzing import png_header

    image(tmp_path / "a.png", np.zeros((4, 4)))
    (tmp_path / "bomb.png").write_bytes(png_header(20000, 20000))
    (tmp_path / "wide.png").write_bytes(png_header(9000, 9000))  # below Pillow's own limit
    for name, claim in (("bomb", "claims more pixels than Pillow opens safely"),
                        ("wide", "is 9000×9000 pixels")):
        with pytest.raises(DataError, match=rf"line 3, column 'x': cannot read image file "
                                            rf"'{name}.png': the image {claim}.*; a dataset "
                                            r"image may have at most 67,108,864 \(8192×8192\)"):
            read_csv(write(tmp_path / "d.csv", f"x\na.png\n{name}.png\n"))


def test_damaged_images_are_refused_by_file_and_line(tmp_path):
    image(tmp_path / "a.png", np.arange(64).reshape(8, 8))
    whole = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataError, match=r"line 2, column 'x': cannot read image file 'cut.png'"):
        read_csv(write(tmp_path / "d.csv", "x\ncut.png\n"))


def test_sixteen_bit_images_are_scaled_to_their_range_not_clipped(tmp_path):
    deep = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    data = read_csv(write(tmp_path / "d.csv", "x\ndeep.png\n"))
    assert data.arrays["x"].dtype == np.uint8
    np.testing.assert_array_equal(data.arrays["x"][0, 0], [[0, 1, 128, 255]])


@pytest.mark.parametrize("header, message", [
    ("x__99999999999999999999,y", "line 1, column 1: header 'x__99999999999999999999' has an "
                                  "index of 20 digits"),
    ("x__" + "9" * 5000 + ",y", "has an index of 5000 digits"),
    ("x:" + "l" * 200_000 + ",y", "line 1: a cell is longer than 131,072 characters"),
])
def test_odd_headers_are_refused_cleanly(tmp_path, header, message):
    with pytest.raises(DataError, match=r"line 1") as error:
        read_csv(write(tmp_path / "d.csv", f"{header}\n1,2\n"))
    assert message in str(error.value) and len(str(error.value)) < len(str(tmp_path)) + 250


def test_over_long_cells_are_refused_by_line(tmp_path):
    with pytest.raises(DataError, match=r"line 3: a cell is longer than 131,072 characters"):
        read_csv(write(tmp_path / "d.csv", f"x,y\n1,2\n3,{'4' * 200_000}\n"))
    write(tmp_path / "a.csv", f"1,{'2' * 200_000}\n")
    with pytest.raises(DataError, match=r"line 2, column 'x': cannot read data CSV file 'a.csv': "
                                        r"a cell is longer than"):
        read_csv(write(tmp_path / "e.csv", "x\na.csv\n"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="pipes are a POSIX thing")
def test_pipes_posing_as_files_are_refused_not_read_for_ever(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(DataError, match=r"line 2, column 'x': cannot read image file 'pipe.png': "
                                        r"not a regular file"):
        read_csv(write(tmp_path / "d.csv", "x\npipe.png\n"))
    with pytest.raises(DataError, match=r"pipe.csv: cannot read \(not a regular file"):
        read_csv(tmp_path / "pipe.csv")


def test_data_that_would_not_fit_in_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from designer.core import cells, data

    for i in range(3):
        image(tmp_path / f"{i}.png", np.zeros((64, 64)))
    monkeypatch.setattr(data, "available_memory", lambda: 20_000)
    with pytest.raises(DataError, match=r"line 2, column 'x': 3 image files of 1×64×64 would "
                                        r"need 24.0 KiB of memory; this machine has 19.5 KiB"):
        read_csv(write(tmp_path / "d.csv", "x\n0.png\n1.png\n2.png\n"))
    monkeypatch.setattr(cells, "available_memory", lambda: 100)
    with pytest.raises(DataError, match=r"d.csv: cannot read \(the file is 20 bytes and reading "
                                        r"it needs about 200 bytes of memory"):
        read_csv(tmp_path / "d.csv")


def test_unknown_embedded_dataset_suggests_the_closest():
    with pytest.raises(DataError, match=r"embedded:iriss: no such embedded dataset \(did you "
                                        r"mean embedded:iris\?\)"):
        open_dataset("embedded:iriss")


# ---- embedded sets -------------------------------------------------------------------------

@pytest.mark.parametrize("name, size, x_shape, classes", [
    ("iris", 150, (4,), 3), ("xor", 400, (2,), 2), ("digits", 1797, (1, 8, 8), 10),
    ("digits28", 1797, (1, 28, 28), 10), ("sine", 1000, (50, 1), 0), ("spirals", 600, (2,), 2),
])
def test_embedded_datasets(name, size, x_shape, classes):
    data = embedded(name)
    assert len(data) == size and data.variables["x"] == x_shape and data.variables["y"] == (1,)
    for array in data.arrays.values():
        assert np.isfinite(array).all()
    if classes:
        counts = np.bincount(data.arrays["y"][:, 0].astype(int))
        assert len(counts) == classes and counts.min() > size / classes / 2  # no class missing
        assert len(data.class_names) == classes
    assert name in EMBEDDED and EMBEDDED[name][1]  # described for the dataset chooser


def test_embedded_images_are_scaled_to_one_and_data_cannot_be_changed_by_a_caller():
    data = embedded("digits28")
    assert data.arrays["x"].min() == 0 and data.arrays["x"].max() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        data.arrays["x"][0, 0, 0, 0] = 5
    assert embedded("digits28").arrays["x"][0, 0, 0, 0] == 0


def test_the_sine_target_continues_the_wave():
    data = embedded("sine")
    x, y = data.arrays["x"][:, :, 0], data.arrays["y"][:, 0]
    # a sine sampled at equal steps obeys s[t+1] = 2cos(w)s[t] - s[t-1]; recover 2cos(w) per wave
    k = (x[:, 2:] + x[:, :-2]).sum(1) / x[:, 1:-1].sum(1)
    good = np.abs(x[:, 1:-1].sum(1)) > 1  # skip waves whose sum is too small to divide by
    np.testing.assert_allclose(y[good], (k * x[:, -1] - x[:, -2])[good], atol=1e-3)


# ---- splitting -----------------------------------------------------------------------------

def test_split_is_seeded_disjoint_complete_and_keeps_order():
    data = DataSet("numbers", {"i": np.arange(150, dtype=np.float32)[:, None]})
    rest, held = split(data, 0.2, seed=3)
    assert (len(rest), len(held)) == (120, 30)
    ids = lambda d: d.arrays["i"][:, 0].tolist()
    assert ids(split(data, 0.2, seed=3)[1]) == ids(held)
    assert ids(split(data, 0.2, seed=4)[1]) != ids(held)
    assert sorted(ids(rest) + ids(held)) == ids(data)
    assert ids(rest) == sorted(ids(rest)) and ids(held) == sorted(ids(held))


def test_split_keeps_csv_line_numbers_for_messages(tmp_path):
    data = read_csv(write(tmp_path / "d.csv", "x\n" + "".join(f"{i}\n" for i in range(10))))
    rest, held = split(data, 0.3, seed=0)
    for part in (rest, held):
        for i in range(len(part)):
            line = int(part.arrays["x"][i, 0]) + 2  # the value i sits on line i + 2
            assert part.where(i) == f"line {line} of {tmp_path / 'd.csv'}"


def test_split_edges():
    data = embedded("iris").subset(np.arange(3))
    assert [len(p) for p in split(data, 0.0, 0)] == [3, 0]
    assert [len(p) for p in split(data, 0.01, 0)] == [2, 1]  # a fraction above 0 holds one out
    assert [len(p) for p in split(data, 0.99, 0)] == [1, 2]  # and always leaves one to train


def test_reshaped_views_the_same_values():
    data = embedded("sine").subset(np.arange(4))
    flat = data.reshaped("x", (50,))
    assert flat.variables["x"] == (50,)
    np.testing.assert_array_equal(flat.arrays["x"], data.arrays["x"][:, :, 0])


@pytest.mark.parametrize("name", ["iris", "xor", "digits", "sine", "spirals"])
def test_embedded_dataset_written_as_csv_reads_back_the_same(name, tmp_path):
    assert name in EMBEDDED
    original = embedded(name)
    index = write_csv(original, tmp_path / name)
    images = name.startswith("digits")
    again = read_csv(index, normalize=images)
    assert again.variables == original.variables
    for var in original.arrays:
        if images and var == "x":  # 8-bit PNG pixels: within half a grey level
            assert np.abs(again.values(var) - original.values(var)).max() <= 0.5 / 255 + 1e-6
        else:
            assert np.array_equal(again.values(var), original.values(var)), var


def test_dataset_command_lists_and_writes(tmp_path, capsys):
    from designer.core.cli import main

    assert main(["dataset"]) == 0
    assert "embedded:digits28" in capsys.readouterr().out
    assert main(["dataset", "xor", "-o", str(tmp_path / "xor")]) == 0
    assert (tmp_path / "xor" / "index.csv").read_text().splitlines()[0] == "x__0:a,x__1:b,y:a xor b"
    assert main(["dataset", "mnist"]) == 2
