"""Start from a run's weights: transfer learning and fine-tuning.

``training.init = {"run": RUN_DIR, "weights": "best"|"last"}`` (or ``train --init RUN_DIR``):
each layer of the network whose name, type and tensor shapes match a layer of the network the
run trained takes that layer's weights; every other layer keeps its initialisation. The report
says which layers were taken, which were left and why (a shape that does not fit names both
shapes), and which of the run's layers went unused. A run none of whose layers fit is refused:
it trained another network.

Freezing is the layers' own business (``<tensor>.LRateMultiplier`` 0): a layer taken from the
run and frozen keeps the run's values bit for bit.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nodes import shape_text

from designer.core import runs
from designer.core.analysis import analyze
from designer.core.compiler import Compiled, attribute_names, compile_network
from designer.core.project import Network, ProjectError, load


class InitError(ValueError):
    """The run cannot be started from; the message names the folder, file or layers."""


@dataclass
class Left:
    layer: str
    reason: str


@dataclass
class InitReport:
    """What starting from a run did to each layer with weights."""

    run: str  # the run folder
    weights: str  # best or last
    taken: list[str] = field(default_factory=list)  # layers that took the run's weights
    left: list[Left] = field(default_factory=list)  # layers left at their initialisation
    unused: list[str] = field(default_factory=list)  # the run's layers nothing took

    def to_event(self) -> dict[str, Any]:
        return {"event": "init", **asdict(self)}

    @classmethod
    def from_event(cls, event: dict) -> InitReport:
        return cls(str(event.get("run", "")), str(event.get("weights", "")),
                   [str(x) for x in event.get("taken", [])],
                   [Left(str(x.get("layer", "")), str(x.get("reason", "")))
                    for x in event.get("left", []) if isinstance(x, dict)],
                   [str(x) for x in event.get("unused", [])])

    def lines(self) -> list[str]:
        """The report as a user reads it, one line per finding."""
        name = Path(self.run).name
        out = [f"starting from the {self.weights} weights of run {name}: "
               f"{_count(self.taken, 'layer')} taken ({', '.join(self.taken)})"]
        if self.left:
            out.append(f"left at their initialisation: {_count(self.left, 'layer')}")
            out += [f"  {left.layer}: {left.reason}" for left in self.left]
        if self.unused:
            out.append(f"not used from the run: {', '.join(self.unused)}")
        return out


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"


# ---- the run -------------------------------------------------------------------------------

def run_network(run_dir: str | os.PathLike) -> Network:
    """The network a run trained (its project.nnd); InitError if the folder is no run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InitError(f"{run_dir}: run folder not found")
    snapshot = runs.project_path(run_dir)
    if not snapshot.is_file():
        raise InitError(f"{run_dir}: not a run folder (it has no {snapshot.name})")
    try:
        return load(snapshot).network()
    except ProjectError as e:
        raise InitError(str(e)) from None


def weights_file(run_dir: str | os.PathLike, which: str) -> Path:
    """The run's ``best`` or ``last`` weights file; InitError names what the run has instead."""
    path = runs.weights_path(run_dir, which)
    if not path.is_file():
        other = [w for w in runs.WEIGHTS if w != which and runs.weights_path(run_dir, w).is_file()]
        hint = (f"; it has {other[0]} weights (choose those)" if other
                else "; the run saved no weights (it may have failed or be starting)")
        raise InitError(f"{path}: weights file not found{hint}")
    return path


def _run_state(run_dir: Path, which: str) -> dict[str, torch.Tensor]:
    path = weights_file(run_dir, which)
    try:
        return runs.load_weights(path)
    except Exception as e:  # safetensors has its own error types for damaged files
        raise InitError(f"{path}: not a readable safetensors file ({e})") from None


# ---- matching --------------------------------------------------------------------------------

def plan(network: Network, attr_of: dict[str, str], own: dict[str, tuple[int, ...]],
         run_dir: str | os.PathLike, which: str = "best"
         ) -> tuple[InitReport, dict[str, torch.Tensor]]:
    """Which of our tensors take which of the run's: (report, {our key: the run's tensor}).

    ``own`` holds the shape of every tensor of our network's state_dict; ``attr_of`` maps our
    node ids to the attributes that start those keys. Raises InitError when no layer matches.
    """
    run_dir = Path(run_dir)
    theirs_net = run_network(run_dir)
    state = _run_state(run_dir, which)
    theirs_by_id = {n.id: n for n in theirs_net.nodes}
    their_attr = attribute_names(analyze(theirs_net), theirs_by_id)
    theirs = {theirs_by_id[i].name: (theirs_by_id[i], attr) for i, attr in their_attr.items()}
    by_id = {n.id: n for n in network.nodes}
    report = InitReport(str(run_dir), which)
    chosen: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for node_id, attr in attr_of.items():
        node = by_id[node_id]
        keys = [k for k in own if k.split(".", 1)[0] == attr]
        if not keys:
            continue  # a layer without weights has nothing to take
        match = theirs.get(node.name)
        if match is None:
            report.left.append(Left(node.name, "the run has no layer of this name"))
            continue
        their_node, their_attr_name = match
        used.add(node.name)
        if their_node.type != node.type:
            report.left.append(Left(node.name, f"it is a {node.type} here but a "
                                               f"{their_node.type} in the run"))
            continue
        reason, tensors = _compare(node, keys, own, attr, state, their_attr_name)
        if reason:
            report.left.append(Left(node.name, reason))
            continue
        chosen.update(tensors)
        report.taken.append(node.name)
    report.unused = [name for name, (n, attr) in theirs.items() if name not in used
                     and any(k.split(".", 1)[0] == attr for k in state)]
    if not report.taken:
        raise InitError(_nothing_fits(network, run_dir, report, theirs_net))
    return report, chosen


def _compare(node, keys: list[str], own: dict, attr: str, state: dict, their_attr: str
             ) -> tuple[str, dict[str, torch.Tensor]]:
    """("", tensors to take) when every tensor of the layer fits, else (why not, {})."""
    names = {w.attr: w.name for w in node.spec.weights}
    tensors = {}
    for key in keys:
        suffix = key.split(".", 1)[1]
        tensor_name = names.get(suffix, suffix)
        theirs = state.get(f"{their_attr}.{suffix}")
        if theirs is None:
            return f"the run's {node.name} has no {tensor_name}", {}
        if tuple(theirs.shape) != tuple(own[key]):
            return (f"{tensor_name} is {shape_text(tuple(own[key]))} here but "
                    f"{shape_text(tuple(theirs.shape))} in the run"), {}
        if theirs.is_floating_point() and not torch.isfinite(theirs).all():
            return f"the run's {tensor_name} holds NaN or infinite values", {}
        tensors[key] = theirs
    return "", tensors


def _nothing_fits(network: Network, run_dir: Path, report: InitReport, theirs: Network) -> str:
    reasons = "; ".join(f"{left.layer}: {left.reason}" for left in report.left[:4])
    more = f" (and {len(report.left) - 4} more)" if len(report.left) > 4 else ""
    their_layers = ", ".join(n.name for n in theirs.nodes if not n.spec.is_input)[:200]
    return (f"{run_dir}: no layer of network {network.name!r} matches a layer of the run, which "
            f"trained another network ({their_layers}); layers match by name, type and the "
            f"shapes of their weights. {reasons}{more}")


# ---- starting from a run ---------------------------------------------------------------------

def start_from(compiled: Compiled, network: Network, run_dir: str | os.PathLike,
               which: str = "best") -> InitReport:
    """Copy the matching layers' weights of a run into ``compiled.layers``."""
    own_state = compiled.layers.state_dict()
    own = {k: tuple(v.shape) for k, v in own_state.items()}
    report, chosen = plan(network, compiled.attr_of, own, run_dir, which)
    with torch.no_grad():
        for key, tensor in chosen.items():
            own_state[key].copy_(tensor)
    return report


def check(network: Network, run_dir: str | os.PathLike, which: str = "best") -> InitReport:
    """What starting ``network`` from a run would take, without allocating its weights (the
    window shows it when the user picks a run). Raises InitError as training would."""
    try:
        with torch.device("meta"):
            compiled = compile_network(network)
    except ValueError as e:  # the network has problems: training names them
        raise InitError(f"network {network.name!r} cannot be compiled: {e}") from None
    own = {k: tuple(v.shape) for k, v in compiled.layers.state_dict().items()}
    return plan(network, compiled.attr_of, own, run_dir, which)[0]
