"""Held-out losses of a run's model: on the eval split, and on training rows it never took.

In a data-parallel run every rank scores every size-th batch and the per-row losses are gathered,
so each rank reports the figure one process would (up to the order of a float64 sum).
"""

from __future__ import annotations

import itertools
import math

import torch

from scalinglab.config import RunConfig
from scalinglab.data import TokenData, batch_rows, eval_batches, get_batch, unseen_rows
from scalinglab.model import Transformer
from scalinglab.train.distributed import SOLO, World
from scalinglab.train.step import autocast


def eval_loss(model: Transformer, data: TokenData, cfg: RunConfig, device, dtype,
              world: World = SOLO) -> tuple[float, float]:
    """Mean token cross-entropy (nats) on held-out rows, and its standard error across rows."""
    return _mean_loss(model, eval_batches(data.eval, cfg.data.seq_len, cfg.loop.eval_tokens, cfg.budget.batch_size),
                      device, dtype, world)


def evaluate_unseen_train(model: Transformer, data: TokenData, cfg: RunConfig, steps: int, device,
                          dtype, world: World = SOLO) -> tuple[float | None, float | None]:
    """Mean loss and its standard error on eval_tokens of training rows the run never took (None, None
    when the run went through a whole epoch)."""
    n_rows = batch_rows(len(data.train), cfg.data.seq_len)
    rows = unseen_rows(n_rows, steps, cfg.budget.batch_size, cfg.seed, max(1, cfg.loop.eval_tokens // cfg.data.seq_len))
    if not rows.size:
        return None, None
    b = cfg.budget.batch_size
    return _mean_loss(model, (get_batch(data.train, rows[i : i + b], cfg.data.seq_len) for i in range(0, len(rows), b)),
                      device, dtype, world)


@torch.no_grad()
def _mean_loss(model: Transformer, batches, device, dtype, world: World) -> tuple[float, float]:
    model.eval()
    row_means = [torch.empty(0, dtype=torch.float64)]  # a rank may get no batch
    # The batches are generated lazily: the ones skipped here are read from the memmap, never scored.
    for x, y in itertools.islice(batches, world.rank, None, world.size):
        with autocast(device, dtype):
            losses_BxL = model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
        row_means.append(losses_BxL.mean(dim=1).double().cpu())
    model.train()
    means = world.gather(torch.cat(row_means).numpy())
    se = float(means.std(ddof=1) / math.sqrt(len(means))) if len(means) > 1 else float("nan")
    return float(means.mean()), se
