"""Create Dataset: a folder of class sub-folders of images, or a spreadsheet table, becomes an
NNC-format dataset folder that trains, with class names and standardisation kept beside it."""
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from designer.core.cli import main
from designer.core.data import DataError, read_csv
from designer.core.dataset_create import (TableError, create_from_images, create_from_table,
                                          read_table, scan_image_folder, table_columns)
from designer.core.preprocessing import ImageFormat, Standardize, to_network
from designer.core.progress import Cancelled


def stripes(kind: str, size: tuple[int, int], rng) -> np.ndarray:
    """A gray picture of one class: horizontal or vertical stripes, or a bright square."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    period = max(4, min(w, h) // 3)
    if kind == "across":
        pixels = (y * 4 // period) % 2 * 200
    elif kind == "down":
        pixels = (x * 4 // period) % 2 * 200
    else:
        pixels = ((abs(x - w / 2) < w / 4) & (abs(y - h / 2) < h / 4)) * 220
    return np.clip(pixels + rng.normal(0, 20, (h, w)), 0, 255).astype(np.uint8)


def image_folder(root, per_class=12, classes=("across", "down", "square")):
    """Class sub-folders of PNG (gray, RGB, RGBA) and JPEG pictures of varied sizes."""
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            size = (int(rng.integers(18, 40)), int(rng.integers(18, 40)))
            gray = stripes(c, size, rng)
            mode = ("L", "RGB", "RGBA", "JPEG")[i % 4]
            if mode == "L":
                Image.fromarray(gray).save(root / c / f"{i}.png")
            elif mode == "JPEG":
                Image.fromarray(gray).convert("RGB").save(root / c / f"{i}.jpg", quality=95)
            else:
                Image.fromarray(gray).convert(mode).save(root / c / f"{i}.png")
    return root


# ---- images ----------------------------------------------------------------------------------

def test_image_folder_becomes_a_dataset_named_after_its_folders(tmp_path):
    source = image_folder(tmp_path / "pictures")
    (source / "down" / "notes.txt").write_text("not a picture")
    seen = []
    created = create_from_images(source, tmp_path / "out", size=(16, 12), gray=True, split=75,
                                 progress=lambda done, total: seen.append((done, total)))

    assert created.train == tmp_path / "out" / "train.csv"
    assert (created.train_count, created.validation_count) == (27, 9)  # 9 + 3 per class
    assert created.classes == ["across", "down", "square"]
    assert seen[0] == (0, 36) and seen[-1] == (36, 36)
    assert any("notes.txt" in w for w in created.warnings)
    assert created.train.read_text().splitlines()[0] == "x:image,y:label"

    train = read_csv(created.train, normalize=True)
    validation = read_csv(created.validation)
    assert train.variables == {"x": (1, 12, 16), "y": (1,)}
    assert train.class_names == ["across", "down", "square"]  # from dataset.json
    assert train.preprocessing == {"x": ImageFormat(16, 12, True, "pad")}
    # stratified: each class keeps its share on both sides
    assert np.bincount(train.arrays["y"][:, 0].astype(int)).tolist() == [9, 9, 9]
    assert np.bincount(validation.arrays["y"][:, 0].astype(int)).tolist() == [3, 3, 3]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "data", "dataset.json", "train.csv", "validation.csv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_seed_decides_the_order_and_no_shuffle_keeps_folder_order(tmp_path):
    source = image_folder(tmp_path / "pictures", per_class=5)
    one = create_from_images(source, tmp_path / "a", seed=1)
    again = create_from_images(source, tmp_path / "b", seed=1)
    other = create_from_images(source, tmp_path / "c", seed=2)
    plain = create_from_images(source, tmp_path / "d", shuffle=False, split=60)
    assert one.train.read_text() == again.train.read_text() != other.train.read_text()
    rows = plain.train.read_text().splitlines()[1:]
    assert rows[:3] == ["data/across/0.png,0", "data/across/1.png,0", "data/across/2.png,0"]
    assert read_csv(one.train).variables["x"] == (3, 28, 28)  # colour, 28×28 by default


def test_fit_pads_crops_or_stretches(tmp_path):
    source = tmp_path / "wide" / "only"
    source.mkdir(parents=True)
    Image.fromarray(np.full((10, 40), 255, dtype=np.uint8)).save(source / "bar.png")
    Image.fromarray(np.full((10, 40), 255, dtype=np.uint8)).save(source / "bar2.png")
    pixels = {}
    for fit in ("pad", "crop", "resize"):
        created = create_from_images(tmp_path / "wide", tmp_path / fit, size=(20, 20),
                                     gray=True, fit=fit, split=50)
        pixels[fit] = np.asarray(Image.open(created.folder / "data" / "only" / "bar.png"))
    # pad: the 4:1 bar fits 20 wide and 5 high, centred between black margins
    assert (pixels["pad"][:7] == 0).all() and (pixels["pad"][13:] == 0).all()
    assert (pixels["pad"][8:12] == 255).all()
    # crop and resize fill the frame (crop cuts the bar's ends, resize squeezes it)
    assert (pixels["crop"] == 255).all() and (pixels["resize"] == 255).all()


def test_sixteen_bit_images_keep_their_contrast(tmp_path):
    source = tmp_path / "deep" / "a"
    source.mkdir(parents=True)
    ramp = (np.arange(16, dtype=np.uint16)[None].repeat(4, 0) * 4000)
    Image.fromarray(ramp).save(source / "ramp.png")
    Image.fromarray(ramp[:, ::-1]).save(source / "ramp2.png")
    assert Image.open(source / "ramp.png").mode.startswith("I")
    out = create_from_images(tmp_path / "deep", tmp_path / "out", size=(16, 4), gray=True,
                             split=50, fit="resize")
    pixels = np.asarray(Image.open(out.folder / "data" / "a" / "ramp.png")).astype(int)
    assert pixels[0, 0] < 5 and pixels[0, -1] > 200  # not clipped to a white image


def test_an_unreadable_image_is_named_and_nothing_is_left_behind(tmp_path):
    source = image_folder(tmp_path / "pictures", per_class=3)
    (source / "down" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a picture")
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image"):
        create_from_images(source, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pictures"]


@pytest.mark.parametrize("layout, message", [
    ({"loose.png": True}, r"no class sub-folders; it holds 1 images directly\. Put each class"),
    ({"cat/1.png": True, "dog/readme.txt": False},
     r"class folder 'dog' has no images; it holds 1 other files, such as readme\.txt"),
    ({"cat/1.png": True, "dog/": None}, r"class folder 'dog' has no images \(it is empty\)"),
])
def test_folders_without_classes_or_images_are_refused(tmp_path, layout, message):
    root = tmp_path / "pictures"
    root.mkdir()
    for name, picture in layout.items():
        path = root / name
        if picture is None:
            path.mkdir()
            continue
        path.parent.mkdir(exist_ok=True)
        if picture:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
        else:
            path.write_text("words")
    with pytest.raises(DataError, match=message):
        create_from_images(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_settings_are_refused_before_anything_is_read(tmp_path):
    with pytest.raises(DataError, match="from 1 to 4096, not 0,28"):
        create_from_images(tmp_path, tmp_path / "out", size=(0, 28))
    with pytest.raises(DataError, match="fit must be one of pad, crop, resize"):
        create_from_images(tmp_path, tmp_path / "out", fit="zoom")
    with pytest.raises(DataError, match="split must be from 1 to 99"):
        create_from_images(tmp_path, tmp_path / "out", split=100)
    with pytest.raises(DataError, match="missing: not found"):
        create_from_images(tmp_path / "missing", tmp_path / "out")


def test_cancel_stops_the_work_and_leaves_no_folder(tmp_path):
    source = image_folder(tmp_path / "pictures", per_class=20)
    asked = itertools.count()  # the user presses Cancel while the sixth image is converted

    with pytest.raises(Cancelled):
        create_from_images(source, tmp_path / "out", cancelled=lambda: next(asked) >= 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pictures"]


def test_an_existing_folder_is_replaced_only_when_asked(tmp_path):
    source = image_folder(tmp_path / "pictures", per_class=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="exists and is not empty; choose a new folder"):
        create_from_images(source, tmp_path / "out")
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep me"
    create_from_images(source, tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "mine.txt").exists()
    assert scan_image_folder(source).counts() == {"across": 3, "down": 3, "square": 3}


# ---- tables ----------------------------------------------------------------------------------

def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def test_a_text_target_becomes_named_classes(tmp_path):
    rows = "".join(f"{i},{i % 7 / 10},{('small', 'medium', 'large')[i % 3]}\n" for i in range(30))
    table = write(tmp_path / "t.csv", "size,weight,kind\n" + rows)
    created = create_from_table(table, tmp_path / "out", target="kind", standardize=False)
    assert created.task == "classification"
    assert created.classes == ["large", "medium", "small"]
    header = created.train.read_text().splitlines()[0]
    assert header == "x__0:size,x__1:weight,y:kind"
    data = read_csv(created.train)
    assert data.class_names == ["large", "medium", "small"]
    assert data.variables == {"x": (2,), "y": (1,)}
    assert data.preprocessing == {}
    assert created.train_count + created.validation_count == 30


def test_a_numeric_target_is_regression_unless_classes_are_asked_for(tmp_path):
    rows = "".join(f"{i};{i * 2},5;{i % 3 + 1}\n" for i in range(20))  # decimal commas
    table = write(tmp_path / "t.csv", "a;b;grade\n" + rows)
    regression = create_from_table(table, tmp_path / "r", target="grade", features=["b"])
    assert regression.task == "regression" and regression.classes == []
    assert any("--task classification" in w for w in regression.warnings)
    data = read_csv(regression.train)
    assert data.variables == {"x": (1,), "y": (1,)}
    assert sorted(set(data.arrays["y"][:, 0])) == [1.0, 2.0, 3.0]

    classes = create_from_table(table, tmp_path / "c", target="grade", task="classification",
                                standardize=False)
    assert classes.classes == ["1", "2", "3"]
    values = read_csv(classes.train).arrays["x"]
    assert 0.5 <= values[:, 1].min() and values[:, 1].max() == 38.5  # 19 × 2,5 read as 38.5


def test_standardisation_uses_the_training_rows_and_travels_with_the_dataset(tmp_path):
    rng = np.random.default_rng(0)
    income, rate = rng.normal(5000, 2000, 50), rng.uniform(0, 1, 50)
    lines = "".join(f"{a:.2f},{b:.4f},{'yes' if a > 5000 else 'no'}\n"
                    for a, b in zip(income, rate))
    table = write(tmp_path / "t.csv", "income,rate,buys\n" + lines)
    created = create_from_table(table, tmp_path / "out", target="buys", split=80)
    step = created.preprocessing["x"]
    assert isinstance(step, Standardize) and step.columns == ("income", "rate")
    assert any("standardised because their spreads differ" in w for w in created.warnings)

    train = read_csv(created.train)
    raw_train = step.invert(train.arrays["x"])
    np.testing.assert_allclose(step.mean, raw_train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(step.std, raw_train.std(axis=0), rtol=1e-4)
    np.testing.assert_allclose(train.arrays["x"].mean(axis=0), 0, atol=1e-5)
    # validation rows use the training statistics, and so does a raw row given later
    assert read_csv(created.validation).preprocessing["x"] == step
    row = [float(v) for v in created.validation.read_text().splitlines()[1].split(",")[:2]]
    raw = step.invert(np.array(row))
    np.testing.assert_allclose(to_network(train.preprocessing, "x", raw), row, atol=1e-5)
    meta = json.loads((created.folder / "dataset.json").read_text())
    assert meta["variables"]["x"]["standardize"]["columns"] == ["income", "rate"]
    assert meta["variables"]["y"]["classes"] == ["no", "yes"]


def test_text_in_a_feature_column_is_reported_by_file_line_and_column(tmp_path):
    table = write(tmp_path / "t.csv", "a,b,y\n1,2,x\n\n3,n/a,y\n5,,x\n7,8,y\n")
    with pytest.raises(TableError) as caught:
        create_from_table(table, tmp_path / "out", target="y")
    assert str(caught.value) == (
        f"{table}: line 4, column 'b': 'n/a' is not a number; line 5, column 'b': the cell is "
        "empty. Fix those cells in the table, or leave their rows out (--drop-bad-rows)")
    assert [(c.line, c.column) for c in caught.value.cells] == [(4, "b"), (5, "b")]
    assert not (tmp_path / "out").exists()

    created = create_from_table(table, tmp_path / "out", target="y", drop_bad_rows=True,
                                split=50)
    assert created.train_count + created.validation_count == 2
    assert "2 rows with unusable cells were left out (lines 4, 5)" in created.warnings


def test_a_column_of_words_among_the_features_is_named(tmp_path):
    table = write(tmp_path / "t.csv", "name,age,y\nAnn,31,1\nBob,42,0\nCy,25,1\n")
    with pytest.raises(TableError, match="Column 'name' holds no numbers; leave it out of the "
                                         r"features \(--features\)"):
        create_from_table(table, tmp_path / "out", target="y")
    assert [c.kind for c in table_columns(table)] == ["text", "number", "number"]


@pytest.mark.parametrize("text, options, message", [
    ("a,b,Species\n1,2,x\n", {"target": "species"},
     r"no target column named 'species' \(did you mean 'Species'\?\); the columns are 'a', "
     "'b', 'Species'"),
    ("a,b,y\n1,2,x\n", {"target": "y", "features": ["a", "bb"]},
     r"no feature column named 'bb' \(did you mean 'b'\?\)"),
    ("a,y\n1,x\n", {"target": "y", "features": ["a", "y"]}, "'y' is the target; it cannot also"),
    ("", {"target": "y"}, "the table is empty; its first line must name the columns"),
    ("a,b,y\n\n", {"target": "y"}, "the table has a header but no rows"),
    ("a,b,y\n1,2\n", {"target": "y"}, "line 2 has 2 cells; the header has 3"),
    ("a,a,y\n1,2,3\n", {"target": "y"}, "columns 1 and 2 are both named 'a'"),
    ('a,b,y\n1,2,x\n"3,4,z\n5,6,x\n', {"target": "y"},
     r"line 3: a quote \(\"\) opened here is never closed"),
    ("y\n1\n", {"target": "y"}, "no feature columns"),
    ("a,y\n1,x\n2,y\n", {"target": "y", "task": "regression"},
     "line 2, column 'y': 'x' is not a number; a regression target holds numbers"),
])
def test_bad_tables_and_choices_are_explained(tmp_path, text, options, message):
    table = write(tmp_path / "t.csv", text)
    with pytest.raises(DataError, match=message):
        create_from_table(table, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_windows_spreadsheet_exports_are_read(tmp_path):
    table = write(tmp_path / "t.csv", "\ufeffprice;size;kind\r\n1,5;2;café\r\n2,5;3;thé\r\n"
                  ";;\r\n")
    read = read_table(table)
    assert read.columns == ["price", "size", "kind"] and len(read.rows) == 2
    assert read.number("1,5") == 1.5
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("a;kind\n1;café\n2;thé\n".encode("cp1252"))
    assert read_table(legacy).rows[0][1] == "café"


# ---- command line ------------------------------------------------------------------------------

def test_the_commands_write_the_csv_files_and_print_their_paths(tmp_path, capsys):
    source = image_folder(tmp_path / "pictures", per_class=4)
    out = tmp_path / "made"
    assert main(["dataset", "create", "--images", str(source), "--size", "8,8", "--gray",
                 "--fit", "crop", "--split", "50", "--seed", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines() == [str(out / "train.csv"), str(out / "validation.csv")]
    assert "classes (y): 0 across, 1 down, 2 square" in printed.err
    assert read_csv(out / "train.csv").variables["x"] == (1, 8, 8)

    table = write(tmp_path / "t.csv", "a,b,y\n" + "".join(f"{i},{i % 2},{i % 2}\n"
                                                          for i in range(10)))
    assert main(["dataset", "create", "--table", str(table), "--target", "y",
                 "--no-standardize", "-o", str(tmp_path / "t")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(tmp_path / "t" / "train.csv")

    assert main(["dataset", "create", "--table", str(table), "--target", "z",
                 "-o", str(tmp_path / "u")]) == 2
    assert "no target column named 'z'" in capsys.readouterr().err
    assert main(["dataset", "create", "--images", str(source), "--target", "y",
                 "-o", str(tmp_path / "v")]) == 2
    assert "--target goes with --table" in capsys.readouterr().err


def test_the_dataset_command_still_lists_and_writes_embedded_sets(tmp_path, capsys):
    assert main(["dataset"]) == 0
    assert "embedded:iris" in capsys.readouterr().out
    assert main(["dataset", "iris", "-o", str(tmp_path / "iris")]) == 0
    assert len(read_csv(tmp_path / "iris" / "index.csv")) == 150
