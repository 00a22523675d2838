"""Data: documents -> tokens -> one packed, cached stream per split -> batches.

Each document becomes [BOS] text [EOS]; the documents of a split are concatenated into one flat
stream (REFERENCE.md: rows of exactly seq_len, no padding), stored once on disk and memory-mapped
(tokens.py); batches are rows of that stream (batches.py).

    data = load_tokens(cfg.data)
    rows = row_indices(batch_rows(len(data.train), S), step, B, seed)
    x, y = get_batch(data.train, rows, S)
"""

from scalinglab.data.batches import batch_rows, eval_batches, get_batch, row_indices, unseen_rows
from scalinglab.data.tokens import TokenData, cached_train_tokens, load_tokens, tokenizer_vocab_size

__all__ = ["TokenData", "batch_rows", "cached_train_tokens", "eval_batches", "get_batch", "load_tokens", "row_indices",
           "tokenizer_vocab_size", "unseen_rows"]
