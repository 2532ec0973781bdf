"""Train a project's network and record the run in a folder beside the project.

One engine, several front ends: ``python -m designer train PROJECT`` (add ``--events`` for JSON
lines on stdout, which is how the desktop app watches a run from a child process) and
``train(project, ...)`` for Python callers. SIGINT or SIGTERM finishes the current step, saves
the weights and ends the run as "stopped".
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import signal
import sys
import threading
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from nodes import shape_text

from designer.core import runs
from designer.core.analysis import analyze
from designer.core.compiler import CompileError, Compiled, LossInfo, compile_network
from designer.core.data import DataError, DataSet, open_dataset, split
from designer.core.optim import ConfigError, make_optimizer, make_schedule, optimizer_settings
from designer.core.project import DEVICES, MAX_SEED, Project, ProjectError, load

FAILURE_KINDS = ("data", "diverged", "memory", "error")
BINARY_LOSSES = ("SigmoidCrossEntropy", "BinaryCrossEntropy")
EVENTS_PER_SECOND = 20


class TrainingError(Exception):
    """Training cannot start or go on. ``kind`` is one of FAILURE_KINDS; ``bad_input`` says the
    user's project or data must change (exit status 2) rather than something going wrong."""

    def __init__(self, kind: str, message: str, bad_input: bool = False):
        assert kind in FAILURE_KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.bad_input = bad_input


# ---- devices -------------------------------------------------------------------------------

def resolve_device(choice: str = "auto") -> tuple[torch.device, str]:
    """The torch device for ``training.device`` and its name in words."""
    if choice not in DEVICES:
        raise TrainingError("error", f"training.device: {choice!r} is not one of "
                                     f"{', '.join(DEVICES)}", bad_input=True)
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA GPU"
            raise TrainingError("error", f"training.device is cuda, but this PyTorch "
                                         f"({torch.__version__}) {build}; choose auto or cpu",
                                bad_input=True)
        return torch.device("cuda"), torch.cuda.get_device_name(0)
    if choice == "mps":
        if not has_mps:
            raise TrainingError("error", "training.device is mps, but no Apple GPU is available; "
                                         "choose auto or cpu", bad_input=True)
        return torch.device("mps"), "Apple GPU (MPS)"
    return torch.device("cpu"), _cpu_name()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


# ---- tasks ---------------------------------------------------------------------------------

def task_of(loss: LossInfo) -> tuple[str, int]:
    """("classification", number of classes) or ("regression", 0) for a loss."""
    if loss.target_spec.kind == "index":
        return "classification", loss.target_spec.classes
    if loss.type in BINARY_LOSSES and math.prod(loss.target_spec.shape) == 1:
        return "classification", 2
    return "regression", 0


def classify(loss_type: str, prediction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class index, probability of that class) per sample, from what the loss layer scores."""
    if loss_type in BINARY_LOSSES:
        p = prediction.reshape(len(prediction)).float()
        if loss_type == "SigmoidCrossEntropy":
            p = torch.sigmoid(p)
        chosen = (p > 0.5).long()
        return chosen, torch.where(chosen == 1, p, 1 - p)
    scores = prediction.float().flatten(1)
    probabilities = F.softmax(scores, dim=1) if loss_type == "SoftmaxCrossEntropy" else scores
    confidence, chosen = probabilities.max(dim=1)
    return chosen, confidence


# ---- preparing a run -----------------------------------------------------------------------

@dataclass
class Prepared:
    """A compiled network with its data checked against it, ready on a device."""

    project: Project
    compiled: Compiled
    train_data: DataSet | None  # None when prepared to evaluate other data
    val_data: DataSet
    device: torch.device
    device_name: str
    task: str
    classes: int
    loss_modules: list[torch.nn.Module] = field(default_factory=list)  # as compiled.losses


def prepare(project: Project, data: DataSet | None = None) -> Prepared:
    """Compile the training network, load and check its data, pick the device.

    Weights are initialised from ``training.seed``. ``data`` replaces the project's data (to
    evaluate on another dataset; nothing is then loaded for training). Raises TrainingError with
    a message naming the node, file or field at fault.
    """
    cfg = project.training
    device, device_name = resolve_device(cfg.device)
    try:
        network = project.network()
    except ProjectError as e:
        raise TrainingError("error", str(e), bad_input=True) from None
    torch.manual_seed(cfg.seed)
    try:
        compiled = compile_network(network)
    except CompileError as e:
        listing = "; ".join(str(p) for p in e.problems)
        raise TrainingError("error", f"network {network.name!r} cannot be trained: {listing}",
                            bad_input=True) from None
    if data is None:
        train_data, val_data = project_data(project)
        train_data = fit_to_network(train_data, compiled, network)
        check_targets(train_data, compiled)
    else:
        train_data, val_data = None, data
    val_data = fit_to_network(val_data, compiled, network)
    check_targets(val_data, compiled)
    by_name = {n.name: n.id for n in network.nodes}
    loss_modules = [compiled.layers.get_submodule(compiled.attr_of[by_name[loss.name]])
                    for loss in compiled.losses]
    task, classes = task_of(compiled.losses[0])
    compiled.layers.to(device)
    return Prepared(project, compiled, train_data, val_data, device, device_name, task, classes,
                    loss_modules)


def project_data(project: Project) -> tuple[DataSet, DataSet]:
    """(training, validation) data: the validation dataset, or a seeded split of the training."""
    datasets = project.datasets
    if "training" not in datasets:
        raise TrainingError("data", "the project has no training dataset; choose one (a CSV "
                                    "file or an embedded dataset) under datasets.training",
                            bad_input=True)
    try:
        loaded = {role: open_dataset(d.source, project.folder, d.normalize)
                  for role, d in datasets.items()}
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



def fit_to_network(data: DataSet, compiled: Compiled, network) -> DataSet:
    """The data with each variable in the shape the network reads it in.

    A variable whose values only need rearranging (a 1×4 data CSV for a Size 4 Input) is
    reshaped; any other mismatch is an error naming the node and the variable.
    """
    wanted = dict(compiled.input_shapes)
    for loss in compiled.losses:
        wanted.setdefault(loss.target, tuple(loss.target_spec.shape))
    for name, shape in wanted.items():
        have = data.variables.get(name)
        if have is not None and have != shape and math.prod(have) == math.prod(shape):
            data = data.reshaped(name, shape)
    problems = analyze(network, data.variables).problems
    if problems:
        listing = "; ".join(str(p) for p in problems)
        raise TrainingError("data", f"{data.source} does not fit network {network.name!r}: "
                                    f"{listing}", bad_input=True)
    return data


def check_targets(data: DataSet, compiled: Compiled) -> None:
    """Class targets must be class numbers the network scores; 0/1 targets must be 0 to 1."""
    for loss in compiled.losses:
        values = data.values(loss.target).reshape(len(data), math.prod(loss.target_spec.shape))
        if loss.target_spec.kind == "index":
            classes = loss.target_spec.classes
            bad = (values != np.round(values)) | (values < 0) | (values >= classes)
            rule = f"a class number from 0 to {classes - 1} ({loss.prediction} scores " \
                   f"{classes} classes)"
        elif loss.type in BINARY_LOSSES:
            bad = (values < 0) | (values > 1)
            rule = "from 0 to 1"
        else:
            continue
        rows = np.flatnonzero(bad.any(axis=1))
        if len(rows):
            value = values[rows[0]][bad[rows[0]]][0]
            raise TrainingError("data", f"{loss.name}: target variable {loss.target!r} holds "
                                        f"{value:g} at {data.where(int(rows[0]))}; each value "
                                        f"must be {rule}", bad_input=True)


# ---- feeding batches -----------------------------------------------------------------------

class Feeder:
    """Dataset variables as tensors, gathered batch by batch onto the device.

    Small datasets move to the accelerator once; larger ones stay in host memory and travel a
    batch at a time. 8-bit images travel as bytes and become floats on the device.
    """

    ON_DEVICE_LIMIT = 2 << 30  # bytes

    def __init__(self, data: DataSet, names: list[str], device: torch.device):
        self.names = names
        self.device = device
        self.scales = [data.scales.get(name, 1.0) for name in names]
        size = sum(data.arrays[name].nbytes for name in names)
        self.home = device if size <= self.ON_DEVICE_LIMIT else torch.device("cpu")
        self.tensors = [torch.from_numpy(_writable(data.arrays[name])).to(self.home)
                        for name in names]

    def __len__(self) -> int:
        return len(self.tensors[0]) if self.tensors else 0

    def batch(self, indices: torch.Tensor) -> list[torch.Tensor]:
        moving = self.home != self.device
        if indices.device != self.home:
            indices = indices.to(self.home)
        out = []
        for tensor, scale in zip(self.tensors, self.scales):
            x = tensor[indices]
            if moving:
                x = x.to(self.device, non_blocking=True)
            if x.dtype != torch.float32:
                x = x.float()
            out.append(x * scale if scale != 1.0 else x)
        return out


def _writable(array: np.ndarray) -> np.ndarray:
    return array if array.flags.writeable else array.copy()


def _autocast(prepared: Prepared):
    if prepared.project.training.precision != "half":
        return nullcontext()
    kind = prepared.device.type
    return torch.autocast(kind, dtype=torch.bfloat16 if kind == "cpu" else torch.float16)


@dataclass
class Scores:
    """A pass over a dataset: mean loss, error, and (when kept) the per-sample results."""

    loss: float
    error: float  # 1 - accuracy (classification) or the loss (regression)
    predictions: list[np.ndarray] | None = None  # one per loss, raw network outputs
    chosen: np.ndarray | None = None  # class per sample (classification)
    confidence: np.ndarray | None = None


def score(prepared: Prepared, data: DataSet, batch_size: int, keep: bool = False,
          feeder: Feeder | None = None) -> Scores:
    """Run the network over ``data`` without training; losses as in training. Pass the
    ``feeder`` of ``data`` when scoring it repeatedly, so it is not moved to the device again."""
    compiled = prepared.compiled
    feeder = feeder or Feeder(data, compiled.train_vars, prepared.device)
    position = {name: i for i, name in enumerate(compiled.train_vars)}
    n_inputs = len(compiled.input_vars)
    compiled.layers.eval()
    total = torch.zeros((), device=prepared.device)
    correct = torch.zeros((), device=prepared.device, dtype=torch.long)
    kept: list[list[torch.Tensor]] = [[] for _ in compiled.losses]
    chosen_parts, confidence_parts = [], []
    first = compiled.losses[0]
    with torch.no_grad(), _autocast(prepared):
        for indices in torch.arange(len(data), device=feeder.home).split(batch_size):
            batch = feeder.batch(indices)
            outputs = compiled.infer(*batch[:n_inputs])
            outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
            for i, (loss, module) in enumerate(zip(compiled.losses, prepared.loss_modules)):
                target = batch[position[loss.target]]
                total += module(outputs[i], target).float() * len(indices)
                if keep:
                    kept[i].append(outputs[i].float().cpu())
            if prepared.task == "classification":
                chosen, confidence = classify(first.type, outputs[0])
                target = batch[position[first.target]].reshape(len(indices)).round().long()
                correct += (chosen == target).sum()
                if keep:
                    chosen_parts.append(chosen.cpu())
                    confidence_parts.append(confidence.float().cpu())
    compiled.layers.train()
    loss = total.item() / max(len(data), 1)
    error = 1.0 - correct.item() / max(len(data), 1) if prepared.task == "classification" else loss
    if not keep:
        return Scores(loss, error)
    cat = lambda parts: torch.cat(parts).numpy() if parts else None  # noqa: E731
    return Scores(loss, error, [cat(p) for p in kept], cat(chosen_parts), cat(confidence_parts))


# ---- training --------------------------------------------------------------------------------

@dataclass
class RunResult:
    run_dir: Path | None
    status: str  # done, stopped or failed
    epochs_done: int = 0
    best_val_error: float | None = None
    best_epoch: int | None = None
    message: str = ""
    kind: str | None = None  # the failure kind, when failed
    bad_input: bool = False


Emit = Callable[[dict[str, Any]], None]


def train(project: Project, run_dir: str | Path | None = None, *, on_event: Emit | None = None,
          stop: threading.Event | None = None) -> RunResult:
    """Train ``project`` and record the run; never raises for a failed run.

    The run folder is ``run_dir`` when given, else a new one beside the project file. Every
    event goes to ``on_event`` as it happens and to the folder's events.jsonl. Setting ``stop``
    ends the run after the current step with its weights saved.
    """
    stop = stop or threading.Event()
    emit_out = on_event or (lambda event: None)
    log: runs.RunLog | None = None

    def emit(event: dict[str, Any]) -> None:
        if log is not None:
            log.event(event)
        emit_out(event)

    loop: _Loop | None = None

    def fail(kind: str, message: str, bad_input: bool = False) -> RunResult:
        if loop is not None:
            loop.flush_best()  # a diverged run keeps its best weights
        emit({"event": "failed", "kind": kind, "message": message})
        if log is not None:
            log.update(status="failed", finished=runs.now(), message=message)
        done = (loop.epochs_done, loop.best_val_error, loop.best_epoch) if loop else (0, None, None)
        return RunResult(log.run_dir if log else None, "failed", *done, message, kind, bad_input)

    try:
        check_settings(project)
        prepared = prepare(project)
        loop = _Loop(prepared, emit, stop)
    except TrainingError as e:
        if run_dir is not None:  # the caller chose the folder and will look there
            try:
                log = _open_log(project, run_dir, {})
            except (OSError, ValueError):
                pass
        return fail(e.kind, str(e), e.bad_input)
    except Exception as e:  # an unforeseen error building a layer must still be reported
        traceback.print_exc(file=sys.stderr)
        return fail("error", f"cannot prepare training: {type(e).__name__}: {e}")
    try:
        log = _open_log(project, run_dir, {"device": str(prepared.device),
                                           "device_name": prepared.device_name,
                                           "epochs": project.training.epochs})
    except (OSError, ValueError) as e:
        return fail("error", f"cannot create the run folder: {e}", bad_input=True)
    try:
        loop.log = log
        return loop.run()
    except TrainingError as e:
        return fail(e.kind, str(e), e.bad_input)
    except (torch.OutOfMemoryError, MemoryError):
        memory = "GPU memory" if prepared.device.type != "cpu" else "memory"
        return fail("memory", f"ran out of {memory} at batch size "
                              f"{project.training.batch_size}; lower training.batch_size or "
                              "make the network smaller")
    except Exception as e:  # a bug or an unforeseen layer error must not lose the run's record
        traceback.print_exc(file=sys.stderr)
        return fail("error", f"training stopped by an error: {type(e).__name__}: {e}")
    finally:
        if log is not None:
            log.close()


def check_settings(project: Project) -> None:
    """Optimizer and schedule settings, checked before anything is loaded or written."""
    cfg = project.training
    try:
        lr = optimizer_settings(cfg.optimizer)["lr"]
        make_schedule(cfg.schedule, lr, cfg.epochs)
    except ConfigError as e:
        raise TrainingError("error", str(e), bad_input=True) from None


def _open_log(project: Project, run_dir, info: dict) -> runs.RunLog:
    folder = runs.new_run_dir(project.path, run_dir)
    runs.snapshot(project, folder)
    return runs.RunLog(folder, info)


class _Loop:
    LAST_EVERY = 30.0  # seconds between saves of last.safetensors (also saved at the end)
    BEST_EVERY = 2.0  # seconds between saves of best.safetensors (also saved at the end)

    def __init__(self, prepared: Prepared, emit: Emit, stop: threading.Event):
        self.p = prepared
        self.log: runs.RunLog | None = None  # set once the run folder exists
        self.emit = emit
        self.stop = stop
        cfg = prepared.project.training
        self.cfg = cfg
        compiled = prepared.compiled
        try:
            self.optimizer = make_optimizer(compiled.layers.parameters(), cfg.optimizer)
            self.schedule = make_schedule(cfg.schedule, self.optimizer.param_groups[0]["lr"],
                                          cfg.epochs)
        except ConfigError as e:
            raise TrainingError("error", str(e), bad_input=True) from None
        self.scaler = torch.amp.GradScaler("cuda") if (
            cfg.precision == "half" and prepared.device.type == "cuda") else None
        self.feeder = Feeder(prepared.train_data, compiled.train_vars, prepared.device)
        self.val_feeder = Feeder(prepared.val_data, compiled.train_vars, prepared.device)
        self.batch_size = min(cfg.batch_size, max(len(prepared.train_data), 1))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self._best: tuple[int, dict] | None = None  # best weights not yet on disk
        self._best_written = -self.BEST_EVERY
        self.epochs_done = 0
        self.best_val_error: float | None = None
        self.best_epoch: int | None = None
        names = {n.id: n.name for n in prepared.project.network().nodes}
        weights = {node_id: list(compiled.layers.get_submodule(attr).parameters())
                   for node_id, attr in compiled.attr_of.items()}
        self.parametrised = [(names[i], params) for i, params in weights.items() if params]

    def batches(self) -> list[torch.Tensor]:
        n = len(self.feeder)
        shuffle = self.p.project.datasets["training"].shuffle
        order = torch.randperm(n, generator=self.generator) if shuffle else torch.arange(n)
        batches = list(order.to(self.feeder.home).split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            # a batch of one breaks batch normalization; with shuffling that sample comes back
            batches.pop()
        return batches

    def grad_norms(self) -> dict[str, float]:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norms = []
        for _, params in self.parametrised:
            grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
            norms.append(torch.stack(grads).norm() if grads else torch.zeros((),
                                                                             device=self.p.device))
        values = torch.stack(norms).tolist() if norms else []
        return {name: value for (name, _), value in zip(self.parametrised, values)}

    def run(self) -> RunResult:
        p, cfg, log = self.p, self.cfg, self.log
        n_train, n_val = len(p.train_data), len(p.val_data)
        iterations = len(self.batches())
        self.generator.manual_seed(cfg.seed)  # counting the batches must not shift the shuffles
        self.emit({"event": "started", "run_dir": str(log.run_dir.resolve()),
                   "device": str(p.device), "device_name": p.device_name, "epochs": cfg.epochs,
                   "iterations_per_epoch": iterations, "train_samples": n_train,
                   "val_samples": n_val, "task": p.task, "classes": p.classes,
                   "time": runs.now()})
        start = time.monotonic()
        model = p.compiled.train
        model.train()
        best_error, best_epoch = None, None
        iteration, every, last_report = 0, 1, (0, start)
        saved_last = start
        stopped = interrupted = False
        epoch = 0
        for epoch in range(1, cfg.epochs + 1):
            batches = self.batches()
            batch_losses = []  # summed once per epoch: one tensor op per step, no sync
            seen = 0
            for i, indices in enumerate(batches):
                lr = self.schedule.lr(epoch - 1 + i / len(batches))
                if lr != self.optimizer.param_groups[0]["lr"]:
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                with _autocast(p):
                    loss = model(*self.feeder.batch(indices))
                self.optimizer.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                else:
                    loss.backward()
                iteration += 1
                last_in_epoch = i == len(batches) - 1
                report = iteration % every == 0 or last_in_epoch
                if last_in_epoch or (report and iteration % (10 * every) == 0):
                    self.emit({"event": "gradients", "epoch": epoch, "iteration": iteration,
                               "norms": self.grad_norms()})
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                batch_losses.append(loss.detach())
                seen += len(indices)
                if report:
                    value = loss.item()
                    self._check_finite(value, epoch, iteration)
                    self.emit({"event": "iteration", "epoch": epoch, "iteration": iteration,
                               "loss": value, "lr": lr})
                    # report about EVENTS_PER_SECOND times a second, counted in iterations
                    done, since = iteration - last_report[0], time.monotonic() - last_report[1]
                    if since > 0:
                        every = max(1, math.ceil(done / since / EVENTS_PER_SECOND))
                    last_report = (iteration, time.monotonic())
                if self.stop.is_set():
                    stopped = interrupted = True
                    break
            if interrupted:
                epoch -= 1
                break
            sizes = torch.tensor([len(b) for b in batches[:len(batch_losses)]],
                                 dtype=torch.float32, device=p.device)
            train_loss = float(torch.stack(batch_losses).float() @ sizes) / seen
            self._check_finite(train_loss, epoch, iteration)
            val_loss = val_error = None
            if n_val:
                scores = score(p, p.val_data, self.batch_size * 2, feeder=self.val_feeder)
                val_loss, val_error = scores.loss, scores.error
                self._check_finite(val_loss, epoch, iteration, "validation loss")
            elapsed = time.monotonic() - start
            lr = self.optimizer.param_groups[0]["lr"]
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                   "val_error": val_error, "lr": lr, "elapsed": round(elapsed, 3)}
            log.metrics(row)
            self.emit({"event": "epoch", **row,
                       "eta": round(elapsed / epoch * (cfg.epochs - epoch), 3)})
            criterion = val_error if n_val else train_loss
            if best_error is None or criterion < best_error:
                best_error, best_epoch = criterion, epoch
                self.keep_best(epoch)
            if epoch == cfg.epochs or time.monotonic() - saved_last >= self.LAST_EVERY:
                self.save_last(epoch)
                saved_last = time.monotonic()
            self.epochs_done, self.best_epoch = epoch, best_epoch
            self.best_val_error = best_error if n_val else None
            log.update(epochs_done=epoch, best_val_error=self.best_val_error,
                       best_epoch=best_epoch)
            if self.stop.is_set():
                stopped = epoch < cfg.epochs
                break
        self.flush_best()
        if stopped:
            self.save_last(epoch)
        status = "stopped" if stopped else "done"
        message = (f"stopped after {epoch} of {cfg.epochs} epochs" if stopped
                   else f"trained {cfg.epochs} epochs")
        log.update(status=status, finished=runs.now(), epochs_done=epoch,
                   best_val_error=self.best_val_error, best_epoch=best_epoch, message=message)
        self.emit({"event": "finished", "status": status, "best_val_error": self.best_val_error,
                   "best_epoch": best_epoch, "elapsed": round(time.monotonic() - start, 3)})
        return RunResult(log.run_dir, status, epoch, self.best_val_error, best_epoch, message)

    def keep_best(self, epoch: int) -> None:
        """Hold the best weights in memory; write them at most every BEST_EVERY seconds (a
        small network improves every epoch, and each write costs more than its epoch)."""
        state = {k: v.detach().clone() for k, v in self.p.compiled.layers.state_dict().items()}
        self._best = (epoch, state)
        if time.monotonic() - self._best_written >= self.BEST_EVERY:
            self.flush_best()

    def flush_best(self) -> None:
        if self._best is None or self.log is None:
            return
        (epoch, state), self._best = self._best, None
        path = runs.weights_path(self.log.run_dir, "best")
        runs.save_tensors(state, path)
        self._best_written = time.monotonic()
        self.emit({"event": "checkpoint", "epoch": epoch, "path": str(path.resolve()),
                   "best": True})

    def save_last(self, epoch: int) -> None:
        path = runs.weights_path(self.log.run_dir, "last")
        runs.save_weights(self.p.compiled.layers, path)
        self.emit({"event": "checkpoint", "epoch": epoch, "path": str(path.resolve()),
                   "best": False})

    def _check_finite(self, value: float, epoch: int, iteration: int,
                      what: str = "training loss") -> None:
        if not math.isfinite(value):
            kept = (f"; best.safetensors keeps epoch {self.best_epoch}"
                    if self.best_epoch is not None else "")
            raise TrainingError(
                "diverged", f"the {what} became {value} in epoch {epoch} (iteration "
                            f"{iteration}): training diverged. Lower the learning rate "
                            f"(training.optimizer.lr is {self.schedule.base_lr:g}) or check the "
                            f"data for extreme values{kept}")


# ---- command line --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project file (.nnd)")
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default: a new folder in <project>.runs/ named by the time)")
    p.add_argument("--events", action="store_true",
                   help="print progress as JSON lines (one event per line) instead of text")
    p.add_argument("--epochs", type=int, help="train this many epochs instead of the project's")
    p.add_argument("--batch-size", type=int, help="use this batch size instead of the project's")
    p.add_argument("--seed", type=int, help="use this random seed instead of the project's")
    p.add_argument("--device", choices=DEVICES, help="train on this device instead of the "
                                                     "project's choice")


def run(args: argparse.Namespace) -> int:
    say = _print_event if args.events else _print_text
    try:
        project = load(args.project)
        if args.epochs is not None:
            if args.epochs < 1:
                raise ProjectError(f"--epochs must be at least 1, not {args.epochs}")
            project.training.epochs = args.epochs
        if args.batch_size is not None:
            if args.batch_size < 1:
                raise ProjectError(f"--batch-size must be at least 1, not {args.batch_size}")
            project.training.batch_size = args.batch_size
        if args.seed is not None:
            if not 0 <= args.seed <= MAX_SEED:
                raise ProjectError(f"--seed must be from 0 to {MAX_SEED}, not {args.seed}")
            project.training.seed = args.seed
        if args.device is not None:
            project.training.device = args.device
    except ProjectError as e:
        say({"event": "failed", "kind": "error", "message": str(e)})
        return 2
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = train(project, args.out, on_event=say, stop=stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if result.status == "failed":
        return 2 if result.bad_input else 1
    return 0


def _print_event(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def _print_text(event: dict[str, Any]) -> None:
    kind = event["event"]
    if kind == "started":
        print(f"training on {event['device']} ({event['device_name']}): "
              f"{event['train_samples']} training and {event['val_samples']} validation "
              f"samples, {event['epochs']} epochs of {event['iterations_per_epoch']} "
              f"iterations\nrun folder: {event['run_dir']}", flush=True)
    elif kind == "epoch":
        val = "" if event["val_loss"] is None else (
            f"  val loss {event['val_loss']:.4f}  val error {event['val_error']:.4f}")
        print(f"epoch {event['epoch']:>4}  train loss {event['train_loss']:.4f}{val}  "
              f"lr {event['lr']:.3g}  {_clock(event['elapsed'])}", flush=True)
    elif kind == "finished":
        best = "" if event["best_val_error"] is None else (
            f": best val error {event['best_val_error']:.4f} at epoch {event['best_epoch']}")
        print(f"{event['status']}{best} ({_clock(event['elapsed'])})", flush=True)
    elif kind == "failed":
        print(f"error: {event['message']}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
