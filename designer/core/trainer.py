"""Train a project's networks and record the run in a folder beside the project.

One engine, several front ends: ``python -m designer train PROJECT`` (``train_command``: add
``--events`` for JSON lines on stdout, which is how the desktop app watches a run from a child
process; ``--processes N`` or torchrun for several processes) and ``train(project, ...)`` for
Python callers. A stop request (the ``stop`` event, a ``stop`` file in the run folder, or
SIGINT/SIGTERM on the command line) finishes the current step, saves the weights and a
checkpoint and ends the run as "stopped"; ``train(..., resume=True)`` goes on from the
checkpoint. Preparing the run (device, data, compiled network) is the run session's work
(``designer.core.session``), several processes are ``designer.core.distributed``'s and
checkpoints ``designer.core.checkpoint``'s; this module keeps the loop.
"""
from __future__ import annotations

import math
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from designer.core import checkpoint, runs
from designer.core.checkpoint import Checkpoint, CheckpointError
from designer.core.distributed import Distributed, is_peer_loss, sync_batchnorm
from designer.core.optim import ConfigError, make_schedule, optimizer_settings
from designer.core.optimizer_step import OptimizerStep
from designer.core.project import Project
from designer.core.resumable import Resumable
from designer.core.samples import Samples
from designer.core.session import (Prepared, TrainingError, autocast, check_speed, prepare,
                                   score)

EVENTS_PER_SECOND = 20


# ---- training --------------------------------------------------------------------------------

def _without_init(project: Project) -> Project:
    fresh = project.copy()
    fresh.training.init = None
    return fresh


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
    peer_lost: bool = False  # another process of the run went away


Emit = Callable[[dict[str, Any]], None]


def train(project: Project, run_dir: str | Path | None = None, *, on_event: Emit | None = None,
          stop: threading.Event | None = None, resume: bool = False,
          checkpoint_every: float | None = None) -> RunResult:
    """Train ``project`` and record the run; never raises for a failed run.

    The run folder is ``run_dir`` when given, else a new one beside the project file. Every
    event goes to ``on_event`` as it happens and to the folder's events.jsonl. Setting ``stop``
    (or writing the folder's stop file) ends the run after the current step with its weights
    and a checkpoint saved. ``resume``: go on with the run in ``run_dir`` from its checkpoint
    (``project`` is the run's own copy). Under torchrun, each process calls this; only rank 0
    reports and writes the folder.
    """
    dist = Distributed.from_environment()
    record = _Record(on_event if dist.is_main else None, dist)
    saved = None
    try:
        several = len(project.training.optimizers) > 1
        if resume and several:
            raise TrainingError("error", "a run of several optimizers keeps no checkpoint and "
                                         "cannot be resumed; train it again", bad_input=True)
        if resume:
            saved = _checkpoint_of(run_dir)
        check_settings(project)
        if dist.several and several:
            raise TrainingError("error", f"training.processes: several processes train a "
                                         f"project of one optimizer; this one has "
                                         f"{len(project.training.optimizers)}", bad_input=True)
        # a resumed run's weights come from its checkpoint, not from training.init's run
        prepared = prepare(_without_init(project) if resume else project,
                           local_rank=dist.local_rank, progress=record.cache_progress,
                           for_training=True)
        check_speed(project, prepared.device, dist.world_size)
        dist.start(prepared.device)
        record.loop = _Loop(prepared, record.emit, stop or threading.Event(), dist)
        if checkpoint_every is not None:
            record.loop.checkpoint_every = checkpoint_every
        if saved is not None:
            record.loop.restore(saved)
    except TrainingError as e:
        if run_dir is not None and not resume:  # the caller chose the folder and looks there
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
                                       "epochs": project.training.epochs}, saved,
                    record.loop.columns())
    except (OSError, ValueError) as e:
        return record.fail("error", f"cannot create the run folder: {e}", bad_input=True)
    try:
        result = record.loop.run()
        dist.close()  # every process got here; leaving without it aborts now and then (gloo)
        return result
    except TrainingError as e:
        return record.fail(e.kind, str(e), e.bad_input)
    except (torch.OutOfMemoryError, MemoryError):
        memory = "GPU memory" if prepared.device.type != "cpu" else "memory"
        return record.fail("memory", f"ran out of {memory} at batch size "
                                     f"{project.training.batch_size}; lower "
                                     "training.batch_size or make the network smaller")
    except Exception as e:  # a bug or an unforeseen layer error must not lose the run's record
        if dist.several and is_peer_loss(e):
            said = re.sub(r"^\[[^\]]*\]\s*", "", str(e).splitlines()[0])[:120]  # no source path
            return record.fail("error", f"process rank {dist.rank} lost contact with the other "
                                        f"processes of the run ({said})", peer_lost=True)
        traceback.print_exc(file=sys.stderr)
        return record.fail("error", f"training stopped by an error: {type(e).__name__}: {e}")
    finally:
        record.close()


def _checkpoint_of(run_dir: str | Path | None) -> Checkpoint:
    if run_dir is None:
        raise TrainingError("error", "resuming needs the run folder", bad_input=True)
    try:
        status = runs.read_run(run_dir).get("status")
    except (OSError, ValueError) as e:
        raise TrainingError("error", str(e), bad_input=True) from None
    if status == "done":
        raise TrainingError("error", f"{run_dir}: the run trained all its epochs; there is "
                                     "nothing to resume", bad_input=True)
    try:
        return checkpoint.load(runs.checkpoint_path(run_dir))
    except CheckpointError as e:
        raise TrainingError("error", str(e), bad_input=True) from None


class _Record:
    """Where a run's events go: the caller, and the run folder once it exists (rank 0 only;
    the other processes of a run leave their failures where torchrun reports them)."""

    def __init__(self, on_event: Emit | None, dist: Distributed):
        self.on_event = on_event or (lambda event: None)
        self.dist = dist
        self.log: runs.RunLog | None = None
        self.loop: _Loop | None = None
        self._cache_reported = 0.0

    def emit(self, event: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.event(event)
        self.on_event(event)

    def cache_progress(self, variable: str, done: int, total: int) -> None:
        self.on_event({"event": "cache", "variable": variable, "done": done, "total": total})

    def open(self, project: Project, run_dir: str | Path | None, info: dict,
             saved: Checkpoint | None = None, columns: tuple[str, ...] = ()) -> None:
        """Create the run folder with the project as trained (or reopen the resumed one); the
        loop records into it."""
        if not self.dist.is_main:
            return
        if saved is not None:
            folder = Path(run_dir)
            runs.stop_path(folder).unlink(missing_ok=True)  # the request that stopped it
            self.log = runs.RunLog(folder, info, columns, resumed_epochs=saved.info["epochs_done"])
        else:
            folder = runs.new_run_dir(project.path, run_dir)
            runs.snapshot(project, folder)
            self.log = runs.RunLog(folder, info, columns)
        if self.loop is not None:
            self.loop.log = self.log

    def fail(self, kind: str, message: str, bad_input: bool = False,
             peer_lost: bool = False) -> RunResult:
        loop, log = self.loop, self.log
        if loop is not None:
            loop.flush_best()  # a diverged run keeps its best weights
        self.emit({"event": "failed", "kind": kind, "message": message})
        if log is not None:
            log.update(status="failed", finished=runs.now(), message=message)
        self.dist.record_failure(message)
        done = (loop.epochs_done, loop.best_val_error, loop.best_epoch) if loop else (0, None, None)
        return RunResult(log.run_dir if log else None, "failed", *done, message, kind, bad_input,
                         peer_lost)

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()
        if self.log is not None:
            self.log.close()


def check_settings(project: Project) -> None:
    """Optimizer and schedule settings, checked before anything is loaded or written."""
    cfg = project.training
    try:
        for i, opt in enumerate(cfg.optimizers):
            lr = optimizer_settings(opt.solver, f"training.optimizers[{i}].solver")["lr"]
            make_schedule(opt.schedule, lr, cfg.epochs, f"training.optimizers[{i}].schedule")
    except ConfigError as e:
        raise TrainingError("error", str(e), bad_input=True) from None


class _Loop(Resumable):
    """The training loop of one prepared run: the optimizers' steps in turn, epoch bookkeeping
    (monitors, best weights, image samples), checkpoints to resume from, and the share of each
    process when several train together (a project of one optimizer)."""

    LAST_EVERY = 30.0  # seconds between saves of last.safetensors (also saved at the end)
    BEST_EVERY = 2.0  # seconds between saves of best.safetensors (also saved at the end)
    CHECKPOINT_EVERY = 30.0  # seconds between checkpoints, at a step (and when stopped)

    def __init__(self, prepared: Prepared, emit: Emit, stop: threading.Event,
                 dist: Distributed):
        self.p = prepared
        self.log: runs.RunLog | None = None  # set once the run folder exists (rank 0)
        self.emit = emit
        self.stop = stop
        self.dist = dist
        self.main = dist.is_main
        cfg = self.cfg = prepared.project.training
        several = len(cfg.optimizers) > 1
        self.steps = [OptimizerStep(i, o, prepared, several) for i, o in enumerate(cfg.optimizers)]
        trained = {id(p) for step in self.steps for p in step.params}
        for compiled in prepared.networks.values():  # no optimizer updates them: no gradients
            for tensor in compiled.layers.parameters():
                if id(tensor) not in trained:
                    tensor.requires_grad_(False)
        first = self.steps[0]
        self.optimizer, self.scaler = first.optimizer, first.scaler  # what checkpoints keep
        self.channels_last = False
        first.forward = self._forward()
        for step in self.steps:
            step.channels_last = self.channels_last
        self.feeder = first.feeder
        self.precision = autocast(prepared)  # entered once a step
        self.batch_size = min(cfg.batch_size, max(len(prepared.train_data), 1))
        self.sampler = dist.sampler(len(self.feeder), prepared.project.datasets[
            self._source(first.dataset)].shuffle, cfg.seed)
        self.cycles = {}  # other datasets: endless shuffled passes, one generator each
        for k, step in enumerate(self.steps):
            if step.dataset != first.dataset and step.dataset not in self.cycles:
                self.cycles[step.dataset] = self._cycle(step.feeder, cfg.seed + 1 + k)
        self.monitors = [(m, prepared.networks[m.network], prepared.datasets[m.dataset],
                          prepared.feeder(prepared.datasets[m.dataset],
                                          prepared.networks[m.network]))
                         for m in cfg.monitors] if self.main else []
        self.criterion_monitor = next((m for m in cfg.monitors if m.dataset == "validation"),
                                      cfg.monitors[-1] if cfg.monitors else None)
        self.samples = Samples.of(prepared) if self.main else None
        self.parametrised = []
        for step in self.steps:
            compiled = step.compiled
            names = {n.id: n.name for n in compiled.network.nodes}
            for node_id, attr in compiled.attr_of.items():
                params = list(compiled.layers.get_submodule(attr).parameters())
                if params and all(names[node_id] != n for n, _ in self.parametrised):
                    self.parametrised.append((names[node_id], params))
        self.sizes = torch.zeros(0)  # samples per global batch, the same every epoch
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
        self.checkpoint_every = self.CHECKPOINT_EVERY
        self._checkpointed = self.start
        self._stop_polled = 0.0
        self._launcher = os.getppid() if dist.several else None
        self._resume: tuple[int, int, list[torch.Tensor]] | None = None  # epoch, position, losses
        self.elapsed_before = 0.0  # of the run this one resumes

    def _forward(self) -> Callable:
        """The first optimizer's training graph as its steps call it: shared by the processes
        (DDP), on channels-last tensors, compiled, as the speed settings say."""
        p, cfg, compiled = self.p, self.cfg, self.steps[0].compiled
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        if cfg.speed.get("cudnn_benchmark"):
            torch.backends.cudnn.benchmark = True
        self.channels_last = bool(cfg.speed.get("channels_last"))
        if self.channels_last:
            for network in p.networks.values():
                network.layers.to(memory_format=torch.channels_last)
        if cfg.sync_batchnorm and self.dist.several:
            sync_batchnorm(compiled.layers, compiled.train, compiled.infer)
            p.modules = list(compiled.layers.modules())
        if p.objective is not None:  # training.distill: the student's loss beside a teacher
            if self.dist.several:
                raise TrainingError("error", "training.distill trains in one process (the "
                                             "teacher's targets are computed beside the student "
                                             "on each batch); set training.processes to 1",
                                    bad_input=True)
            return torch.compile(p.objective) if cfg.speed.get("compile") else p.objective
        model = self.dist.wrap(compiled.train, p.device)
        if cfg.speed.get("compile"):
            return torch.compile(model)
        # alone, the graph's own forward: the module call around it runs hooks nobody
        # registered and an error-message wrapper, a few percent of a small network's step
        return model if self.dist.several else compiled.train.forward

    def columns(self) -> tuple[str, ...]:
        """metrics.csv's columns beyond the usual: each optimizer's loss and each monitor's
        loss and error, when the project has more than one optimizer or monitor."""
        monitors = self.cfg.monitors
        if len(self.steps) == 1 and len(monitors) <= 1:
            return ()
        return (tuple(f"loss:{s.name}" for s in self.steps)
                + tuple(f"{what}:{m.name}" for m in monitors
                        for what in ("monitor_loss", "monitor_error")))

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.emit_started()
        for compiled in self.p.networks.values():
            compiled.train.train()
        first = self._resume[0] if self._resume else 1
        stopped, epoch = False, first - 1
        for epoch in range(first, self.cfg.epochs + 1):
            if not self.train_epoch(epoch):  # a stop request ended it before its bookkeeping
                stopped, epoch = True, epoch - 1
                break
            self.end_epoch(epoch)
        return self.finish(epoch, stopped)

    def emit_started(self) -> None:
        p, cfg, dist = self.p, self.cfg, self.dist
        batches = self.batches(1)
        # each step takes one batch in every process: the samples of the global batch
        self.sizes = torch.tensor([len(b) * dist.world_size for b in batches],
                                  dtype=torch.float32, device=p.device)
        pids = dist.gather(torch.tensor([os.getpid()]), p.device)
        self.start = self._last_written = self._checkpointed = time.monotonic()
        self.start -= self.elapsed_before
        self.last_report = (self.iteration, time.monotonic())
        if not self.main:
            return
        resumed = None
        if self._resume is not None:
            resumed = {"epoch": self._resume[0], "position": self._resume[1],
                       "iteration": self.iteration, "epochs_done": self.epochs_done}
        event = {"event": "started", "run_dir": str(self.log.run_dir.resolve()),
                 "device": str(p.device), "device_name": p.device_name, "epochs": cfg.epochs,
                 "iterations_per_epoch": len(batches), "train_samples": len(p.train_data),
                 "val_samples": len(p.val_data), "task": p.task, "classes": p.classes,
                 "time": runs.now(), "batch_size": self.batch_size,
                 "processes": dist.world_size, "global_batch": self.batch_size *
                 dist.world_size, "pids": [int(x) for x in pids], "resumed": resumed}
        if len(self.steps) > 1 or len(self.monitors) > 1:
            event["optimizers"] = [s.name for s in self.steps]
            event["monitors"] = [m.name for m, *_ in self.monitors]
        self.emit(event)
        if p.init is not None:
            self.emit(p.init.to_event())
        if cfg.distill:
            self.emit({"event": "distill", **cfg.distill,
                       "teacher": str(p.project.resolve(cfg.distill["teacher"]))})

    def finish(self, epoch: int, stopped: bool) -> RunResult:
        status = "stopped" if stopped else "done"
        message = (f"stopped after {epoch} of {self.cfg.epochs} epochs" if stopped
                   else f"trained {self.cfg.epochs} epochs")
        if not self.main:
            return RunResult(None, status, epoch, None, None, message)
        self.flush_best()
        if stopped:
            self.save_last(epoch)
        else:  # nothing left to resume: the checkpoint would only take room
            runs.checkpoint_path(self.log.run_dir).unlink(missing_ok=True)
        runs.stop_path(self.log.run_dir).unlink(missing_ok=True)
        self.log.update(status=status, finished=runs.now(), epochs_done=epoch,
                        best_val_error=self.best_val_error, best_epoch=self.best_epoch,
                        message=message)
        self.emit({"event": "finished", "status": status, "best_val_error": self.best_val_error,
                   "best_epoch": self.best_epoch,
                   "elapsed": round(time.monotonic() - self.start, 3)})
        return RunResult(self.log.run_dir, status, epoch, self.best_val_error, self.best_epoch,
                         message)

    # ---- steps --------------------------------------------------------------------------------

    def batches(self, epoch: int) -> list[torch.Tensor]:
        """This process's batches of ``epoch`` of the first optimizer's data: its share of the
        epoch's order, which depends on the seed and the epoch only (a resumed run finds it
        again)."""
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        return self._split(order.to(self.feeder.home))

    def _split(self, order: torch.Tensor) -> list[torch.Tensor]:
        batches = list(order.split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            # a batch of one breaks batch normalization; with shuffling that sample comes back
            batches.pop()
        return batches

    def _source(self, name: str) -> str:
        """The project dataset ``name`` comes from ("validation" may be a share of
        "training")."""
        return name if name in self.p.project.datasets else "training"

    def _cycle(self, feeder, seed: int):
        generator = torch.Generator().manual_seed(seed)
        while True:
            yield from self._split(torch.randperm(len(feeder), generator=generator)
                                   .to(feeder.home))

    def train_epoch(self, epoch: int) -> bool:
        """Step through one shuffled pass of the first optimizer's data, every optimizer in
        turn at each iteration on one mini-batch per dataset; False when a stop request ended
        it (after the iteration in progress, with a checkpoint)."""
        batches = self.batches(epoch)
        start = 0
        for step in self.steps:
            step.losses = []  # summed once per epoch: no sync per step
        if self._resume is not None:
            _, start, self.steps[0].losses = self._resume
            self._resume = None
        lr = self.steps[0].schedule.base_lr
        first = self.steps[0]
        for i, batch in enumerate(self.feeder.batches(batches[start:]), start):
            drawn = {first.dataset: batches[i]}
            for step in self.steps:
                if not step.schedule.constant:
                    rate = step.set_lr(epoch - 1 + i / len(batches))
                    lr = rate if step is first else lr
                if step.dataset not in drawn:
                    drawn[step.dataset] = next(self.cycles[step.dataset])
                indices = drawn[step.dataset]
                step.run(batch if step is first else step.fetch(indices), len(indices),
                         self.precision)
            due = self.main and time.monotonic() - self._checkpointed >= self.checkpoint_every
            loss, stop, due = self.dist.share(first.losses[-1], self.stop_requested(), due)
            first.losses[-1] = loss.detach()
            self.iteration += 1
            last_in_epoch = i == len(batches) - 1
            if self.main and (last_in_epoch or self.iteration % self.every == 0):
                self.report(epoch, lr, gradients=last_in_epoch
                            or self.iteration % (10 * self.every) == 0)
            if stop or (not self.dist.several and self.stop.is_set()):  # (set while reporting)
                self.save_checkpoint(epoch, i + 1, first.losses)
                return False
            if due and not last_in_epoch:
                self.save_checkpoint(epoch, i + 1, first.losses)
        return True

    def report(self, epoch: int, lr: float, gradients: bool) -> None:
        """The iteration's events: its losses, and the layers' gradient norms when
        ``gradients``."""
        if gradients:
            self.emit({"event": "gradients", "epoch": epoch, "iteration": self.iteration,
                       "norms": self.grad_norms()})
        values = {step.name: step.losses[-1].item() for step in self.steps}
        for step in self.steps:
            self._check_finite(values[step.name], epoch, step=step)
        event = {"event": "iteration", "epoch": epoch, "iteration": self.iteration,
                 "loss": values[self.steps[0].name], "lr": lr}
        if len(self.steps) > 1:
            event["losses"] = values
            event["lrs"] = {step.name: step.lr for step in self.steps}
        self.emit(event)
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

    def end_epoch(self, epoch: int) -> None:
        """Monitors, the metrics row and event, samples and checkpoints after a whole epoch."""
        cfg, log = self.cfg, self.log
        train_losses = {}
        for step in self.steps:
            sizes = self.sizes if step is self.steps[0] else torch.full(
                (len(step.losses),), float(self.batch_size), device=self.p.device)
            train_losses[step.name] = float(torch.stack(step.losses).float() @ sizes) / float(
                sizes.sum())
            self._check_finite(train_losses[step.name], epoch, step=step)
        train_loss = train_losses[self.steps[0].name]
        self.epochs_done = epoch
        if not self.main:  # the other processes only check the loss, which they share
            return
        monitored = self.monitor(epoch)
        val = monitored.get(self.criterion_monitor.name) if self.criterion_monitor else None
        val_loss, val_error = (val["loss"], val["error"]) if val else (None, None)
        elapsed = time.monotonic() - self.start
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               "val_error": val_error, "lr": self.steps[0].lr, "elapsed": round(elapsed, 3)}
        extra = {f"loss:{name}": value for name, value in train_losses.items()}
        for name, scores in monitored.items():
            extra[f"monitor_loss:{name}"] = scores["loss"]
            extra[f"monitor_error:{name}"] = scores["error"]
        log.metrics({**row, **extra})
        event = {"event": "epoch", **row, "eta": round(elapsed / epoch * (cfg.epochs - epoch), 3)}
        if self.columns():
            event.update(train_losses=train_losses, monitors=monitored)
        self.emit(event)
        self.write_samples(epoch)
        criterion = val_error if val_error is not None else train_loss
        if self._best_criterion is None or criterion < self._best_criterion:
            self._best_criterion, self.best_epoch = criterion, epoch
            self.keep_best(epoch)
        if epoch == cfg.epochs or time.monotonic() - self._last_written >= self.LAST_EVERY:
            self.save_last(epoch)
        self.best_val_error = self._best_criterion if val_error is not None else None
        log.update(epochs_done=epoch, best_val_error=self.best_val_error,
                   best_epoch=self.best_epoch)

    def monitor(self, epoch: int) -> dict[str, dict[str, float]]:
        """Each monitor's loss and error, every ``monitor_interval`` epochs and at the end."""
        if epoch % self.cfg.monitor_interval and epoch != self.cfg.epochs:
            return {}
        out = {}
        for monitor, compiled, data, feeder in self.monitors:
            if not len(data):
                continue
            scores = score(self.p, data, self.batch_size * 2, feeder=feeder, compiled=compiled)
            self._check_finite(scores.loss, epoch, f"loss of monitor {monitor.name}")
            out[monitor.name] = {"loss": scores.loss, "error": scores.error}
        return out

    def write_samples(self, epoch: int) -> None:
        if self.samples is None:
            return
        path = runs.samples_path(self.log.run_dir, epoch)
        self.samples.write(self.p, path)
        self.emit({"event": "samples", "epoch": epoch, "path": str(path.resolve())})

    def keep_best(self, epoch: int) -> None:
        """Hold the best weights in memory; write them at most every BEST_EVERY seconds (a
        small network improves every epoch, and each write costs more than its epoch)."""
        state = {k: v.detach().clone() for k, v in self.p.tensors().items()}
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
        runs.save_tensors(self.p.tensors(), path)
        self._last_written = time.monotonic()
        self.emit({"event": "checkpoint", "epoch": epoch, "path": str(path.resolve()),
                   "best": False})

    def close(self) -> None:
        """End the data loaders' worker processes, if any."""
        feeders = [step.feeder for step in self.steps] + [m[3] for m in self.monitors]
        for feeder in dict.fromkeys(feeders):
            feeder.close()

    def _check_finite(self, value: float, epoch: int, what: str = "training loss",
                      step: OptimizerStep | None = None) -> None:
        if math.isfinite(value):
            return
        kept = (f"; best.safetensors keeps epoch {self.best_epoch}"
                if self.best_epoch is not None else "")
        step = step or self.steps[0]
        index = self.steps.index(step)
        if len(self.steps) > 1 and what == "training loss":
            what = f"training loss of optimizer {step.name}"
        raise TrainingError(
            "diverged", f"the {what} became {value} in epoch {epoch} (iteration "
                        f"{self.iteration}): training diverged. Lower the learning rate "
                        f"(training.optimizers[{index}].solver.lr is "
                        f"{step.schedule.base_lr:g}) or check the data for extreme "
                        f"values{kept}")
