"""Token files on disk: one flat token array per split behind a small header, memory-mapped on read.

Layout (little-endian), after llm.c's shards: a token file says what it is, so a stale or foreign
file is rejected rather than misread.

    offset  size  field
    0       8     magic b"SLTOKENS"
    8       4     format version (1)
    12      4     bytes per token: 2 (uint16, vocab <= 65,536) or 4 (uint32)
    16      8     number of tokens
    24      4     vocab size
    28      4     BOS id
    32      4     EOS id
    36      32    fingerprint of source + settings + tokenizer (ASCII, NUL-padded)
    68      60    zero padding to 128, so the array starts aligned
    128     ...   the tokens

A file is written to a temporary name and renamed into place once complete (os.replace is atomic),
so a killed build leaves at most a stray *.tmp, never a half file under the real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from scalinglab.config.paths import atomic_path, make_folder

MAGIC = b"SLTOKENS"
VERSION = 1
HEADER_BYTES = 128
_HEADER = struct.Struct("<8sIIQIII32s")


class CacheError(Exception):
    """A token file that is missing, truncated, foreign or stale: rebuild it, never read it."""


@dataclass(frozen=True, eq=False)
class TokenFile:
    tokens: np.ndarray  # 1-D memmap
    vocab_size: int
    bos_id: int
    eos_id: int


def cache_root(cache_dir: str | None) -> Path:
    """DataConfig.cache_dir, else $SCALINGLAB_CACHE, else ~/.cache/scalinglab."""
    return Path(cache_dir or os.environ.get("SCALINGLAB_CACHE") or "~/.cache/scalinglab").expanduser()


def fingerprint(parts: object) -> str:
    """24 hex characters of blake2b over the JSON of `parts` (sorted keys: order-free for dicts)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


class TokenWriter:
    """Appends token chunks to an open file after a placeholder header (token_writer writes it last)."""

    def __init__(self, file: BinaryIO, path: Path, *, vocab_size: int, bos_id: int, eos_id: int, fingerprint: str):
        self.path = path
        self.dtype = dtype_for(vocab_size)
        self.n_tokens = 0
        self._meta = (vocab_size, bos_id, eos_id, fingerprint.encode("ascii"))
        self._file = file
        self._file.write(b"\0" * HEADER_BYTES)  # placeholder until the count is known

    def append(self, tokens: np.ndarray) -> None:
        vocab_size = self._meta[0]
        if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
            raise ValueError(f"token id out of range [0, {vocab_size}) while writing {self.path}")
        self._file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.n_tokens += tokens.size

    def write_header(self) -> None:
        vocab_size, bos_id, eos_id, fp = self._meta
        self._file.seek(0)
        self._file.write(_HEADER.pack(MAGIC, VERSION, self.dtype.itemsize, self.n_tokens, vocab_size, bos_id, eos_id, fp))


@contextlib.contextmanager
def token_writer(path: Path, *, vocab_size: int, bos_id: int, eos_id: int, fingerprint: str) -> Iterator[TokenWriter]:
    """A TokenWriter onto a temporary file beside `path`. Leaving the block normally writes the header,
    then the file is fsynced and renamed into place; an exception deletes it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        writer = TokenWriter(file, path, vocab_size=vocab_size, bos_id=bos_id, eos_id=eos_id, fingerprint=fingerprint)
        yield writer
        writer.write_header()


def read_tokens(path: Path, fingerprint: str) -> TokenFile:
    """Memory-map a token file, checking every header field against what it must be."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as e:
        raise CacheError(f"{path}: {e.strerror or e}") from None
    if len(raw) < HEADER_BYTES or raw[:8] != MAGIC:
        raise CacheError(f"{path}: not a scalinglab token file")
    _, version, itemsize, n_tokens, vocab_size, bos_id, eos_id, fp = _HEADER.unpack_from(raw)
    if version != VERSION:
        raise CacheError(f"{path}: token file version {version}, expected {VERSION}")
    if itemsize != dtype_for(vocab_size).itemsize:
        raise CacheError(f"{path}: {itemsize} bytes per token does not fit vocab {vocab_size}")
    if fp.rstrip(b"\0").decode("ascii", "replace") != fingerprint:
        raise CacheError(f"{path}: made for other data or settings")
    if n_tokens == 0 or size != HEADER_BYTES + n_tokens * itemsize:
        raise CacheError(f"{path}: header says {n_tokens} tokens but the file has {size} bytes")
    tokens = np.memmap(path, dtype=dtype_for(vocab_size), mode="r", offset=HEADER_BYTES, shape=(n_tokens,))
    return TokenFile(tokens, vocab_size, bos_id, eos_id)


@contextlib.contextmanager
def locked(directory: Path):
    """Hold an exclusive lock on `directory` so parallel workers build a cache once, not N times
    (the others wait, then find it). Without fcntl (Windows) there is no lock, and concurrent
    builds are merely wasteful: each writes the same bytes and renames atomically."""
    make_folder(directory)  # a cache folder made unwritable since the settings were loaded: one line
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(directory / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_temps(directory: Path) -> None:
    """Delete *.tmp left by killed builds. Call only while holding `locked(directory)`."""
    for p in directory.glob("*.tmp"):
        p.unlink(missing_ok=True)
