"""Batches: rows of exactly seq_len, targets shifted by one, a pure function of the step."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.data import batch_rows, eval_batches, get_batch, row_indices, unseen_rows


def test_batch_rows_needs_one_extra_token_for_the_last_target():
    assert batch_rows(101, 10) == 10
    assert batch_rows(100, 10) == 9
    assert batch_rows(5, 10) == 0


def test_get_batch_windows_and_shift():
    stream = np.arange(1000, dtype=np.uint16)
    x, y = get_batch(stream, np.array([0, 3, 98]), 10)
    assert x.shape == y.shape == (3, 10) and x.dtype == y.dtype == np.int64
    assert x.flags.c_contiguous and y.flags.c_contiguous
    assert np.array_equal(x[1], np.arange(30, 40)) and np.array_equal(y[1], np.arange(31, 41))
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert y[2, -1] == 990  # the last row reads one token past its window
    with pytest.raises(IndexError):
        get_batch(stream, np.array([99]), 10)  # 999 tokens after the first: 99 full rows only


def test_row_indices_cover_each_row_once_per_epoch():
    n_rows, batch = 10, 4
    seen = np.concatenate([row_indices(n_rows, step, batch, seed=7) for step in range(10)])  # 40 = 4 epochs
    for epoch in range(4):
        assert sorted(seen[epoch * n_rows:(epoch + 1) * n_rows]) == list(range(n_rows))
    # Epochs are shuffled differently.
    assert not np.array_equal(seen[:n_rows], seen[n_rows:2 * n_rows])


def test_row_indices_are_a_pure_function_of_the_step():
    # A resumed run asks for step 5 first: it must get what an uninterrupted run gets.
    late = row_indices(13, 5, 4, seed=1)
    full = [row_indices(13, s, 4, seed=1) for s in range(6)]
    assert np.array_equal(late, full[5])
    assert np.array_equal(row_indices(13, 5, 4, seed=1), late)
    assert not np.array_equal(row_indices(13, 5, 4, seed=2), late)
    late[:] = -1  # callers may mutate what they get without poisoning the cached permutation
    assert np.array_equal(row_indices(13, 5, 4, seed=1), full[5])


def test_row_indices_batch_larger_than_an_epoch():
    rows = row_indices(3, 0, 7, seed=0)
    assert sorted(rows[:3]) == sorted(rows[3:6]) == [0, 1, 2]


def test_eval_batches_spread_over_the_whole_stream():
    stream = np.arange(1000, dtype=np.uint32)  # 99 windows of 10
    batches = list(eval_batches(stream, 10, max_tokens=55, batch_size=2))
    assert [x.shape for x, _ in batches] == [(2, 10), (2, 10), (1, 10)]  # 55 tokens -> 5 windows
    x = np.concatenate([x for x, _ in batches])
    assert list(x[:, 0]) == [0, 240, 490, 740, 980]  # first and last window, evenly between
    again = np.concatenate([x for x, _ in eval_batches(stream, 10, 55, 2)])
    assert np.array_equal(x, again)
    # Capped by the stream: at most batch_rows windows, each once.
    everything = np.concatenate([x for x, _ in eval_batches(stream, 10, 10**9, 64)])
    assert len(everything) == 99 and len(np.unique(everything[:, 0])) == 99


def test_eval_batches_too_short_stream():
    with pytest.raises(ValueError, match="fewer than seq_len"):
        eval_batches(np.arange(10), 10, 100, 4)


def test_unseen_rows_are_rows_the_run_never_took():
    n_rows, batch, steps, seed = 1000, 16, 40, 3
    taken = {int(r) for step in range(steps) for r in row_indices(n_rows, step, batch, seed)}
    unseen = unseen_rows(n_rows, steps, batch, seed, max_rows=100)
    assert len(unseen) == 100 and len(set(unseen.tolist())) == 100
    assert not taken & set(unseen.tolist())
    assert len(unseen_rows(n_rows, steps, batch, seed, max_rows=10_000)) == n_rows - steps * batch
    assert unseen_rows(n_rows, 63, batch, seed, max_rows=100).size == 0  # 63 steps take all 1000 rows
