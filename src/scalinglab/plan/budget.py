"""Token budgets: how many tokens and steps one run gets, and when it evaluates. The one place
budgets and the eval schedule are computed: the training loop follows them, the plan prices them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.config import RunConfig
from scalinglab.model.accounting import chinchilla_flops, count_params, training_flops_per_token

EVAL_TOKEN_COST = 1 / 3
"""An eval token's cost relative to a training token's: a forward pass without gradients, 2N of the
6N FLOPs per token (Kaplan et al. 2020)."""
EVAL_SHARE = 0.1
"""Evaluation is scheduled to cost about this share of training, with 1 to MAX_EVALS evals."""
MAX_EVALS = 10


@dataclass(frozen=True)
class Budget:
    tokens: int
    """Tokens actually trained: steps × batch_size × seq_len (the request rounded up to whole steps)."""
    requested: float
    """Tokens asked for (tokens_per_param × N, or budget.tokens) before rounding to whole steps."""
    steps: int
    tokens_per_step: int
    params_non_embedding: int
    params_total: int
    flops: float
    """training_flops_per_token × tokens (attention included)."""
    flops_6nd: float
    """6·N_non-embedding·tokens, the scaling-law convention."""
    eval_every: int
    """Steps between evaluations (loop.eval_every, or the schedule below); one more at the end."""

    @property
    def evaluations(self) -> int:
        """Evaluations of the run: one before training, one every eval_every steps, one at the end."""
        return 1 + math.ceil(self.steps / self.eval_every)


def eval_every(cfg: RunConfig, steps: int, tokens: int) -> int:
    """loop.eval_every, or the spacing that makes evaluation cost about EVAL_SHARE of training."""
    if cfg.loop.eval_every:
        return cfg.loop.eval_every
    affordable = EVAL_SHARE * tokens / (EVAL_TOKEN_COST * max(cfg.loop.eval_tokens, 1))
    n_evals = min(MAX_EVALS, max(1, int(affordable)))
    return max(1, steps // n_evals)


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
        requested=float(wanted),
        steps=steps,
        tokens_per_step=per_step,
        params_non_embedding=counts.non_embedding,
        params_total=counts.total,
        flops=training_flops_per_token(cfg.model, vocab_size, cfg.data.seq_len) * tokens,
        flops_6nd=chinchilla_flops(counts.non_embedding, tokens),
        eval_every=eval_every(cfg, steps, tokens),
    )
