"""Tokenizers: text in, numpy id arrays out, in batches (the per-call overhead dominates otherwise).

- `bytes`: UTF-8 bytes are ids 0..255; BOS = 256, EOS = 257; vocab 258.
- `bpe:<V>`: byte-level BPE trained with Hugging Face `tokenizers` on the train split. The BPE
  model gets V - 2 ids; BOS = V - 2 and EOS = V - 1 sit outside it, so no text can ever encode
  to a special id (HF matches registered special tokens inside raw text). The embedding size is
  V even when tiny data yields fewer merges.
- `sentencepiece:<path>`: a SentencePiece model by path, e.g. the T5 vocabulary of the reference
  setup (32,101 pieces: pad 0, eos 1, bos 2, unk 3). Its own BOS/EOS ids are used.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from scalinglab.config import ConfigError
from scalinglab.config.paths import write_atomically

# Train BPE on at most this much text: merges stop changing long before, and a glob over all of
# C4 (~800 GB) must not be read into the trainer. The stdlib (~30 MB) is well under it.
BPE_TRAIN_CHARS = 256_000_000


class ByteTokenizer:
    vocab_size = 258
    bos_id = 256
    eos_id = 257

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.frombuffer(t.encode("utf-8", "surrogatepass"), dtype=np.uint8) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


class BpeTokenizer:
    def __init__(self, hf_tokenizer, vocab_size: int):
        self._tok = hf_tokenizer
        self.vocab_size = vocab_size
        self.bos_id = vocab_size - 2
        self.eos_id = vocab_size - 1

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        # encode_batch_fast (tokenizers >= 0.20) skips character offsets we never use: ~25% faster.
        encode = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        return [np.array(e.ids, dtype=np.int64) for e in encode(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode([i for i in ids if i < self.bos_id])

    def to_json(self) -> str:
        return self._tok.to_str()


class SentencePieceTokenizer:
    def __init__(self, path: str):
        import sentencepiece as spm

        self._sp = _load_sentencepiece(path, spm)
        self.vocab_size = self._sp.get_piece_size()
        self.eos_id = self._sp.eos_id()
        if self.eos_id < 0:
            raise ConfigError(f"data.tokenizer: {path}: the SentencePiece model has no EOS piece")
        # The original T5 vocabulary (32,000 + 100 extra ids) has no BOS (bos_id -1) and uses id 2
        # for <unk>, so "bos 2" would alias unknown text there. Fall back to EOS as the document
        # start: boundaries stay marked and no id is overloaded. The shared 32,101-piece model has
        # its own <s> at id 2, which is used as is.
        bos = self._sp.bos_id()
        self.bos_id = bos if bos >= 0 else self.eos_id

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        ids = self._sp.encode(texts, out_type=int, add_bos=False, add_eos=False, num_threads=os.cpu_count() or 1)
        return [np.array(x, dtype=np.int64) for x in ids]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode([int(i) for i in ids])


Tokenizer = ByteTokenizer | BpeTokenizer | SentencePieceTokenizer


def vocab_size(spec: str) -> int:
    """Embedding rows the tokenizer needs (max id + 1, specials included), without reading data."""
    kind, _, arg = spec.partition(":")
    if kind == "bytes":
        return ByteTokenizer.vocab_size
    if kind == "bpe":
        return int(arg)
    if kind == "sentencepiece":
        return SentencePieceTokenizer(arg).vocab_size
    raise ConfigError(f"data.tokenizer: unknown tokenizer '{spec}'")


def tokenizer_key(spec: str) -> str:
    """What the token cache must be keyed on: the spec, and for a model file its content hash
    (a path says nothing about what is in it today)."""
    kind, _, arg = spec.partition(":")
    if kind != "sentencepiece":
        return spec
    path = Path(arg).expanduser()
    try:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError as e:
        raise ConfigError(f"data.tokenizer: cannot read {path}: {e.strerror or e}") from None
    return f"sentencepiece:{digest}"


def make_tokenizer(spec: str, train_texts: Callable[[], Iterator[str]], bpe_path: Path) -> Tokenizer:
    """The tokenizer for `spec`. BPE is loaded from `bpe_path` or trained on `train_texts()` and
    saved there (atomically), so runs that share data share one tokenizer."""
    kind, _, arg = spec.partition(":")
    if kind == "bytes":
        return ByteTokenizer()
    if kind == "sentencepiece":
        return SentencePieceTokenizer(arg)
    if kind != "bpe":
        raise ConfigError(f"data.tokenizer: unknown tokenizer '{spec}'")
    from tokenizers import Tokenizer as HFTokenizer

    size = int(arg)
    if bpe_path.is_file():
        return BpeTokenizer(HFTokenizer.from_file(str(bpe_path)), size)
    tok = train_bpe(train_texts(), size)
    write_atomically(bpe_path, tok.to_json())
    return tok


def train_bpe(texts: Iterable[str], vocab_size: int) -> BpeTokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenization) with all 256 bytes in the alphabet, so any
    text encodes without <unk>."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 2,  # the last two ids are BOS and EOS
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(_capped(texts, BPE_TRAIN_CHARS), trainer=trainer)
    return BpeTokenizer(tok, vocab_size)


def _capped(texts: Iterable[str], max_chars: int) -> Iterator[str]:
    seen = 0
    for t in texts:
        if seen >= max_chars:
            return
        seen += len(t)
        yield t


def _load_sentencepiece(path: str, spm):
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"data.tokenizer: {p}: no such SentencePiece model file")
    sp = spm.SentencePieceProcessor()
    try:
        sp.load(str(p))
    except (OSError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"data.tokenizer: {p}: not a readable SentencePiece model ({first})") from None
    return sp
