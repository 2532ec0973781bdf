"""Mutants of the sample projects and of dataset files, and what each must come to.

Every mutant must end in one of the app's own answers (a loaded project, a ProjectError,
analysis problems, a CompileError, a DataError) in bounded time, with messages of bounded size.
``tests/core/test_fuzz.py`` runs a few hundred of them in the suite; ``python -m
tests.core.fuzzing [PROJECTS] [DATASETS] [SEED]`` runs a larger campaign and prints what it
found.
"""
from __future__ import annotations

import copy
import json
import random
import re
import struct
import sys
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "projects").glob("*.nnd"))
MESSAGE_LIMIT = 2000  # characters in one message the user reads

# Strings that have broken code generators, file writers and message formatters elsewhere.
HOSTILE_STRINGS = [
    '"""', "'''", '"', "\\", "\\n", "\n", "\r", "\u2028", "\u2029", "\x00", "\x0c", "\x1b[2J",
    "__import__('os').system('touch PWNED')", '"""; import os; os.system("touch PWNED"); """',
    "self", "training", "graph", "code", "forward", "torch", "nn", "F", "class", "def", "None",
    "lambda", "__init__", "__class__", "_modules", "layers", "getattr", "x", "y", "", " ",
    "1abc", "a b", "é", "名前", "\U0001F600", "a" * 5000, "x__0", "x:label", "../../etc/passwd",
]
# Node names must be identifiers; these are the identifiers that collide with Python or torch.
HOSTILE_NAMES = ["self", "training", "graph", "code", "forward", "torch", "nn", "F", "class",
                 "def", "None", "True", "lambda", "_modules", "_code", "layers", "getattr",
                 "print", "input", "meta", "recompile", "to", "cuda", "eval", "train", "x",
                 "load_weights", "json", "math", "_tensor_constant0", "a" * 300]
# JSON text that Python's json module turns into trouble: huge, infinite or absurd numbers.
RAW_NUMBERS = ["1e400", "-1e400", "1" + "0" * 400, "9" * 5000, "Infinity", "-Infinity", "NaN",
               "2147483648", "1000000000000000000", "18446744073709551616", "-1", "0", "0.5",
               "1e-400", "4294967296", "1e39", "3"]
PROPERTY_VALUES = [0, 1, 2, 3, -1, 2 ** 31, 2 ** 31 - 1, 10 ** 9, 10 ** 18, 2 ** 64, 0.5, 1.5,
                   True, None, [], [0], [1, 1], [2 ** 31, 1], [10 ** 18, 10 ** 18], [1] * 40,
                   "3,3", "abc", "1e400", {"a": 1}]


class Raw:
    """A JSON token written as is (numbers Python would not write)."""

    def __init__(self, text: str):
        self.text = text


def dumps(document) -> str:
    """JSON text of ``document``, with Raw tokens spliced in."""
    raws: list[str] = []

    def swap(value):
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x01RAW{len(raws) - 1}\x01"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(document), indent=1)
    return re.sub(r'"\\u0001RAW(\d+)\\u0001"', lambda m: raws[int(m[1])], text)


def deep(levels: int) -> Raw:
    return Raw("[" * levels + "]" * levels)


def random_value(rng: random.Random):
    choice = rng.randrange(8)
    if choice == 0:
        return Raw(rng.choice(RAW_NUMBERS))
    if choice == 1:
        return rng.choice(HOSTILE_STRINGS)
    if choice == 2:
        return rng.choice(PROPERTY_VALUES)
    if choice == 3:
        return deep(rng.choice([5, 50, 200, 2000]))
    if choice == 4:
        return {"a": rng.choice(HOSTILE_STRINGS)}
    if choice == 5:
        return rng.choice([None, True, False, [], {}])
    if choice == 6:
        return "\\ud800"  # spliced below as a lone surrogate escape
    return rng.randrange(-3, 10 ** rng.randrange(1, 25))


# ---- project mutants -------------------------------------------------------------------------

def _paths(value, path=()):
    """Every (path, value) in a JSON document."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _set(document, path, value):
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _nodes(document) -> list[dict]:
    out = []
    networks = document.get("networks") if isinstance(document, dict) else None
    for net in networks if isinstance(networks, list) else []:
        if isinstance(net, dict) and isinstance(net.get("nodes"), list):
            out += [n for n in net["nodes"] if isinstance(n, dict)]
    return out


def mutate_project(document: dict, rng: random.Random, layer_types: list[str]) -> dict:
    """One to three random changes to a parsed project file."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        try:
            _mutate_once(document, rng, layer_types)
        except (TypeError, KeyError, AttributeError, IndexError, ValueError):
            pass  # the change did not apply to this document's shape
    return document


def _mutate_once(document: dict, rng: random.Random, layer_types: list[str]) -> None:
    nodes = _nodes(document)
    op = rng.randrange(16)
    if op == 0:  # any value becomes something odd
        path, _ = rng.choice(list(_paths(document))[1:])
        _set(document, path, random_value(rng))
    elif op == 1:  # a field disappears
        holders = [(p, v) for p, v in _paths(document) if isinstance(v, dict) and v]
        path, holder = rng.choice(holders)
        del holder[rng.choice(list(holder))]
    elif op == 2 and nodes:  # a property gets an odd value
        node = rng.choice(nodes)
        props = node.setdefault("props", {}) if isinstance(node.get("props"), dict) else {}
        names = list(props) or ["OutShape", "Strides", "HiddenSize", "KernelShape", "Size"]
        props[rng.choice(names + ["Padding", "OutMaps", "NumClass", "Shape"])] = \
            random_value(rng) if rng.random() < 0.3 else rng.choice(PROPERTY_VALUES)
    elif op == 3 and nodes:  # many duplicate links into one port
        net = document["networks"][0]
        links = net.get("links") if isinstance(net.get("links"), list) else []
        if links:
            net["links"] = links + [copy.deepcopy(rng.choice(links))
                                    for _ in range(rng.choice([1, 10, 500, 3000]))]
    elif op == 4 and nodes:  # a link between random nodes and ports
        net = document["networks"][0]
        ids = [n.get("id") for n in nodes]
        if isinstance(net.get("links"), list):
            net["links"].append({"from": rng.choice(ids), "to": rng.choice(ids),
                                 "port": rng.choice([0, 0, 1, 2, -1, 10 ** 20])})
    elif op == 5 and nodes:  # a name that collides with Python or torch
        rng.choice(nodes)["name"] = rng.choice(HOSTILE_NAMES)
    elif op == 6 and nodes:  # a dataset variable named oddly
        node = rng.choice(nodes)
        if isinstance(node.get("props"), dict):
            key = "T.Dataset" if "T.Dataset" in node["props"] else "Dataset"
            node["props"][key] = rng.choice(HOSTILE_STRINGS)
    elif op == 7 and nodes:  # another layer type
        rng.choice(nodes)["type"] = rng.choice(layer_types)
    elif op == 8:  # an older version of the wrong shape
        document["version"] = 1
        document.pop("networks", None)
        document["network"] = rng.choice([[], "ab", 3, None, {"nodes": "x"},
                                           {"nodes": [], "links": []}])
        if rng.random() < 0.5:
            document["training"] = rng.choice(["ab", [], 3, None])
    elif op == 9:  # odd training settings
        training = document.setdefault("training", {})
        if isinstance(training, dict):
            training[rng.choice(["seed", "epochs", "batch_size", "validation_split",
                                 "optimizers", "monitors", "executors",
                                 "monitor_interval"])] = random_value(rng)
    elif op == 10 and nodes:  # a lone surrogate or other odd text in a name
        node = rng.choice(nodes)
        node[rng.choice(["name", "id"])] = rng.choice(["\\ud800", "a\\udfffb"] +
                                                     HOSTILE_STRINGS)
    elif op == 11 and nodes:  # huge or infinite positions
        rng.choice(nodes)["pos"] = [Raw(rng.choice(RAW_NUMBERS)), 0]
    elif op in (12, 13) and nodes:  # a new layer of any type, linked in at random
        net = document["networks"][0]
        new_id = f"fz{rng.randrange(10 ** 6)}"
        net["nodes"].append({"id": new_id, "type": rng.choice(layer_types),
                             "name": f"Fuzz{new_id}", "props": {}, "pos": [0, 0]})
        net["links"].append({"from": rng.choice(nodes)["id"], "to": new_id, "port": 0})
        target = rng.choice(nodes)
        net["links"].append({"from": new_id, "to": target["id"], "port": rng.choice([0, 1])})
    elif op == 14 and nodes:  # a property at the edge of what is allowed
        node = rng.choice(nodes)
        if isinstance(node.get("props"), dict):
            big = rng.choice([2 ** 31 - 1, 2 ** 30, 2 ** 20, 65536, 4096])
            key = rng.choice(list(node["props"]) or ["OutShape"])
            node["props"][key] = rng.choice([big, [big], [big, 1], [1, big], [big] * 3])
    elif op == 15:  # a link disappears, or a node and its links
        net = document["networks"][0]
        if rng.random() < 0.5 and net.get("links"):
            net["links"].pop(rng.randrange(len(net["links"])))
        elif nodes:
            gone = net["nodes"].pop(rng.randrange(len(net["nodes"])))["id"]
            net["links"] = [k for k in net["links"] if gone not in (k.get("from"), k.get("to"))]


def project_text(document: dict, rng: random.Random) -> str:
    """The mutant as file text; sometimes damaged as text too."""
    text = dumps(document).replace('"\\\\ud800"', '"\\ud800"').replace("a\\\\udfffb",
                                                                        "a\\udfffb")
    op = rng.randrange(10)
    if op == 0:
        text = text[:rng.randrange(len(text))]  # truncated
    elif op == 1:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(["[" * 100_000, "{", "\\ud800", "\x00", "\ufeff",
                                      "9" * 5000]) + text[i:]
    return text


# ---- dataset mutants -------------------------------------------------------------------------

def png_header(width: int, height: int, depth: int = 8, color: int = 0) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` (a decompression bomb when large)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def base_datasets(folder: Path) -> list[Path]:
    """Three small valid datasets: numbers, images and data CSV files."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    numbers = folder / "numbers.csv"
    rows = ["x__0:a,x__1:b,y:label"] + [f"{a:.3f},{b:.3f},{int(a > b)}"
                                        for a, b in rng.normal(size=(12, 2))]
    numbers.write_text("\n".join(rows) + "\n")
    (folder / "img").mkdir(exist_ok=True)
    lines = ["x:image,y:label"]
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"img/{i}.png")
        lines.append(f"img/{i}.png,{i % 2}")
    images = folder / "images.csv"
    images.write_text("\n".join(lines) + "\n")
    (folder / "arr").mkdir(exist_ok=True)
    lines = ["x:array,y"]
    for i in range(6):
        np.savetxt(folder / f"arr/{i}.csv", rng.normal(size=(2, 3)), delimiter=",", fmt="%.4f")
        lines.append(f"arr/{i}.csv,{i % 3}")
    arrays = folder / "arrays.csv"
    arrays.write_text("\n".join(lines) + "\n")
    return [numbers, images, arrays]


CELL_VALUES = ["1e39", "-1e39", "3.5e38", "nan", "inf", "", " ", '"', '"unclosed', "1_000",
               "0x10", "１２", "a" * 200_000, "9" * 5000, "img/missing.png", "img", "arr/0.csv",
               "bomb.png", "deep16.png", "truncated.png", "fake.png", "empty.csv", "ragged.csv",
               "big.csv", "nul.csv", "dir.png", "/dev/null.csv", "1e-50", "-0", "\x00",
               "rgba.png", "palette.gif", "cmyk.jpg", "bits.bmp", "int32.tif", "float.tif",
               "gray_alpha.png", "huge_bmp.bmp", "img/0.png", "img/1.png"]
HEADER_VALUES = ["x__99999999999999999999", "x__" + "9" * 5000, "x__-1", "", " x", "x__0__1",
                 ":::", "x:" + "l" * 200_000, "y", "x__0", "x__2", "\ufeffx", "é__1",
                 "x__٣", "__0"]


def dataset_extras(folder: Path) -> None:
    """Files the mutants' cells point at: a bomb, 16-bit and broken images, odd data CSVs."""
    from PIL import Image

    (folder / "bomb.png").write_bytes(png_header(20000, 20000))
    Image.fromarray((np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)).save(
        folder / "deep16.png")
    good = (folder / "img/0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[:len(good) // 2])
    (folder / "fake.png").write_text("not an image")
    (folder / "empty.csv").write_text("")
    (folder / "ragged.csv").write_text("1,2,3\n4,5\n")
    (folder / "big.csv").write_text("1e39,2,3\n4,5,6\n")
    (folder / "nul.csv").write_bytes(b"1,2,\x003\n4,5,6\n")
    (folder / "dir.png").mkdir(exist_ok=True)
    rgb = np.random.default_rng(1).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("P").save(folder / "palette.gif")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb[..., 0]).convert("1").save(folder / "bits.bmp")
    Image.fromarray(rgb[..., 0]).convert("I").save(folder / "int32.tif")
    Image.fromarray(rgb[..., 0].astype(np.float32) / 3).save(folder / "float.tif")
    Image.fromarray(rgb).convert("LA").save(folder / "gray_alpha.png")
    (folder / "huge_bmp.bmp").write_bytes(b"BM" + b"\0" * 16 + struct.pack("<ii", 2 ** 30, 2 ** 30)
                                          + b"\0" * 40)


def mutate_dataset(text: str, rng: random.Random) -> str:
    """One to three changes to a dataset CSV's text."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        if op == 0 and len(lines) > 1:  # a cell
            r = rng.randrange(1, len(lines))
            cells = lines[r].split(",")
            cells[rng.randrange(len(cells))] = rng.choice(CELL_VALUES)
            lines[r] = ",".join(cells)
        elif op == 1:  # a header cell
            cells = lines[0].split(",")
            cells[rng.randrange(len(cells))] = rng.choice(HEADER_VALUES)
            lines[0] = ",".join(cells)
        elif op == 2 and len(lines) > 1:  # a row loses or gains a cell
            r = rng.randrange(1, len(lines))
            lines[r] = lines[r] + ",1" if rng.random() < 0.5 else lines[r].rsplit(",", 1)[0]
        elif op == 3:  # truncated
            joined = "\n".join(lines)
            lines = joined[:rng.randrange(len(joined) + 1)].splitlines() or [""]
        elif op == 4:  # a whole column of odd values
            cells = lines[0].split(",")
            c = rng.randrange(len(cells))
            value = rng.choice(CELL_VALUES)
            for r in range(1, len(lines)):
                row = lines[r].split(",")
                if c < len(row):
                    row[c] = value
                    lines[r] = ",".join(row)
        elif op == 5:  # many columns or rows
            if rng.random() < 0.5:
                lines[0] += "".join(f",z__{i}" for i in range(rng.choice([10, 3000])))
            else:
                lines += lines[1:2] * rng.choice([10, 300])
        else:  # odd bytes
            i = rng.randrange(len(lines))
            lines[i] += rng.choice(['"', "\x00", "\r", "\ufeff", "\x85"])
    return "\n".join(lines) + "\n"


# ---- what every mutant must come to ---------------------------------------------------------

class Unexpected(AssertionError):
    """A mutant ended in something other than the app's own answer."""


def _check_message(text: str, what: str) -> None:
    if len(text) > MESSAGE_LIMIT:
        raise Unexpected(f"{what} message of {len(text)} characters: {text[:200]}…")


def check_project_file(path: Path, max_params: int | None = None) -> str:
    """Load, analyse and compile one project file; returns how it ended ("refused", "problems",
    "analysed", "compiled" or "ran"). Raises Unexpected for anything else. Networks of more
    than ``max_params`` weights are only analysed."""
    import torch

    from designer.core.analysis import analyze
    from designer.core.compiler import CompileError, compile_network
    from designer.core.optim import ConfigError, make_schedule, optimizer_settings
    from designer.core.project import ProjectError, load

    try:
        project = load(path)
    except ProjectError as e:
        _check_message(str(e), "load")
        return "refused"
    project.save(path.with_name("saved.nnd"))  # what loads can be saved
    try:
        lr = optimizer_settings(project.training.optimizer)["lr"]
        make_schedule(project.training.schedule, lr, project.training.epochs)
    except ConfigError as e:
        _check_message(str(e), "settings")
    network = project.network()
    analysis = analyze(network)
    for problem in analysis.problems:
        _check_message(str(problem), "analysis")
    if len(analysis.problems) > 2 * (len(network.nodes) + len(network.links)) + 2:
        raise Unexpected(f"{len(analysis.problems)} problems for {len(network.nodes)} nodes")
    if not analysis.ok:
        return "problems"
    if max_params is not None and analysis.total_params > max_params:
        return "analysed"
    try:
        compiled = compile_network(network, analysis)
    except CompileError as e:
        _check_message(str(e), "compile")
        return "problems"
    activations = sum(int(np.prod(i.shape)) for i in analysis.nodes.values() if i.shape)
    if activations > 200_000:
        return "compiled"
    inputs = [torch.zeros((2,) + compiled.input_shapes[v]) for v in compiled.input_vars]
    with torch.no_grad():
        compiled.infer(*inputs)
    return "ran"


def check_dataset_file(path: Path) -> str:
    """Read one dataset CSV: "refused" (DataError) or "read" with finite float values."""
    from designer.core.data import DataError, read_csv

    try:
        data = read_csv(path)
    except DataError as e:
        _check_message(str(e), "dataset")
        return "refused"
    for name, array in data.arrays.items():
        if array.dtype != np.uint8 and not np.isfinite(array).all():
            raise Unexpected(f"variable {name!r} was read with infinite or NaN values")
    return "read"


def check_dataset_preview(path: Path) -> str:
    """Preview one dataset CSV as the Dataset workspace does: rows, cells and variables."""
    from designer.core.data import DataError
    from designer.core.preview import CsvPreview

    try:
        preview = CsvPreview(path)
        for i in range(min(preview.row_count, 40)):
            for cell in preview.row(i):
                if cell.error:
                    _check_message(cell.error, "preview cell")
        preview.variables()
    except DataError as e:
        _check_message(str(e), "preview")
        return "refused"
    return "read"


# ---- the campaign ----------------------------------------------------------------------------

@dataclass
class Tally:
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class _Timeout(BaseException):
    pass


def _timed(check, path: Path, seconds: int, tally: Tally) -> None:
    import signal

    def expire(signum, frame):
        raise _Timeout()

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    started = time.perf_counter()
    try:
        tally.add(check(path))
    except _Timeout:
        tally.add("hang")
        tally.failures.append(f"{path.name}: no answer within {seconds} s")
    except Exception as e:  # anything else is what the campaign looks for
        tally.add("traceback")
        where = traceback.extract_tb(e.__traceback__)[-1]
        tally.failures.append(f"{path.name}: {type(e).__name__}: {str(e)[:160]} "
                              f"({Path(where.filename).name}:{where.lineno})")
    finally:
        signal.alarm(0)
        tally.slowest = max(tally.slowest, time.perf_counter() - started)


def campaign(projects: int, datasets: int, folder: Path, seed: int = 1
             ) -> tuple[Tally, Tally, Tally]:
    import nodes

    rng = random.Random(seed)
    layer_types = sorted(nodes.CATALOG)
    documents = [json.loads(p.read_text()) for p in SAMPLES]
    project_tally, data_tally, preview_tally = Tally(), Tally(), Tally()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(projects):
        path = folder / "mutant.nnd"
        path.write_text(project_text(mutate_project(rng.choice(documents), rng, layer_types),
                                     rng), encoding="utf-8", errors="surrogatepass")
        path = path.rename(folder / f"mutant-{i}.nnd")
        _timed(check_project_file, path, 20, project_tally)
        path.unlink()
    bases = base_datasets(folder / "data")
    dataset_extras(folder / "data")
    texts = [b.read_text() for b in bases]
    for i in range(datasets):
        path = folder / "data" / f"mutant-{i}.csv"
        path.write_text(mutate_dataset(rng.choice(texts), rng), encoding="utf-8",
                        errors="surrogatepass")
        _timed(check_dataset_file, path, 20, data_tally)
        _timed(check_dataset_preview, path, 20, preview_tally)
        path.unlink()
    return project_tally, data_tally, preview_tally


def main(argv: list[str]) -> int:
    import resource
    import tempfile

    import torch

    torch.set_num_threads(1)
    # an allocation the app did not refuse fails here instead of taking the machine down
    resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))
    projects = int(argv[0]) if argv else 6000
    datasets = int(argv[1]) if len(argv) > 1 else 1500
    seed = int(argv[2]) if len(argv) > 2 else 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nn-designer-fuzz-") as folder:
        tallies = campaign(projects, datasets, Path(folder), seed)
    names = ("projects", "datasets", "dataset previews")
    for what, count, tally in zip(names, (projects, datasets, datasets), tallies):
        bad = tally.outcomes.get("traceback", 0) + tally.outcomes.get("hang", 0)
        print(f"{what}: {count} mutants, {bad} ({100 * bad / max(count, 1):.1f} %) ended in a "
              f"traceback or a hang; outcomes {dict(sorted(tally.outcomes.items()))}; slowest "
              f"{tally.slowest:.2f} s")
        kinds: dict[str, int] = {}
        for failure in tally.failures:
            key = re.sub(r"^mutant-\d+\.\w+: ", "", failure)[:110]
            kinds[key] = kinds.get(key, 0) + 1
        for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:25]:
            print(f"  {n:5d}  {key}")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
