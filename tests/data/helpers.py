"""Small corpora written into tmp_path, so tests never tokenize the whole stdlib."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# The reference setup's vocabulary: the project's copy (data/PROVENANCE.md).
T5_MODEL = Path(__file__).resolve().parents[2] / "data" / "t5-sentencepiece-32101.model"

# Short, distinct documents: enough that a 30% eval fraction lands documents on both sides.
DOCS = [f"Document {i}: the quick brown fox {'jumps ' * (i % 5)}over the lazy dog #{i}. Größe ✓" for i in range(40)]


def write_jsonl(path: Path, texts: list[str], gz: bool = False) -> Path:
    lines = "".join(json.dumps({"text": t, "url": f"u{i}"}) + "\n" for i, t in enumerate(texts))
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")
    return path
