"""The training block of a project: global settings, optimizers, monitors and executors.

In Neural Network Console's terms: each **optimizer** trains one network on one dataset with its
own solver, schedule and update interval, and the optimizers take turns every iteration in the
listed order; each **monitor** scores a network on a dataset every ``monitor_interval`` epochs
(its curves); the first **executor** names the network evaluation and export use. A project
with one network has one of each, on that network, and reads like the single training block of
earlier versions (``training.optimizer``, ``training.schedule`` and ``training.network`` are the
first optimizer's).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from nodes.spec import quoted

OPTIMIZERS = ("Adam", "AdamW", "SGD", "Momentum", "Nesterov", "RMSprop", "Adagrad", "Adadelta")
SCHEDULES = ("constant", "exponential", "step", "cosine", "polynomial")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N" for the N-th CUDA GPU (is_device)
# half: float16 with a gradient scaler on CUDA, bfloat16 elsewhere; bfloat16 and float16 ask
# for one of them (float16 needs CUDA)
PRECISIONS = ("float", "half", "bfloat16", "float16")
# speed switches, each off unless turned on: (what it does, the devices it applies to)
SPEED_SWITCHES = {
    "channels_last": ("convolutions on channels-last tensors", ("cuda", "cpu")),
    "compile": ("torch.compile of the network", ("cuda", "cpu")),
    "cudnn_benchmark": ("cuDNN benchmark mode (the fastest convolution for each shape)",
                        ("cuda",)),
}
REPEAT_EVALUATIONS = ("mean", "last")
MAX_UPDATE_INTERVAL = 64
MAX_SEED = 2**64 - 1  # torch and numpy take seeds from 0 to 2**64 - 1
MAX_EPOCHS = 10**9
MAX_BATCH = 2**31 - 1
WEIGHTS = ("best", "last")  # a run's weights files, as training.init and training.distill name them
# Optional training settings, written only when set (files without them stay as they were):
# init starts from a run's weights, distill trains against a teacher run's outputs.
INIT_DEFAULTS = {"run": None, "weights": "best"}
DISTILL_DEFAULTS = {"teacher": None, "weights": "best", "temperature": 4.0, "alpha": 0.9}
MAX_PROCESSES = 2**16  # training processes on one machine (torchrun's nproc-per-node)
MAX_WORKERS = 256  # loader processes for a streamed dataset


def is_device(name: str) -> bool:
    """A training.device value: one of DEVICES, or cuda:N for one GPU of several."""
    return name in DEVICES or re.fullmatch(r"cuda:\d+", name) is not None


def _adam() -> dict[str, Any]:
    return {"type": "Adam", "lr": 0.001}


@dataclass
class OptimizerConfig:
    """Trains ``network`` on ``dataset``; gradients are summed over ``update_interval``
    mini-batches before each update, as NNC does (not averaged)."""

    name: str = "Optimizer"
    network: str = "Main"
    dataset: str = "training"
    solver: dict[str, Any] = field(default_factory=_adam)
    schedule: dict[str, Any] = field(default_factory=lambda: {"type": "constant"})
    update_interval: int = 1


@dataclass
class MonitorConfig:
    """Scores ``network`` on ``dataset`` (its loss, and its error for a classifier)."""

    name: str = "valid_error"
    network: str = "Main"
    dataset: str = "validation"


@dataclass
class ExecutorConfig:
    """The network evaluation and export use, on ``dataset``; each batch is run
    ``num_evaluations`` times and the outputs averaged (``mean``) or the last kept."""

    name: str = "Executor"
    network: str = "Main"
    dataset: str = "validation"
    num_evaluations: int = 1
    repeat_evaluation: str = "mean"


@dataclass(init=False)
class TrainingConfig:
    epochs: int
    batch_size: int
    seed: int
    device: str
    precision: str
    validation_split: float  # used only when the project has no validation dataset
    monitor_interval: int
    optimizers: list[OptimizerConfig]
    monitors: list[MonitorConfig]
    executors: list[ExecutorConfig]
    processes: int  # training processes on this machine (torchrun), each with batch_size
    sync_batchnorm: bool  # batch statistics over every process's batch (CUDA)
    workers: int  # loader processes for streamed datasets (0: the training process)
    deterministic: bool  # deterministic algorithms only (bitwise-repeatable runs)
    speed: dict[str, bool]  # SPEED_SWITCHES turned on
    # {"run": RUN_DIR, "weights": "best"|"last"}: layers whose names and shapes match start
    # from that run's weights (the path is relative to the project file, or absolute)
    init: dict[str, Any] | None
    # {"teacher": RUN_DIR, "weights", "temperature", "alpha"}: the loss mixes the teacher's soft
    # targets (share alpha) with the true labels (share 1 - alpha)
    distill: dict[str, Any] | None

    # settings written only when they differ from these (files that do not use them keep
    # the keys they had)
    OPTIONAL = {"processes": 1, "sync_batchnorm": False, "workers": 4, "deterministic": False}

    def __init__(self, epochs: int = 10, batch_size: int = 64, seed: int = 0,
                 device: str = "auto", precision: str = "float", validation_split: float = 0.2,
                 monitor_interval: int = 1, optimizers: list[OptimizerConfig] | None = None,
                 monitors: list[MonitorConfig] | None = None,
                 executors: list[ExecutorConfig] | None = None, *, network: str | None = None,
                 optimizer: dict | None = None, schedule: dict | None = None,
                 processes: int = 1, sync_batchnorm: bool = False, workers: int = 4,
                 deterministic: bool = False, speed: dict[str, bool] | None = None,
                 init: dict[str, Any] | None = None, distill: dict[str, Any] | None = None):
        """The one-network form: ``network``, ``optimizer`` (the solver) and ``schedule`` set
        the first optimizer (and the network of the first monitor and executor)."""
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.processes, self.sync_batchnorm, self.workers = processes, sync_batchnorm, workers
        self.deterministic, self.speed = deterministic, dict(speed or {})
        self.init, self.distill = init, distill
        self.device, self.precision, self.validation_split = device, precision, validation_split
        self.monitor_interval = monitor_interval
        self.optimizers = copy.deepcopy(optimizers) if optimizers is not None \
            else [OptimizerConfig()]
        self.monitors = copy.deepcopy(monitors) if monitors is not None else [MonitorConfig()]
        self.executors = copy.deepcopy(executors) if executors is not None \
            else [ExecutorConfig()]
        if network is not None:
            self.network = network
        if optimizer is not None:
            self.optimizer = optimizer
        if schedule is not None:
            self.schedule = schedule

    # ---- the one-network form ------------------------------------------------------------

    def _first(self) -> OptimizerConfig:
        if not self.optimizers:
            self.optimizers.append(OptimizerConfig(network=self.network))
        return self.optimizers[0]

    @property
    def network(self) -> str:
        """The network the first optimizer trains (else the first executor's), "Main" if none."""
        for entry in (*self.optimizers, *self.executors, *self.monitors):
            return entry.network
        return "Main"

    @network.setter
    def network(self, name: str) -> None:
        self._first().network = name
        for entry in (*self.monitors[:1], *self.executors[:1]):
            entry.network = name

    @property
    def optimizer(self) -> dict[str, Any]:
        """The first optimizer's solver settings."""
        return self._first().solver

    @optimizer.setter
    def optimizer(self, solver: dict[str, Any]) -> None:
        self._first().solver = dict(solver)

    @property
    def schedule(self) -> dict[str, Any]:
        return self._first().schedule

    @schedule.setter
    def schedule(self, schedule: dict[str, Any]) -> None:
        self._first().schedule = dict(schedule)

    def references(self) -> list[tuple[str, Any]]:
        """(field, entry) for every optimizer, monitor and executor: what names a network."""
        return ([(f"training.optimizers[{i}]", o) for i, o in enumerate(self.optimizers)]
                + [(f"training.monitors[{i}]", m) for i, m in enumerate(self.monitors)]
                + [(f"training.executors[{i}]", e) for i, e in enumerate(self.executors)])

    def rename_network(self, old: str, new: str) -> None:
        for _, entry in self.references():
            if entry.network == old:
                entry.network = new

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed,
            "device": self.device, "precision": self.precision,
            "validation_split": self.validation_split, "monitor_interval": self.monitor_interval,
            "optimizers": [{"name": o.name, "network": o.network, "dataset": o.dataset,
                            "solver": dict(o.solver), "schedule": dict(o.schedule),
                            "update_interval": o.update_interval} for o in self.optimizers],
            "monitors": [{"name": m.name, "network": m.network, "dataset": m.dataset}
                         for m in self.monitors],
            "executors": [{"name": e.name, "network": e.network, "dataset": e.dataset,
                           "num_evaluations": e.num_evaluations,
                           "repeat_evaluation": e.repeat_evaluation} for e in self.executors],
            **self._optional(),
        }

    def _optional(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key, default in self.OPTIONAL.items()
               if getattr(self, key) != default}
        speed = {key: True for key, on in self.speed.items() if on}
        if speed:
            out["speed"] = speed
        for key in ("init", "distill"):  # starting from a run, learning from one
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        return out


def migrate_training(training: dict) -> dict:
    """A version 3 training block (one network, one optimizer) as version 4: one optimizer on
    the training data, one monitor on the validation data (the validation curve, as before)
    and one executor, all on that network."""
    training = dict(training)
    network = training.pop("network", "Main")
    solver = training.pop("optimizer", _adam())
    schedule = training.pop("schedule", {"type": "constant"})
    training["optimizers"] = [{"name": "Optimizer", "network": network, "dataset": "training",
                               "solver": solver, "schedule": schedule, "update_interval": 1}]
    training["monitors"] = [{"name": "valid_error", "network": network,
                             "dataset": "validation"}]
    training["executors"] = [{"name": "Executor", "network": network, "dataset": "validation",
                              "num_evaluations": 1, "repeat_evaluation": "mean"}]
    training["monitor_interval"] = 1
    return training


class TrainingReader:
    """Reads the training block with a project reader's typed access (``get``, ``whole``,
    ``fail``), naming each bad field."""

    def __init__(self, reader, dataset_name):
        self.r = reader
        self.dataset_name = dataset_name  # the pattern a dataset name matches

    def training(self, d: dict) -> TrainingConfig:
        r, w = self.r, "training"
        cfg = TrainingConfig(
            epochs=r.whole(d, "epochs", 10, 1, MAX_EPOCHS),
            batch_size=r.whole(d, "batch_size", 64, 1, MAX_BATCH),
            seed=r.whole(d, "seed", 0, 0, MAX_SEED),
            device=r.get(d, "device", str, w, "auto"),
            precision=r.get(d, "precision", str, w, "float"),
            validation_split=r.get(d, "validation_split", float, w, 0.2),
            monitor_interval=r.whole(d, "monitor_interval", 1, 1, MAX_EPOCHS),
            optimizers=[self.optimizer(o, f"training.optimizers[{i}]") for i, o in
                        enumerate(r.get(d, "optimizers", list, w, []))],
            monitors=[self.monitor(m, f"training.monitors[{i}]") for i, m in
                      enumerate(r.get(d, "monitors", list, w, []))],
            executors=[self.executor(e, f"training.executors[{i}]") for i, e in
                       enumerate(r.get(d, "executors", list, w, []))],
            processes=r.whole(d, "processes", 1, 1, MAX_PROCESSES),
            sync_batchnorm=r.get(d, "sync_batchnorm", bool, w, False),
            workers=r.whole(d, "workers", 4, 0, MAX_WORKERS),
            deterministic=r.get(d, "deterministic", bool, w, False),
            speed=self.speed(r.get(d, "speed", dict, w, {})))
        for what, entries in (("optimizers", cfg.optimizers), ("monitors", cfg.monitors),
                              ("executors", cfg.executors)):
            seen: set[str] = set()
            for i, entry in enumerate(entries):
                if entry.name in seen:
                    raise r.fail(f"training.{what}[{i}].name",
                                 f"two {what} are named {quoted(entry.name)}")
                seen.add(entry.name)
        if not is_device(cfg.device):
            raise r.fail("training.device", f"{quoted(cfg.device)} is not one of "
                                            f"{', '.join(DEVICES)} or cuda:N")
        if cfg.precision not in PRECISIONS:
            raise r.fail("training.precision", f"{quoted(cfg.precision)} is not one of "
                                               f"{', '.join(PRECISIONS)}")
        if not 0.0 <= cfg.validation_split < 1.0:
            raise r.fail("training.validation_split",
                         f"must be from 0 up to (not including) 1, not {cfg.validation_split}")
        if "init" in d:
            cfg.init = self.run_setting(d, "init", "run", INIT_DEFAULTS)
        if "distill" in d:
            cfg.distill = self.run_setting(d, "distill", "teacher", DISTILL_DEFAULTS)
            temperature = r.get(cfg.distill, "temperature", float, "training.distill")
            if not 0 < temperature <= 1000:
                raise r.fail("training.distill.temperature",
                             f"must be more than 0 and at most 1000, not {temperature:g}")
            alpha = r.get(cfg.distill, "alpha", float, "training.distill")
            if not 0 <= alpha <= 1:
                raise r.fail("training.distill.alpha", f"must be from 0 to 1, not {alpha:g}")
        return cfg

    def run_setting(self, d: dict, key: str, run_key: str, defaults: dict) -> dict:
        """training.init or training.distill: an object naming a run folder and its weights."""
        r, where = self.r, f"training.{key}"
        value = r.get(d, key, dict, "training")
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            name = unknown[0]
            name = name if name.isprintable() and 0 < len(name) <= 40 else quoted(name)
            raise r.fail(f"{where}.{name}",
                         f"unknown setting (its settings are {', '.join(defaults)})")
        out = {**defaults, **value}
        run = r.get(out, run_key, str, where)
        if not run.strip() or "\0" in run:
            raise r.fail(f"{where}.{run_key}", "must name a run folder")
        if out["weights"] not in WEIGHTS:
            raise r.fail(f"{where}.weights", f"{quoted(out['weights'])} is not one of "
                                             f"{', '.join(WEIGHTS)}")
        return out

    def speed(self, d: dict) -> dict[str, bool]:
        for key in d:
            if key not in SPEED_SWITCHES:
                raise self.r.fail(f"training.speed.{key}", f"unknown speed switch; the switches "
                                  f"are {', '.join(SPEED_SWITCHES)}")
        return {key: self.r.get(d, key, bool, "training.speed") for key in d}

    def _entry(self, d: Any, where: str) -> dict:
        if not isinstance(d, dict):
            raise self.r.fail(where, "must be an object")
        return d

    def _common(self, d: dict, where: str, default_name: str, default_dataset: str) -> dict:
        r = self.r
        out = {"name": r.get(d, "name", str, where, default_name),
               "network": r.get(d, "network", str, where, "Main"),
               "dataset": r.get(d, "dataset", str, where, default_dataset)}
        if not out["name"].strip():
            raise r.fail(f"{where}.name", "must not be empty")
        if not self.dataset_name.fullmatch(out["dataset"]):
            raise r.fail(f"{where}.dataset", f"{quoted(out['dataset'])} is not a dataset name "
                                             "(letters, digits, _ and -)")
        return out

    def optimizer(self, d: Any, where: str) -> OptimizerConfig:
        d, r = self._entry(d, where), self.r
        common = self._common(d, where, "Optimizer", "training")
        solver = dict(r.get(d, "solver", dict, where, _adam()))
        schedule = dict(r.get(d, "schedule", dict, where, {"type": "constant"}))
        if solver.get("type") not in OPTIMIZERS:
            raise r.fail(f"{where}.solver.type", f"{quoted(solver.get('type'))} is not one of "
                                                 f"{', '.join(OPTIMIZERS)}")
        if schedule.get("type", "constant") not in SCHEDULES:
            raise r.fail(f"{where}.schedule.type", f"{quoted(schedule.get('type'))} is not "
                                                   f"one of {', '.join(SCHEDULES)}")
        interval = r.get(d, "update_interval", int, where, 1)
        if not 1 <= interval <= MAX_UPDATE_INTERVAL:
            raise r.fail(f"{where}.update_interval", f"must be from 1 to {MAX_UPDATE_INTERVAL}, "
                                                     f"not {quoted(interval)}")
        return OptimizerConfig(**common, solver=solver, schedule=schedule,
                               update_interval=interval)

    def monitor(self, d: Any, where: str) -> MonitorConfig:
        return MonitorConfig(**self._common(self._entry(d, where), where, "Monitor",
                                            "validation"))

    def executor(self, d: Any, where: str) -> ExecutorConfig:
        d, r = self._entry(d, where), self.r
        common = self._common(d, where, "Executor", "validation")
        count = r.get(d, "num_evaluations", int, where, 1)
        if not 1 <= count <= 10_000:
            raise r.fail(f"{where}.num_evaluations", f"must be from 1 to 10000, not "
                                                     f"{quoted(count)}")
        repeat = r.get(d, "repeat_evaluation", str, where, "mean")
        if repeat not in REPEAT_EVALUATIONS:
            raise r.fail(f"{where}.repeat_evaluation", f"{quoted(repeat)} is not one of "
                                                       f"{', '.join(REPEAT_EVALUATIONS)}")
        return ExecutorConfig(**common, num_evaluations=count, repeat_evaluation=repeat)
