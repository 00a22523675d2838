"""Token budgets: how many tokens and steps one run gets. The one place budgets are computed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.config import RunConfig
from scalinglab.model.accounting import chinchilla_flops, count_params, training_flops_per_token


@dataclass(frozen=True)
class Budget:
    tokens: int
    """Tokens actually trained: steps × batch_size × seq_len (the request rounded up to whole steps)."""
    steps: int
    tokens_per_step: int
    params_non_embedding: int
    params_total: int
    flops: float
    """training_flops_per_token × tokens (attention included)."""
    flops_6nd: float
    """6·N_non-embedding·tokens, the scaling-law convention."""


def resolve_budget(cfg: RunConfig, vocab_size: int) -> Budget:
    counts = count_params(cfg.model, vocab_size)
    n = counts.non_embedding if cfg.budget.param_count == "non_embedding" else counts.total
    # Hoffmann et al. (2022): compute-optimal training uses ~20 tokens per parameter.
    wanted = cfg.budget.tokens if cfg.budget.tokens is not None else cfg.budget.tokens_per_param * n
    per_step = cfg.budget.batch_size * cfg.data.seq_len
    steps = max(1, math.ceil(wanted / per_step))
    tokens = steps * per_step
    return Budget(
        tokens=tokens,
        steps=steps,
        tokens_per_step=per_step,
        params_non_embedding=counts.non_embedding,
        params_total=counts.total,
        flops=training_flops_per_token(cfg.model, vocab_size, cfg.data.seq_len) * tokens,
        flops_6nd=chinchilla_flops(counts.non_embedding, tokens),
    )
