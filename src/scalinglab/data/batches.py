"""Batches from a packed token stream: which rows, and the (input, target) arrays.

Row r of a stream is the window stream[r*S : r*S + S + 1]: S inputs and the same S shifted by one
as targets. Consecutive rows share one token (the last target of row r is the first input of row
r+1), so every token but the first is a target exactly once per epoch.

The batch at a step is a pure function of (n_rows, step, batch_size, seed): a resumed run sees
exactly the batches an uninterrupted one would, with no data-loader state to checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np


def batch_rows(n_tokens: int, seq_len: int) -> int:
    """Number of full training windows (S inputs + 1 more token for the last target)."""
    return max(0, (n_tokens - 1) // seq_len)


@functools.lru_cache(maxsize=2)  # a batch spans at most two epochs; keep both
def _permutation(n_rows: int, seed: int, epoch: int) -> np.ndarray:
    # Seeded by (seed, epoch) so each epoch has its own order, reproducible from the step alone.
    perm = np.random.default_rng([seed, epoch]).permutation(n_rows)
    perm.flags.writeable = False  # shared by the cache: callers must not mutate it
    return perm


def row_indices(n_rows: int, step: int, batch_size: int, seed: int) -> np.ndarray:
    """Rows of the batch at optimizer step `step`: global position g = step*B + b, epoch g // n_rows,
    row permutation(seed, epoch)[g % n_rows]. Every row appears once per epoch."""
    if n_rows < 1:
        raise ValueError(f"no training rows (n_rows = {n_rows})")
    g_B = step * batch_size + np.arange(batch_size, dtype=np.int64)
    epoch_B, pos_B = np.divmod(g_B, n_rows)
    rows_B = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epoch_B):
        sel = epoch_B == epoch
        rows_B[sel] = _permutation(n_rows, seed, int(epoch))[pos_B[sel]]
    return rows_B


def unseen_rows(n_rows: int, steps: int, batch_size: int, seed: int, max_rows: int) -> np.ndarray:
    """Up to max_rows training rows that the first `steps` steps never take, spread evenly over the
    rest of epoch 0's order (empty when those steps cover a whole epoch).

    Loss on these rows is held-out loss on windows of the training documents: between the train loss
    (memorisation window by window) and the eval split's (held-out documents).
    """
    used = steps * batch_size
    if used >= n_rows or max_rows < 1:
        return np.empty(0, dtype=np.int64)
    rest = _permutation(n_rows, seed, 0)[used:]
    picks = np.linspace(0, len(rest) - 1, min(max_rows, len(rest))).round().astype(np.int64)
    return np.sort(rest[picks])


def get_batch(stream: np.ndarray, rows: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """x[b] = stream[r*S : r*S+S], y[b] = stream[r*S+1 : r*S+S+1] as int64 arrays of shape (B, S)."""
    rows_B = np.asarray(rows, dtype=np.int64)
    n_rows = batch_rows(len(stream), seq_len)
    if rows_B.size and (rows_B.min() < 0 or rows_B.max() >= n_rows):
        raise IndexError(f"row out of range: the stream has {n_rows} rows of {seq_len}")
    # Fancy indexing reads only the touched pages of a memmap.
    idx_BxS1 = rows_B[:, None] * seq_len + np.arange(seq_len + 1)
    win_BxS1 = np.asarray(stream[idx_BxS1], dtype=np.int64)
    return np.ascontiguousarray(win_BxS1[:, :-1]), np.ascontiguousarray(win_BxS1[:, 1:])


def eval_batches(stream: np.ndarray, seq_len: int, max_tokens: int, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """max_tokens of the eval stream as windows spread evenly over all of it (at least one, at most
    as many as the stream holds), in batches of up to batch_size rows. Same tokens every call.

    Spread, not the first max_tokens: the stream is documents end to end, and its head may be one
    or two long files whose loss says little about the split as a whole.
    """
    available = batch_rows(len(stream), seq_len)
    if available < 1:
        raise ValueError(f"eval stream has {len(stream)} tokens, fewer than seq_len + 1 = {seq_len + 1}")
    n_rows = min(max(1, max_tokens // seq_len), available)
    rows = np.linspace(0, available - 1, n_rows).round().astype(np.int64)
    return (get_batch(stream, rows[i : i + batch_size], seq_len) for i in range(0, n_rows, batch_size))
