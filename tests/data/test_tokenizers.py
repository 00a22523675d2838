"""Tokenizers: ids in range, specials where documented, text survives a round trip."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.config import ConfigError
from scalinglab.data import tokenizer, tokenizer_vocab_size

from .helpers import DOCS

TEXT = "def f(x):\n    return x + 1  # größer ✓\n"


def test_bytes_roundtrip_and_specials():
    tok = tokenizer.ByteTokenizer()
    (ids,) = tok.encode_batch([TEXT])
    assert ids.max() < 256 and len(ids) == len(TEXT.encode())
    assert (tok.vocab_size, tok.bos_id, tok.eos_id) == (258, 256, 257)
    assert tok.decode([tok.bos_id, *ids, tok.eos_id]) == TEXT
    assert tokenizer_vocab_size("bytes") == 258


def test_bpe_trains_to_the_requested_size_and_never_emits_specials():
    tok = tokenizer.train_bpe(DOCS * 5, 300)
    assert (tok.vocab_size, tok.bos_id, tok.eos_id) == (300, 298, 299)
    ids = tok.encode_batch([TEXT, "<s></s><|endoftext|><bos><eos>", ""])
    # Specials sit outside the BPE model, so no text can encode to them.
    assert all(a.max(initial=0) < tok.bos_id for a in ids)
    assert len(ids[0]) < len(TEXT.encode())  # merges happened
    assert tok.decode(ids[0]) == TEXT  # byte-level: lossless, also for unseen characters
    assert tokenizer_vocab_size("bpe:300") == 300


def test_bpe_is_cached_on_disk(tmp_path):
    path = tmp_path / "bpe.json"
    calls = []

    def texts():
        calls.append(1)
        return iter(DOCS)

    first = tokenizer.make_tokenizer("bpe:280", texts, path)
    again = tokenizer.make_tokenizer("bpe:280", texts, path)
    assert path.is_file() and len(calls) == 1
    assert np.array_equal(first.encode_batch([TEXT])[0], again.encode_batch([TEXT])[0])


def test_sentencepiece_t5_vocabulary(t5_model):
    tok = tokenizer.SentencePieceTokenizer(str(t5_model))
    # REFERENCE.md: 32,101 pieces, pad 0, eos 1, bos 2.
    assert (tok.vocab_size, tok.eos_id, tok.bos_id) == (32101, 1, 2)
    (ids,) = tok.encode_batch(["Hello world, this is C4."])
    assert 0 < len(ids) < 20 and ids.max() < tok.vocab_size
    assert tok.bos_id not in ids and tok.eos_id not in ids  # added by packing, not by the model
    assert tok.decode(ids) == "Hello world, this is C4."
    assert tokenizer_vocab_size(f"sentencepiece:{t5_model}") == 32101


def test_missing_sentencepiece_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.model"
    with pytest.raises(ConfigError) as err:
        tokenizer_vocab_size(f"sentencepiece:{missing}")
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="nope.model"):
        tokenizer.tokenizer_key(f"sentencepiece:{missing}")


def test_garbage_sentencepiece_file_names_the_path(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a readable SentencePiece model") as err:
        tokenizer.SentencePieceTokenizer(str(bad))
    assert str(bad) in str(err.value)


def test_sentencepiece_key_follows_file_content(tmp_path, t5_model):
    copy = tmp_path / "copy.model"
    copy.write_bytes(t5_model.read_bytes())
    assert tokenizer.tokenizer_key(f"sentencepiece:{copy}") == tokenizer.tokenizer_key(f"sentencepiece:{t5_model}")
