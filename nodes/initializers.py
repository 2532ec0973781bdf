"""NNC's weight initializers, applied to a built layer module.

The formulas are nnabla's (``nnabla.initializer``): with N input maps, M output maps and K
kernel positions (1 for Affine), He forward is N(0, √(2/(K·N))), He backward N(0, √(2/(K·M))),
Glorot N(0, √(2/(K·(N+M)))) and uniform Glorot U(±√(6/(K·(N+M)))), each times the
``InitializerMultiplier`` m; Normal is N(0, m), Uniform U(−m, m) and Constant m.
"""
from __future__ import annotations

import math

import torch


def fans(kind: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(N input maps, M output maps, K kernel positions) from a weight tensor's shape."""
    if kind == "affine":  # torch keeps (out, in)
        return shape[1], shape[0], 1
    if kind == "conv":  # (out, in / group, kernel...)
        return shape[1], shape[0], math.prod(shape[2:])
    if kind == "deconv":  # (in, out / group, kernel...)
        return shape[0], shape[1], math.prod(shape[2:])
    if kind == "embed":  # (classes, size)
        return shape[0], shape[1], 1
    raise AssertionError(f"unknown fan kind {kind!r}")


def _scale(name: str, n: int, m: int, k: int) -> tuple[str, float]:
    """("normal" or "uniform", the spread before the multiplier) of a fan-scaled initializer."""
    if name.endswith("HeForward"):
        return "normal", math.sqrt(2 / (k * n))
    if name.endswith("HeBackward"):
        return "normal", math.sqrt(2 / (k * m))
    if name.startswith("Normal") and name.endswith("Glorot"):
        return "normal", math.sqrt(2 / (k * (n + m)))
    if name.startswith("Uniform") and name.endswith("Glorot"):
        return "uniform", math.sqrt(6 / (k * (n + m)))
    raise AssertionError(f"unknown initializer {name!r}")


def fill(tensor: torch.Tensor, name: str, multiplier: float,
         layer_fans: tuple[int, int, int] | None) -> None:
    """Overwrite ``tensor`` with initializer ``name`` times ``multiplier``."""
    with torch.no_grad():
        if name == "Constant":
            tensor.fill_(multiplier)
            return
        if name == "Normal":
            kind, spread = "normal", 1.0
        elif name == "Uniform":
            kind, spread = "uniform", 1.0
        else:
            assert layer_fans is not None, f"{name} needs the layer's fans"
            kind, spread = _scale(name, *layer_fans)
        spread *= multiplier
        if kind == "normal":
            tensor.normal_(0.0, abs(spread))
        else:
            tensor.uniform_(-abs(spread), abs(spread))


def initialize(module: torch.nn.Module, weights, props: dict) -> None:
    """Initialise each of the layer's ``weights`` (nodes.spec.Weight) present in ``module``
    (a bias switched off is absent) from its Initializer and InitializerMultiplier."""
    tensors = {w.name: parameter(module, w.attr) for w in weights}
    layer_fans = next((fans(w.fans, tuple(tensors[w.name].shape)) for w in weights
                       if w.fans and tensors[w.name] is not None), None)
    for w in weights:
        if tensors[w.name] is not None:
            fill(tensors[w.name], props[f"{w.name}.Initializer"],
                 props[f"{w.name}.InitializerMultiplier"], layer_fans)


def parameter(module: torch.nn.Module, attr: str) -> torch.nn.Parameter | None:
    owner_path, _, name = attr.rpartition(".")
    owner = module.get_submodule(owner_path) if owner_path else module
    value = getattr(owner, name, None)
    return value if isinstance(value, torch.nn.Parameter) else None
