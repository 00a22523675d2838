"""What one training run returns: a structured record, never a scraped log."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["complete", "diverged"]


class MetricRow(BaseModel):
    """One logged point of a run's curve. Eval fields are set only at evaluation steps."""

    model_config = ConfigDict(frozen=True)

    step: int
    tokens: int
    train_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    eval_loss: float | None = None
    eval_loss_se: float | None = None


class RunResult(BaseModel):
    """The summary of a finished (complete or diverged) run."""

    model_config = ConfigDict(frozen=True)

    status: Status
    steps: int
    """Optimizer steps taken (equals steps_planned unless diverged)."""
    steps_planned: int
    tokens: int
    """Training tokens seen."""
    params_non_embedding: int
    params_total: int
    flops: float
    """Training FLOPs spent: training_flops_per_token × tokens (model.accounting)."""
    flops_6nd: float
    """6·N_non-embedding·tokens, the scaling-law convention (what analysis uses by default)."""
    vocab_size: int
    lr: float
    """Peak learning rate after resolving any width rule."""
    depth: int
    unique_tokens: int | None = None
    """Train tokens the run could draw (data.epochs.unique_train_tokens: the split, or its first
    data.max_train_tokens, in whole rows); None in results written before it was recorded."""
    epochs: float | None = None
    """tokens / unique_tokens: above 1 the run repeated data (the many-epoch regime)."""
    final_train_loss: float | None
    """Mean train loss over the last logged window (None if diverged before any)."""
    final_eval_loss: float | None
    final_eval_loss_se: float | None
    final_unseen_train_loss: float | None = None
    """Final loss on training rows (windows) the run never took, None if it covered an epoch or
    diverged. Set against the train loss it shows memorisation window by window; against the eval
    loss, what a held-out document costs beyond a held-out window of the training documents."""
    final_unseen_train_loss_se: float | None = None
    initial_eval_loss: float | None
    diverged_step: int | None = None
    wall_time_s: float
    tokens_per_s: float
    device: str
    threads: int | None = None
    """Torch intra-op threads it trained with: its spec's (RunConfig.resolved_threads), recorded
    with the result; None in results written before the count was fixed per run."""
    devices: int = 1
    """Processes it trained on, data-parallel (its spec's loop.devices); 1 in results from before."""
    metrics: list[MetricRow] = []
