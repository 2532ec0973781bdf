"""One optimizer of a run: it trains one network on one dataset with its own solver, schedule
and update interval; the trainer's loop runs the optimizers in turn (designer.core.trainer)."""
from __future__ import annotations

import torch

from designer.core.optim import ConfigError, make_optimizer, make_schedule, optimizer_settings
from designer.core.session import Prepared, TrainingError, generate, uses_scaler


class OptimizerStep:
    """One optimizer: its network's training graph, its data, the tensors it updates, its
    solver, schedule and update interval. Gradients are summed over ``interval`` mini-batches
    before each update, as Neural Network Console does (not averaged)."""

    def __init__(self, index: int, config, prepared: Prepared, several: bool):
        cfg = prepared.project.training
        self.name, self.dataset, self.interval = config.name, config.dataset, \
            config.update_interval
        self.compiled = compiled = prepared.networks[config.network]
        where = f"training.optimizers[{index}]"
        if not compiled.param_groups:
            raise TrainingError("error", f"optimizer {self.name} trains nothing: every layer "
                                         f"with parameters in network {config.network} is "
                                         "frozen (LRateMultiplier 0) or there is none",
                                bad_input=True)
        try:
            self.optimizer = make_optimizer(compiled.param_groups, config.solver,
                                            f"{where}.solver")
            self.schedule = make_schedule(config.schedule, optimizer_settings(
                config.solver, f"{where}.solver")["lr"], cfg.epochs, f"{where}.schedule")
        except ConfigError as e:
            raise TrainingError("error", str(e), bad_input=True) from None
        self.scaler = torch.amp.GradScaler("cuda") if uses_scaler(prepared) else None
        # the graph's own forward: the module call around it runs hooks nobody registered and
        # an error-message wrapper, a few percent of a small network's step
        self.forward = compiled.train.forward
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        # with several optimizers, one's backward must leave the others' tensors alone
        self.inputs = self.params if several else None
        self.feeder = prepared.feeder(prepared.datasets[self.dataset], compiled)
        self.generator = torch.Generator().manual_seed(cfg.seed + 1000 + index)
        self.device = prepared.device
        self.count = 0  # mini-batches seen
        self.channels_last = False  # the loop sets it from the speed settings
        self.lr = self.schedule.base_lr  # the optimizer's rate now; each group has its factor
        self.losses: list[torch.Tensor] = []  # this epoch's, summed once per epoch

    def fetch(self, indices: torch.Tensor) -> list[torch.Tensor]:
        """The network's data variables of the samples ``indices``."""
        return next(iter(self.feeder.batches([indices])))

    def run(self, batch: list[torch.Tensor], count: int, precision) -> torch.Tensor:
        """Forward and backward one mini-batch of ``count`` samples (its data variables in
        ``batch``; generated values are drawn here); update after every ``interval`` of them.
        Returns the loss, not synced."""
        batch = list(batch)
        if self.compiled.generated:
            batch += generate(self.compiled, self.compiled.train_vars, count, self.generator,
                              self.device)
        if self.channels_last:
            batch = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
                     for x in batch]
        with precision:
            loss = self.forward(*batch)
        if self.count % self.interval == 0:
            for p in self.params:  # what optimizer.zero_grad(set_to_none=True) does, unprofiled
                p.grad = None
        self.count += 1
        update = self.count % self.interval == 0
        if self.scaler is None:
            loss.backward(inputs=self.inputs)
            if update:
                self.optimizer.step()
        else:
            self.scaler.scale(loss).backward(inputs=self.inputs)
            if update:
                self.scaler.step(self.optimizer)  # unscales the gradients the step leaves
                self.scaler.update()
        self.losses.append(loss.detach())
        return loss

    def set_lr(self, epoch: float) -> float:
        """The schedule's learning rate at ``epoch`` (fractional: mid-epoch), set if it moved."""
        lr = self.schedule.lr(epoch)
        if lr != self.lr:
            self.lr = lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group["lr_multiplier"]
        return lr
