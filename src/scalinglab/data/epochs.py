"""How much of the train split a run can draw, and how many times its budget goes through it.

A run draws rows of seq_len targets from the packed train stream, every row once per epoch
(data.batches). Its unique tokens are the targets of all the rows it can draw: those of the whole
split, or of its first max_train_tokens. Epochs = tokens trained / unique tokens; above 1 the run
repeats data, R_D = epochs − 1 repetitions in the sense of Muennighoff et al. 2023 ("Scaling
Data-Constrained Language Models", arXiv 2305.16264).
"""

from __future__ import annotations

from scalinglab.data.batches import batch_rows


def unique_train_tokens(split_tokens: int, seq_len: int, max_train_tokens: int | None = None) -> int:
    """Targets in the rows a run can draw from a train split of `split_tokens` tokens."""
    usable = split_tokens if max_train_tokens is None else min(split_tokens, max_train_tokens)
    return batch_rows(usable, seq_len) * seq_len


def epochs(tokens: float, unique_tokens: int) -> float:
    """Passes over the unique tokens that `tokens` of training make (1.5: half of them seen twice)."""
    return tokens / unique_tokens


def repeats_data(n_epochs: float | None) -> bool:
    """Whether a run saw some token twice: more than one epoch (None, unknown: no)."""
    return n_epochs is not None and n_epochs > 1.0
