"""Checkpoints: everything a run needs to go on exactly where it stopped, in one file.

``checkpoint.safetensors`` in the run folder holds tensors only: the network's weights
(``model.<name>``), the optimizer's state flattened (``optimizer.<parameter>.<name>``), the
losses of the steps already taken in the epoch in progress (``epoch_losses``) and the random
state of every process (``random.<rank>``). Everything else is JSON in the file's header:
where the run is (epoch, batches done in it, iteration), its best result so far, the
optimizer's settings and the shape of its state. Loading reads tensors and JSON, so resuming
never runs code from a file (no pickle).

The file is written whole, then renamed over the previous one: a kill at any moment leaves a
complete checkpoint. The batch order of an epoch is a function of the seed and the epoch
(see ``Distributed.sampler``), so the position in it is all that is saved of it.
"""
from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designer.core.runs import save_tensors

FORMAT = 1
MODEL, OPTIMIZER, RANDOM = "model.", "optimizer.", "random."


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the run; the message says why."""


@dataclass
class Checkpoint:
    info: dict[str, Any]  # position, best result, settings (see save)
    tensors: dict[str, torch.Tensor]

    @property
    def model(self) -> dict[str, torch.Tensor]:
        return {k[len(MODEL):]: v for k, v in self.tensors.items() if k.startswith(MODEL)}

    def random_state(self, rank: int) -> torch.Tensor | None:
        return self.tensors.get(f"{RANDOM}{rank}")


def save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
         info: dict[str, Any], epoch_losses: list[torch.Tensor],
         random_states: list[torch.Tensor], scaler=None) -> None:
    """Write a checkpoint atomically. ``info`` is JSON-ready (epoch, position, iteration, …)."""
    tensors = {f"{MODEL}{k}": v for k, v in model.state_dict().items()}
    optimizer_tensors, structure = _flatten_optimizer(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    tensors["epoch_losses"] = (torch.stack([x.detach().float().cpu() for x in epoch_losses])
                               if epoch_losses else torch.zeros(0))
    for rank, state in enumerate(random_states):
        tensors[f"{RANDOM}{rank}"] = state
    header = {**info, "format": FORMAT, "optimizer": structure,
              "scaler": scaler.state_dict() if scaler is not None else None,
              "random_layout": random_layout()}
    save_tensors(tensors, path, metadata={"checkpoint": json.dumps(header)})


def load(path: Path) -> Checkpoint:
    """Read a checkpoint; CheckpointError names the file and what is wrong with it."""
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint; the run saved none (it stopped before "
                              "its first checkpoint, or it is not a run folder)")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})["checkpoint"])
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors has its own error types for damaged files
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a checkpoint of another format "
                              f"({header.get('format') if isinstance(header, dict) else '?'}); "
                              f"this app reads format {FORMAT}")
    return Checkpoint(header, tensors)


def restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: Checkpoint) -> None:
    structure = checkpoint.info["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for key, values in structure["state"].items():
        state[int(key)] = dict(values)
    for key, tensor in checkpoint.tensors.items():
        if key.startswith(OPTIMIZER):
            index, name = key[len(OPTIMIZER):].split(".", 1)
            state.setdefault(int(index), {})[name] = tensor
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v
               for k, v in group.items()} for group in structure["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state_dict as tensors (``optimizer.<parameter>.<name>``) and JSON."""
    tensors, plain = {}, {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{OPTIMIZER}{index}.{name}"] = value
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"state": plain, "param_groups": state_dict["param_groups"]}


# ---- random state ------------------------------------------------------------------------
# torch's (CPU, and the current GPU's), numpy's and Python's generators packed into one byte
# tensor, the same size in every process, so the processes can gather theirs in one call.

def random_layout() -> list[list]:
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return [["torch", torch.get_rng_state().numel()],
            ["cuda", torch.cuda.get_rng_state().numel() if cuda else 0],
            ["numpy", 624 * 4 + 8 + 8 + 8], ["python", 625 * 8 + 8 + 8]]


def random_state() -> torch.Tensor:
    """This process's random state, as bytes."""
    parts = [torch.get_rng_state().numpy()]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        parts.append(torch.cuda.get_rng_state().numpy())
    _, keys, position, has_gauss, gauss = np.random.get_state()
    parts.append(np.asarray(keys, np.uint32).view(np.uint8))
    parts.append(np.frombuffer(struct.pack("<qqd", position, has_gauss, gauss), np.uint8))
    version, words, gauss_next = random.getstate()
    parts.append(np.asarray(words, np.uint64).view(np.uint8))
    parts.append(np.frombuffer(struct.pack("<qd", gauss_next is not None, gauss_next or 0.0),
                               np.uint8))
    return torch.from_numpy(np.concatenate(parts).copy())


def set_random_state(state: torch.Tensor, layout: list[list]) -> None:
    """Restore what ``random_state`` saved (a GPU's part only where one is in use)."""
    data = state.numpy().tobytes()
    offset = 0
    parts = {}
    for name, size in layout:
        parts[name] = data[offset:offset + size]
        offset += size
    torch.set_rng_state(torch.frombuffer(bytearray(parts["torch"]), dtype=torch.uint8))
    if parts["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.frombuffer(bytearray(parts["cuda"]), dtype=torch.uint8))
    keys = np.frombuffer(parts["numpy"][:624 * 4], np.uint32)
    position, has_gauss, gauss = struct.unpack("<qqd", parts["numpy"][624 * 4:])
    np.random.set_state(("MT19937", keys, position, has_gauss, gauss))
    words = tuple(int(w) for w in np.frombuffer(parts["python"][:625 * 8], np.uint64))
    has_next, gauss_next = struct.unpack("<qd", parts["python"][625 * 8:])
    random.setstate((3, words, gauss_next if has_next else None))
