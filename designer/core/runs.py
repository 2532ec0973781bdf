"""Run folders: what one training run leaves beside its project. This module owns every file
name in a run folder; no other module spells them.

``<project stem>.runs/<YYYYMMDD-HHMMSS>/`` holds ``project.nnd`` (the exact project trained),
``run.json`` (status and best result), ``metrics.csv`` (one row per epoch), ``events.jsonl``
(every progress event), ``best.safetensors`` / ``last.safetensors`` (the weights of every
network, each tensor once), ``checkpoint.safetensors`` (everything a resumed run needs),
``compressed/`` (a report for each model compressed from the run: quantized, pruned,
distilled) and, for a network that outputs images, ``samples/epoch_NNNN.png``. The trainer
writes them as it
goes, so a run can be watched, resumed, or inspected after a crash. A file named ``stop`` in
the folder asks its trainer to stop, wherever it runs.
run.json names the machine and process that train and is touched every half minute while they
do, so a run whose trainer was killed reads as "interrupted", here or on another machine that
shares the folder.
torch is imported only by the functions that read or write weights, so the window can list
runs before torch has loaded.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from nodes import shape_text

from designer.core.files import atomic_path, atomic_write, host_id, process_alive
from designer.core.project import Project, run_settings

PROJECT_FILE = "project.nnd"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"
EVENTS_FILE = "events.jsonl"
SAMPLES_FOLDER = "samples"
WEIGHTS = ("best", "last")  # the weights files of a run, in order of preference
WEIGHTS_SUFFIX = ".safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
STOP_FILE = "stop"
METRICS_HEADER = ("epoch", "train_loss", "val_loss", "val_error", "lr", "elapsed")
TASKS = ("classification", "regression")
HEARTBEAT_EVERY = 30.0  # seconds between touches of a running run's run.json
# A run still "running" whose run.json was last touched this long ago has lost its trainer
# (the only test possible for a trainer on another machine).
HEARTBEAT_LOST = 10 * HEARTBEAT_EVERY
INTERRUPTED = "interrupted"


COMPRESSED_FOLDER = "compressed"  # one JSON report per model compressed from the run


def weights_path(run_dir: str | os.PathLike, which: str) -> Path:
    """The file of a run's ``best`` or ``last`` weights (it may not exist yet)."""
    assert which in WEIGHTS, which
    return Path(run_dir) / f"{which}{WEIGHTS_SUFFIX}"


def samples_path(run_dir: str | os.PathLike, epoch: int) -> Path:
    """The grid of the executor's generated images after ``epoch``."""
    return Path(run_dir) / SAMPLES_FOLDER / f"epoch_{epoch:04d}.png"


def latest_samples(run_dir: str | os.PathLike) -> Path | None:
    found = sorted((Path(run_dir) / SAMPLES_FOLDER).glob("epoch_*.png"))
    return found[-1] if found else None


def project_path(run_dir: str | os.PathLike) -> Path:
    """The run's copy of the project exactly as trained."""
    return Path(run_dir) / PROJECT_FILE


def events_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / EVENTS_FILE


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """The run's resumable state: weights, optimizer, position and random state."""
    return Path(run_dir) / CHECKPOINT_FILE


def stop_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / STOP_FILE


def request_stop(run_dir: str | os.PathLike) -> Path:
    """Ask the run's trainer to stop after its current step and save: a file in the run folder,
    seen by a trainer on this machine or any other that shares the folder."""
    path = stop_path(run_dir)
    path.write_text(f"stop requested {now()}\n", encoding="utf-8")
    return path


def run_weights(run_dir: str | os.PathLike) -> str | None:
    """Which weights a run has to offer ("best", else "last"); None if it has none."""
    return next((w for w in WEIGHTS if weights_path(run_dir, w).is_file()), None)


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
    """Write the project as trained, its dataset files (and the runs its training starts from
    or learns from) made absolute so it loads from anywhere."""
    copy = project.copy()
    for dataset in copy.datasets.values():
        if not dataset.source.startswith("embedded:"):
            dataset.source = str(project.resolve(dataset.source).resolve())
    for setting, key in run_settings(copy):
        setting[key] = str(project.resolve(setting[key]).resolve())
    path = project_path(run_dir)
    atomic_write(path, copy.to_json())
    return path


class RunLog:
    """Appends events and metrics to a run folder and keeps run.json current."""

    def __init__(self, run_dir: Path, info: dict[str, Any], columns: tuple[str, ...] = (),
                 resumed_epochs: int | None = None):
        """A new run's log; ``columns`` follow the usual ones in metrics.csv (one per optimizer
        and monitor of a project that has several); ``resumed_epochs``: go on with the run
        already in the folder, its metrics kept up to that epoch (rows of later epochs are
        redone by the resumed run)."""
        self.run_dir = Path(run_dir)
        self.header = METRICS_HEADER + tuple(columns)
        if resumed_epochs is not None:
            info = {**read_run(run_dir), **info, "status": "running", "finished": None,
                    "message": "", "host": host_id(), "pid": os.getpid(), "heartbeat": now()}
            info.pop("path", None)
            _keep_metrics(self.run_dir / METRICS_FILE, resumed_epochs)
        self.info = {"name": self.run_dir.name, "started": now(), "finished": None,
                     "status": "running", "device": None, "device_name": None, "epochs": None,
                     "epochs_done": 0, "best_val_error": None, "best_epoch": None,
                     "message": "", "host": host_id(), "pid": os.getpid(), "heartbeat": now(),
                     **info}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._events = open(self.run_dir / EVENTS_FILE, "a", encoding="utf-8")
        metrics_path = self.run_dir / METRICS_FILE
        fresh = not metrics_path.exists()
        self._metrics_file = open(metrics_path, "a", encoding="utf-8", newline="")
        self._metrics = csv.writer(self._metrics_file)
        self._written = -self.WRITE_EVERY
        self._flushed = time.monotonic()
        if fresh:
            self._metrics.writerow(self.header)
            self._metrics_file.flush()
        self.update()
        threading.Thread(target=self._beat, name="run heartbeat", daemon=True).start()

    FLUSH_EVERY = 1.0  # seconds; live progress travels as events on stdout, not these files

    def event(self, event: dict[str, Any]) -> None:
        self._events.write(json.dumps(event) + "\n")
        self._flush_now_and_then()

    def metrics(self, row: dict[str, Any]) -> None:
        """One finished epoch, on disk at once: a killed run keeps every epoch it finished."""
        self._metrics.writerow(["" if row.get(k) is None else row[k] for k in self.header])
        self._metrics_file.flush()
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
        with self._lock:
            self.info.update(fields)
            if "status" not in fields and time.monotonic() - self._written < self.WRITE_EVERY:
                return
            if self.info["status"] != "running":  # the end: everything on disk, no more beats
                self._closed.set()
                self._events.flush()
                self._metrics_file.flush()
            self._write()

    def _write(self) -> None:
        self._written = time.monotonic()
        self.info["heartbeat"] = now()
        self.info["name"] = _current_name(self.run_dir) or self.info["name"]  # a user's rename
        atomic_write(self.run_dir / RUN_FILE, json.dumps(self.info, indent=2) + "\n",
                     durable=False)

    def _beat(self) -> None:
        """Touch run.json while the run goes on, however long an epoch takes."""
        while not self._closed.wait(HEARTBEAT_EVERY):
            with self._lock:
                if self._closed.is_set():
                    return
                try:
                    self._write()
                except OSError:
                    pass  # the next beat tries again; the run itself goes on

    def close(self) -> None:
        self._closed.set()
        self._events.close()
        self._metrics_file.close()


def _keep_metrics(path: Path, epochs: int) -> None:
    """metrics.csv with the rows of the first ``epochs`` epochs only."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        return
    kept = [row for row in rows[1:] if row and _float_or_none(row[0], math.inf) <= epochs]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0] if rows else METRICS_HEADER, *kept])  # its columns


def _current_name(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """run.json of a run folder, with ``path`` added; a run whose trainer is gone is recorded
    as interrupted first."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir}: not a run folder (it has no {RUN_FILE})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{run_dir / RUN_FILE}: not a JSON object")
    info = settle(run_dir, info)
    info["path"] = str(run_dir)
    return info


def trainer_lost(info: dict[str, Any], at: float | None = None) -> bool:
    """Whether a run marked "running" has lost its trainer: its process on this machine has
    ended, or its run.json has not been touched for HEARTBEAT_LOST seconds (a trainer on
    another machine, or a process id this machine has since given to another program)."""
    if info.get("status") != "running":
        return False
    beat = _parse_time(info.get("heartbeat")) or _parse_time(info.get("started"))
    if beat is not None and (at or time.time()) - beat.timestamp() > HEARTBEAT_LOST:
        return True
    pid = info.get("pid")
    if info.get("host") == host_id() and isinstance(pid, int) and not isinstance(pid, bool):
        return not process_alive(pid)
    return False


def settle(run_dir: str | os.PathLike, info: dict[str, Any]) -> dict[str, Any]:
    """``info`` (a run's run.json), with a run that lost its trainer recorded as interrupted,
    in run.json too when the folder can be written."""
    if not trainer_lost(info):
        return info
    done = info.get("epochs_done")
    # the last sign of life ends it; without one, the duration comes from metrics.csv
    info = {**info, "status": INTERRUPTED, "finished": info.get("heartbeat"),
            "message": f"the trainer stopped without finishing (killed, crashed or its "
                       f"machine went down) after {done if isinstance(done, int) else 0} "
                       f"epochs; metrics.csv and the weights keep what it finished"}
    try:
        atomic_write(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2) + "\n")
    except OSError:
        pass  # a read-only folder: the run still reads as interrupted
    return info


def list_runs(project_path: str | os.PathLike) -> list[dict[str, Any]]:
    """The project's runs, newest first (folders without a readable run.json are skipped)."""
    runs = []
    for run_dir in list_run_dirs(runs_folder(project_path)):
        try:
            runs.append(read_run(run_dir))
        except (OSError, ValueError):
            continue
    return sorted(runs, key=lambda r: (r.get("started") or "", r["path"]), reverse=True)


def latest_run(project_path: str | os.PathLike | None) -> Path | None:
    """The newest run of a saved project that left weights; None if there is none."""
    if project_path is None:
        return None
    for info in list_runs(project_path):
        if run_weights(info["path"]):
            return Path(info["path"])
    return None


def run_name(run_dir: str | os.PathLike) -> str:
    """A run's display name (the user may have renamed it), else its folder's."""
    run_dir = Path(run_dir)
    try:
        return str(read_run(run_dir).get("name") or run_dir.name)
    except (OSError, ValueError, AttributeError):
        return run_dir.name


def rename_run(run_dir: str | os.PathLike, name: str) -> None:
    """Store a display name in run.json (the folder keeps its name)."""
    name = name.strip()
    if not name:
        raise ValueError("a run name cannot be empty")
    path = Path(run_dir) / RUN_FILE
    info = json.loads(path.read_text(encoding="utf-8"))
    info["name"] = name
    atomic_write(path, json.dumps(info, indent=2) + "\n")


def list_run_dirs(folder: str | os.PathLike) -> list[Path]:
    """The run folders (those with a run.json) in a project's runs folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_dir() and (p / RUN_FILE).exists()]


@dataclass
class RunInfo:
    """What a run folder says of itself, for the Runs view: run.json, the task and the curves."""

    path: Path
    name: str
    status: str
    started: datetime | None = None
    finished: datetime | None = None
    best_val_error: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    epochs_done: int = 0
    message: str = ""
    task: str = "classification"
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # metrics.csv columns

    @property
    def duration(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        elapsed = self.curves.get("elapsed")
        return float(elapsed[-1]) if elapsed is not None and len(elapsed) else None


def read_run_info(run_dir: str | os.PathLike) -> RunInfo:
    """A run folder's run.json and metrics.csv; an unreadable run.json gives status "unreadable"
    with the reason in ``message`` (so the user can still see and delete it)."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError(f"{RUN_FILE} is not a JSON object")
    except (OSError, ValueError, RecursionError) as e:
        return RunInfo(run_dir, run_dir.name, "unreadable", message=f"{run_dir / RUN_FILE}: {e}")
    info = settle(run_dir, info)

    def whole(key: str, default=None):
        value = info.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    run = RunInfo(
        path=run_dir,
        name=str(info.get("name") or run_dir.name),
        status=str(info.get("status") or "unknown"),
        started=_parse_time(info.get("started")),
        finished=_parse_time(info.get("finished")),
        best_val_error=_float_or_none(info.get("best_val_error")),
        best_epoch=whole("best_epoch"),
        epochs=whole("epochs"),
        epochs_done=whole("epochs_done", 0),
        message=str(info.get("message") or ""),
        task=read_task(run_dir),
    )
    run.curves = read_metrics(run_dir)
    return run


def read_metrics(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """A run's metrics.csv as {column: values}; rows cut short (a run writing right now) are
    skipped."""
    try:
        with open(Path(run_dir) / METRICS_FILE, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    columns: dict[str, list[float]] = {}
    for row in rows:
        if None in row.values() or not row.get("epoch"):
            continue
        for key, value in row.items():
            if key is not None:
                columns.setdefault(key, []).append(_float_or_none(value, math.nan))
    return {key: np.asarray(values, float) for key, values in columns.items()}


def read_task(run_dir: str | os.PathLike) -> str:
    """The task from the first event of events.jsonl ("started"); classification if unknown."""
    try:
        with open(Path(run_dir) / EVENTS_FILE, encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
    except (OSError, ValueError):
        return "classification"
    task = first.get("task") if isinstance(first, dict) else None
    return task if task in TASKS else "classification"


def mark_failed(run_dir: str | os.PathLike, message: str, replace: bool = False) -> bool:
    """Record in run.json that a run still marked "running" has failed (its trainer died and
    could not say so); ``replace`` also rewrites the message of a run already marked failed
    (a launcher that knows better which process failed). True when run.json was changed."""
    path = Path(run_dir) / RUN_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    allowed = ("running", "failed") if replace else ("running",)
    if not isinstance(info, dict) or info.get("status") not in allowed:
        return False
    info.update(status="failed", message=message.splitlines()[0] if message else "",
                finished=now())
    try:
        atomic_write(path, json.dumps(info, indent=2) + "\n")
    except OSError:
        return False
    return True


def _parse_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _float_or_none(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def save_weights(module, path: Path) -> None:
    """The module's state_dict as safetensors, written atomically."""
    save_tensors(module.state_dict(), path)


def save_tensors(state: dict, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Tensors as a safetensors file, written atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(path: str | os.PathLike) -> dict:
    """Tensors from a safetensors file; opening it never runs code from the file."""
    from safetensors.torch import load_file

    return load_file(str(path))


class WeightsError(ValueError):
    """Weights that cannot go into a network; the message names the file, tensor and layer."""


def load_into(compiled, network, path: Path, others: bool = False) -> None:
    """Load a safetensors file into a compiled network, explaining any tensor that does not fit
    in terms of the network's layers. ``others``: the file may hold tensors of other networks
    of the project (a run of several networks saves them all)."""
    import torch

    try:
        state = load_weights(path)
    except Exception as e:  # safetensors has its own error types for damaged files
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    written = compiled.network or network
    by_id = {n.id: n for n in written.nodes}
    layer_of = {attr: f"{by_id[nid].name} ({by_id[nid].type})"
                for nid, attr in compiled.attr_of.items()}
    inverse = {name: attr for attr, name in compiled.names.items()}

    def where(key: str) -> str:
        return layer_of.get(inverse.get(key, key).split(".")[0], "no layer")

    different = "the weights were saved from a different network"
    own = compiled.tensors()
    chosen = {}
    for key, tensor in own.items():
        # files of version 3 projects name a layer's tensors by its attribute in the module
        found = key if key in state else inverse.get(key)
        if found not in state:
            raise WeightsError(f"{path}: tensor {key!r} (layer {where(key)}) is missing; "
                               f"{different}")
        if tuple(state[found].shape) != tuple(tensor.shape):
            raise WeightsError(f"{path}: tensor {key!r} is {shape_text(state[found].shape)} but "
                               f"layer {where(key)} needs {shape_text(tensor.shape)}; {different}")
        if state[found].is_floating_point() and not torch.isfinite(state[found]).all():
            raise WeightsError(f"{path}: tensor {key!r} (layer {where(key)}) holds NaN or "
                               "infinite values (did training diverge?)")
        chosen[key] = state[found]
    extra = sorted(set(state) - set(own) - set(inverse.get(k, k) for k in own))
    if extra and not others:
        raise WeightsError(f"{path}: tensor {extra[0]!r} belongs to no layer of the network; "
                           f"{different}")
    compiled.load_tensors(chosen)


def runs_home(project: Project) -> Path:
    """The project file whose ``<stem>.runs`` folder holds the project's runs.

    An unsaved project has no folder of its own; its runs go to the temporary folder, as if it
    were saved there under its name.
    """
    if project.path is not None:
        return project.path
    return Path(tempfile.gettempdir()) / "nn-designer" / f"{project.name or 'untitled'}.nnd"


# ---- runs made without training, and what was compressed from a run ---------------------------

def record_made_run(run_dir: Path, task: str, **info: Any) -> None:
    """run.json and events.jsonl of a run whose weights were made, not trained (a pruned
    network): it lists, opens, evaluates and starts training like any other run."""
    stamp = now()
    record = {"name": run_dir.name, "started": stamp, "finished": stamp, "status": "done",
              "device": "cpu", "device_name": None, "epochs": 0, "epochs_done": 0,
              "best_val_error": None, "best_epoch": None, "message": "", **info}
    atomic_write(run_dir / EVENTS_FILE, json.dumps({"event": "made", "task": task,
                                                   "time": stamp, **info}) + "\n")
    atomic_write(run_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


def add_compression(run_dir: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Keep a compression's report (its before/after figures) in the run it started from."""
    folder = Path(run_dir) / COMPRESSED_FOLDER
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        path = folder / f"{stamp}-{report.get('method', 'model')}" \
                        f"{'' if attempt == 1 else f'-{attempt}'}.json"
        if not path.exists():
            atomic_write(path, json.dumps(report, indent=2) + "\n")
            return path
    raise FileExistsError(f"{folder}: too many reports at {stamp}")


def compressions(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The reports of the models compressed from a run, oldest first (unreadable ones are
    skipped: a report is a record, not a part of the run)."""
    folder = Path(run_dir) / COMPRESSED_FOLDER
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(report, dict):
            found.append({**report, "report": str(path)})
    return found
