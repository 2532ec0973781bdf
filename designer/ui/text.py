"""Numbers and shapes as the window writes them."""
from __future__ import annotations

from functools import lru_cache

import nodes


@lru_cache(maxsize=4096)
def shape_label(shape: tuple[int, ...] | None) -> str:
    """``(6, 24, 24)`` → ``6×24×24``; ``?`` while unknown (cached: asked for every layer after
    every edit)."""
    return nodes.shape_text(shape) if shape is not None else "?"
