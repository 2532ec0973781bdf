"""Run folders: what one training run leaves beside its project.

``<project stem>.runs/<YYYYMMDD-HHMMSS>/`` holds ``project.nnd`` (the exact project trained),
``run.json`` (status and best result), ``metrics.csv`` (one row per epoch), ``events.jsonl``
(every progress event) and ``best.safetensors`` / ``last.safetensors`` (the weights).
The trainer writes them as it goes, so a run can be watched, or inspected after a crash.
"""
from __future__ import annotations

import csv
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from nodes import shape_text

from designer.core.project import Project, atomic_path, atomic_write

METRICS_HEADER = ("epoch", "train_loss", "val_loss", "val_error", "lr", "elapsed")


def now() -> str:
    """The local time in ISO 8601 with its UTC offset."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def runs_folder(project_path: str | os.PathLike) -> Path:
    project_path = Path(project_path)
    return project_path.parent / f"{project_path.stem}.runs"


def new_run_dir(project_path: str | os.PathLike | None,
                out: str | os.PathLike | None = None) -> Path:
    """Create and return a fresh run folder: ``out`` if given, else one named by the time."""
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise FileExistsError(f"{out}: the run folder is not empty; choose a new one")
        return out
    if project_path is None:
        raise ValueError("the project has not been saved; save it or choose a run folder")
    parent = runs_folder(project_path)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        folder = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            folder.mkdir()  # fails if taken, even by a run starting at this very moment
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent}: too many runs started at {stamp}")


def snapshot(project: Project, run_dir: Path) -> Path:
    """Write the project as trained, its dataset files made absolute so it loads from anywhere."""
    copy = project.copy()
    for dataset in copy.datasets.values():
        if not dataset.source.startswith("embedded:"):
            dataset.source = str(project.resolve(dataset.source).resolve())
    path = run_dir / "project.nnd"
    atomic_write(path, copy.to_json())
    return path


class RunLog:
    """Appends events and metrics to a run folder and keeps run.json current."""

    def __init__(self, run_dir: Path, info: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.info = {"name": self.run_dir.name, "started": now(), "finished": None,
                     "status": "running", "device": None, "device_name": None, "epochs": None,
                     "epochs_done": 0, "best_val_error": None, "best_epoch": None,
                     "message": "", **info}
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
        metrics_path = self.run_dir / "metrics.csv"
        fresh = not metrics_path.exists()
        self._metrics_file = open(metrics_path, "a", encoding="utf-8", newline="")
        self._metrics = csv.writer(self._metrics_file)
        self._written = -self.WRITE_EVERY
        self._flushed = time.monotonic()
        if fresh:
            self._metrics.writerow(METRICS_HEADER)
            self._metrics_file.flush()
        self.update()

    FLUSH_EVERY = 1.0  # seconds; live progress travels as events on stdout, not these files

    def event(self, event: dict[str, Any]) -> None:
        self._events.write(json.dumps(event) + "\n")
        self._flush_now_and_then()

    def metrics(self, row: dict[str, Any]) -> None:
        self._metrics.writerow(["" if row.get(k) is None else row[k] for k in METRICS_HEADER])
        self._flush_now_and_then()

    def _flush_now_and_then(self) -> None:
        if time.monotonic() - self._flushed >= self.FLUSH_EVERY:
            self._events.flush()
            self._metrics_file.flush()
            self._flushed = time.monotonic()

    WRITE_EVERY = 2.0  # seconds between progress-only rewrites of run.json

    def update(self, **fields: Any) -> None:
        """Record ``fields``; run.json is rewritten on a status change, else at most every 2 s
        (a rename costs milliseconds on some disks, more than an epoch of a small network)."""
        self.info.update(fields)
        if "status" not in fields and time.monotonic() - self._written < self.WRITE_EVERY:
            return
        self._written = time.monotonic()
        self.info["name"] = _current_name(self.run_dir) or self.info["name"]  # a user's rename
        atomic_write(self.run_dir / "run.json", json.dumps(self.info, indent=2) + "\n",
                     durable=False)

    def close(self) -> None:
        self._events.close()
        self._metrics_file.close()


def _current_name(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """run.json of a run folder, with ``path`` added."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir}: not a run folder (it has no run.json)") from None
    info["path"] = str(run_dir)
    return info


def list_runs(project_path: str | os.PathLike) -> list[dict[str, Any]]:
    """The project's runs, newest first (folders without a readable run.json are skipped)."""
    folder = runs_folder(project_path)
    runs = []
    for run_dir in folder.iterdir() if folder.is_dir() else ():
        try:
            runs.append(read_run(run_dir))
        except (OSError, ValueError):
            continue
    return sorted(runs, key=lambda r: (r.get("started") or "", r["path"]), reverse=True)


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """The module's state_dict as safetensors, written atomically."""
    save_tensors(module.state_dict(), path)


def save_tensors(state: dict[str, torch.Tensor], path: Path,
                 metadata: dict[str, str] | None = None) -> None:
    """Tensors as a safetensors file, written atomically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; opening it never runs code from the file."""
    return load_file(str(path))


class WeightsError(ValueError):
    """Weights that cannot go into a network; the message names the file, tensor and layer."""


def load_into(compiled, network, path: Path) -> None:
    """Load a safetensors file into ``compiled.layers``, explaining any tensor that does not fit
    in terms of ``network``'s layers."""
    try:
        state = load_weights(path)
    except Exception as e:  # safetensors has its own error types for damaged files
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    own = compiled.layers.state_dict()
    by_id = {n.id: n for n in network.nodes}
    layer_of = {attr: f"{by_id[nid].name} ({by_id[nid].type})"
                for nid, attr in compiled.attr_of.items()}

    def where(key: str) -> str:
        return layer_of.get(key.split(".")[0], "no layer")

    different = "the weights were saved from a different network"
    for key, tensor in own.items():
        if key not in state:
            raise WeightsError(f"{path}: tensor {key!r} (layer {where(key)}) is missing; "
                               f"{different}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(f"{path}: tensor {key!r} is {shape_text(state[key].shape)} but "
                               f"layer {where(key)} needs {shape_text(tensor.shape)}; {different}")
        if state[key].is_floating_point() and not torch.isfinite(state[key]).all():
            raise WeightsError(f"{path}: tensor {key!r} (layer {where(key)}) holds NaN or "
                               "infinite values (did training diverge?)")
    extra = sorted(set(state) - set(own))
    if extra:
        raise WeightsError(f"{path}: tensor {extra[0]!r} belongs to no layer of the network; "
                           f"{different}")
    compiled.layers.load_state_dict(state)

