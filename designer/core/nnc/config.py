"""A ``.sdcproj`` file's training configuration, datasets and description, as ours.

NNC's conventions honoured here: a missing ``LearningRateScheduler`` means Exponential and a
missing update-interval unit means iterations (a missing warm-up unit means epochs); NNC's
Exponential schedule is a staircase (γ every interval), which is our ``step``; Cosine and
Polynomial run over the whole training and ignore the multiplier and interval.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from designer.core.nnc.ini import Ini, NncError
from designer.core.project import DATASET_NAME, DATASET_ROLES, Dataset, TrainingConfig

# NNC SolverName -> (our optimizer, {NNC parameter: (our setting, NNC's default)})
_ADAM = {"Alpha": ("lr", 0.001), "Beta1": ("beta1", 0.9), "Beta2": ("beta2", 0.999),
         "Epsilon": ("eps", 1e-8)}
_RATE = {"LearningRate": ("lr", 0.01)}
_MOMENTUM = {**_RATE, "Momentum": ("momentum", 0.9)}
SOLVERS: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    "Adam": ("Adam", _ADAM),
    "AdamW": ("AdamW", {**_ADAM, "Weight Decay": ("weight_decay", 1e-4)}),
    "Sgd": ("SGD", _RATE),
    "SGD": ("SGD", _RATE),
    "Momentum": ("Momentum", _MOMENTUM),
    "Nesterov": ("Nesterov", _MOMENTUM),
    "RMSprop": ("RMSprop", {"LearningRate": ("lr", 0.001), "Decay": ("rho", 0.9),
                            "Epsilon": ("eps", 1e-8)}),
    "Adagrad": ("Adagrad", {"LearningRate": ("lr", 0.01), "Epsilon": ("eps", 1e-8)}),
    "Adadelta": ("Adadelta", {"LearningRate": ("lr", 1.0), "Decay": ("rho", 0.95),
                              "Epsilon": ("eps", 1e-6)}),
}

STANDARD_MONITORS = ("train_error", "valid_error")


@dataclass
class Datasets:
    """Our datasets by role, the NNC name of each role, and the roles whose file is missing."""

    by_role: dict[str, Dataset] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # role -> NNC dataset name
    missing: dict[str, str] = field(default_factory=dict)  # role -> the URI not found
    sizes: dict[str, int] = field(default_factory=dict)  # role -> samples, when known


# ---- datasets --------------------------------------------------------------------------------

def read_datasets(ini: Ini, folder: Path, overrides: dict[str, str], sdcpath: Path | None,
                  roles: dict[str, str], notes: list[str]) -> Datasets:
    """The datasets: ``roles`` maps training/validation to NNC dataset names; any other keeps
    its NNC name (a project holds named datasets beside the two that training reads).
    ``overrides`` maps an NNC dataset name (or role) to a local file or an ``embedded:``
    dataset."""
    present = sum(1 for s in ini.sections if re.fullmatch(r"Dataset_\d+", s))
    n = ini.count("Dataset", "Num", "datasets", present, 1000) if ini.has("Dataset") else 0
    entries = {}
    for i in range(n):
        section = f"Dataset_{i}"
        entries[ini.text(section, "Name")] = section
    unknown = [k for k in overrides if k not in entries and k.lower() not in roles]
    if unknown:
        raise NncError(f"{ini.source}: --dataset {unknown[0]}: the project has no dataset of "
                       f"that name (it has {', '.join(entries) or 'none'})")
    out = Datasets()
    extra = {}
    for name in entries:
        if name in roles.values():
            continue
        if DATASET_NAME.fullmatch(name) and name.lower() not in DATASET_ROLES:
            extra[name] = name
        else:
            notes.append(f"dataset {name}: not carried over (a dataset name here is letters, "
                         "digits, _ and -, and training and validation are taken)")
    for role, name in {**roles, **extra}.items():
        section = entries.get(name)
        if section is None:
            continue
        out.names[role] = name
        uri = ini.text(section, "URI", "")
        override = overrides.get(name, overrides.get(role))
        source, found = _locate(uri, override, folder, sdcpath, name, notes)
        out.by_role[role] = Dataset(source, shuffle=ini.flag(section, "Shuffle", True),
                                    normalize=ini.flag(section, "ImageNormalization", False),
                                    cache=ini.flag(section, "EnableCache", False))
        if not found:
            out.missing[role] = uri
        size = ini.integer(section, "NumData", 0, low=0)
        if size:
            out.sizes[role] = size
    return out


def _locate(uri: str, override: str | None, folder: Path, sdcpath: Path | None, name: str,
            notes: list[str]) -> tuple[str, bool]:
    """(our source, whether it was found). A dataset not found keeps NNC's URI as its source,
    so writing the project back to NNC keeps it too."""
    if override is not None:
        if override.startswith("embedded:"):
            return override, True
        path = Path(override).expanduser().absolute()
        if not path.exists():
            raise NncError(f"--dataset {name}={override}: file not found")
        return str(path), True
    text = uri.strip()
    if not text:
        return uri, False
    if text.startswith("embedded:"):
        return text, True
    if re.fullmatch(r"[0-9a-fA-F-]{36}/\S+", text):
        notes.append(f"dataset {name}: {text} is a dataset in NNC's cloud, not carried over")
        return uri, False
    candidates = []
    if text.startswith("{SDCPATH}"):
        relative = text[len("{SDCPATH}"):].replace("\\", "/")
        candidates += [folder / relative] + ([sdcpath / relative] if sdcpath else [])
    else:
        for form in (text, text.replace("\\", "/")):
            path = Path(form)
            candidates.append(path if path.is_absolute() else folder / path)
    for path in candidates:
        if path.is_file():
            return str(path.absolute()), True
    return uri, False


def dataset_roles(ini: Ini, training_name: str, notes: list[str]) -> dict[str, str]:
    """training: the optimizer's dataset; validation: the valid_error monitor's, else the
    executor's (if another), else one named Validation, else the only other one."""
    names = [ini.text(s, "Name") for s in ini.sections if re.fullmatch(r"Dataset_\d+", s)]
    roles = {"training": training_name}
    candidates = [ini.text(s, "Monitor_DatasetName", "") for s in ini.sections
                  if re.fullmatch(r"Monitor_\d+", s) and
                  ini.text(s, "Monitor_Name", "") == "valid_error"]
    candidates += [ini.text(s, "Executor_DatasetName", "") for s in ini.sections
                   if re.fullmatch(r"Executor_\d+", s)]
    candidates.append("Validation")
    others = [n for n in names if n != training_name]
    if len(others) == 1:
        candidates.append(others[0])
    for candidate in candidates:
        if candidate and candidate != training_name and candidate in names:
            roles["validation"] = candidate
            break
    return roles


# ---- training ----------------------------------------------------------------------------------

@dataclass
class Optimizer:
    """One [Optimizer_i]: the network it trains, its dataset, solver and schedule section."""

    section: str
    network: str
    dataset: str


def read_optimizers(ini: Ini, notes: list[str]) -> list[Optimizer]:
    """Every optimizer of the file. Only the first trains here: several optimizers (a GAN's)
    are the structures that come with several trained networks, and the rest are noted."""
    present = sum(1 for s in ini.sections if re.fullmatch(r"Optimizer_\d+", s))
    n = ini.count("Config", "NumOptimizer", "optimizers", present, 100)
    optimizers = [Optimizer(f"Optimizer_{i}", ini.text(f"Optimizer_{i}", "Optimizer_NetworkName"),
                            ini.text(f"Optimizer_{i}", "Optimizer_DatasetName", "Training"))
                  for i in range(n)]
    for extra in optimizers[1:]:
        notes.append(f"[{extra.section}] a second optimizer (network {extra.network}) is not "
                     "carried over: the project trains with the first")
    return optimizers


def read_training(ini: Ini, optimizer: Optimizer | None, network: str, iterations: int | None,
                  notes: list[str]) -> TrainingConfig:
    """Epochs, batch size, precision, solver and schedule. ``iterations`` per epoch (NNC's
    ⌊samples / batch size⌋) converts schedules counted in iterations, when known."""
    cfg = TrainingConfig(network=network)
    epochs = ini.integer("Config", "MaxEpoch", 10, low=0)
    if epochs == 0:
        notes.append("[Config] MaxEpoch=0 (no training) not carried over; 10 epochs are set")
    else:
        cfg.epochs = epochs
    cfg.batch_size = ini.integer("Config", "BatchSize", 64, low=1)
    kind = ini.text("Config", "TypeConfig", "Float").strip()
    if kind in ("Float", "Half"):
        cfg.precision = kind.lower()
    else:
        notes.append(f"[Config] TypeConfig={kind} not carried over (Float or Half)")
    if optimizer is None:
        notes.append("[Config] the project has no optimizer; Adam with NNC's defaults is set")
        cfg.optimizer = {"type": "Adam", **{k: v for k, v in _ADAM.values()}}
        return cfg
    section = optimizer.section
    if ini.integer(section, "UpdateInterval", 1, low=1) > 1:
        notes.append(f"[{section}] UpdateInterval={ini.text(section, 'UpdateInterval')} "
                     "(gradients summed over several iterations) not carried over")
    for key in ("RangeFrom", "RangeTo"):
        if ini.integer(section, key, -1) != -1:
            notes.append(f"[{section}] {key}={ini.text(section, key)} (training only part of the "
                         "time) not carried over")
    cfg.optimizer = _solver(ini, section, notes)
    cfg.schedule = _schedule(ini, section, cfg.epochs, iterations, notes)
    return cfg


def _solver(ini: Ini, section: str, notes: list[str]) -> dict:
    name = ini.text(section, "SolverName", "Adam").strip()
    if name not in SOLVERS:
        notes.append(f"[{section}] solver {name} not carried over (this app has "
                     f"{', '.join(sorted({ours for ours, _ in SOLVERS.values()}))}); Adam is set")
        name = "Adam"
    ours, parameters = SOLVERS[name]
    settings = {setting: default for setting, default in parameters.values()}
    values = ini.section(section).values
    present = sum(1 for k in values if re.fullmatch(r"SolverParameterName_\d+", k))
    count = (ini.count(section, "SolverParameterNum", "solver parameters", present, 100)
             if "SolverParameterNum" in values else 0)
    for j in range(count):
        key = ini.text(section, f"SolverParameterName_{j}")
        if key in parameters:
            settings[parameters[key][0]] = ini.number(section, f"SolverParameter_{j}")
        else:
            notes.append(f"[{section}] solver parameter {key!r} not carried over ({name} has "
                         f"{', '.join(parameters)})")
    decay = ini.number(section, "WeightDecay", 0.0)
    if decay and ours == "AdamW":
        notes.append(f"[{section}] WeightDecay={decay:g} on top of AdamW's own not carried over")
    elif decay:
        settings["weight_decay"] = decay
    elif ours != "AdamW":
        settings["weight_decay"] = 0.0
    return {"type": ours, **settings}


def _schedule(ini: Ini, section: str, epochs: int, iterations: int | None,
              notes: list[str]) -> dict:
    kind = ini.text(section, "LearningRateScheduler", "Exponential").strip()
    gamma = ini.number(section, "LearningRateMultiplier", 1.0)
    in_epochs = ini.text(section, "LearningRateUpdateIntervalUnit", "").strip() == "0"
    schedule: dict = {"type": "constant"}
    where = f"[{section}] LearningRateScheduler={kind}"
    if kind == "Exponential":
        interval = ini.number(section, "LearningRateUpdateInterval", 1.0)
        schedule = _staircase(gamma, interval, in_epochs, iterations, where, notes)
    elif kind == "Step":
        steps = _steps(ini, section)
        schedule = _step(gamma, steps, in_epochs, iterations, epochs, where, notes)
    elif kind == "Polynomial":
        power = ini.number(section, "LearningRatePower", 1.0)
        if power > 0:
            schedule = {"type": "polynomial", "power": power, "min_lr": 0.0}
    elif kind == "Cosine":
        schedule = {"type": "cosine", "min_lr": 0.0}
    else:
        notes.append(f"{where} not carried over (NNC's own trainer cannot run it either); the "
                     "rate stays constant")
    warmup = _warmup(ini, section, epochs, iterations, notes)
    if warmup:
        schedule["warmup"] = warmup
    return schedule


def _staircase(gamma: float, interval: float, in_epochs: bool, iterations: int | None,
               where: str, notes: list[str]) -> dict:
    """NNC's Exponential: the rate times γ after every interval (a staircase)."""
    if gamma == 1:
        return {"type": "constant"}
    if not 0 < gamma < 1 or interval <= 0:
        notes.append(f"{where} with γ={gamma:g} every {interval:g} not carried over (γ must be "
                     "between 0 and 1); the rate stays constant")
        return {"type": "constant"}
    if in_epochs:
        return {"type": "step", "step": _whole(interval), "gamma": gamma}
    if not iterations:
        notes.append(f"{where}: a decay every {interval:g} iterations needs the dataset's size "
                     "(NumData), which the file does not give; the rate stays constant")
        return {"type": "constant"}
    if interval % iterations == 0:
        return {"type": "step", "step": _whole(interval / iterations), "gamma": gamma}
    notes.append(f"{where}: a decay every {interval:g} iterations is approximated by a smooth "
                 f"decay of {gamma ** (iterations / interval):.6g} per epoch")
    return {"type": "exponential", "gamma": gamma ** (iterations / interval)}


def _steps(ini: Ini, section: str) -> list[float]:
    text = ini.text(section, "LearningRateSteps", "").strip()
    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ini.fail(ini.line(section, "LearningRateSteps"),
                       f"[{section}] LearningRateSteps must be numbers separated by commas, "
                       f"not {text!r}") from None


def _step(gamma: float, steps: list[float], in_epochs: bool, iterations: int | None,
          epochs: int, where: str, notes: list[str]) -> dict:
    """NNC's Step: γ at each milestone. Evenly spaced milestones are our step schedule."""
    if gamma == 1 or not steps:
        return {"type": "constant"}
    if not in_epochs:
        if not iterations:
            notes.append(f"{where}: milestones in iterations need the dataset's size; the rate "
                         "stays constant")
            return {"type": "constant"}
        steps = [s / iterations for s in steps]
    first = steps[0]
    even = all(math.isclose(s, first * (k + 1)) for k, s in enumerate(steps))
    if not (0 < gamma < 1) or first <= 0:
        notes.append(f"{where} with γ={gamma:g} not carried over; the rate stays constant")
        return {"type": "constant"}
    if not even or (len(steps) + 1) * first < epochs:
        notes.append(f"{where}: milestones {', '.join(f'{s:g}' for s in steps)} are not evenly "
                     f"spaced to the end; a decay every {first:g} epochs is set")
    return {"type": "step", "step": _whole(first), "gamma": gamma}


def _warmup(ini: Ini, section: str, epochs: int, iterations: int | None,
            notes: list[str]) -> float:
    if ini.text(section, "LearningRateWarmupScheduler", "None").strip() in ("None", ""):
        return 0.0
    length = ini.number(section, "LearningRateWarmupLength", 0.0)
    in_epochs = ini.text(section, "LearningRateWarmupLengthUnit", "0").strip() == "0"
    if not in_epochs:
        if not iterations:
            notes.append(f"[{section}] a warm-up of {length:g} iterations needs the dataset's "
                         "size; no warm-up is set")
            return 0.0
        length = length / iterations
    if length >= epochs:
        notes.append(f"[{section}] a warm-up of {length:g} epochs leaves no training; not set")
        return 0.0
    if length > 0:
        notes.append(f"[{section}] linear warm-up of {length:g} epochs: approximated (here it "
                     "rises from 1 % of the rate, and the schedule starts after it)")
    return _whole(length)


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# ---- monitors, executors, the rest -------------------------------------------------------------

def check_monitors_and_executors(ini: Ini, trained: str, notes: list[str]) -> None:
    """NNC's default monitors and executor are what this app does anyway; others are noted."""
    own = (trained, f"{trained}Validation", f"{trained}Runtime")
    for section in [s for s in ini.sections if re.fullmatch(r"Monitor_\d+", s)]:
        name = ini.text(section, "Monitor_Name", "")
        network = ini.text(section, "Monitor_NetworkName", "")
        if name not in STANDARD_MONITORS or network not in own:
            notes.append(f"[{section}] monitor {name} on network {network} not carried over "
                         f"(the app reports the training and validation loss of {trained})")
    for section in [s for s in ini.sections if re.fullmatch(r"Executor_\d+", s)]:
        network = ini.text(section, "Executor_NetworkName", "")
        settings = (ini.integer(section, "NumEvaluations", 1),
                    ini.integer(section, "RepeatEvaluationType", 0),
                    ini.integer(section, "NeedBackPropagation", 0))
        if network not in own:
            notes.append(f"[{section}] the executor runs network {network}: not carried over "
                         f"(evaluation and export use the trained network {trained})")
        if settings != (1, 0, 0):
            notes.append(f"[{section}] NumEvaluations={settings[0]}, RepeatEvaluationType="
                         f"{settings[1]}, NeedBackPropagation={settings[2]} not carried over "
                         "(each sample is evaluated once)")
    for section in ("StructureSearch", "Script"):
        if ini.has(section) and ini.text(section, "Enabled", "0").strip() != "0":
            notes.append(f"[{section}] Enabled=1 not carried over")


def description(ini: Ini) -> str:
    if not ini.has("Description"):
        return ""
    return ini.text("Description", "Text", "").replace("\\n", "\n")
