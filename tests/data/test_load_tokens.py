"""load_tokens end to end on small corpora: packing, splits, the cache and its header."""

from __future__ import annotations

import os

import numpy as np
import pytest

from scalinglab import data
from scalinglab.config import ConfigError, DataConfig
from scalinglab.data import cache, load_tokens, sources
from scalinglab.data import tokens as token_streams

from .helpers import DOCS, write_jsonl


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "docs.jsonl", DOCS)


def cfg(corpus, **kw) -> DataConfig:
    return DataConfig(**{"source": f"files:{corpus}", "tokenizer": "bytes", "eval_fraction": 0.3, "seq_len": 16, **kw})


def split_stream(docs: list[str]) -> list[int]:
    return [i for d in docs for i in (256, *d.encode(), 257)]


def test_packing_bos_text_eos_in_document_order(corpus):
    tokens = load_tokens(cfg(corpus))
    mask = sources.eval_mask(DOCS, 0.3, "")
    train_docs = [d for d, e in zip(DOCS, mask) if not e]
    eval_docs = [d for d, e in zip(DOCS, mask) if e]
    assert tokens.train.tolist() == split_stream(train_docs)
    assert tokens.eval.tolist() == split_stream(eval_docs)
    assert (tokens.vocab_size, tokens.bos_id, tokens.eos_id) == (258, 256, 257)
    assert tokens.train.dtype == np.uint16 and isinstance(tokens.train, np.memmap)


def test_train_and_eval_are_disjoint_by_document_and_deterministic(corpus, tmp_path):
    a = load_tokens(cfg(corpus))
    b = load_tokens(cfg(corpus, cache_dir=str(tmp_path / "elsewhere")))  # built again from scratch
    assert np.array_equal(a.train, b.train) and np.array_equal(a.eval, b.eval)
    assert a.fingerprint == b.fingerprint

    def as_docs(stream) -> set[str]:
        s = np.asarray(stream)
        return {bytes(d[1:-1].astype(np.uint8)).decode() for d in np.split(s, np.flatnonzero(s == 256))[1:]}

    train_docs, eval_docs = as_docs(a.train), as_docs(a.eval)
    assert not train_docs & eval_docs and len(train_docs | eval_docs) == len(DOCS)


def test_rows_from_the_packed_stream(corpus):
    tokens = load_tokens(cfg(corpus))
    rows = data.row_indices(data.batch_rows(len(tokens.train), 16), step=3, batch_size=4, seed=0)
    x, y = data.get_batch(tokens.train, rows, 16)
    assert x.shape == (4, 16) and np.array_equal(x[:, 1:], y[:, :-1])
    assert np.array_equal(x[0], tokens.train[rows[0] * 16:rows[0] * 16 + 16])


def test_second_load_reuses_the_cache(corpus, monkeypatch):
    first = load_tokens(cfg(corpus))
    path = cache.cache_root(None) / "tokens" / first.fingerprint / "train.bin"
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(token_streams, "_build", lambda *a: pytest.fail("cache was rebuilt"))
    again = load_tokens(cfg(corpus, seq_len=8))  # the row length does not change the stream
    assert again.fingerprint == first.fingerprint and path.stat().st_mtime_ns == stamp
    assert np.array_equal(again.train, first.train)


def test_settings_that_change_the_stream_change_the_fingerprint(corpus):
    base = load_tokens(cfg(corpus)).fingerprint
    assert load_tokens(cfg(corpus, eval_fraction=0.4)).fingerprint != base
    assert load_tokens(cfg(corpus, max_documents=30)).fingerprint != base
    assert load_tokens(cfg(corpus, tokenizer="bpe:300")).fingerprint != base
    os.utime(corpus, ns=(1, 1))  # the source changed on disk
    assert load_tokens(cfg(corpus)).fingerprint != base


def test_max_documents(corpus):
    tokens = load_tokens(cfg(corpus, max_documents=10))
    n_docs = int((np.asarray(tokens.train) == 256).sum() + (np.asarray(tokens.eval) == 256).sum())
    assert n_docs == 10


@pytest.mark.parametrize("damage", ["magic", "fingerprint", "truncate", "version"])
def test_corrupt_or_foreign_cache_is_rejected_and_rebuilt(corpus, damage):
    good = load_tokens(cfg(corpus))
    path = cache.cache_root(None) / "tokens" / good.fingerprint / "train.bin"
    expected = np.array(good.train)
    raw = bytearray(path.read_bytes())
    if damage == "magic":
        raw[:8] = b"NOTMINE!"
    elif damage == "fingerprint":
        raw[36:60] = b"0" * 24
    elif damage == "truncate":
        raw = raw[:-3]
    else:
        raw[8] = 99
    path.write_bytes(bytes(raw))
    with pytest.raises(cache.CacheError):
        cache.read_tokens(path, good.fingerprint)
    rebuilt = load_tokens(cfg(corpus))
    assert np.array_equal(rebuilt.train, expected)


def test_unfinished_write_leaves_no_file(tmp_path):
    path = tmp_path / "t.bin"
    with pytest.raises(RuntimeError), cache.token_writer(path, vocab_size=258, bos_id=256, eos_id=257, fingerprint="f" * 24) as w:
        w.append(np.arange(10))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_large_vocab_is_stored_as_uint32(tmp_path):
    path = tmp_path / "t.bin"
    with cache.token_writer(path, vocab_size=70_000, bos_id=0, eos_id=1, fingerprint="abc") as w:
        w.append(np.array([0, 69_999, 65_536]))
    out = cache.read_tokens(path, "abc")
    assert out.tokens.dtype == np.uint32 and out.tokens.tolist() == [0, 69_999, 65_536]
    assert path.stat().st_size == cache.HEADER_BYTES + 3 * 4


def test_bpe_is_trained_on_the_train_split_only(corpus, monkeypatch):
    from scalinglab.data import tokenizer

    seen = []
    real = tokenizer.train_bpe
    monkeypatch.setattr(tokenizer, "train_bpe", lambda texts, v: real(seen.extend(texts) or seen, v))
    tokens = load_tokens(cfg(corpus, tokenizer="bpe:300"))
    mask = sources.eval_mask(DOCS, 0.3, "")
    assert seen == [d for d, e in zip(DOCS, mask) if not e]
    assert tokens.vocab_size == 300 and (tokens.bos_id, tokens.eos_id) == (298, 299)
    assert max(tokens.train.max(), tokens.eval.max()) < 300
    assert tokens.train[0] == 298 and tokens.train[-1] == 299
    assert len(list((cache.cache_root(None) / "tokenizers").glob("bpe-300-*.json"))) == 1


def test_sentencepiece_stream(corpus, t5_model):
    tokens = load_tokens(cfg(corpus, tokenizer=f"sentencepiece:{t5_model}"))
    assert (tokens.vocab_size, tokens.bos_id, tokens.eos_id) == (32101, 2, 1)
    assert tokens.train[0] == 2 and tokens.train[-1] == 1
    n_eval_docs = int(sources.eval_mask(DOCS, 0.3, "").sum())
    assert (np.asarray(tokens.eval) == 2).sum() == (np.asarray(tokens.eval) == 1).sum() == n_eval_docs


def test_stdlib_source_with_max_documents():
    tokens = load_tokens(DataConfig(source="stdlib", tokenizer="bytes", max_documents=12, eval_fraction=0.2, seq_len=32))
    assert len(tokens.train) > 1000 and len(tokens.eval) > 32


def test_split_too_short_for_one_row(corpus):
    with pytest.raises(ConfigError, match="split has .* fewer than seq_len"):
        load_tokens(cfg(corpus, seq_len=4096))


def test_missing_inputs_raise_config_error_naming_them(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path / "none")):
        load_tokens(DataConfig(source=f"files:{tmp_path}/none/*.txt", tokenizer="bytes"))
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.txt").write_text("world")
    with pytest.raises(ConfigError, match="missing.model"):
        load_tokens(DataConfig(source=f"files:{tmp_path}/*.txt", tokenizer=f"sentencepiece:{tmp_path}/missing.model"))


def test_hf_json_source_packs_like_files(corpus):
    pytest.importorskip("datasets", reason="the optional 'datasets' package (scalinglab[hf]) is not installed")
    via_hf = load_tokens(cfg(corpus, source=f"hf:json:{corpus}"))
    via_files = load_tokens(cfg(corpus))
    assert np.array_equal(via_hf.train, via_files.train) and np.array_equal(via_hf.eval, via_files.eval)
