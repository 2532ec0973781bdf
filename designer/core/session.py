"""The run session: a project's network compiled, its data loaded and checked, on a device.

Training, evaluation and export all start here: ``prepare`` picks the device, compiles the
network with its seed and checks the data against it; ``check_speed`` checks the speed settings
against the device; ``Feeder`` hands batches to the device (``stream.StreamFeeder`` for datasets
read as they are needed); ``score`` runs the network over a dataset as training scores it. Every
problem with the user's project or data is a TrainingError whose message names the node, file or
field at fault.
"""
from __future__ import annotations

import math
import os
import platform
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Collection

import numpy as np
import torch
import torch.nn.functional as F

from nodes import Prediction, shape_text

from designer.core.analysis import analyze
from designer.core.compiler import CompileError, Compiled, LossInfo, compile_network
from designer.core.data import EMBEDDED_PREFIX, DataError, DataSet, open_dataset, split
from designer.core.distill import DistillError, load_teacher, objective
from designer.core.project import (DATASET_ROLES, DEVICES, SPEED_SWITCHES, Network, Project,
                                   is_device)
from designer.core.stream import Progress, StreamFeeder, as_read, is_streamed, open_csv
from designer.core.transfer import InitError, InitReport, start_from

FAILURE_KINDS = ("data", "diverged", "memory", "error")


class TrainingError(Exception):
    """A run cannot start or go on. ``kind`` is one of FAILURE_KINDS; ``bad_input`` says the
    user's project or data must change (exit status 2) rather than something going wrong."""

    def __init__(self, kind: str, message: str, bad_input: bool = False):
        assert kind in FAILURE_KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.bad_input = bad_input


# ---- devices -------------------------------------------------------------------------------

def resolve_device(choice: str = "auto", local_rank: int = 0) -> tuple[torch.device, str]:
    """The torch device for ``training.device`` and its name in words; ``local_rank``: which
    of the machine's GPUs (one per training process, counted from cuda:N's N)."""
    if not is_device(choice):
        raise TrainingError("error", f"training.device: {choice!r} is not one of "
                                     f"{', '.join(DEVICES)} (or cuda:N)", bad_input=True)
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA GPU"
            raise TrainingError("error", f"training.device is {choice}, but this PyTorch "
                                         f"({torch.__version__}) {build}; choose auto or cpu",
                                bad_input=True)
        count = torch.cuda.device_count()
        index = int(choice.partition(":")[2] or 0) + local_rank
        if index >= count:
            if local_rank:
                raise TrainingError("error", f"training process {local_rank} needs GPU {index}, "
                                             f"but this machine has {count} CUDA GPUs; start at "
                                             "most one process per GPU", bad_input=True)
            raise TrainingError("error", f"training.device is {choice}, but this machine has "
                                         f"{count} CUDA GPU{'s' * (count != 1)} (cuda:0 to "
                                         f"cuda:{count - 1}); choose one of them or auto",
                                bad_input=True)
        if index:
            torch.cuda.set_device(index)
            return torch.device("cuda", index), torch.cuda.get_device_name(index)
        return torch.device("cuda"), torch.cuda.get_device_name(0)
    if choice == "mps":
        if not has_mps:
            raise TrainingError("error", "training.device is mps, but no Apple GPU is available; "
                                         "choose auto or cpu", bad_input=True)
        return torch.device("mps"), "Apple GPU (MPS)"
    return torch.device("cpu"), _cpu_name()


def available_devices() -> list[tuple[str, str]]:
    """(training.device value, what it is in words) for each device this machine has: the
    CPU, each CUDA GPU by name, the Apple GPU."""
    found = [("cpu", f"CPU ({_cpu_name()})")]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            found.append((f"cuda:{index}", f"{torch.cuda.get_device_name(index)} (cuda:{index})"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append(("mps", "Apple GPU (MPS)"))
    return found


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def check_speed(project: Project, device: torch.device, processes: int = 1) -> None:
    """Refuse, by field, settings that cannot work on ``device``: nothing is silently ignored.

    On the CPU: bfloat16 autocast, torch.compile and channels-last apply; float16 with a
    gradient scaler, cuDNN benchmark mode and synchronised batch normalization need CUDA.
    """
    cfg, kind = project.training, device.type
    where = "the CPU" if kind == "cpu" else f"{kind}"

    def refuse(field: str, message: str) -> None:
        raise TrainingError("error", f"training.{field}: {message}", bad_input=True)

    if cfg.precision == "float16" and kind != "cuda":
        refuse("precision", f"float16 (with a gradient scaler) needs a CUDA GPU; this run is on "
                            f"{where}: choose bfloat16, or half (bfloat16 off CUDA)")
    if cfg.precision == "bfloat16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        refuse("precision", f"bfloat16 is not supported by {torch.cuda.get_device_name()}; "
                            "choose float16 or half")
    for switch, on in cfg.speed.items():
        what, devices = SPEED_SWITCHES[switch]
        if on and kind not in devices:
            refuse(f"speed.{switch}", f"{what} needs a CUDA GPU; this run is on {where}: turn "
                                      "it off")
    if cfg.speed.get("cudnn_benchmark") and cfg.deterministic:
        refuse("speed.cudnn_benchmark", "benchmark mode picks convolution algorithms by speed, "
                                        "which training.deterministic forbids: turn one off")
    if cfg.sync_batchnorm and kind != "cuda":
        refuse("sync_batchnorm", f"PyTorch synchronises batch normalization between CUDA GPUs "
                                 f"only; this run is on {where}, where each process normalizes "
                                 "its own batch: turn it off")
    if processes > 1 and kind not in ("cuda", "cpu"):
        refuse("processes", f"several processes train on CUDA GPUs or CPUs, not on {where}")


# ---- tasks ---------------------------------------------------------------------------------

def task_of(loss: LossInfo) -> tuple[str, int]:
    """("classification", number of classes) or ("regression", 0) for a loss."""
    if loss.target_spec.kind == "index":
        return "classification", loss.target_spec.classes
    if loss.meaning.pick == "threshold" and math.prod(loss.target_spec.shape) == 1:
        return "classification", 2
    return "regression", 0


def network_task(compiled: Compiled) -> tuple[str, int]:
    """A network's task from its first loss; "regression" when that loss has no dataset
    target to score against (a GAN's discriminator) or there is no loss (a generator)."""
    if not compiled.losses or compiled.losses[0].target is None:
        return "regression", 0
    return task_of(compiled.losses[0])


def classify(meaning: Prediction, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class index, probability of that class) per sample, from a prediction whose values
    mean what ``meaning`` (the loss's spec) says."""
    if meaning.pick == "threshold":
        p = prediction.reshape(len(prediction)).float()
        if meaning.kind == "logits":
            p = torch.sigmoid(p)
        chosen = (p > 0.5).long()
        return chosen, torch.where(chosen == 1, p, 1 - p)
    scores = prediction.float().flatten(1)
    probabilities = F.softmax(scores, dim=1) if meaning.kind == "scores" else scores
    confidence, chosen = probabilities.max(dim=1)
    return chosen, confidence


# ---- preparing a run -----------------------------------------------------------------------

def compile_seeded(network: Network, seed: int, purpose: str = "trained",
                   project: Project | None = None, store: dict | None = None,
                   seeded: bool = True) -> Compiled:
    """Seed, compile, list the problems: the network's modules with weights initialised from
    ``seed`` (the same as the run's initial weights). A network with problems raises
    TrainingError "network 'Main' cannot be <purpose>: <every problem>"."""
    if seeded:
        torch.manual_seed(seed)
    try:
        return compile_network(network, project=project, store=store)
    except CompileError as e:
        listing = "; ".join(str(p) for p in e.problems)
        raise TrainingError("error", f"network {network.name!r} cannot be {purpose}: {listing}",
                            bad_input=True) from None


def compile_networks(project: Project, names: Collection[str], purpose: str = "trained"
                     ) -> dict[str, Compiled]:
    """The networks ``names`` compiled in the project's order from one seed, with one store of
    tensors: a layer of the same name (or ParameterScope) in two networks is one tensor."""
    torch.manual_seed(project.training.seed)
    store: dict = {}
    return {net.name: compile_seeded(net, project.training.seed, purpose, project, store,
                                     seeded=False)
            for net in project.networks if net.name in names}


def check_references(project: Project) -> None:
    """Every optimizer, monitor and executor names a network and a dataset of the project."""
    networks = [n.name for n in project.networks]
    for where, entry in project.training.references():
        if entry.network not in networks:
            kind = where.split(".")[1].split("[")[0][:-1]
            raise TrainingError("error", f"{where}: {kind} {entry.name} names network "
                                         f"{entry.network!r}, which does not exist (the project "
                                         f"has {', '.join(map(repr, networks[:6]))})",
                                bad_input=True)
        known = set(project.datasets) | ({"validation"} if "training" in project.datasets
                                         else set())
        if entry.dataset not in known and "training" in project.datasets:
            raise TrainingError("data", f"{where}.dataset: {entry.dataset!r} is not a dataset "
                                        f"of the project (it has "
                                        f"{', '.join(sorted(known))})", bad_input=True)
    if not project.training.optimizers:
        raise TrainingError("error", "training.optimizers: the project has no optimizer; add one "
                                     "that names the network to train", bad_input=True)


@dataclass
class Prepared:
    """Compiled networks with their data checked against them, ready on a device.

    ``compiled`` is the main network: the first optimizer's when training, the executor's when
    evaluating; ``train_data`` and ``val_data`` are the data training and validation read."""

    project: Project
    compiled: Compiled
    train_data: DataSet | None  # None when prepared to evaluate other data
    val_data: DataSet
    device: torch.device
    device_name: str
    task: str
    classes: int
    modules: list[torch.nn.Module] = field(default_factory=list)  # of every network
    networks: dict[str, Compiled] = field(default_factory=dict)
    datasets: dict[str, DataSet] = field(default_factory=dict)  # by the names config uses
    loss_modules: list[torch.nn.Module] = field(default_factory=list)  # as compiled.losses
    init: InitReport | None = None  # the layers taken from training.init's run
    # the training step's loss when it is not the training graph's (training.distill)
    objective: Callable[..., torch.Tensor] | None = None

    def feeder(self, data: DataSet, compiled: Compiled | None = None) -> Feeder | StreamFeeder:
        """A feeder of ``data`` for a network (the main one by default), in memory or streamed
        by the training's loader processes: the class numbers its losses read travel as int64,
        as the losses read them, so no step converts them."""
        compiled = compiled or self.compiled
        kinds = {}
        for loss in compiled.losses:
            if loss.target is not None:
                kinds.setdefault(loss.target, set()).add(loss.target_spec.kind)
        classes = {name for name, kind in kinds.items()
                   if kind == {"index"} and name not in compiled.input_vars}
        if is_streamed(data):
            return StreamFeeder(data, compiled.data_vars, self.device,
                                self.project.training.workers, classes)
        return Feeder(data, compiled.data_vars, self.device, classes)

    def train_mode(self, training: bool) -> None:
        """Every network's ``layers.train(training)`` without its recursion: nn.Module.train
        sets each module's flag through nn.Module.__setattr__, a few microseconds a module, a
        sizeable share of validating a small network every epoch. Catalog modules do not
        override train() (the catalog tests check), so setting the flags is all it does."""
        for module in self.modules:
            object.__setattr__(module, "training", training)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every network's weights under their project-wide names, each tensor once."""
        state: dict[str, torch.Tensor] = {}
        for compiled in self.networks.values():
            for name, tensor in compiled.tensors().items():
                state.setdefault(name, tensor)
        return state


def prepare(project: Project, data: DataSet | None = None, purpose: str = "train", *,
            local_rank: int = 0, progress: Progress | None = None,
            for_training: bool = False) -> Prepared:
    """Compile the networks, load and check their data, pick the device.

    ``purpose`` "train" compiles every network the optimizers, monitors and executors name;
    "evaluate" the first executor's. Weights are initialised from ``training.seed``. ``data``
    replaces the data evaluated (nothing is then loaded for training). ``local_rank``: this
    process's GPU; ``progress`` hears of image caches being written. ``for_training`` also
    starts from ``training.init``'s run and sets up ``training.distill``. Raises TrainingError
    with a message naming the node, file or field at fault.
    """
    cfg = project.training
    if cfg.deterministic:  # cuBLAS reads this when CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device, device_name = resolve_device(cfg.device, local_rank)
    check_references(project)
    if purpose == "train":
        used = [*cfg.optimizers, *cfg.monitors, *cfg.executors[:1]]
        main = cfg.optimizers[0].network
    else:
        if not cfg.executors:
            raise TrainingError("error", "training.executors: the project has no executor; add "
                                         "one that names the network to evaluate",
                                bad_input=True)
        used, main = [cfg.executors[0]], cfg.executors[0].network
    networks = compile_networks(project, {entry.network for entry in used})
    compiled = networks[main]
    init = None
    if for_training and cfg.init:
        try:
            init = start_from(compiled, project.network(main), project.resolve(cfg.init["run"]),
                              cfg.init["weights"])
        except InitError as e:
            raise TrainingError("error", f"training.init: {e}", bad_input=True) from None
    datasets: dict[str, DataSet] = {}
    if data is None:
        loaded = load_datasets(project, {entry.dataset for entry in used}, progress)
        for entry in used:
            net = project.network(entry.network)
            fitted = fit_to_network(loaded[entry.dataset], networks[entry.network], net, project)
            check_targets(fitted, networks[entry.network])
            datasets[entry.dataset] = loaded[entry.dataset] = fitted
        train_data = datasets[cfg.optimizers[0].dataset] if purpose == "train" else None
        val_data = datasets.get(_validation_name(cfg) if purpose == "train"
                                else cfg.executors[0].dataset)
        if val_data is None:
            val_data = train_data.subset(np.arange(0))
    else:
        train_data, val_data = None, fit_to_network(data, compiled, project.network(main),
                                                    project)
        check_targets(val_data, compiled)
    task, classes = network_task(compiled)
    for net in networks.values():
        net.layers.to(device)
    modules = [m for net in networks.values() for m in net.layers.modules()]
    network = project.network(main)
    by_name = {n.name: n.id for n in (compiled.network or network).nodes}
    loss_modules = [compiled.layers.get_submodule(compiled.attr_of[by_name[loss.name]])
                    for loss in compiled.losses if loss.name in by_name]
    prepared = Prepared(project, compiled, train_data, val_data, device, device_name, task,
                        classes, list(dict.fromkeys(modules)), networks, datasets, loss_modules,
                        init)
    if for_training and cfg.distill:
        prepared.objective = _distillation(prepared)
    return prepared


def _distillation(prepared: Prepared) -> Callable[..., torch.Tensor]:
    """The mixed loss of training.distill, its teacher on the run's device."""
    setting, project = prepared.project.training.distill, prepared.project
    try:
        teacher = load_teacher(project.resolve(setting["teacher"]), setting["weights"],
                               prepared.compiled)
    except DistillError as e:
        raise TrainingError("error", str(e), bad_input=True) from None
    teacher.infer.to(prepared.device)
    return objective(teacher, prepared.compiled, prepared.loss_modules,
                     setting["temperature"], setting["alpha"])


def _validation_name(cfg) -> str:
    """The dataset whose monitor picks the best weights: the first monitor's on
    "validation", else the last monitor's ("validation" without monitors)."""
    for monitor in cfg.monitors:
        if monitor.dataset == "validation":
            return "validation"
    return cfg.monitors[-1].dataset if cfg.monitors else "validation"


def load_datasets(project: Project, names: Collection[str],
                  progress: Progress | None = None) -> dict[str, DataSet]:
    """The datasets ``names`` (training and validation as project_data gives them)."""
    loaded: dict[str, DataSet] = {}
    if {"training", "validation"} & set(names):
        loaded["training"], loaded["validation"] = project_data(project, progress)
    for name in names:
        if name in loaded:
            continue
        try:
            loaded[name] = _open(project, project.datasets[name], progress)
        except DataError as e:
            raise TrainingError("data", str(e), bad_input=True) from None
    return loaded


def _open(project: Project, d, progress: Progress | None) -> DataSet:
    """A dataset of the project: embedded, or a CSV file whose images may stream or cache."""
    if d.source.startswith(EMBEDDED_PREFIX):
        return open_dataset(d.source, project.folder, d.normalize)
    return open_csv(project.resolve(d.source), d.normalize, cache=d.cache, stream=d.stream,
                    workers=project.training.workers, progress=progress)


def project_data(project: Project, progress: Progress | None = None) -> tuple[DataSet, DataSet]:
    """(training, validation) data: the validation dataset, or a seeded split of the training.
    Image datasets too large for memory (or set to stream) read their images as needed."""
    datasets = project.datasets
    if "training" not in datasets:
        raise TrainingError("data", "the project has no training dataset; choose one (a CSV "
                                    "file or an embedded dataset) under datasets.training",
                            bad_input=True)

    try:
        loaded = {role: _open(project, d, progress) for role, d in datasets.items()
                  if role in DATASET_ROLES}
    except DataError as e:
        raise TrainingError("data", str(e), bad_input=True) from None
    if "validation" not in loaded:
        return split(loaded["training"], project.training.validation_split, project.training.seed)
    train, val = loaded["training"], loaded["validation"]
    if train.variables != val.variables:
        def describe(d: DataSet) -> str:
            return ", ".join(f"{k} ({shape_text(s)})" for k, s in d.variables.items())
        raise TrainingError("data", f"the training data has variables {describe(train)} but the "
                                    f"validation data ({val.source}) has {describe(val)}; they "
                                    "must match", bad_input=True)
    return train, val


def fit_to_network(data: DataSet, compiled: Compiled, network: Network,
                   project: Project | None = None) -> DataSet:
    """The data with each variable in the shape the network reads it in.

    A variable whose values only need rearranging (a 1×4 data CSV for a Size 4 Input) is
    reshaped; any other mismatch is an error naming the node and the variable.
    """
    wanted = {v: s for v, s in compiled.input_shapes.items() if v not in compiled.generated}
    for loss in compiled.losses:
        if loss.target is not None:
            wanted.setdefault(loss.target, tuple(loss.target_spec.shape))
    for name, shape in wanted.items():
        have = data.variables.get(name)
        if have is not None and have != shape and math.prod(have) == math.prod(shape):
            data = data.reshaped(name, shape)
    problems = analyze(network, data.variables, project=project, trained=False).problems
    if problems:
        listing = "; ".join(str(p) for p in problems)
        raise TrainingError("data", f"{data.source} does not fit network {network.name!r}: "
                                    f"{listing}", bad_input=True)
    return data


def check_targets(data: DataSet, compiled: Compiled) -> None:
    """Class targets must be class numbers the network scores; 0/1 targets must be 0 to 1."""
    for loss in compiled.losses:
        if loss.target is None:
            continue
        if loss.target_spec.kind != "index" and loss.meaning.pick != "threshold":
            continue  # any value will do (and a streamed image target stays unread)
        values = data.values(loss.target).reshape(len(data), math.prod(loss.target_spec.shape))
        if loss.target_spec.kind == "index":
            classes = loss.target_spec.classes
            bad = (values != np.round(values)) | (values < 0) | (values >= classes)
            rule = f"a class number from 0 to {classes - 1} ({loss.prediction} scores " \
                   f"{classes} classes)"
        else:
            bad = (values < 0) | (values > 1)
            rule = "from 0 to 1"
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows):
            value = values[rows[0]][bad[rows[0]]][0]
            raise TrainingError("data", f"{loss.name}: target variable {loss.target!r} holds "
                                        f"{value:g} at {data.where(int(rows[0]))}; each value "
                                        f"must be {rule}", bad_input=True)


def generate(compiled: Compiled, names: list[str], count: int, generator: torch.Generator,
             device: torch.device) -> list[torch.Tensor]:
    """The generated arguments among ``names`` for a batch of ``count``: Normal N(0, m²),
    Uniform U(−m, m) or Constant m, drawn from ``generator``."""
    out = []
    for name in names:
        spec = compiled.generated.get(name)
        if spec is None:
            continue
        shape = (count, *spec.shape)
        if spec.kind == "Normal":
            values = torch.randn(shape, generator=generator) * spec.multiplier
        elif spec.kind == "Uniform":
            values = (torch.rand(shape, generator=generator) * 2 - 1) * spec.multiplier
        else:
            values = torch.full(shape, spec.multiplier)
        out.append(values.to(device))
    return out


# ---- feeding batches -----------------------------------------------------------------------

class Feeder:
    """Dataset variables as tensors, gathered batch by batch onto the device.

    Small datasets move to the accelerator once; larger ones stay in host memory and travel a
    batch at a time. 8-bit images travel as bytes and become floats on the device. The
    variables named in ``classes`` hold class numbers and travel as int64.
    """

    ON_DEVICE_LIMIT = 2 << 30  # bytes

    def __init__(self, data: DataSet, names: list[str], device: torch.device,
                 classes: Collection[str] = ()):
        self.names = names
        self.device = device
        self.scales = [1.0 if name in classes else data.scales.get(name, 1.0) for name in names]
        size = sum(data.arrays[name].nbytes for name in names)
        self.home = device if size <= self.ON_DEVICE_LIMIT else torch.device("cpu")
        self.tensors = [torch.from_numpy(data.values(name)).long().to(self.home) if name in classes
                        else torch.from_numpy(_writable(data.arrays[name])).to(self.home)
                        for name in names]
        # what the network reads, already where it runs: a batch is one gather per variable
        self.ready = self.home == device and all(
            x.dtype == torch.int64 if name in classes else x.dtype == torch.float32 and scale == 1
            for name, x, scale in zip(names, self.tensors, self.scales))
        self._splits: dict[int, list[torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.tensors[0]) if self.tensors else 0

    def batches(self, index_batches: list[torch.Tensor]):
        """The variables of each index batch, on the device, in order."""
        return map(self.batch, index_batches)

    def batch(self, indices: torch.Tensor) -> list[torch.Tensor]:
        if indices.device != self.home:
            indices = indices.to(self.home)
        if self.ready:
            return [x.index_select(0, indices) for x in self.tensors]
        return [as_read(x.index_select(0, indices).to(self.device, non_blocking=True), scale)
                for x, scale in zip(self.tensors, self.scales)]

    def close(self) -> None:
        pass  # nothing to end: the tensors go with the feeder

    def in_order(self, batch_size: int) -> list[torch.Tensor]:
        """The indices of every sample, in order, in batches of ``batch_size``."""
        if batch_size not in self._splits:
            self._splits[batch_size] = list(torch.arange(len(self), device=self.home)
                                            .split(batch_size))
        return self._splits[batch_size]



def _writable(array: np.ndarray) -> np.ndarray:
    return array if array.flags.writeable else array.copy()


def autocast(prepared: Prepared):
    """The context the network runs in: mixed precision when the project asks for it (half:
    float16 on CUDA, bfloat16 elsewhere). It can be entered again and again, one block after
    another."""
    precision = prepared.project.training.precision
    kind = prepared.device.type
    if precision == "float" or (precision == "float16" and kind != "cuda"):
        return nullcontext()  # (training refuses float16 off CUDA; evaluation uses float32)
    half = precision == "float16" or (precision == "half" and kind == "cuda")
    return torch.autocast(kind, dtype=torch.float16 if half else torch.bfloat16)


def uses_scaler(prepared: Prepared) -> bool:
    """float16 on CUDA needs its gradients scaled (bfloat16 has float32's range)."""
    return (prepared.device.type == "cuda"
            and prepared.project.training.precision in ("half", "float16"))


# ---- scoring -------------------------------------------------------------------------------

@dataclass
class Scores:
    """A pass over a dataset: mean loss, error, and (when kept) the per-sample results."""

    loss: float
    error: float  # 1 - accuracy (classification) or the loss (regression)
    predictions: list[np.ndarray] | None = None  # one per loss, raw network outputs
    chosen: np.ndarray | None = None  # class per sample (classification)
    confidence: np.ndarray | None = None


def score(prepared: Prepared, data: DataSet, batch_size: int, keep: bool = False,
          feeder: Feeder | StreamFeeder | None = None,
          compiled: Compiled | None = None) -> Scores:
    """Run a network (the main one by default) over ``data`` without training; its loss as in
    training. Pass the ``feeder`` of ``data`` when scoring it repeatedly, so it is not moved to
    the device again. Generated inputs are drawn from a generator seeded the same way every
    time, so scores of one network from epoch to epoch differ only by its weights."""
    compiled = compiled or prepared.compiled
    if feeder is None:
        feeder = prepared.feeder(data, compiled)
        try:
            return score(prepared, data, batch_size, keep, feeder, compiled)
        finally:
            feeder.close()
    position = {name: i for i, name in enumerate(compiled.data_vars)}
    first = compiled.losses[0] if compiled.losses else None
    classifying = network_task(compiled)[0] == "classification"
    generator = torch.Generator().manual_seed(prepared.project.training.seed + 1)
    total = correct = None  # summed on the device: one sync at the end
    kept: list[list[torch.Tensor]] = [[] for _ in compiled.losses]
    chosen_parts, confidence_parts = [], []
    prepared.train_mode(False)
    with torch.no_grad(), autocast(prepared):
        order = feeder.in_order(batch_size)
        for indices, batch in zip(order, feeder.batches(order)):
            n = len(indices)
            batch = list(batch) + generate(compiled, compiled.train_vars, n, generator,
                                           prepared.device)
            # the graph's own forward: its module call only adds hooks nobody registered
            outputs = compiled.evaluate.forward(*batch)
            outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
            part = outputs[0].float() * n
            total = part if total is None else total + part
            if keep:
                for i, prediction in enumerate(outputs[1:]):
                    kept[i].append(prediction.float().cpu())
            if classifying:
                chosen, confidence = classify(first.meaning, outputs[1])
                target = batch[position[first.target]].reshape(n).round().long()
                hits = (chosen == target).sum()
                correct = hits if correct is None else correct + hits
                if keep:
                    chosen_parts.append(chosen.cpu())
                    confidence_parts.append(confidence.float().cpu())
    prepared.train_mode(True)
    samples = max(len(data), 1)
    loss = total.item() / samples if total is not None else 0.0
    error = 1.0 - (correct.item() if correct is not None else 0) / samples if classifying else loss
    if not keep:
        return Scores(loss, error)
    cat = lambda parts: torch.cat(parts).numpy() if parts else None  # noqa: E731
    return Scores(loss, error, [cat(p) for p in kept], cat(chosen_parts), cat(confidence_parts))
