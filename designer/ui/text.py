"""Numbers and shapes as the window writes them."""
from __future__ import annotations

import math
from functools import lru_cache

import nodes


@lru_cache(maxsize=4096)
def shape_label(shape: tuple[int, ...] | None) -> str:
    """``(6, 24, 24)`` → ``6×24×24``; ``?`` while unknown (cached: asked for every layer after
    every edit)."""
    return nodes.shape_text(shape) if shape is not None else "?"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–" if value is None else str(value)
    return f"{value:.4g}"


def format_error(value: float | None, task: str) -> str:
    """Validation error: a percentage for classification, the loss value for regression."""
    if value is None or not math.isfinite(value):
        return format_value(value)
    return f"{100 * value:.2f} %" if task == "classification" else format_value(value)
