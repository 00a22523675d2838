"""Tiny study files written into tmp_path: width 64-128, depth 1, bytes, a few thousand tokens."""

from __future__ import annotations

import json
from pathlib import Path

BASE = """\
[study]
name = "tiny"

[model]
depth = 1

[data]
tokenizer = "bytes"
seq_len = 32
max_documents = 200
{cache_line}

[budget]
tokens = {tokens}
batch_size = 8

[loop]
eval_tokens = 512
log_every = 4
checkpoint_seconds = {checkpoint_seconds}
"""


def _toml_value(value) -> str:
    return json.dumps(value)  # numbers, strings, booleans and lists read the same in TOML


def write_study(path: Path, *, widths=(64,), arms: dict[str, dict] | None = None, tokens: int = 2048,
                sweep: dict | None = None, checkpoint_seconds: float = 60.0, extra: str = "",
                cache_dir: Path | None = None) -> Path:
    """A study file: BASE settings, `[sweep] width = widths` (+ `sweep`), and `[arms.NAME]` tables."""
    cache_line = f"cache_dir = {_toml_value(str(cache_dir))}" if cache_dir else ""
    text = BASE.format(tokens=tokens, checkpoint_seconds=checkpoint_seconds, cache_line=cache_line) + extra
    text += "\n[sweep]\n" + f"width = {_toml_value(list(widths))}\n"
    for key, values in (sweep or {}).items():
        text += f"{key} = {_toml_value(values)}\n"
    for name, table in (arms or {}).items():
        text += f"\n[arms.{name}]\n"
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        text += "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items() if k not in nested)
        for section, values in nested.items():
            text += f"[arms.{name}.{section}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
    path.write_text(text)
    return path
