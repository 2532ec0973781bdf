"""The layer catalog: one ``LayerSpec`` per layer, looked up by its NNC name."""
from __future__ import annotations

import difflib

from nodes import (activation, arithmetic, basic, binary, io, loss, maths, normalization, others,
                   pooling, preprocess, recurrent, structure)
from nodes.spec import (VALUES, LayerSpec, OpsetNeed, Prediction, Prop, Shape, ShapeError,
                        TargetSpec, quoted, shape_text)

CATEGORIES = ("IO", "Basic", "Pooling", "Activation", "Normalization", "Recurrent", "Arithmetic",
              "Math", "Others", "Preprocess", "LoopControl", "Unit", "Loss")

CATALOG: dict[str, LayerSpec] = {}
for _module in (io, basic, binary, pooling, activation, normalization, recurrent, arithmetic,
                maths, others, preprocess, structure, loss):
    for _spec in _module.SPECS:
        assert _spec.name not in CATALOG, f"duplicate layer {_spec.name}"
        assert _spec.category in CATEGORIES, f"{_spec.name}: unknown category {_spec.category}"
        CATALOG[_spec.name] = _spec


def get_spec(name: str) -> LayerSpec:
    """The spec of layer ``name``; KeyError with a suggestion when there is none."""
    try:
        return CATALOG[name]
    except KeyError:
        close = difflib.get_close_matches(name[:100], CATALOG, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown layer type {quoted(name)}{hint}") from None


__all__ = ["CATALOG", "CATEGORIES", "VALUES", "LayerSpec", "OpsetNeed", "Prediction", "Prop",
           "Shape", "ShapeError", "TargetSpec", "get_spec", "shape_text"]
