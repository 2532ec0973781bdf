"""Modules imported on first use, by one thread at a time.

The window imports torch and the modules built on it when they are first needed, on worker
threads: the start-up warm-up, the devices listed in Config, Try the model, an embedded dataset
made with torch. Two threads importing torch at once can each find the other's half-made
modules ("operator prims::atanh does not exist", "cannot import name ..."), so every such
import goes through ``imported``.
"""
from __future__ import annotations

import importlib
import threading
from types import ModuleType

_LOCK = threading.RLock()  # re-entrant: an import under way may import more through here


def imported(name: str) -> ModuleType:
    """``importlib.import_module(name)``, with no other thread importing through here."""
    with _LOCK:
        return importlib.import_module(name)
