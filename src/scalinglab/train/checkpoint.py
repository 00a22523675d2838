"""Checkpoints and results on disk: written atomically, read without running code, damage survived.

A checkpoint is loaded with `torch.load(weights_only=True)`: tensors and plain types only, so a
`checkpoint.pt` whose pickle calls os.system (run folders are shared between people) is refused
instead of run. Everything a run stores is such plain state (train.state.TrainState.saved).

The newest checkpoint is `checkpoint.pt`; the one before it is kept as `checkpoint.prev.pt` until
a newer one is complete. A damaged file (truncated, emptied, overwritten) is reported in one line
naming it and the run goes on from the previous checkpoint, or from the start: a damaged file must
not fail its run on every retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from scalinglab.config import ConfigError, RunConfig
from scalinglab.config.paths import atomic_path, write_atomically
from scalinglab.train.result import RESULT  # noqa: F401 - where tests and callers have found it
from scalinglab.train.state import TrainState

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"

log = logging.getLogger(__name__)


def save_checkpoint(out_dir: Path, state: dict[str, Any]) -> None:
    """Write `checkpoint.pt`; the one it replaces becomes `checkpoint.prev.pt` once the new one is
    whole on disk (a kill between the two renames leaves the previous one to resume from)."""
    with atomic_path(out_dir / CHECKPOINT, previous=out_dir / PREVIOUS) as tmp:
        torch.save(state, tmp)


def load_checkpoint(out_dir: Path, restore: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    """The newest checkpoint that loads and that `restore(state)` accepts, else None (start afresh).

    `restore` applies the state to the run's model and optimizer; any error it raises other than
    ConfigError (a checkpoint of another config: the folder is wrong, not damaged) marks the file
    as damaged, as does a file torch cannot read.
    """
    for name in (CHECKPOINT, PREVIOUS):
        path = out_dir / name
        if not path.exists():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
            restore(state)
            return state
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - any way a file can be damaged
            fallback = f"resuming from {PREVIOUS}" if name == CHECKPOINT and (out_dir / PREVIOUS).exists() \
                else "starting the run afresh"
            log.warning(f"{path}: damaged checkpoint ({damage(e)}); {fallback}")
    return None


def save_state(out_dir: Path, state: TrainState, cfg: RunConfig, wall_now: float) -> None:
    save_checkpoint(out_dir, state.saved(cfg, wall_now))


def load_state(out_dir: Path, cfg: RunConfig, build: Callable[[], tuple]) -> TrainState | None:
    """The run's state from its newest good checkpoint, in a model and optimizer from `build()` (fresh
    ones for each file tried: a load that fails half-way leaves them half-loaded); None: start afresh."""
    states: list[TrainState] = []

    def restore(saved: dict[str, Any]) -> None:
        try:
            states.append(TrainState.restored(saved, cfg, *build()))
        except ConfigError as e:
            raise e.at(str(out_dir)) from None

    return states[-1] if load_checkpoint(out_dir, restore) is not None else None


def damage(error: Exception) -> str:
    """What was wrong with a file, in a few words on one line."""
    text = " ".join(str(error).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def save_text(path: Path, text: str) -> None:
    write_atomically(path, text)
