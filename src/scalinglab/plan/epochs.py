"""How many times each planned run goes through its train split: repeated data, seen before training.

A run whose budget exceeds the unique tokens it can draw repeats them, epoch after epoch: the
"generalization" regime of Xiao 2024 (arXiv 2409.15156), where the rules of the one-epoch
"scaling" regime stop holding. Runs of one data setup share one split, so it is sized once:

- from its token cache's header when the cache is built (exact);
- else, when the plan may build (`plan` with its probe) and the source is local and small (the
  embedded stdlib, a few files), by building the cache: what `run` does first anyway, and reuses;
- else unknown (a large or remote source such as C4): a run capped by data.max_train_tokens then
  has at least tokens / cap epochs; any other run's epochs wait until `run` has built the cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scalinglab.config import DataConfig
from scalinglab.config.study import si
from scalinglab.data import cached_train_tokens, load_tokens
from scalinglab.data.epochs import epochs, repeats_data, unique_train_tokens
from scalinglab.data.sources import source_bytes
from scalinglab.data.tokens import split_too_short
from scalinglab.plan.plan import PlannedRun

BUILD_LIMIT_BYTES = 64e6
"""Build a missing token cache while planning only for a source up to this size: the 31.5 MB of the
standard library take ~30 s with BPE-4096 on the 2-core development machine."""

Known = Literal["cache", "built", "unknown"]


@dataclass(frozen=True)
class Split:
    """The train split of one data setup (source, tokenizer, documents, eval share)."""

    tokens: int | None
    """Tokens in the whole train split; None when unknown."""
    known: Known
    """cache: read from the built cache; built: built by this plan; unknown: not built (`why`)."""
    why: str = ""


@dataclass(frozen=True)
class DataUse:
    """What one planned run does with its train split."""

    split: Split
    unique_tokens: int | None
    """Train tokens the run can draw (data.epochs.unique_train_tokens); None when unknown."""
    epochs: float | None
    """budget tokens / unique tokens; with an unknown split and a cap, tokens / cap (a lower bound)."""
    lower_bound: bool = False

    @property
    def repeats(self) -> bool:
        return repeats_data(self.epochs)

    @property
    def shown(self) -> str:
        """'0.61', '9.8', '10.5', '≥31' or '?' for the plan's table."""
        if self.epochs is None:
            return "?"
        return ("≥" if self.lower_bound else "") + (f"{self.epochs:.2g}" if self.epochs < 10 else f"{self.epochs:.3g}")


def _split_key(data: DataConfig) -> str:
    """What decides the split's tokens: everything of the data setup but the row length and the cap."""
    return json.dumps(data.model_dump(exclude={"seq_len", "max_train_tokens"}), sort_keys=True)


def train_split(data: DataConfig, build: bool) -> Split:
    """The size of `data`'s train split: from its cache, by building it (when `build` and small), or unknown."""
    n = cached_train_tokens(data)
    if n is not None:
        return Split(n, "cache")
    size = source_bytes(data.source)
    if size is None:
        return Split(None, "unknown", f"{data.source} is streamed; its size is known once `run` has built its "
                                      f"token cache")
    if not build:
        return Split(None, "unknown", "its token cache is not built yet (plan with the probe builds it)")
    if size > BUILD_LIMIT_BYTES:
        return Split(None, "unknown", f"{size / 1e6:.0f} MB of source is too much to tokenize for a plan; `run` "
                                      f"builds its token cache")
    load_tokens(data)
    return Split(cached_train_tokens(data), "built")


def data_use(runs: Sequence[PlannedRun], build: bool = False) -> dict[str, DataUse]:
    """run_id -> its DataUse; each data setup's split sized once (see the module's docstring)."""
    splits: dict[str, Split] = {}
    out = {}
    for r in runs:
        data = r.spec.config.data
        key = _split_key(data)
        if key not in splits:
            splits[key] = train_split(data, build)
        split = splits[key]
        tokens = r.budget.tokens
        if split.tokens is not None:
            unique = unique_train_tokens(split.tokens, data.seq_len, data.max_train_tokens)
            if unique == 0:  # loading the tokens to train would refuse it: say so at plan time
                raise split_too_short("train", split.tokens, data.seq_len)
            out[r.spec.run_id] = DataUse(split, unique, epochs(tokens, unique))
        elif data.max_train_tokens is not None:  # at most the cap, so at least this many epochs
            out[r.spec.run_id] = DataUse(split, None, epochs(tokens, data.max_train_tokens), lower_bound=True)
        else:
            out[r.spec.run_id] = DataUse(split, None, None)
    return out


def repetition_lines(runs: Sequence[PlannedRun], uses: dict[str, DataUse]) -> list[tuple[str, str]]:
    """(kind, text) lines for the plan: kind 'warning' when runs repeat data without asking for it
    (no max_train_tokens), 'note' when they do by design, and where a split's size is unknown."""
    out = []
    repeating = [r for r in runs if uses[r.spec.run_id].repeats]
    accidental = [r for r in repeating if r.spec.config.data.max_train_tokens is None]
    deliberate = [r for r in repeating if r.spec.config.data.max_train_tokens is not None]
    if accidental:
        most = max(accidental, key=lambda r: uses[r.spec.run_id].epochs)
        use = uses[most.spec.run_id]
        out.append(("warning", f"runs at width{_widths(accidental)} repeat data: up to {use.epochs:.3g} epochs "
                               f"of the {_tokens(use.split.tokens)}-token train split ({most.spec.config.data.source}, "
                               f"{most.spec.config.data.tokenizer}), the many-epoch regime where L2, small batches and "
                               f"large LRs can help; set [data] max_train_tokens to repeat on purpose, or use more "
                               f"data or fewer tokens per parameter"))
    if deliberate:
        eps = [uses[r.spec.run_id].epochs for r in deliberate]
        bound = "at least " if any(uses[r.spec.run_id].lower_bound for r in deliberate) else ""
        span = f"{min(eps):.3g}" if f"{min(eps):.3g}" == f"{max(eps):.3g}" else f"{min(eps):.3g} to {max(eps):.3g}"
        out.append(("note", f"{len(deliberate)} runs at width{_widths(deliberate)} repeat data by design "
                            f"(data.max_train_tokens): {bound}{span} epochs"))
    splits = {id(u.split): u.split for u in uses.values()}.values()
    out += [("note", f"built the token cache ({_tokens(s.tokens)} train tokens); `run` reuses it")
            for s in splits if s.known == "built"]
    out += [("note", f"train split size unknown: {why}") for why in sorted({s.why for s in splits if s.why})]
    return out


def _widths(runs: Sequence[PlannedRun]) -> str:
    widths = sorted({r.spec.width for r in runs})
    return ("s " if len(widths) > 1 else " ") + ", ".join(map(str, widths))


def _tokens(n: int | None) -> str:
    return "?" if n is None else si(n)
