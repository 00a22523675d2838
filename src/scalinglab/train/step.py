"""One optimizer step, the same for a training run and for a throughput probe."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch

from scalinglab.config import RunConfig
from scalinglab.model import Transformer
from scalinglab.train.optim import prepare_gradients


def autocast(device: torch.device, dtype: torch.dtype | None):
    """bf16 autocast on a GPU (dtype set), plain fp32 otherwise."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def train_step(model: Transformer, optimizer: torch.optim.Optimizer, x_BxL: torch.Tensor, y_BxL: torch.Tensor,
               cfg: RunConfig, device: torch.device, dtype: torch.dtype | None,
               loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward, gradient clipping or normalisation, update. Returns the loss and the grad
    norm as device tensors: reading them is a host sync, which the loop does once per log window.

    loss_fn: the model's loss by default; in a data-parallel run, the same through DDP, whose
    backward leaves every rank the gradients averaged over all of them (train.distributed)."""
    with autocast(device, dtype):
        loss = (loss_fn or model.loss)(x_BxL, y_BxL)
    loss.backward()
    grad_norm = prepare_gradients(model, cfg.optim)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach(), grad_norm
