"""One run on several processes, data-parallel: torch.distributed's process group and DDP.

A process learns its place from the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT); a study's executors start their process groups with torchrun too
(execute.group). Every rank holds the whole model and takes its share of every global batch, so
a run on k processes takes exactly the rows of the one-process run with the same batch size:

- the global batch's rows (data.row_indices) are cut into k equal, consecutive parts;
- DistributedDataParallel averages the gradients, which makes them the gradient of the mean loss
  over the whole batch, as in one process (only the order of the sums differs: loop.devices is
  part of the run's identity);
- clipping, the optimizer step and the LR schedule then see the same gradients on every rank;
- train losses are averaged over the ranks once per log window (one collective per window, not
  per step), so every rank sees the same curve and judges divergence the same way: a NaN on one
  rank stops all of them at the same step;
- evaluations are shared out by batch and their per-row losses gathered, so every rank reports
  the one-process figure;
- rank 0 alone writes (checkpoints, result.json, the progress line); every rank resumes from the
  same checkpoint.

Backends: NCCL between GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from scalinglab.config import ConfigError, RunConfig
from scalinglab.model import Transformer

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class World:
    """This process's place in its run: rank `rank` of `size`, on local device `local_rank`."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False
    """Started by torchrun (even as a world of one): the run trains through DDP and a process group."""

    @property
    def main(self) -> bool:
        """The rank that writes: checkpoints, the result, progress."""
        return self.rank == 0

    def share(self, rows_B: np.ndarray) -> np.ndarray:
        """This rank's consecutive part of a global batch's rows."""
        per = len(rows_B) // self.size
        return rows_B[self.rank * per : (self.rank + 1) * per]

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of `values` over the ranks (the values themselves in one process)."""
        if not self.launched:
            return values
        values = values.float().clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.size

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Every rank's `values`, concatenated in rank order (on every rank)."""
        if not self.launched:
            return values
        parts: list = [None] * self.size
        dist.all_gather_object(parts, values)
        return np.concatenate(parts)

    def agree(self, value: int, what: str) -> None:
        """Raise on every rank unless every rank holds the same `value` (a step, say)."""
        if not self.launched:
            return
        values: list = [None] * self.size
        dist.all_gather_object(values, value)
        if len(set(values)) > 1:
            raise RuntimeError(f"the ranks disagree on the {what}: {values}")


SOLO = World()


def launched_world() -> World:
    """This process's World: from torchrun's variables, or a world of one."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return SOLO
    return World(rank=int(os.environ["RANK"]), size=int(os.environ["WORLD_SIZE"]),
                 local_rank=int(os.environ.get("LOCAL_RANK", os.environ["RANK"])), launched=True)


def check_world(cfg: RunConfig, world: World) -> None:
    """A run trains on exactly loop.devices processes: refuse, in one line, any other number."""
    devices = cfg.resolved_devices()
    if world.size == devices:
        return
    if not world.launched:
        raise ConfigError(f"loop.devices: {devices} needs {devices} processes: start them with "
                          f"`torchrun --nproc-per-node {devices} -m scalinglab train ...` (a study starts them itself)")
    raise ConfigError(f"loop.devices: {devices}, but torchrun started {world.size} processes; make them agree")


@contextmanager
def process_group(world: World, device: torch.device) -> Iterator[None]:
    """The run's process group (NCCL between GPUs, gloo on CPU) while the block runs; nothing in one process."""
    if not world.launched:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size,
                            device_id=device if device.type == "cuda" else None)
    try:
        yield
        # Leave together: a diverged run ends with no collective after its last step, and a rank
        # should not tear down its gloo pairs while a peer is still in one.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def end_rank(code: int) -> NoReturn:
    """End a torchrun rank whose work is done (rank 0 has written the result): flush its output and
    leave without the interpreter's teardown, where a C++ thread still held can abort the process.
    A rank of a diverged run was aborted as it ended ("terminate called without an active
    exception", SIGABRT) in 2 of 5 full test-suite runs, and torchrun then failed the whole run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _Loss(torch.nn.Module):
    """The model's training loss as a module's forward: DDP averages the gradients of what its
    wrapped module's forward computed, and the model's own forward returns logits, not the loss."""

    def __init__(self, model: Transformer):
        super().__init__()
        self.model = model

    def forward(self, x_BxL: torch.Tensor, y_BxL: torch.Tensor) -> torch.Tensor:
        return self.model.loss(x_BxL, y_BxL)


def training_loss(model: Transformer, world: World, device: torch.device) -> LossFn:
    """What a training step calls for its loss: the model's own in one process, through DDP in a
    launched world (the parameters are broadcast from rank 0 here; every rank loaded the same ones)."""
    if not world.launched:
        return model.loss
    return DistributedDataParallel(_Loss(model), device_ids=[device.index] if device.type == "cuda" else None)
