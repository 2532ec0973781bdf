"""Stopping and resuming the training loop: stop requests (the caller's event, a stop file in
the run folder, the end of torchrun) and checkpoints to go on from (designer.core.checkpoint
writes and reads the file). The loop of designer.core.trainer takes these as a base class."""
from __future__ import annotations

import os
import time

import torch

from designer.core import checkpoint, runs
from designer.core.checkpoint import Checkpoint
from designer.core.session import TrainingError


class Resumable:
    """What ``_Loop`` needs to stop on request and to resume: it sets the attributes used here
    (``stop``, ``log``, ``dist``, ``p``, ``steps``, ``optimizer``, ``scaler``, …)."""

    STOP_POLL = 0.25  # seconds between looks for a stop file

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

    def save_checkpoint(self, epoch: int, position: int, losses: list[torch.Tensor]) -> None:
        """Everything needed to go on after ``position`` batches of ``epoch``: every process
        hands its random state to rank 0, which writes the checkpoint. A run of several
        optimizers keeps none (it cannot be resumed; its weights are saved as usual)."""
        if len(self.steps) > 1:
            return
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

