"""The project document: what is saved, validated, trained and exported.

A project file is versioned JSON (``.nnd``) with paths relative to the file. The canvas, the
trainer and the exporters all read this document; none of them owns a copy of the network.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection

import nodes
from nodes.spec import number_text, quoted

from designer.core.config import (DEVICES, MAX_BATCH, MAX_EPOCHS, MAX_PROCESSES, MAX_SEED,
                                   MAX_WORKERS, OPTIMIZERS, PRECISIONS, SCHEDULES,
                                   SPEED_SWITCHES, WEIGHTS, ExecutorConfig, MonitorConfig,
                                   OptimizerConfig, TrainingConfig, TrainingReader, is_device,
                                   migrate_training)
from designer.core.files import atomic_write, remove_stale_temps, size_text

__all__ = ["DEVICES", "MAX_BATCH", "MAX_EPOCHS", "MAX_PROCESSES", "MAX_SEED", "MAX_WORKERS",
           "OPTIMIZERS", "PRECISIONS", "SCHEDULES", "SPEED_SWITCHES", "WEIGHTS", "ExecutorConfig",
           "MonitorConfig", "OptimizerConfig", "TrainingConfig", "is_device"]

FORMAT = "nn-designer-project"
VERSION = 4
SUFFIX = ".nnd"

STREAMING = ("auto", "always", "never")  # when a dataset's images stream from their files
# Training reads the "training" dataset and, when present, "validation"; a project may keep more
# datasets under names of its own (a "test" set to evaluate on, say).
DATASET_ROLES = ("training", "validation")
DATASET_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ProjectError(ValueError):
    """A project file or value is unusable. The message names the file, line or field."""


@dataclass
class Node:
    id: str
    type: str
    name: str
    props: dict[str, Any] = field(default_factory=dict)
    pos: tuple[float, float] = (0.0, 0.0)

    @property
    def spec(self) -> nodes.LayerSpec:
        return nodes.get_spec(self.type)


@dataclass
class Link:
    """Output of node ``src`` into input port ``port`` of node ``dst``."""

    src: str
    dst: str
    port: int = 0


def unused_name(base: str, taken: Collection[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first that is not taken."""
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


@dataclass
class Network:
    name: str = "Main"
    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"no node with id {node_id!r} in network {self.name!r}")

    def find(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in network {self.name!r}")

    def unique_name(self, base: str) -> str:
        return unused_name(base, {n.name for n in self.nodes})

    def new_id(self) -> str:
        taken = {n.id for n in self.nodes}
        i = len(self.nodes) + 1
        while f"n{i}" in taken:
            i += 1
        return f"n{i}"

    def add(self, layer_type: str, name: str | None = None, pos: tuple[float, float] = (0, 0),
            node_id: str | None = None, **props: Any) -> Node:
        """Add a layer with default properties overlaid by ``props``; returns the node."""
        spec = nodes.get_spec(layer_type)
        parsed = spec.parse_props(props)
        node = Node(node_id or self.new_id(), layer_type, self.unique_name(name or layer_type),
                    to_json_props(parsed), (float(pos[0]), float(pos[1])))
        self.nodes.append(node)
        return node

    def connect(self, src: Node | str, dst: Node | str, port: int = 0) -> Link:
        link = Link(_id(src), _id(dst), port)
        self.links.append(link)
        return link

    def remove(self, node_id: str) -> None:
        self.nodes = [n for n in self.nodes if n.id != node_id]
        self.links = [k for k in self.links if node_id not in (k.src, k.dst)]

    def inputs_of(self, node_id: str) -> list[Link]:
        return [k for k in self.links if k.dst == node_id]


def _id(node: Node | str) -> str:
    return node.id if isinstance(node, Node) else node


@dataclass
class Dataset:
    """A dataset: an NNC-format CSV file (relative to the project) or ``embedded:NAME``."""

    source: str
    shuffle: bool = True
    normalize: bool = False  # divide image pixel values by 255, as NNC's "Image normalization"
    cache: bool = False  # decoded images kept in a memory-mapped file beside the CSV (NNC's)
    stream: str = "auto"  # stream images from their files: auto (when large), always, never


@dataclass
class Project:
    name: str = "untitled"
    description: str = ""
    networks: list[Network] = field(default_factory=lambda: [Network()])
    datasets: dict[str, Dataset] = field(default_factory=dict)  # training, validation, more
    training: TrainingConfig = field(default_factory=TrainingConfig)
    path: Path | None = None

    def network(self, name: str | None = None) -> Network:
        """The network named ``name``; by default the one the first optimizer trains."""
        name = name or self.training.network
        for net in self.networks:
            if net.name == name:
                return net
        raise ProjectError(f"project has no network named {quoted(name)} (it has "
                           f"{', '.join(quoted(n.name) for n in self.networks[:8])})")

    def find_network(self, name: str) -> Network | None:
        return next((net for net in self.networks if net.name == name), None)

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, relative: str) -> Path:
        """A path stored in the project, made absolute against the project file's folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.folder / p

    def copy(self) -> "Project":
        return copy.deepcopy(self)

    # ---- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "description": self.description,
            "networks": [
                {
                    "name": net.name,
                    "nodes": [{"id": n.id, "type": n.type, "name": n.name,
                               "props": n.props, "pos": [round(n.pos[0], 2), round(n.pos[1], 2)]}
                              for n in net.nodes],
                    "links": [{"from": k.src, "to": k.dst, "port": k.port} for k in net.links],
                }
                for net in self.networks
            ],
            "datasets": {key: _dataset_dict(d) for key, d in self.datasets.items()},
            "training": self.training.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write atomically: a crash or kill mid-save leaves the previous file intact."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError("no file name to save to")
        atomic_write(target, self.to_json())
        self.path = target
        return target


def _dataset_dict(d: Dataset) -> dict[str, Any]:
    """A dataset's keys; those added after format 2 only when set, so older apps read it."""
    out: dict[str, Any] = {"source": d.source, "shuffle": d.shuffle, "normalize": d.normalize}
    if d.cache:
        out["cache"] = True
    if d.stream != "auto":
        out["stream"] = d.stream
    return out


def to_json_props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in props.items()}


# ---- loading -------------------------------------------------------------------------------

# Whatever a file holds, loading it takes bounded time and memory and ends in a Project or a
# ProjectError naming the file and field.
MAX_FILE_BYTES = 64 << 20  # a 10,000-layer project is about 3 MB
MAX_DEPTH = 64  # levels of lists and objects; a project file nests about 6 deep
MAX_DIGITS = 300  # a whole number of more digits would not even fit a float
MAX_NAME = 255  # characters of a node name
NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load(path: str | os.PathLike) -> Project:
    """Read a project file. Raises ProjectError naming the file and the line or field.

    Temporary files that killed saves left beside it are removed."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ProjectError(f"{path}: is a folder, not a project file")
        if not path.is_file():  # a pipe or a device would be read for ever
            raise ProjectError(f"{path}: not a regular file")
        if size > MAX_FILE_BYTES:
            raise ProjectError(f"{path}: the file is {size_text(size)}; a project file is at "
                               f"most {size_text(MAX_FILE_BYTES)}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ProjectError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL character in the path
        raise ProjectError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") \
            from None
    remove_stale_temps(path.parent)
    project = loads(text, source=str(path))
    project.path = path
    return project


class _Odd:
    """A JSON number Python would read as something unusable (infinite, not a number, or an
    integer too long to convert); the document check names its field."""

    def __init__(self, what: str):
        self.what = what


def _parse_int(text: str) -> int | _Odd:
    digits = len(text.lstrip("-"))
    return _Odd(f"a {digits}-digit number") if digits > MAX_DIGITS else int(text)


def _parse_float(text: str) -> float | _Odd:
    value = float(text)
    return value if math.isfinite(value) else _Odd(f"{quoted(text)}, beyond the range of numbers")


def loads(text: str, source: str = "<project>") -> Project:
    if not text.strip():
        raise ProjectError(f"{source}: the file is empty")
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_Odd)
    except json.JSONDecodeError as e:
        what = "the file ends too early (truncated?)" if e.pos >= len(text.rstrip()) else e.msg
        raise ProjectError(f"{source}: line {e.lineno}, column {e.colno}: {what}") from None
    except RecursionError:
        line, column = _too_deep(text)
        raise ProjectError(f"{source}: line {line}, column {column}: lists or objects are "
                           f"nested more than {MAX_DEPTH} levels deep") from None
    _check_values(data, source)
    return from_dict(data, source)


def _too_deep(text: str) -> tuple[int, int]:
    """Line and column where ``text`` first nests deeper than MAX_DEPTH (outside strings)."""
    depth, in_string, escaped = 0, False, False
    for i, char in enumerate(text):
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)
        elif char in "]}":
            depth -= 1
    return 1, 1


def _check_values(data: Any, source: str) -> None:
    """Every value of a parsed file must be storable and usable: finite numbers, text that
    can be written back (no lone surrogates) and nesting of bounded depth."""
    stack: list[tuple[Any, tuple]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        problem = None
        if len(path) > MAX_DEPTH:
            problem = f"nested more than {MAX_DEPTH} levels deep"
        elif isinstance(value, _Odd):
            problem = f"{value.what} is not a usable number"
        elif isinstance(value, str) and not _storable(value):
            problem = f"{quoted(value)} holds a lone surrogate (\\ud800-\\udfff), which no file can store"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not _storable(key):
                    path, problem = path + (key,), "a field name holds a lone surrogate"
                    break
                stack.append((item, path + (key,)))
        elif isinstance(value, list):
            stack.extend((item, path + (i,)) for i, item in enumerate(value))
        if problem:
            raise ProjectError(f"{source}: {_field(path)}: {problem}")


def _storable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field(path: tuple) -> str:
    """``networks[0].nodes[3].props.OutMaps``: a field as the messages name it."""
    out = ""
    for key in path[:MAX_DEPTH]:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            key = key if key.isprintable() and 0 < len(key) <= 40 else quoted(key)
            out += f".{key}" if out else key
    return out or "the file"


def from_dict(data: Any, source: str = "<project>") -> Project:
    reader = _Reader(source)
    data = migrate(data, reader)
    return reader.project(data)


# Each migration takes a document of version N and returns one of version N+1; a field of the
# wrong shape raises ProjectError naming it (the caller adds the file).
def _v1_to_v2(doc: dict) -> dict:
    """Version 1 held a single network under ``network``; version 2 holds a list."""
    doc = dict(doc)
    net = doc.pop("network", {"nodes": [], "links": []})
    training = doc.get("training", {})
    for name, value in (("network", net), ("training", training)):
        if not isinstance(value, dict):
            raise ProjectError(f"{name}: must be an object, not {quoted(value)}")
    doc["networks"] = [{"name": "Main", **net}]
    doc["training"] = {"network": "Main", **training}
    doc["version"] = 2
    return doc


def _v2_to_v3(doc: dict) -> dict:
    """Version 3 spells properties as Neural Network Console does: each property whose spec
    gives a ``former_name`` is renamed. (Version 3 also brought HuberLoss to NNC's definition,
    twice the former value, and initializer and learning-rate properties on layers with
    weights, whose defaults are NNC's.) Anything malformed is left for the reader to name."""
    doc = copy.deepcopy(doc)
    networks = doc.get("networks")
    for net in networks if isinstance(networks, list) else []:
        node_list = net.get("nodes") if isinstance(net, dict) else None
        for node in node_list if isinstance(node_list, list) else []:
            props = node.get("props") if isinstance(node, dict) else None
            if not isinstance(props, dict):
                continue
            spec = nodes.CATALOG.get(node.get("type"))
            for prop in spec.props if spec is not None else ():
                old = prop.former_name
                if old and old in props and prop.name not in props:
                    props[prop.name] = props.pop(old)
    doc["version"] = 3
    return doc


def _v3_to_v4(doc: dict) -> dict:
    """Version 4 has several networks' training: the one training block (network, optimizer,
    schedule) becomes one optimizer, one monitor on the validation data and one executor,
    all on that network; they train and score exactly as before."""
    doc = dict(doc)
    training = doc.get("training", {})
    if not isinstance(training, dict):
        raise ProjectError(f"training: must be an object, not {quoted(training)}")
    doc["training"] = migrate_training(training)
    doc["version"] = 4
    return doc


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def migrate(data: Any, reader: "_Reader") -> dict:
    if not isinstance(data, dict):
        raise ProjectError(f"{reader.source}: not a project file (expected a JSON object)")
    if data.get("format") != FORMAT:
        raise ProjectError(f"{reader.source}: not a project file (field 'format' is "
                           f"{quoted(data.get('format'))}, expected {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(f"{reader.source}: field 'version' must be a whole number ≥ 1, "
                           f"not {quoted(version)}")
    if version > VERSION:
        raise ProjectError(f"{reader.source}: written by a newer version of the app (project "
                           f"format {quoted(version)}; this app reads up to {VERSION}). Update "
                           "the app to open it; the file was not changed.")
    while version < VERSION:
        try:
            data = MIGRATIONS[version](data)
        except ProjectError as e:
            raise ProjectError(f"{reader.source}: {e} (a version {version} file)") from None
        version = data["version"]
    return data


class _Reader:
    """Typed field access that names the exact field on error."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str) -> ProjectError:
        return ProjectError(f"{self.source}: {where}: {message}")

    def get(self, obj: dict, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
        if key not in obj:
            if default is ...:
                raise self.fail(where, f"missing field {key!r}")
            return default
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise self.fail(f"{where}.{key}", f"must be {names}, not {quoted(value)}")
        return value

    def whole(self, obj: dict, key: str, default: int, low: int, high: int) -> int:
        value = self.get(obj, key, int, "training", default)
        if not low <= value <= high:
            raise self.fail(f"training.{key}", f"must be from {low} to {number_text(high)}, "
                            f"not {number_text(value)}")
        return value

    def project(self, d: dict) -> Project:
        project = Project(
            name=self.get(d, "name", str, "project", "untitled"),
            description=self.get(d, "description", str, "project", ""),
            networks=[self.network(n, f"networks[{i}]")
                      for i, n in enumerate(self.get(d, "networks", list, "project"))],
        )
        if not project.networks:
            raise self.fail("networks", "the project has no network")
        names: set[str] = set()
        for net in project.networks:
            if net.name in names:
                raise self.fail("networks", f"two networks are named {quoted(net.name)}")
            names.add(net.name)
        datasets = self.get(d, "datasets", dict, "project", {})
        for key, ds in datasets.items():
            where = f"datasets.{_field((key,))}"
            if not DATASET_NAME.fullmatch(key):
                raise self.fail(where, "a dataset name is letters, digits, _ and - "
                                "(training and validation are the ones training reads)")
            if not isinstance(ds, dict):
                raise self.fail(where, "must be an object")
            project.datasets[key] = Dataset(
                source=self.get(ds, "source", str, where),
                shuffle=self.get(ds, "shuffle", bool, where, True),
                normalize=self.get(ds, "normalize", bool, where, False),
                cache=self.get(ds, "cache", bool, where, False),
                stream=self.get(ds, "stream", str, where, "auto"))
            if "\0" in project.datasets[key].source:
                raise self.fail(f"{where}.source", "a file name cannot hold the NUL character")
            if project.datasets[key].stream not in STREAMING:
                raise self.fail(f"{where}.stream", f"{quoted(project.datasets[key].stream)} is "
                                f"not one of {', '.join(STREAMING)}")
        training = self.get(d, "training", dict, "project", {})
        project.training = TrainingReader(self, DATASET_NAME).training(training)
        return project

    def network(self, d: Any, where: str) -> Network:
        if not isinstance(d, dict):
            raise self.fail(where, "must be an object")
        net = Network(name=self.get(d, "name", str, where))
        ids: set[str] = set()
        names: set[str] = set()
        for i, nd in enumerate(self.get(d, "nodes", list, where)):
            node = self.node(nd, f"{where}.nodes[{i}]")
            if node.id in ids:
                raise self.fail(f"{where}.nodes[{i}]", f"duplicate node id {quoted(node.id)}")
            if node.name in names:
                raise self.fail(f"{where}.nodes[{i}]", f"two nodes are named {node.name!r}")
            ids.add(node.id)
            names.add(node.name)
            net.nodes.append(node)
        for i, kd in enumerate(self.get(d, "links", list, where, [])):
            lw = f"{where}.links[{i}]"
            if not isinstance(kd, dict):
                raise self.fail(lw, "must be an object")
            link = Link(self.get(kd, "from", str, lw), self.get(kd, "to", str, lw),
                        self.get(kd, "port", int, lw, 0))
            for end in (link.src, link.dst):
                if end not in ids:
                    raise self.fail(lw, f"refers to node id {quoted(end)}, which does not exist")
            if link.port < 0:
                raise self.fail(f"{lw}.port", f"must be 0 or more, not {number_text(link.port)}")
            net.links.append(link)
        return net

    def node(self, d: Any, where: str) -> Node:
        if not isinstance(d, dict):
            raise self.fail(where, "must be an object")
        node_id = self.get(d, "id", str, where)
        layer = self.get(d, "type", str, where)
        name = self.get(d, "name", str, where, layer)
        if not NODE_NAME.fullmatch(name) or len(name) > MAX_NAME:
            raise self.fail(f"{where}.name", f"{quoted(name)} is not a node name: a node name is "
                            f"letters, digits and _, starts with a letter and has at most "
                            f"{MAX_NAME} characters")
        label = f"{where} ({name})"
        try:
            spec = nodes.get_spec(layer)
        except KeyError as e:
            raise self.fail(f"{label}.type", e.args[0]) from None
        raw = self.get(d, "props", dict, label, {})
        try:
            props = spec.parse_props(raw)
        except ValueError as e:
            raise self.fail(f"{label}.props", str(e)) from None
        pos = self.get(d, "pos", list, label, [0, 0])
        if len(pos) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    and math.isfinite(v) for v in pos):
            raise self.fail(f"{label}.pos", "must be two numbers [x, y]")
        return Node(node_id, layer, name, to_json_props(props), (float(pos[0]), float(pos[1])))


_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list", dict: "an object"}


def structure(project: Project) -> list[dict]:
    """The project's networks without the card positions (moving a card changes no weight)."""
    networks = project.to_dict()["networks"]
    for net in networks:
        for node in net["nodes"]:
            node.pop("pos")
    return networks


def run_settings(project: Project) -> list[tuple[dict, str]]:
    """(setting, key of its run folder) for training.init and training.distill when set."""
    cfg = project.training
    return [(s, key) for s, key in ((cfg.init, "run"), (cfg.distill, "teacher")) if s]


def rebase_datasets(project: Project, folder: Path) -> None:
    """Keep relative dataset paths (and the run folders training.init and training.distill
    name) pointing at the same places when the project moves."""
    for setting, key in run_settings(project):
        target = project.resolve(setting[key])
        try:
            setting[key] = Path(os.path.relpath(target, folder)).as_posix()
        except ValueError:  # another drive (Windows)
            setting[key] = str(target)
    for ds in project.datasets.values():
        # NNC's Windows paths, kept from an import until the user points at a local file
        foreign = ds.source.startswith("{SDCPATH}") or "\\" in ds.source
        if ds.source.startswith("embedded:") or Path(ds.source).is_absolute() or foreign:
            continue
        target = project.resolve(ds.source)
        try:
            ds.source = Path(os.path.relpath(target, folder)).as_posix()
        except ValueError:  # another drive (Windows)
            ds.source = str(target)
