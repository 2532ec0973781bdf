"""Train a project's network and record the run in a folder beside the project.

One engine, several front ends: ``python -m designer train PROJECT`` (add ``--events`` for JSON
lines on stdout, which is how the desktop app watches a run from a child process) and
``train(project, ...)`` for Python callers. SIGINT or SIGTERM finishes the current step, saves
the weights and ends the run as "stopped". Preparing the run (device, data, compiled network)
is the run session's work (``designer.core.session``); this module keeps the loop.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from designer.core import runs
from designer.core.dataset_choice import add_dataset_option, apply_choices
from designer.core.optim import ConfigError, make_optimizer, make_schedule, optimizer_settings
from designer.core.project import DEVICES, MAX_SEED, Project, ProjectError, load
from designer.core.session import Prepared, TrainingError, autocast, prepare, score
from designer.core.transfer import InitReport

EVENTS_PER_SECOND = 20


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
    record = _Record(on_event)
    try:
        check_settings(project)
        prepared = prepare(project, for_training=True)
        record.loop = _Loop(prepared, record.emit, stop or threading.Event())
    except TrainingError as e:
        if run_dir is not None:  # the caller chose the folder and will look there
            try:
                record.open(project, run_dir, {})
            except (OSError, ValueError):
                pass
        return record.fail(e.kind, str(e), e.bad_input)
    except Exception as e:  # an unforeseen error building a layer must still be reported
        traceback.print_exc(file=sys.stderr)
        return record.fail("error", f"cannot prepare training: {type(e).__name__}: {e}")
    try:
        record.open(project, run_dir, {"device": str(prepared.device),
                                       "device_name": prepared.device_name,
                                       "epochs": project.training.epochs})
    except (OSError, ValueError) as e:
        return record.fail("error", f"cannot create the run folder: {e}", bad_input=True)
    try:
        return record.loop.run()
    except TrainingError as e:
        return record.fail(e.kind, str(e), e.bad_input)
    except (torch.OutOfMemoryError, MemoryError):
        memory = "GPU memory" if prepared.device.type != "cpu" else "memory"
        return record.fail("memory", f"ran out of {memory} at batch size "
                                     f"{project.training.batch_size}; lower "
                                     "training.batch_size or make the network smaller")
    except Exception as e:  # a bug or an unforeseen layer error must not lose the run's record
        traceback.print_exc(file=sys.stderr)
        return record.fail("error", f"training stopped by an error: {type(e).__name__}: {e}")
    finally:
        record.close()


class _Record:
    """Where a run's events go: the caller, and the run folder once it exists."""

    def __init__(self, on_event: Emit | None):
        self.on_event = on_event or (lambda event: None)
        self.log: runs.RunLog | None = None
        self.loop: _Loop | None = None

    def emit(self, event: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.event(event)
        self.on_event(event)

    def open(self, project: Project, run_dir: str | Path | None, info: dict) -> None:
        """Create the run folder with the project as trained; the loop records into it."""
        folder = runs.new_run_dir(project.path, run_dir)
        runs.snapshot(project, folder)
        self.log = runs.RunLog(folder, info)
        if self.loop is not None:
            self.loop.log = self.log

    def fail(self, kind: str, message: str, bad_input: bool = False) -> RunResult:
        loop, log = self.loop, self.log
        if loop is not None:
            loop.flush_best()  # a diverged run keeps its best weights
        self.emit({"event": "failed", "kind": kind, "message": message})
        if log is not None:
            log.update(status="failed", finished=runs.now(), message=message)
        done = (loop.epochs_done, loop.best_val_error, loop.best_epoch) if loop else (0, None, None)
        return RunResult(log.run_dir if log else None, "failed", *done, message, kind, bad_input)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def check_settings(project: Project) -> None:
    """Optimizer and schedule settings, checked before anything is loaded or written."""
    cfg = project.training
    try:
        lr = optimizer_settings(cfg.optimizer)["lr"]
        make_schedule(cfg.schedule, lr, cfg.epochs)
    except ConfigError as e:
        raise TrainingError("error", str(e), bad_input=True) from None


class _Loop:
    """The training loop of one prepared run: steps, epoch bookkeeping and checkpoints."""

    LAST_EVERY = 30.0  # seconds between saves of last.safetensors (also saved at the end)
    BEST_EVERY = 2.0  # seconds between saves of best.safetensors (also saved at the end)

    def __init__(self, prepared: Prepared, emit: Emit, stop: threading.Event):
        self.p = prepared
        self.log: runs.RunLog | None = None  # set once the run folder exists
        self.emit = emit
        self.stop = stop
        cfg = self.cfg = prepared.project.training
        compiled = prepared.compiled
        try:
            self.optimizer = make_optimizer(compiled.param_groups, cfg.optimizer)
            self.schedule = make_schedule(cfg.schedule, optimizer_settings(cfg.optimizer)["lr"],
                                          cfg.epochs)
        except ConfigError as e:
            raise TrainingError("error", str(e), bad_input=True) from None
        self.scaler = torch.amp.GradScaler("cuda") if (
            cfg.precision == "half" and prepared.device.type == "cuda") else None
        # the graph's own forward: the module call around it runs hooks nobody registered and
        # an error-message wrapper, a few percent of a small network's step (a distilled run
        # computes its own loss from the same batch)
        self.forward = prepared.objective or compiled.train.forward
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.precision = autocast(prepared)  # entered once a step
        self.feeder = prepared.feeder(prepared.train_data)
        self.val_feeder = prepared.feeder(prepared.val_data)
        self.batch_size = min(cfg.batch_size, max(len(prepared.train_data), 1))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.lr = self.schedule.base_lr  # the optimizer's rate now; each group has its factor
        names = {n.id: n.name for n in prepared.project.network().nodes}
        weights = {node_id: list(compiled.layers.get_submodule(attr).parameters())
                   for node_id, attr in compiled.attr_of.items()}
        self.parametrised = [(names[i], params) for i, params in weights.items() if params]
        self.sizes = torch.zeros(0)  # samples per batch, the same every epoch (set at start)
        self.samples = 0  # samples per epoch (one left over may be skipped: see batches)
        self.start = time.monotonic()
        self.iteration = 0
        self.every = 1  # report every this many iterations: about EVENTS_PER_SECOND a second
        self.last_report = (0, self.start)  # (iteration, time) of the last report
        self.epochs_done = 0
        self.best_val_error: float | None = None
        self.best_epoch: int | None = None
        self._best_criterion: float | None = None  # validation error, or training loss
        self._best: tuple[int, dict] | None = None  # best weights not yet on disk
        self._best_written = -self.BEST_EVERY
        self._last_written = self.start

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.emit_started()
        self.p.compiled.train.train()
        stopped, epoch = False, 0
        for epoch in range(1, self.cfg.epochs + 1):
            losses = self.train_epoch(epoch)
            if losses is None:  # a stop request ended the epoch before its bookkeeping
                stopped, epoch = True, epoch - 1
                break
            self.end_epoch(epoch, losses)
            if self.stop.is_set():
                stopped = epoch < self.cfg.epochs
                break
        return self.finish(epoch, stopped)

    def emit_started(self) -> None:
        p, cfg = self.p, self.cfg
        batches = self.batches()
        self.generator.manual_seed(cfg.seed)  # counting the batches must not shift the shuffles
        self.sizes = torch.tensor([len(b) for b in batches], dtype=torch.float32, device=p.device)
        self.samples = sum(len(b) for b in batches)
        self.emit({"event": "started", "run_dir": str(self.log.run_dir.resolve()),
                   "device": str(p.device), "device_name": p.device_name, "epochs": cfg.epochs,
                   "iterations_per_epoch": len(batches), "train_samples": len(p.train_data),
                   "val_samples": len(p.val_data), "task": p.task, "classes": p.classes,
                   "time": runs.now()})
        if p.init is not None:
            self.emit(p.init.to_event())
        if cfg.distill:
            self.emit({"event": "distill", **cfg.distill,
                       "teacher": str(p.project.resolve(cfg.distill["teacher"]))})
        self.start = self._last_written = time.monotonic()
        self.last_report = (0, self.start)

    def finish(self, epoch: int, stopped: bool) -> RunResult:
        self.flush_best()
        if stopped:
            self.save_last(epoch)
        status = "stopped" if stopped else "done"
        message = (f"stopped after {epoch} of {self.cfg.epochs} epochs" if stopped
                   else f"trained {self.cfg.epochs} epochs")
        self.log.update(status=status, finished=runs.now(), epochs_done=epoch,
                        best_val_error=self.best_val_error, best_epoch=self.best_epoch,
                        message=message)
        self.emit({"event": "finished", "status": status, "best_val_error": self.best_val_error,
                   "best_epoch": self.best_epoch,
                   "elapsed": round(time.monotonic() - self.start, 3)})
        return RunResult(self.log.run_dir, status, epoch, self.best_val_error, self.best_epoch,
                         message)

    # ---- steps --------------------------------------------------------------------------------

    def batches(self) -> list[torch.Tensor]:
        n = len(self.feeder)
        shuffle = self.p.project.datasets["training"].shuffle
        order = torch.randperm(n, generator=self.generator) if shuffle else torch.arange(n)
        batches = list(order.to(self.feeder.home).split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            # a batch of one breaks batch normalization; with shuffling that sample comes back
            batches.pop()
        return batches

    def train_epoch(self, epoch: int) -> list[torch.Tensor] | None:
        """Step through one shuffled pass: the loss of each step, or None when a stop request
        ended it (after the step in progress)."""
        batches = self.batches()
        losses = []  # summed once per epoch: no sync per step
        lr = self.schedule.base_lr
        for i, indices in enumerate(batches):
            if not self.schedule.constant:
                lr = self.set_lr(epoch - 1 + i / len(batches))
            loss = self.step(indices)
            losses.append(loss.detach())
            self.iteration += 1
            last_in_epoch = i == len(batches) - 1
            if last_in_epoch or self.iteration % self.every == 0:
                self.report(epoch, loss, lr, gradients=last_in_epoch
                            or self.iteration % (10 * self.every) == 0)
            if self.stop.is_set():
                return None
        return losses

    def set_lr(self, epoch: float) -> float:
        """The schedule's learning rate at ``epoch`` (fractional: mid-epoch), set if it moved."""
        lr = self.schedule.lr(epoch)
        if lr != self.lr:
            self.lr = lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group["lr_multiplier"]
        return lr

    def step(self, indices: torch.Tensor) -> torch.Tensor:
        """One optimization step on the samples ``indices``; returns its loss, not synced."""
        with self.precision:
            loss = self.forward(*self.feeder.batch(indices))
        for p in self.params:  # what optimizer.zero_grad(set_to_none=True) does, unprofiled
            p.grad = None
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)  # unscales the gradients the step leaves behind
            self.scaler.update()
        return loss

    def report(self, epoch: int, loss: torch.Tensor, lr: float, gradients: bool) -> None:
        """The step's events: its loss, and the layers' gradient norms when ``gradients``."""
        if gradients:
            self.emit({"event": "gradients", "epoch": epoch, "iteration": self.iteration,
                       "norms": self.grad_norms()})
        value = loss.item()
        self._check_finite(value, epoch)
        self.emit({"event": "iteration", "epoch": epoch, "iteration": self.iteration,
                   "loss": value, "lr": lr})
        # report about EVENTS_PER_SECOND times a second, counted in iterations
        now = time.monotonic()
        done, since = self.iteration - self.last_report[0], now - self.last_report[1]
        if since > 0:
            self.every = max(1, math.ceil(done / since / EVENTS_PER_SECOND))
        self.last_report = (self.iteration, now)

    def grad_norms(self) -> dict[str, float]:
        """The norm of each weighted layer's gradients (the norm of its tensors' norms), by
        layer name: one tensor operation and one copy to the host however many layers there
        are; the layers' norms from those few numbers cost less in Python than in more tensor
        operations."""
        grads, counts = [], []
        for _, params in self.parametrised:
            layer = [p.grad for p in params if p.grad is not None]
            grads += layer
            counts.append(len(layer))
        norms = torch.stack(torch._foreach_norm(grads)).tolist() if grads else []
        squares = iter(v * v for v in norms)
        return {name: math.sqrt(sum(next(squares) for _ in range(count)))
                for (name, _), count in zip(self.parametrised, counts)}

    # ---- epochs and checkpoints -----------------------------------------------------------------

    def end_epoch(self, epoch: int, losses: list[torch.Tensor]) -> None:
        """Validation, the metrics row and event, and checkpoints after a whole epoch."""
        p, cfg, log = self.p, self.cfg, self.log
        train_loss = float(torch.stack(losses).float() @ self.sizes) / self.samples
        self._check_finite(train_loss, epoch)
        val_loss = val_error = None
        if len(p.val_data):
            scores = score(p, p.val_data, self.batch_size * 2, feeder=self.val_feeder)
            val_loss, val_error = scores.loss, scores.error
            self._check_finite(val_loss, epoch, "validation loss")
        elapsed = time.monotonic() - self.start
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               "val_error": val_error, "lr": self.lr,
               "elapsed": round(elapsed, 3)}
        log.metrics(row)
        self.emit({"event": "epoch", **row,
                   "eta": round(elapsed / epoch * (cfg.epochs - epoch), 3)})
        criterion = val_error if val_error is not None else train_loss
        if self._best_criterion is None or criterion < self._best_criterion:
            self._best_criterion, self.best_epoch = criterion, epoch
            self.keep_best(epoch)
        if epoch == cfg.epochs or time.monotonic() - self._last_written >= self.LAST_EVERY:
            self.save_last(epoch)
        self.epochs_done = epoch
        self.best_val_error = self._best_criterion if val_error is not None else None
        log.update(epochs_done=epoch, best_val_error=self.best_val_error,
                   best_epoch=self.best_epoch)

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
        self._last_written = time.monotonic()
        self.emit({"event": "checkpoint", "epoch": epoch, "path": str(path.resolve()),
                   "best": False})

    def _check_finite(self, value: float, epoch: int, what: str = "training loss") -> None:
        if not math.isfinite(value):
            kept = (f"; best.safetensors keeps epoch {self.best_epoch}"
                    if self.best_epoch is not None else "")
            raise TrainingError(
                "diverged", f"the {what} became {value} in epoch {epoch} (iteration "
                            f"{self.iteration}): training diverged. Lower the learning rate "
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
    add_dataset_option(p, "train on this dataset instead of the project's")
    p.add_argument("--init", metavar="RUN_DIR",
                   help="start from this run's weights: each layer whose name, type and weight "
                        "shapes match takes them (the others keep their initialisation)")
    p.add_argument("--init-weights", choices=runs.WEIGHTS, default="best",
                   help="the run's best or last weights (default: best)")


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
        apply_choices(project, args.dataset)
        if args.init is not None:  # from the current folder, as the command line reads paths
            project.training.init = {"run": str(Path(args.init).resolve()),
                                     "weights": args.init_weights}
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
    text = event_text(event)
    if text is not None:
        print(text, file=sys.stderr if event["event"] == "failed" else sys.stdout, flush=True)


def event_text(event: dict[str, Any]) -> str | None:
    """An event as the command line prints it (None: not printed)."""
    kind = event["event"]
    if kind == "started":
        return (f"training on {event['device']} ({event['device_name']}): "
                f"{event['train_samples']} training and {event['val_samples']} validation "
                f"samples, {event['epochs']} epochs of {event['iterations_per_epoch']} "
                f"iterations\nrun folder: {event['run_dir']}")
    if kind == "epoch":
        val = "" if event["val_loss"] is None else (
            f"  val loss {event['val_loss']:.4f}  val error {event['val_error']:.4f}")
        return (f"epoch {event['epoch']:>4}  train loss {event['train_loss']:.4f}{val}  "
                f"lr {event['lr']:.3g}  {_clock(event['elapsed'])}")
    if kind == "init":
        return "\n".join(InitReport.from_event(event).lines())
    if kind == "distill":
        return (f"learning from teacher run {Path(event['teacher']).name} ({event['weights']} "
                f"weights) at temperature {event['temperature']:g}, alpha {event['alpha']:g}")
    if kind == "finished":
        best = "" if event["best_val_error"] is None else (
            f": best val error {event['best_val_error']:.4f} at epoch {event['best_epoch']}")
        return f"{event['status']}{best} ({_clock(event['elapsed'])})"
    if kind == "failed":
        return f"error: {event['message']}"
    return None


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
