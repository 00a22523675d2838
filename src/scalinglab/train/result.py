"""What one training run returns: a structured record, never a scraped log; and its file, result.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["complete", "diverged"]


class MetricRow(BaseModel):
    """One logged point of a run's curve. Eval fields are set only at evaluation steps."""

    model_config = ConfigDict(frozen=True)

    step: int
    tokens: int
    train_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    eval_loss: float | None = None
    eval_loss_se: float | None = None


class RunResult(BaseModel):
    """The summary of a finished (complete or diverged) run."""

    model_config = ConfigDict(frozen=True)

    status: Status
    steps: int
    """Optimizer steps taken (equals steps_planned unless diverged)."""
    steps_planned: int
    tokens: int
    """Training tokens seen."""
    params_non_embedding: int
    params_total: int
    flops: float
    """Training FLOPs spent: training_flops_per_token × tokens (model.accounting)."""
    flops_6nd: float
    """6·N_non-embedding·tokens, the scaling-law convention (what analysis uses by default)."""
    vocab_size: int
    lr: float
    """Peak learning rate after resolving any width rule."""
    depth: int
    unique_tokens: int | None = None
    """Train tokens the run could draw (data.epochs.unique_train_tokens: the split, or its first
    data.max_train_tokens, in whole rows); None in results written before it was recorded."""
    epochs: float | None = None
    """tokens / unique_tokens: above 1 the run repeated data (the many-epoch regime)."""
    final_train_loss: float | None
    """Mean train loss over the last logged window (None if diverged before any)."""
    final_eval_loss: float | None
    final_eval_loss_se: float | None
    final_unseen_train_loss: float | None = None
    """Final loss on training rows (windows) the run never took, None if it covered an epoch or
    diverged. Set against the train loss it shows memorisation window by window; against the eval
    loss, what a held-out document costs beyond a held-out window of the training documents."""
    final_unseen_train_loss_se: float | None = None
    initial_eval_loss: float | None
    diverged_step: int | None = None
    wall_time_s: float
    tokens_per_s: float
    device: str
    threads: int | None = None
    """Torch intra-op threads it trained with: its spec's (RunConfig.resolved_threads), recorded
    with the result; None in results written before the count was fixed per run."""
    devices: int = 1
    """Processes it trained on, data-parallel (its spec's loop.devices); 1 in results from before."""
    metrics: list[MetricRow] = []


RESULT = "result.json"
CONFIG = "config.json"
"""A run folder's files: its result, and the config it was trained with (which the result belongs to)."""


class EditedResult(ValueError):
    """A result.json whose content no longer matches the checksum it was written with."""


def _checksum(result: RunResult) -> str:
    return "sha256:" + hashlib.sha256(result.model_dump_json().encode()).hexdigest()


def result_json(result: RunResult) -> str:
    """result.json's text: the result and a checksum of its content, so that a result edited by hand
    (a final loss changed from 1.92 to 0.52, still valid JSON) is not read back as the run's."""
    return json.dumps(json.loads(result.model_dump_json()) | {"checksum": _checksum(result)}, indent=1)


def read_result(path: Path) -> RunResult:
    """A result.json read back: ValueError when it is damaged, EditedResult when its content no
    longer matches its checksum. One written before results carried a checksum is taken as it is.
    (A checksum, not a signature: it catches an edit, not someone who recomputes it.)"""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"holds a JSON {type(doc).__name__}, not a result")
    signed = "checksum" in doc
    written = doc.pop("checksum", None)
    result = RunResult.model_validate(doc)
    if signed and written != _checksum(result):
        raise EditedResult(f"{path}: its content does not match its checksum (edited since the run wrote it?)")
    return result


def stored_result(out_dir: Path, config_json: str) -> RunResult | None:
    """The result in a run folder when it is whole, unedited and this config's (config.json says so);
    else None, and train_run, which finishes the run, says what was wrong."""
    try:
        if (out_dir / CONFIG).read_text() != config_json:
            return None
        return read_result(out_dir / RESULT)
    except (OSError, ValueError):  # missing, unreadable, damaged, edited
        return None
