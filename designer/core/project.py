"""The project document: what is saved, validated, trained and exported.

A project file is versioned JSON (``.nnd``) with paths relative to the file. The canvas, the
trainer and the exporters all read this document; none of them owns a copy of the network.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nodes

FORMAT = "nn-designer-project"
VERSION = 2
SUFFIX = ".nnd"

OPTIMIZERS = ("Adam", "AdamW", "SGD", "Momentum", "Nesterov", "RMSprop", "Adagrad", "Adadelta")
SCHEDULES = ("constant", "exponential", "step", "cosine", "polynomial")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N" for the N-th CUDA GPU (is_device)
PRECISIONS = ("float", "half")
# Training reads the "training" dataset and, when present, "validation"; a project may keep more
# datasets under names of its own (a "test" set to evaluate on, say).
DATASET_ROLES = ("training", "validation")
DATASET_NAME = re.compile(r"[A-Za-z0-9_-]+")


def is_device(name: str) -> bool:
    """A training.device value: one of DEVICES, or cuda:N for one GPU of several."""
    return name in DEVICES or re.fullmatch(r"cuda:\d+", name) is not None


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
        taken = {n.name for n in self.nodes}
        if base not in taken:
            return base
        i = 2
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

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


@dataclass
class TrainingConfig:
    network: str = "Main"
    epochs: int = 10
    batch_size: int = 64
    optimizer: dict[str, Any] = field(default_factory=lambda: {"type": "Adam", "lr": 0.001})
    schedule: dict[str, Any] = field(default_factory=lambda: {"type": "constant"})
    seed: int = 0
    device: str = "auto"
    precision: str = "float"
    validation_split: float = 0.2  # used only when the project has no validation dataset


@dataclass
class Project:
    name: str = "untitled"
    description: str = ""
    networks: list[Network] = field(default_factory=lambda: [Network()])
    datasets: dict[str, Dataset] = field(default_factory=dict)  # training, validation, more
    training: TrainingConfig = field(default_factory=TrainingConfig)
    path: Path | None = None

    def network(self, name: str | None = None) -> Network:
        name = name or self.training.network
        for net in self.networks:
            if net.name == name:
                return net
        raise ProjectError(f"project has no network named {name!r}")

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
            "datasets": {key: {"source": d.source, "shuffle": d.shuffle, "normalize": d.normalize}
                         for key, d in self.datasets.items()},
            "training": {
                "network": self.training.network,
                "epochs": self.training.epochs,
                "batch_size": self.training.batch_size,
                "optimizer": dict(self.training.optimizer),
                "schedule": dict(self.training.schedule),
                "seed": self.training.seed,
                "device": self.training.device,
                "precision": self.training.precision,
                "validation_split": self.training.validation_split,
            },
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


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block
    ends without error; on an error or an interruption it is removed and ``path`` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private; the saved file gets the user's usual permissions
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, text: str, durable: bool = True) -> None:
    """Replace ``path`` by a renamed temporary file: readers see the old text or the new.

    ``durable`` also flushes to disk before the rename, so a power cut cannot leave an empty
    file; status files rewritten every epoch skip that cost (a killed process is safe anyway).
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def to_json_props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in props.items()}


# ---- loading -------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> Project:
    """Read a project file. Raises ProjectError naming the file and the line or field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ProjectError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise ProjectError(f"{path}: cannot read ({e.strerror})") from None
    project = loads(text, source=str(path))
    project.path = path
    return project


def loads(text: str, source: str = "<project>") -> Project:
    if not text.strip():
        raise ProjectError(f"{source}: the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        what = "the file ends too early (truncated?)" if e.pos >= len(text.rstrip()) else e.msg
        raise ProjectError(f"{source}: line {e.lineno}, column {e.colno}: {what}") from None
    return from_dict(data, source)


def from_dict(data: Any, source: str = "<project>") -> Project:
    reader = _Reader(source)
    data = migrate(data, reader)
    return reader.project(data)


# Each migration takes a document of version N and returns one of version N+1.
def _v1_to_v2(doc: dict) -> dict:
    """Version 1 held a single network under ``network``; version 2 holds a list."""
    doc = dict(doc)
    net = doc.pop("network", {"nodes": [], "links": []})
    doc["networks"] = [{"name": "Main", **net}]
    training = dict(doc.get("training", {}))
    training.setdefault("network", "Main")
    doc["training"] = training
    doc["version"] = 2
    return doc


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def migrate(data: Any, reader: "_Reader") -> dict:
    if not isinstance(data, dict):
        raise ProjectError(f"{reader.source}: not a project file (expected a JSON object)")
    if data.get("format") != FORMAT:
        raise ProjectError(f"{reader.source}: not a project file (field 'format' is "
                           f"{data.get('format')!r}, expected {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(f"{reader.source}: field 'version' must be a whole number ≥ 1, "
                           f"not {version!r}")
    if version > VERSION:
        raise ProjectError(f"{reader.source}: written by a newer version of the app (project "
                           f"format {version}; this app reads up to {VERSION}). Update the app "
                           "to open it; the file was not changed.")
    while version < VERSION:
        data = MIGRATIONS[version](data)
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
            raise self.fail(f"{where}.{key}", f"must be {names}, not {json.dumps(value)}")
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
        names = [n.name for n in project.networks]
        for name in names:
            if names.count(name) > 1:
                raise self.fail("networks", f"two networks are named {name!r}")
        datasets = self.get(d, "datasets", dict, "project", {})
        for key, ds in datasets.items():
            if not DATASET_NAME.fullmatch(key):
                raise self.fail(f"datasets.{key}", "a dataset name is letters, digits, _ and - "
                                "(training and validation are the ones training reads)")
            if not isinstance(ds, dict):
                raise self.fail(f"datasets.{key}", "must be an object")
            project.datasets[key] = Dataset(
                source=self.get(ds, "source", str, f"datasets.{key}"),
                shuffle=self.get(ds, "shuffle", bool, f"datasets.{key}", True),
                normalize=self.get(ds, "normalize", bool, f"datasets.{key}", False))
        project.training = self.training(self.get(d, "training", dict, "project", {}))
        if project.training.network not in names:
            raise self.fail("training.network", f"no network named {project.training.network!r} "
                            f"(the project has {', '.join(map(repr, names))})")
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
                raise self.fail(f"{where}.nodes[{i}]", f"duplicate node id {node.id!r}")
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
                    raise self.fail(lw, f"refers to node id {end!r}, which does not exist")
            net.links.append(link)
        return net

    def node(self, d: Any, where: str) -> Node:
        if not isinstance(d, dict):
            raise self.fail(where, "must be an object")
        node_id = self.get(d, "id", str, where)
        layer = self.get(d, "type", str, where)
        name = self.get(d, "name", str, where, layer)
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
                                    for v in pos):
            raise self.fail(f"{label}.pos", "must be two numbers [x, y]")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise self.fail(f"{label}.name", "a node name is letters, digits and _ "
                            "and starts with a letter")
        return Node(node_id, layer, name, to_json_props(props), (float(pos[0]), float(pos[1])))

    def training(self, d: dict) -> TrainingConfig:
        w = "training"
        cfg = TrainingConfig(
            network=self.get(d, "network", str, w, "Main"),
            epochs=self.get(d, "epochs", int, w, 10),
            batch_size=self.get(d, "batch_size", int, w, 64),
            optimizer=dict(self.get(d, "optimizer", dict, w, {"type": "Adam", "lr": 0.001})),
            schedule=dict(self.get(d, "schedule", dict, w, {"type": "constant"})),
            seed=self.get(d, "seed", int, w, 0),
            device=self.get(d, "device", str, w, "auto"),
            precision=self.get(d, "precision", str, w, "float"),
            validation_split=self.get(d, "validation_split", float, w, 0.2),
        )
        if cfg.epochs < 1:
            raise self.fail("training.epochs", f"must be at least 1, not {cfg.epochs}")
        if cfg.batch_size < 1:
            raise self.fail("training.batch_size", f"must be at least 1, not {cfg.batch_size}")
        if cfg.optimizer.get("type") not in OPTIMIZERS:
            raise self.fail("training.optimizer.type",
                            f"{cfg.optimizer.get('type')!r} is not one of {', '.join(OPTIMIZERS)}")
        if cfg.schedule.get("type", "constant") not in SCHEDULES:
            raise self.fail("training.schedule.type",
                            f"{cfg.schedule.get('type')!r} is not one of {', '.join(SCHEDULES)}")
        if not is_device(cfg.device):
            raise self.fail("training.device", f"{cfg.device!r} is not one of "
                            f"{', '.join(DEVICES)} (or cuda:N for the N-th GPU)")
        if cfg.precision not in PRECISIONS:
            raise self.fail("training.precision",
                            f"{cfg.precision!r} is not one of {', '.join(PRECISIONS)}")
        if not 0.0 <= cfg.validation_split < 1.0:
            raise self.fail("training.validation_split",
                            f"must be from 0 up to (not including) 1, not {cfg.validation_split}")
        return cfg


_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list", dict: "an object"}


def structure(project: Project) -> list[dict]:
    """The project's networks without the card positions (moving a card changes no weight)."""
    networks = project.to_dict()["networks"]
    for net in networks:
        for node in net["nodes"]:
            node.pop("pos")
    return networks


def rebase_datasets(project: Project, folder: Path) -> None:
    """Keep relative dataset paths pointing at the same files when the project moves."""
    for ds in project.datasets.values():
        if ds.source.startswith("embedded:") or Path(ds.source).is_absolute():
            continue
        target = project.resolve(ds.source)
        try:
            ds.source = Path(os.path.relpath(target, folder)).as_posix()
        except ValueError:  # another drive (Windows)
            ds.source = str(target)
