"""Save As ``.sdcproj``: a project written in Neural Network Console's format.

Each layer is written through its spec's NNC facts: every property NNC's editor writes, in its
order, with our values where we model them and the values that mean our behaviour otherwise
(Convolution as BorderMode valid with an explicit Padding, pooling with explicit Strides).
Importing the written file gives the same project: ids follow the layer order, links keep their
order (a two-input layer's first input first), positions map back exactly, and a dataset that
was not found keeps NNC's URI. Layers NNC lacks (our fused LSTM, GRU and RNN) are refused by
name.
"""
from __future__ import annotations

import math
from pathlib import Path

from nodes import Prop

from designer.core.analysis import analyze
from designer.core.nnc.config import SOLVERS
from designer.core.nnc.ini import NncError
from designer.core.files import atomic_write
from designer.core.project import Network, Project


def write_project(project: Project, path: str | Path) -> list[str]:
    """Write ``project`` to ``path`` (atomically); returns what NNC cannot express."""
    text, notes = write_text(project)
    atomic_write(Path(path), text)
    return notes


def write_text(project: Project) -> tuple[str, list[str]]:
    """The file's text (CRLF, as NNC's editor writes) and the notes."""
    lacking = [f"{node.type} `{node.name}`" for net in project.networks for node in net.nodes
               if node.spec.nnc is None]
    if lacking:
        raise NncError(f"{project.name} cannot be written for Neural Network Console, which has "
                       f"no such layer: {', '.join(lacking)}", lacking)
    notes: list[str] = []
    lines = ["[Engine]", "SDeepEngineType=NNabla", "RNNTrainingMode=0"]
    single = [n.name for n in project.networks] == ["Main"]
    if not single:
        lines += ["[Global]", f"NumNetwork={len(project.networks)}"]
        lines += [f"Network_{k}={net.name}" for k, net in enumerate(project.networks)]
    for net in project.networks:
        lines += _network(net, "" if single else f"{net.name}_", notes)
    lines += _datasets(project, notes)
    lines += ["[Description]", "Text=" + project.description.replace("\n", "\\n")]
    lines += _config(project, notes)
    return "\r\n".join(lines) + "\r\n", notes


# ---- networks --------------------------------------------------------------------------------

def _network(net: Network, prefix: str, notes: list[str]) -> list[str]:
    info = analyze(net).nodes
    index = {node.id: i for i, node in enumerate(net.nodes)}
    lines = [f"[{prefix}Network_Global]", f"NumLayer={len(net.nodes)}",
             f"NumLink={len(net.links)}"]
    for i, node in enumerate(net.nodes):
        facts, props = node.spec.nnc, info[node.id].props or node.spec.parse_props(node.props)
        computed = {}
        if facts.write is not None:
            if info[node.id].inputs:
                computed = facts.write(props, info[node.id].inputs)
            else:
                notes.append(f"{node.type} `{node.name}`: its input's shape is unknown, so its "
                             f"NNC properties are incomplete")
        x, y = node.pos
        lines += [f"[{prefix}Layer_{i}]", f"ID={i}", f"Type={facts.type}",
                  f"Position_0={24 + 24 * round(x / 24)}", f"Position_1={24 + 24 * round(y / 48)}",
                  "Position_2=240", "Position_3=48",
                  "Property_0_Name=Name", f"Property_0_Value={node.name}"]
        k = 1
        for prop in facts.props:
            if not prop.written:
                continue
            if prop.name in computed:
                value = computed[prop.name]
            elif prop.ours and prop.blank and props[prop.ours] == "":
                value = prop.blank
            elif prop.ours:
                value = _text(node.spec.prop_map[prop.ours], props[prop.ours])
            else:
                value = prop.neutral
            lines += [f"Property_{k}_Name={prop.name}", f"Property_{k}_Value={value}"]
            k += 1
        lines.append(f"NumProperty={k}")
    for i, link in enumerate(_nnc_order(net)):
        dst = net.node(link.dst)
        port = dst.spec.inputs[link.port] if link.port < len(dst.spec.inputs) else ""
        pin = dst.spec.nnc.pins.index(port) + 1 if port in dst.spec.nnc.pins else 0
        lines += [f"[{prefix}Link_{i}]", f"ID={i}", f"SourceLayerID={index[link.src]}",
                  "SourcePinIndex=0", f"DestLayerID={index[link.dst]}", f"DestPinIndex={pin}"]
    return lines


def _nnc_order(net: Network) -> list:
    """Our links in our order, except that the links into one layer whose inputs NNC reads in
    link order (Add2 and the like) are put in port order, in the places they take."""
    links = list(net.links)
    by_dst: dict[str, list[int]] = {}
    for i, link in enumerate(links):
        by_dst.setdefault(link.dst, []).append(i)
    for dst, places in by_dst.items():
        if net.node(dst).spec.nnc.multiple and len(places) > 1:
            ordered = sorted((links[i] for i in places), key=lambda k: k.port)
            for place, link in zip(places, ordered):
                links[place] = link
    return links


def _text(prop: Prop, value) -> str:
    if prop.kind == "bool":
        return "True" if value else "False"
    if prop.kind == "shape":
        return ",".join(str(v) for v in value)
    if prop.kind == "float":
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    return repr(float(value))


# ---- datasets and training -----------------------------------------------------------------

def _datasets(project: Project, notes: list[str]) -> list[str]:
    roles = [(role, name) for role, name in (("training", "Training"),
                                             ("validation", "Validation"))
             if role in project.datasets]
    roles += [(key, key) for key in project.datasets if key not in ("training", "validation")]
    lines = ["[Dataset]", f"Num={len(roles)}", "MainIndex=0"]
    for i, (role, name) in enumerate(roles):
        ds = project.datasets[role]
        if ds.source.startswith("embedded:"):
            notes.append(f"dataset {name}: {ds.source} is built into this app; for NNC, write it "
                         f"out with 'python -m designer dataset {ds.source[9:]} -o FOLDER' and "
                         "point NNC at FOLDER/index.csv")
        lines += [f"[Dataset_{i}]", f"Name={name}", f"URI={_uri(project, ds.source)}",
                  f"Shuffle={int(ds.shuffle)}", f"EnableCache={int(ds.cache)}",
                  f"ImageNormalization={int(ds.normalize)}", "NumData=0"]
    if "training" in project.datasets and "validation" not in project.datasets:
        notes.append(f"training.validation_split {project.training.validation_split:g} not "
                     "carried over (NNC validates on a dataset of its own)")
    return lines


def _uri(project: Project, source: str) -> str:
    """A file as an absolute path; an NNC URI kept from an import (not found here) as it was."""
    if not source or source.startswith("embedded:") or Path(source).is_absolute():
        return source
    path = project.resolve(source)
    return str(path) if path.exists() else source


def _config(project: Project, notes: list[str]) -> list[str]:
    cfg = project.training
    net = cfg.network
    validation = "validation" in project.datasets
    lines = ["[Config]", f"MaxEpoch={cfg.epochs}", "SaveBest=1", f"BatchSize={cfg.batch_size}",
             f"TypeConfig={cfg.precision.capitalize()}", "MonitorInterval=1", "NumOptimizer=1",
             f"NumMonitor={2 if validation else 1}", "NumExecutor=1",
             "[Optimizer_0]", "Optimizer_Name=Optimizer", f"Optimizer_NetworkName={net}",
             "Optimizer_DatasetName=Training", "UpdateInterval=1"]
    lines += _solver(cfg.optimizer, notes)
    lines += _schedule(cfg.schedule, notes)
    if cfg.init:
        notes.append(f"training.init (start from the {cfg.init['weights']} weights of run "
                     f"{cfg.init['run']}) not carried over (an NNC project has no such setting)")
    if cfg.distill:
        notes.append(f"training.distill (learn from teacher run {cfg.distill['teacher']}) not "
                     "carried over (an NNC project has no such setting)")
    lines += ["RangeFrom=-1", "RangeTo=-1", "RangeUnit=0",
              "[Monitor_0]", "Monitor_Name=train_error", f"Monitor_NetworkName={net}Validation",
              "Monitor_DatasetName=Training"]
    if validation:
        lines += ["[Monitor_1]", "Monitor_Name=valid_error",
                  f"Monitor_NetworkName={net}Validation", "Monitor_DatasetName=Validation"]
    lines += ["[Executor_0]", "Executor_Name=Executor", f"Executor_NetworkName={net}Runtime",
              f"Executor_DatasetName={'Validation' if validation else 'Training'}",
              "NumEvaluations=1", "RepeatEvaluationType=0", "NeedBackPropagation=0",
              "[Script]", "Enabled=0", "NumScript=0",
              "[StructureSearch]", "Enabled=0", "Method=Random", "Objective=ErrorAndCalculation",
              "Validation_Min=-1", "Validation_Max=-1", "CostMultiplyAdd_Min=-1",
              "CostMultiplyAdd_Max=-1", "EarlyStopping=0", "TimeLimit=0"]
    return lines


def _solver(optimizer: dict, notes: list[str]) -> list[str]:
    from designer.core.optim import optimizer_settings  # torch loads only for this

    kind = optimizer["type"]
    settings = optimizer_settings(optimizer)
    name, parameters = next((n, p) for n, (ours, p) in SOLVERS.items() if ours == kind)
    pairs = [(nnc_name, settings[ours]) for nnc_name, (ours, _) in parameters.items()]
    carried = {ours for ours, _ in parameters.values()} | {"weight_decay"}
    for key in sorted(set(settings) - carried):
        if settings[key]:
            notes.append(f"training.optimizer.{key} {settings[key]:g} not carried over (NNC's "
                         f"{name} has no such setting)")
    decay = 0.0 if kind == "AdamW" else settings.get("weight_decay", 0.0)
    lines = [f"SolverName={name}", f"SolverParameterNum={len(pairs)}"]
    for j, (nnc_name, value) in enumerate(pairs):
        lines += [f"SolverParameterName_{j}={nnc_name}", f"SolverParameter_{j}={_number(value)}"]
    return lines + [f"WeightDecay={_number(decay)}"]


def _schedule(schedule: dict, notes: list[str]) -> list[str]:
    """Our schedule as NNC's: constant and step are NNC's Exponential staircase (γ every
    `step` epochs), cosine and polynomial its own, a warm-up its Linear warm-up."""
    kind = schedule.get("type", "constant")
    gamma, interval, power, name = 1.0, 1.0, 1.0, "Exponential"
    if kind == "step":
        gamma, interval = schedule.get("gamma", 0.1), schedule.get("step", 10)
        if not float(interval).is_integer():
            notes.append(f"training.schedule step {interval:g}: NNC's interval is whole epochs; "
                         f"{math.ceil(interval)} is written")
            interval = math.ceil(interval)
    elif kind == "exponential":
        gamma = schedule.get("gamma", 0.95)
        notes.append("training.schedule exponential: written as NNC's staircase (×γ after each "
                     "epoch) instead of a smooth decay")
    elif kind in ("cosine", "polynomial"):
        name = kind.capitalize()
        power = schedule.get("power", 1.0)
        if schedule.get("min_lr", 0.0):
            notes.append(f"training.schedule min_lr {schedule['min_lr']:g} not carried over "
                         "(NNC decays to 0)")
    warmup = schedule.get("warmup", 0)
    lines = [f"LearningRateScheduler={name}", f"LearningRateMultiplier={_number(gamma)}",
             f"LearningRateUpdateInterval={int(interval)}", "LearningRateUpdateIntervalUnit=0",
             f"LearningRatePower={_number(power)}", "LearningRateSteps="]
    if warmup:
        return lines + ["LearningRateWarmupScheduler=Linear",
                        f"LearningRateWarmupLength={_number(warmup)}",
                        "LearningRateWarmupLengthUnit=0"]
    return lines + ["LearningRateWarmupScheduler=None", "LearningRateWarmupLength=0",
                    "LearningRateWarmupLengthUnit=0"]
