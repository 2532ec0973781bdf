"""Several training processes, seen by the trainer through one small object.

torchrun (``torch.distributed.run``) starts one process per GPU (or per share of a CPU) and
tells each its rank in its environment. ``Distributed.from_environment()`` reads that; a
process started any other way is the only one (rank 0 of 1) and every method below does
nothing or the obvious thing. PyTorch's own engine does the work: ``init_process_group``
(nccl on CUDA, gloo elsewhere), ``DistributedDataParallel`` to average the gradients,
``DistributedSampler`` to give each process its share of every batch and ``SyncBatchNorm`` for
batch statistics over all of them.

Each process takes ``batch_size`` samples a step, so the batch of one step is
``batch_size × world_size`` (the *global* batch). The DistributedSampler hands process ``r``
the samples ``r, r + W, r + 2W, …`` of the epoch's order: together, step ``k``'s batches are
exactly the ``k``-th global batch a single process with the global batch would take.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

# what a process that lost contact with the others exits with: the launcher looks past it
# for the process that failed first
EXIT_PEER_LOST = 3


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the process's number on its own machine: its GPU
    started: bool = False

    @classmethod
    def from_environment(cls) -> Distributed:
        """The process's place among torchrun's; rank 0 of 1 when torchrun did not start it."""
        env = os.environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return cls()
        return cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))

    @property
    def is_main(self) -> bool:
        """The process that writes the run folder and reports progress."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world_size > 1

    def start(self, device: torch.device) -> None:
        """Join the other processes: nccl between CUDA GPUs, gloo between CPUs."""
        if self.several and not self.started:
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
            self.started = True

    def close(self) -> None:
        """Leave the group together, once every process has finished its run."""
        if self.started:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
            self.started = False

    # ---- the data -------------------------------------------------------------------------

    def sampler(self, samples: int, shuffle: bool, seed: int):
        """The DistributedSampler of ``samples`` samples for this process (all of them in order
        or shuffled, when it is the only one); ``set_epoch`` before each epoch."""
        from torch.utils.data import DistributedSampler

        return DistributedSampler(range(samples), num_replicas=self.world_size, rank=self.rank,
                                  shuffle=shuffle, seed=seed)

    # ---- the network ------------------------------------------------------------------------

    def wrap(self, graph: torch.fx.GraphModule, device: torch.device) -> nn.Module:
        """The training graph as DistributedDataParallel (itself when alone). Layers that do
        not lead to the loss have no gradients; DDP is told to expect that only if there are
        such layers, as looking for them costs a pass over the graph every step."""
        if not self.several:
            return graph
        from torch.nn.parallel import DistributedDataParallel

        gpu = device.index if device.index is not None else torch.cuda.current_device() \
            if device.type == "cuda" else None
        return DistributedDataParallel(
            graph, device_ids=[gpu] if gpu is not None else None,
            find_unused_parameters=bool(_unused_parameters(graph)))

    # ---- numbers shared by every process ----------------------------------------------------

    def share(self, loss: torch.Tensor, *flags: bool) -> tuple:
        """(the mean loss of the global batch, each flag raised in any process), in one
        all-reduce; the process's own values when it is alone."""
        if not self.several:
            return (loss, *flags)
        shared = torch.tensor([0.0, *map(float, flags)], device=loss.device)
        shared[0] = loss.detach().float()
        torch.distributed.all_reduce(shared)
        return (shared[0] / self.world_size, *(bool(x > 0) for x in shared[1:].tolist()))

    def gather(self, tensor: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
        """Every process's ``tensor`` (the same size in each), in rank order, on the CPU."""
        if not self.several:
            return [tensor]
        local = tensor.to(device)
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, local)
        return [p.cpu() for p in parts]

    def record_failure(self, message: str) -> None:
        """Leave this process's failure where torchrun reports it (its error file), so the
        launcher can say which process failed and why."""
        path = os.environ.get("TORCHELASTIC_ERROR_FILE")
        if not path or self.is_main:
            return
        try:
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"message": message, "timestamp": int(time.time())}, f)
        except OSError:
            pass  # the launcher then names the exit status instead


def sync_batchnorm(layers: nn.Module, *graphs: nn.Module) -> bool:
    """Replace every batch normalization in ``layers`` by SyncBatchNorm, in the graphs that
    share its modules too; True if there was one."""
    changed = False
    for name, module in list(layers.named_children()):
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        if converted is not module:
            for holder in (layers, *graphs):
                if hasattr(holder, name):
                    setattr(holder, name, converted)
            changed = True
        elif any(isinstance(m, nn.SyncBatchNorm) for m in module.modules()):
            changed = True  # nested, converted in place
    return changed


def is_peer_loss(error: BaseException) -> bool:
    """Whether ``error`` says another process of the run went away (a collective failed)."""
    dist_error = getattr(torch.distributed, "DistError", ())
    if dist_error and isinstance(error, dist_error):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        word in text for word in ("gloo", "nccl", "connection closed", "connection reset"))


def _unused_parameters(graph: torch.fx.GraphModule) -> list[str]:
    """Modules of the graph with parameters that the output does not depend on."""
    used: set[str] = set()
    output = next(n for n in reversed(graph.graph.nodes) if n.op == "output")
    stack = [output]
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op == "call_module":
            used.add(node.target)
        stack.extend(node.all_input_nodes)
    return [name for name, module in graph.named_children()
            if name not in used and any(p.requires_grad for p in module.parameters())]
