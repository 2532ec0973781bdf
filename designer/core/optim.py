"""Optimizers and learning-rate schedules, built from a project's training settings.

An optimizer's ``solver`` is ``{"type": NAME, SETTING: value, ...}`` and its ``schedule`` is
``{"type": NAME, SETTING: value, ...}``; every setting is optional and checked here, so a typo
or a bad value is reported by its field name before training starts.

The tables (settings, defaults, ranges, help) load without torch, so the window's Config
workspace builds its form from them at once; torch loads when an optimizer is made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import torch


class ConfigError(ValueError):
    """A training setting is unusable; the message names the field."""


# name: (torch.optim class name, its fixed arguments, {setting: default})
OPTIMIZERS: dict[str, tuple[str, dict, dict[str, float]]] = {
    "Adam": ("Adam", {}, {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                          "weight_decay": 0.0}),
    "AdamW": ("AdamW", {}, {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                            "weight_decay": 0.01}),
    "SGD": ("SGD", {}, {"lr": 0.01, "weight_decay": 0.0}),
    "Momentum": ("SGD", {}, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}),
    "Nesterov": ("SGD", {"nesterov": True}, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}),
    "RMSprop": ("RMSprop", {}, {"lr": 0.001, "rho": 0.99, "eps": 1e-8, "momentum": 0.0,
                                "weight_decay": 0.0}),
    "Adagrad": ("Adagrad", {}, {"lr": 0.01, "eps": 1e-10, "weight_decay": 0.0}),
    "Adadelta": ("Adadelta", {}, {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}),
}

# setting: (lowest, highest, whether the lowest is allowed)
RANGES = {"lr": (0.0, math.inf, False), "beta1": (0.0, 1.0, True), "beta2": (0.0, 1.0, True),
          "eps": (0.0, math.inf, False), "weight_decay": (0.0, math.inf, True),
          "momentum": (0.0, 1.0, True), "rho": (0.0, 1.0, True)}

HELP = {
    "lr": "learning rate: how far each step moves the weights",
    "beta1": "decay of the running mean of gradients (momentum)",
    "beta2": "decay of the running mean of squared gradients",
    "eps": "added to the denominator so it is never 0",
    "weight_decay": "pulls every weight towards 0 (L2 regularisation)",
    "momentum": "share of the previous step carried into the next",
    "rho": "decay of the running mean of squared gradients",
    "gamma": "factor the learning rate is multiplied by",
    "step": "epochs between two reductions of the learning rate",
    "min_lr": "the learning rate at the end of training",
    "power": "shape of the decay: 1 is linear, 2 falls faster at first",
    "warmup": "epochs at the start during which the learning rate rises from 1 % to its value",
}


SOLVER_FIELD = "training.optimizers[0].solver"
SCHEDULE_FIELD = "training.optimizers[0].schedule"


def optimizer_settings(config: dict[str, Any], where: str = SOLVER_FIELD) -> dict[str, float]:
    """The optimizer's settings with defaults filled in; ConfigError names a bad field
    (``where`` is the field holding ``config``)."""
    kind = config.get("type")
    if kind not in OPTIMIZERS:
        raise ConfigError(f"{where}.type: {kind!r} is not one of {', '.join(OPTIMIZERS)}")
    defaults = OPTIMIZERS[kind][2]
    return _settings(f"{where} ({kind})", config, defaults, RANGES)


def make_optimizer(groups: Iterable[tuple[float, list[torch.nn.Parameter]]],
                   config: dict[str, Any], where: str = SOLVER_FIELD) -> torch.optim.Optimizer:
    """The optimizer over ``groups`` of (learning-rate factor, parameters); each torch param
    group keeps its factor as ``lr_multiplier`` so a schedule can set ``lr × factor``."""
    import torch

    settings = optimizer_settings(config, where)
    class_name, fixed, _ = OPTIMIZERS[config["type"]]
    cls = getattr(torch.optim, class_name)
    args = dict(fixed)
    for key, value in settings.items():
        if key == "beta1":
            args["betas"] = (value, settings["beta2"])
        elif key == "rho":
            args["alpha" if cls is torch.optim.RMSprop else "rho"] = value
        elif key != "beta2":
            args[key] = value
    param_groups = [{"params": list(params), "lr": settings["lr"] * factor,
                     "lr_multiplier": factor} for factor, params in groups if params]
    if not param_groups:
        raise ConfigError("the network has no trainable parameters; add a layer with weights "
                          "(e.g. Affine) before the loss, or give a frozen one a "
                          "LRateMultiplier above 0")
    return cls(param_groups, **args)


def _settings(where: str, config: dict, defaults: dict[str, float], ranges: dict) -> dict:
    out = dict(defaults)
    for key, value in config.items():
        if key == "type":
            continue
        if key not in defaults:
            known = ", ".join(defaults) or "none"
            raise ConfigError(f"{where}: unknown setting {key!r} (its settings are {known})")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ConfigError(f"{where}.{key}: must be a number, not {value!r}")
        low, high, low_ok = ranges[key]
        if value < low or (value == low and not low_ok) or value > high:
            bound = f"at least {low:g}" if low_ok else f"more than {low:g}"
            if high != math.inf:
                bound += f" and at most {high:g}"
            raise ConfigError(f"{where}.{key}: must be {bound}, not {value:g}")
        out[key] = float(value)
    return out


# ---- schedules -----------------------------------------------------------------------------

SCHEDULE_DEFAULTS: dict[str, dict[str, float]] = {
    # every schedule may start with `warmup` epochs of linearly rising lr
    "constant": {"warmup": 0},
    "exponential": {"gamma": 0.95, "warmup": 0},  # lr × gamma every epoch, smoothly
    "step": {"step": 10, "gamma": 0.1, "warmup": 0},  # lr × gamma after every `step` epochs
    "cosine": {"min_lr": 0.0, "warmup": 0},  # half a cosine from lr down to min_lr
    "polynomial": {"power": 1.0, "min_lr": 0.0, "warmup": 0},  # (1 - progress)^power
}
SCHEDULE_RANGES = {"gamma": (0.0, 1.0, False), "step": (1, math.inf, True),
                    "min_lr": (0.0, math.inf, True), "power": (0.0, math.inf, False),
                    "warmup": (0.0, math.inf, True)}


@dataclass(frozen=True)
class Schedule:
    """The learning rate at any point of training; ``epoch`` may be fractional (mid-epoch)."""

    kind: str
    base_lr: float
    epochs: int
    settings: dict[str, float]

    @property
    def constant(self) -> bool:
        """The rate never moves: no warm-up and no decay."""
        return self.kind == "constant" and self.settings["warmup"] == 0

    def lr(self, epoch: float) -> float:
        s = self.settings
        warmup = s["warmup"]
        if epoch < warmup:  # linear warm-up from 1% of lr
            return self.base_lr * max(epoch / warmup, 0.01)
        progress = min(max((epoch - warmup) / max(self.epochs - warmup, 1e-9), 0.0), 1.0)
        if self.kind == "exponential":
            return self.base_lr * s["gamma"] ** (epoch - warmup)
        if self.kind == "step":
            return self.base_lr * s["gamma"] ** int((epoch - warmup) // s["step"])
        if self.kind == "cosine":
            cosine = (1 + math.cos(math.pi * progress)) / 2
            return s["min_lr"] + (self.base_lr - s["min_lr"]) * cosine
        if self.kind == "polynomial":
            return s["min_lr"] + (self.base_lr - s["min_lr"]) * (1 - progress) ** s["power"]
        return self.base_lr


def make_schedule(config: dict[str, Any], base_lr: float, epochs: int,
                  where: str = SCHEDULE_FIELD) -> Schedule:
    kind = config.get("type", "constant")
    if kind not in SCHEDULE_DEFAULTS:
        raise ConfigError(f"{where}.type: {kind!r} is not one of "
                          f"{', '.join(SCHEDULE_DEFAULTS)}")
    settings = _settings(f"{where} ({kind})", config, SCHEDULE_DEFAULTS[kind],
                         SCHEDULE_RANGES)
    if settings["warmup"] >= epochs:
        raise ConfigError(f"{where} ({kind}).warmup: {settings['warmup']:g} epochs of "
                          f"warm-up leave none of the {epochs} epochs to train at full rate")
    if settings.get("min_lr", 0.0) > base_lr:
        raise ConfigError(f"{where} ({kind}).min_lr: {settings['min_lr']:g} is above "
                          f"the optimizer's lr {base_lr:g}")
    return Schedule(kind, base_lr, epochs, settings)
