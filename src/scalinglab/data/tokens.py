"""Token streams: documents -> [BOS] text [EOS] -> one packed stream per split, cached on disk.

The cache is keyed by a fingerprint of the source (paths, sizes, mtimes), max_documents,
eval_fraction and the tokenizer (a model file by its content), not by seq_len: every row length
reads the same stream.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.config import ConfigError, DataConfig
from scalinglab.data import cache, sources, tokenizer
from scalinglab.data.batches import batch_rows

log = logging.getLogger(__name__)

# Bump when the packing or splitting rule changes: old caches then miss instead of being reused.
PACKING_VERSION = 1
# Characters of text per tokenizer call: large enough for encode_batch to use all cores, small
# enough that a C4-sized source never sits in memory at once.
_CHUNK_CHARS = 4_000_000


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays elementwise is not equality
class TokenData:
    train: np.ndarray
    """1-D memmap: the packed token stream of the train split."""
    eval: np.ndarray
    """1-D memmap: the packed token stream of the eval split (disjoint documents)."""
    vocab_size: int
    """Rows the embedding table needs: max id + 1, specials included."""
    bos_id: int
    eos_id: int
    fingerprint: str
    """Identifies source + settings + tokenizer; names the cache folder."""


def tokenizer_vocab_size(spec: str) -> int:
    """Vocab size of a tokenizer spec without reading any data: bytes 258, bpe:V V, sentencepiece
    the model's piece count (reads only the model file)."""
    return tokenizer.vocab_size(spec)


def load_tokens(cfg: DataConfig) -> TokenData:
    """Train and eval token streams for `cfg` (the train stream cut to max_train_tokens), built on
    first use and memory-mapped from the cache after that. Parallel callers build once (a file
    lock), the others wait and reuse."""
    root, data_key, fp, folder = _location(cfg)
    try:
        data = _read(folder, fp)
    except cache.CacheError:
        with cache.locked(folder):
            try:  # another process may have built it while we waited for the lock
                data = _read(folder, fp)
            except cache.CacheError as why:
                log.info("building token cache %s (%s)", folder, why)
                cache.remove_stale_temps(folder)
                # A trained BPE depends on the data and V only: runs that differ in nothing else share it.
                bpe_path = root / "tokenizers" / f"{cfg.tokenizer.replace(':', '-')}-{cache.fingerprint(data_key)}.json"
                _build(cfg, folder, fp, bpe_path)
                data = _read(folder, fp)
    _check_fits(data, cfg)
    if cfg.max_train_tokens is not None:  # the first N tokens: the same slice for every run and seed
        data = dataclasses.replace(data, train=data.train[: cfg.max_train_tokens])
    return data


def _location(cfg: DataConfig) -> tuple[Path, list, str, Path]:
    """(cache root, key of the data, fingerprint of data + tokenizer, token folder) of `cfg`."""
    root = cache.cache_root(cfg.cache_dir)
    data_key = [PACKING_VERSION, sources.source_fingerprint(cfg.source), cfg.max_documents, cfg.eval_fraction]
    fp = cache.fingerprint([data_key, tokenizer.tokenizer_key(cfg.tokenizer)])
    return root, data_key, fp, root / "tokens" / fp


def cached_train_tokens(cfg: DataConfig) -> int | None:
    """Tokens in the whole train split (before max_train_tokens) from its cache's header, without
    building anything; None when the cache is not built (or stale)."""
    _, _, fp, folder = _location(cfg)
    try:
        return len(cache.read_tokens(folder / "train.bin", fp).tokens)
    except cache.CacheError:
        return None


def _read(folder: Path, fp: str) -> TokenData:
    train = cache.read_tokens(folder / "train.bin", fp)
    held = cache.read_tokens(folder / "eval.bin", fp)
    return TokenData(train.tokens, held.tokens, train.vocab_size, train.bos_id, train.eos_id, fp)


def _build(cfg: DataConfig, folder: Path, fp: str, bpe_path: Path) -> None:
    start = time.perf_counter()

    def documents() -> Iterator[str]:
        return itertools.islice(sources.iter_documents(cfg.source), cfg.max_documents)

    # Three passes over the source: split by hash, train the tokenizer (BPE only), encode. Reading
    # is cheap next to tokenizing, and nothing source-sized is held in memory.
    is_eval = sources.eval_mask(documents(), cfg.eval_fraction, cfg.source)
    tok = tokenizer.make_tokenizer(
        cfg.tokenizer,
        train_texts=lambda: (t for t, e in zip(documents(), is_eval) if not e),  # never the eval split
        bpe_path=bpe_path,
    )
    meta = {"vocab_size": tok.vocab_size, "bos_id": tok.bos_id, "eos_id": tok.eos_id, "fingerprint": fp}
    with cache.token_writer(folder / "train.bin", **meta) as train, cache.token_writer(folder / "eval.bin", **meta) as held:
        # strict: a source that changed between passes (a file rewritten mid-build) fails loudly.
        for texts, flags in _chunks(zip(documents(), is_eval, strict=True)):
            ids = tok.encode_batch(texts)
            train.append(pack([a for a, e in zip(ids, flags, strict=True) if not e], tok.bos_id, tok.eos_id))
            held.append(pack([a for a, e in zip(ids, flags, strict=True) if e], tok.bos_id, tok.eos_id))
    log.info(
        "tokenized %d documents (%d eval) with %s: %d train, %d eval tokens in %.1f s",
        len(is_eval), int(is_eval.sum()), cfg.tokenizer, train.n_tokens, held.n_tokens, time.perf_counter() - start,
    )


def pack(docs: list[np.ndarray], bos_id: int, eos_id: int) -> np.ndarray:
    """[BOS] doc [EOS] for each document, concatenated into one flat int64 array."""
    if not docs:
        return np.empty(0, dtype=np.int64)
    lens = np.array([len(d) + 2 for d in docs], dtype=np.int64)
    ends = np.cumsum(lens)
    starts = ends - lens
    out = np.empty(int(ends[-1]), dtype=np.int64)
    body = np.ones(len(out), dtype=bool)
    body[starts] = body[ends - 1] = False
    out[starts], out[ends - 1] = bos_id, eos_id
    out[body] = np.concatenate(docs)
    return out


def _chunks(pairs) -> Iterator[tuple[list[str], list[bool]]]:
    texts: list[str] = []
    flags: list[bool] = []
    size = 0
    for text, flag in pairs:
        texts.append(text)
        flags.append(bool(flag))
        size += len(text)
        if size >= _CHUNK_CHARS:
            yield texts, flags
            texts, flags, size = [], [], 0
    if texts:
        yield texts, flags


def split_too_short(name: str, tokens: int, seq_len: int) -> ConfigError:
    """The one error for a split shorter than one row (seq_len + 1 tokens): a run would train or
    evaluate on nothing. Said when the tokens load, and by `plan` from the cache's size."""
    return ConfigError(f"the {name} split has {tokens} tokens, fewer than seq_len + 1 = {seq_len + 1} "
                       "(use more documents, a larger eval_fraction or a shorter seq_len)", where="data")


def _check_fits(data: TokenData, cfg: DataConfig) -> None:
    for name, stream in (("train", data.train), ("eval", data.eval)):
        if batch_rows(len(stream), cfg.seq_len) < 1:
            raise split_too_short(name, len(stream), cfg.seq_len)
