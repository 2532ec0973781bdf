"""Train a project's network and record the run in a folder beside the project.

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
from designer.core.optim import ConfigError, make_optimizer, make_schedule, optimizer_settings
from designer.core.project import Project
from designer.core.session import (Prepared, TrainingError, autocast, check_speed, prepare,
                                   score, uses_scaler)

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
        if resume:
            saved = _checkpoint_of(run_dir)
        check_settings(project)
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
                                       "epochs": project.training.epochs}, saved)
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
             saved: Checkpoint | None = None) -> None:
        """Create the run folder with the project as trained (or reopen the resumed one); the
        loop records into it."""
        if not self.dist.is_main:
            return
        if saved is not None:
            folder = Path(run_dir)
            runs.stop_path(folder).unlink(missing_ok=True)  # the request that stopped it
            self.log = runs.RunLog(folder, info, resumed_epochs=saved.info["epochs_done"])
        else:
            folder = runs.new_run_dir(project.path, run_dir)
            runs.snapshot(project, folder)
            self.log = runs.RunLog(folder, info)
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
        lr = optimizer_settings(cfg.optimizer)["lr"]
        make_schedule(cfg.schedule, lr, cfg.epochs)
    except ConfigError as e:
        raise TrainingError("error", str(e), bad_input=True) from None


class _Loop:
    """The training loop of one prepared run: steps, epoch bookkeeping and checkpoints."""

    LAST_EVERY = 30.0  # seconds between saves of last.safetensors (also saved at the end)
    BEST_EVERY = 2.0  # seconds between saves of best.safetensors (also saved at the end)
    CHECKPOINT_EVERY = 30.0  # seconds between checkpoints, at a step (and when stopped)
    STOP_POLL = 0.25  # seconds between looks for a stop file

    def __init__(self, prepared: Prepared, emit: Emit, stop: threading.Event,
                 dist: Distributed):
        self.p = prepared
        self.log: runs.RunLog | None = None  # set once the run folder exists (rank 0)
        self.emit = emit
        self.stop = stop
        self.dist = dist
        self.main = dist.is_main
        cfg = self.cfg = prepared.project.training
        compiled = prepared.compiled
        try:
            self.optimizer = make_optimizer(compiled.param_groups, cfg.optimizer)
            self.schedule = make_schedule(cfg.schedule, optimizer_settings(cfg.optimizer)["lr"],
                                          cfg.epochs)
        except ConfigError as e:
            raise TrainingError("error", str(e), bad_input=True) from None
        self.scaler = torch.amp.GradScaler("cuda") if uses_scaler(prepared) else None
        self.forward = self._forward()
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.precision = autocast(prepared)  # entered once a step
        self.feeder = prepared.feeder(prepared.train_data)
        self.val_feeder = prepared.feeder(prepared.val_data) if self.main else None
        self.batch_size = min(cfg.batch_size, max(len(prepared.train_data), 1))
        self.sampler = dist.sampler(len(self.feeder),
                                    prepared.project.datasets["training"].shuffle, cfg.seed)
        self.lr = self.schedule.base_lr  # the optimizer's rate now; each group has its factor
        names = {n.id: n.name for n in prepared.project.network().nodes}
        weights = {node_id: list(compiled.layers.get_submodule(attr).parameters())
                   for node_id, attr in compiled.attr_of.items()}
        self.parametrised = [(names[i], params) for i, params in weights.items() if params]
        self.sizes = torch.zeros(0)  # samples per global batch, the same every epoch
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
        self.checkpoint_every = self.CHECKPOINT_EVERY
        self._checkpointed = self.start
        self._stop_polled = 0.0
        self._launcher = os.getppid() if dist.several else None
        self._resume: tuple[int, int, list[torch.Tensor]] | None = None  # epoch, position, losses
        self.elapsed_before = 0.0  # of the run this one resumes

    def _forward(self) -> Callable:
        """The training graph as the steps call it: shared by the processes (DDP), on
        channels-last tensors, compiled, as the speed settings say."""
        p, cfg, compiled = self.p, self.cfg, self.p.compiled
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        if cfg.speed.get("cudnn_benchmark"):
            torch.backends.cudnn.benchmark = True
        self.channels_last = bool(cfg.speed.get("channels_last"))
        if self.channels_last:
            compiled.layers.to(memory_format=torch.channels_last)
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

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self.emit_started()
        self.p.compiled.train.train()
        first = self._resume[0] if self._resume else 1
        stopped, epoch = False, first - 1
        for epoch in range(first, self.cfg.epochs + 1):
            losses = self.train_epoch(epoch)
            if losses is None:  # a stop request ended the epoch before its bookkeeping
                stopped, epoch = True, epoch - 1
                break
            self.end_epoch(epoch, losses)
        return self.finish(epoch, stopped)

    def emit_started(self) -> None:
        p, cfg, dist = self.p, self.cfg, self.dist
        batches = self.batches(1)
        # each step takes one batch in every process: the samples of the global batch
        self.sizes = torch.tensor([len(b) * dist.world_size for b in batches],
                                  dtype=torch.float32, device=p.device)
        self.samples = int(self.sizes.sum().item())
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
        self.emit({"event": "started", "run_dir": str(self.log.run_dir.resolve()),
                   "device": str(p.device), "device_name": p.device_name, "epochs": cfg.epochs,
                   "iterations_per_epoch": len(batches), "train_samples": len(p.train_data),
                   "val_samples": len(p.val_data), "task": p.task, "classes": p.classes,
                   "time": runs.now(), "batch_size": self.batch_size,
                   "processes": dist.world_size, "global_batch": self.batch_size *
                   dist.world_size, "pids": [int(x) for x in pids], "resumed": resumed})
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
        """This process's batches of ``epoch``: its share of the epoch's order, which depends
        on the seed and the epoch only (a resumed run finds it again)."""
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        batches = list(order.to(self.feeder.home).split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) == 1:
            # a batch of one breaks batch normalization; with shuffling that sample comes back
            batches.pop()
        return batches

    def train_epoch(self, epoch: int) -> list[torch.Tensor] | None:
        """Step through one shuffled pass: the loss of each step, or None when a stop request
        ended it (after the step in progress, with a checkpoint)."""
        batches = self.batches(epoch)
        start, losses = 0, []  # losses: summed once per epoch, no sync per step
        if self._resume is not None:
            _, start, losses = self._resume
            self._resume = None
        lr = self.schedule.base_lr
        for i, batch in enumerate(self.feeder.batches(batches[start:]), start):
            if not self.schedule.constant:
                lr = self.set_lr(epoch - 1 + i / len(batches))
            loss = self.step(batch)
            due = self.main and time.monotonic() - self._checkpointed >= self.checkpoint_every
            loss, stop, due = self.dist.share(loss, self.stop_requested(), due)
            losses.append(loss.detach())
            self.iteration += 1
            last_in_epoch = i == len(batches) - 1
            if self.main and (last_in_epoch or self.iteration % self.every == 0):
                self.report(epoch, loss, lr, gradients=last_in_epoch
                            or self.iteration % (10 * self.every) == 0)
            if stop or (not self.dist.several and self.stop.is_set()):  # (set while reporting)
                self.save_checkpoint(epoch, i + 1, losses)
                return None
            if due and not last_in_epoch:
                self.save_checkpoint(epoch, i + 1, losses)
        return losses

    def stop_requested(self) -> bool:
        """The caller's stop event, a stop file in the run folder, or (for a process torchrun
        started) the end of torchrun itself; looked for a few times a second: a file check
        every step would cost more than a small network's step."""
        if self.stop.is_set():
            return True
        now = time.monotonic()
        if now - self._stop_polled < self.STOP_POLL:
            return False
        self._stop_polled = now
        if self.log is not None and runs.stop_path(self.log.run_dir).exists():
            self.stop.set()
        if self._launcher is not None and os.getppid() != self._launcher:
            self.stop.set()  # torchrun was killed: stop and save rather than train on, orphaned
        return self.stop.is_set()

    def set_lr(self, epoch: float) -> float:
        """The schedule's learning rate at ``epoch`` (fractional: mid-epoch), set if it moved."""
        lr = self.schedule.lr(epoch)
        if lr != self.lr:
            self.lr = lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group["lr_multiplier"]
        return lr

    def step(self, batch: list[torch.Tensor]) -> torch.Tensor:
        """One optimization step on ``batch``; returns its loss, not synced."""
        if self.channels_last:
            batch = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
                     for x in batch]
        with self.precision:
            loss = self.forward(*batch)
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
        """Validation, the metrics row and event, and checkpoints after a whole epoch (rank 0:
        the others only check the loss, which they share)."""
        p, cfg, log = self.p, self.cfg, self.log
        train_loss = float(torch.stack(losses).float() @ self.sizes) / self.samples
        self._check_finite(train_loss, epoch)
        self.epochs_done = epoch
        if not self.main:
            return
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

    def save_checkpoint(self, epoch: int, position: int, losses: list[torch.Tensor]) -> None:
        """Everything needed to go on after ``position`` batches of ``epoch``: every process
        hands its random state to rank 0, which writes the checkpoint."""
        states = self.dist.gather(checkpoint.random_state(), self.p.device)
        self._checkpointed = time.monotonic()
        if not self.main:
            return
        self.flush_best()  # best.safetensors must match the best result the checkpoint keeps
        info = {"epoch": epoch, "position": position, "iteration": self.iteration,
                "epochs_done": self.epochs_done, "epochs": self.cfg.epochs,
                "elapsed": time.monotonic() - self.start, "best_criterion": self._best_criterion,
                "best_epoch": self.best_epoch, "best_val_error": self.best_val_error,
                "world_size": self.dist.world_size, "batch_size": self.batch_size}
        path = runs.checkpoint_path(self.log.run_dir)
        checkpoint.save(path, self.p.compiled.layers, self.optimizer, info, losses, states,
                        self.scaler)
        self.emit({"event": "resume_point", "epoch": epoch, "position": position,
                   "iteration": self.iteration, "path": str(path.resolve())})

    def restore(self, saved: Checkpoint) -> None:
        """Take up the run where ``saved`` left it: weights, optimizer, position, best result
        and random state."""
        info, dist = saved.info, self.dist
        if info["world_size"] != dist.world_size or info["batch_size"] != self.batch_size:
            raise TrainingError(
                "error", f"the run trained with {info['world_size']} process(es) of batch "
                         f"{info['batch_size']}; resume it with the same (this start has "
                         f"{dist.world_size} of batch {self.batch_size}), or the batches differ",
                bad_input=True)
        try:
            self.p.compiled.layers.load_state_dict(saved.model)
            checkpoint.restore_optimizer(self.optimizer, saved)
        except (RuntimeError, ValueError, KeyError) as e:
            raise TrainingError("error", f"the checkpoint does not fit the run's network "
                                         f"({str(e).splitlines()[0]})", bad_input=True) from None
        if self.scaler is not None and info.get("scaler"):
            self.scaler.load_state_dict(info["scaler"])
        self.iteration, self.epochs_done = info["iteration"], info["epochs_done"]
        self._best_criterion, self.best_epoch = info["best_criterion"], info["best_epoch"]
        self.best_val_error, self.elapsed_before = info["best_val_error"], info["elapsed"]
        self._resume = (info["epoch"], info["position"],
                        list(saved.tensors["epoch_losses"].to(self.p.device).unbind()))
        state = saved.random_state(dist.rank)
        if state is not None:
            checkpoint.set_random_state(state, info["random_layout"])

    def close(self) -> None:
        """End the data loaders' worker processes, if any."""
        for feeder in (self.feeder, self.val_feeder):
            if feeder is not None:
                feeder.close()

    def _check_finite(self, value: float, epoch: int, what: str = "training loss") -> None:
        if not math.isfinite(value):
            kept = (f"; best.safetensors keeps epoch {self.best_epoch}"
                    if self.best_epoch is not None else "")
            raise TrainingError(
                "diverged", f"the {what} became {value} in epoch {epoch} (iteration "
                            f"{self.iteration}): training diverged. Lower the learning rate "
                            f"(training.optimizer.lr is {self.schedule.base_lr:g}) or check the "
                            f"data for extreme values{kept}")
