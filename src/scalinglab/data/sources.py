"""Where documents come from, and which of them are held out for evaluation.

A source spec names a stream of documents (plain strings), always in the same order:

- `stdlib`: the running interpreter's standard library, one document per `*.py` file, sorted by
  relative path. About 30 MB of real text that every machine has, so the default works offline.
- `files:<glob>`: `.txt` files (one document each) and JSON-lines files `.jsonl` / `.json`
  (one document per line, in its `text` field); any of them may be gzipped, which covers C4's
  `c4-train.00000-of-01024.json.gz` shards. `**` recurses.
- `hf:<name>[:<config>]`: a Hugging Face `datasets` stream (the optional `hf` extra), split
  `train`, field `text`, e.g. `hf:allenai/c4:en`. For the packaged builders (`json`, `text`,
  `csv`, `parquet`, `arrow`) the part after the name is `data_files` instead of a config, so
  `hf:json:/data/c4/*.json.gz` streams local files through `datasets`.

Each source also has a cheap fingerprint (file paths, sizes and mtimes; never the contents) so the
token cache notices when the data changed without rereading it.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from scalinglab.config import ConfigError

# `datasets` builders that take local files rather than a named config.
_HF_FILE_BUILDERS = {"json", "text", "csv", "parquet", "arrow"}


def iter_documents(source: str) -> Iterator[str]:
    """The non-empty documents of `source`, in a fixed order (an empty one would pack to a bare BOS EOS)."""
    if source == "stdlib":
        texts = (_read_text(p) for p in _stdlib_files())
    elif source.startswith("files:"):
        texts = (t for p in _glob_files(source) for t in _file_documents(p))
    elif source.startswith("hf:"):
        texts = _hf_documents(source)
    else:
        raise ConfigError(f"data.source: unknown source '{source}'")
    return (t for t in texts if t)


def source_fingerprint(source: str) -> list:
    """What identifies the source's content without reading it: paths, sizes, mtimes (ns)."""
    if source == "stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        return [source, sys.version, str(root), _stats(_stdlib_files(), root)]
    if source.startswith("files:"):
        return [source, _stats(_glob_files(source))]
    name, arg = _hf_parts(source)
    if name in _HF_FILE_BUILDERS and arg:
        # Local files behind `datasets`: their stats, as for files:. Remote datasets are taken as
        # immutable under their name (streaming gives no cheap revision to key on).
        return [source, _stats(Path(p) for p in sorted(glob.glob(os.path.expanduser(arg), recursive=True)))]
    return [source]


def source_bytes(source: str) -> int | None:
    """Size on disk of a local source's files (compressed, for .gz), without reading them; None for
    a remote one. What building its token cache costs is about proportional to it."""
    stats = source_fingerprint(source)[-1]
    return sum(size for _, size, _ in stats) if isinstance(stats, list) else None


def eval_mask(texts: Iterable[str], eval_fraction: float, source: str) -> np.ndarray:
    """One bool per document: True if it is held out for evaluation.

    A document goes to eval iff a hash of its text falls below eval_fraction. Hashing the content
    (not its position) keeps the choice stable when documents are added or reordered, and sends
    exact duplicates to the same side, so eval never scores a copy of a training document. If the
    hash leaves a side empty (few documents), the lowest (or highest) hash is moved over.
    """
    h = np.array([_unit_hash(t) for t in texts], dtype=np.float64)
    if len(h) == 0:
        raise ConfigError(f"data.source: '{source}' has no (non-empty) documents")
    if len(h) == 1:
        raise ConfigError(f"data.source: '{source}' has only one document; train and eval need one each")
    mask = h < eval_fraction
    if not mask.any():
        mask[np.argmin(h)] = True
    if mask.all():
        mask[np.argmax(h)] = False
    return mask


def _unit_hash(text: str) -> float:
    """A stable hash of the text in [0, 1): blake2b, not hash(), which is salted per process."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise ConfigError(f"data.source: stdlib: {root} is not a directory")
    files = []
    for folder, subdirs, names in os.walk(root):
        # Third-party packages live under site-/dist-packages inside the stdlib tree (often far
        # more files than the stdlib itself): prune them rather than walk and filter.
        subdirs[:] = [d for d in subdirs if d not in ("site-packages", "dist-packages", "__pycache__")]
        files += [Path(folder, n) for n in names if n.endswith(".py")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _glob_files(source: str) -> list[Path]:
    pattern = os.path.expanduser(source.removeprefix("files:"))
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not files:
        raise ConfigError(f"data.source: '{source}': no files match {pattern}")
    return files


def _stats(paths: Iterable[Path], root: Path | None = None) -> list:
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError as e:
            raise ConfigError(f"data.source: cannot read {p}: {e.strerror or e}") from None
        out.append([(p.relative_to(root) if root else p.resolve()).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def _open_text(path: Path):
    # Undecodable bytes become U+FFFD rather than an error: one odd byte in a crawl should not stop
    # a run, and the replacement is deterministic, so the cache stays valid.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _read_text(path: Path) -> str:
    try:
        with _open_text(path) as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise ConfigError(f"data.source: cannot read {path}: {e.strerror or e}") from None


def _file_documents(path: Path) -> Iterator[str]:
    kind = path.name.removesuffix(".gz").rpartition(".")[2]
    if kind == "txt":
        yield _read_text(path)
    elif kind in ("jsonl", "json"):
        yield from _json_lines(path)
    else:
        raise ConfigError(f"data.source: {path}: unsupported file type (use .txt, .jsonl or .json, optionally .gz)")


def _json_lines(path: Path) -> Iterator[str]:
    try:
        with _open_text(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line)["text"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise ConfigError(f"data.source: {path}:{n}: not a JSON object with a 'text' field") from None
                if not isinstance(text, str):
                    raise ConfigError(f"data.source: {path}:{n}: 'text' is not a string")
                yield text
    except (OSError, EOFError) as e:
        raise ConfigError(f"data.source: cannot read {path}: {e.strerror or e}") from None


def _hf_parts(source: str) -> tuple[str, str | None]:
    # Split at the first colon only: the rest may be a path or glob that contains colons.
    name, _, arg = source.removeprefix("hf:").partition(":")
    if not name:
        raise ConfigError(f"data.source: '{source}': no dataset name (use 'hf:<name>[:<config>]')")
    return name, arg or None


def _hf_documents(source: str) -> Iterator[str]:
    name, arg = _hf_parts(source)
    try:
        import datasets  # optional extra: imported only when an hf: source is used
    except ImportError:
        raise ConfigError(f"data.source: '{source}' needs the 'datasets' package (pip install 'scalinglab[hf]')") from None
    if name in _HF_FILE_BUILDERS:
        if not arg:
            raise ConfigError(f"data.source: '{source}': the '{name}' builder needs files (use 'hf:{name}:<path or glob>')")
        files = os.path.expanduser(arg)
        if "://" not in files and not glob.glob(files, recursive=True):
            raise ConfigError(f"data.source: '{source}': no files match {files}")
        kwargs = {"data_files": files}
    else:
        kwargs = {"name": arg}
    try:
        stream = datasets.load_dataset(name, split="train", streaming=True, **kwargs)
        for n, row in enumerate(stream):
            text = row.get("text")
            if not isinstance(text, str):
                raise ConfigError(f"data.source: '{source}': row {n} has no string 'text' field")
            yield text
    except (OSError, ValueError) as e:  # not found, no network, bad files: one line for the user
        if isinstance(e, ConfigError):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"data.source: '{source}': {first}") from None
