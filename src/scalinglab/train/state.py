"""Where a run stands: everything it needs to go on from a step, which is what its checkpoint holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from scalinglab.config import ConfigError, RunConfig
from scalinglab.model import Transformer
from scalinglab.train.result import MetricRow


@dataclass
class TrainState:
    """The model and optimizer at `step`, and the run's record so far. A checkpoint is this state as
    tensors and plain values (checkpoint.py loads with weights_only=True: no objects of ours)."""

    model: Transformer
    optimizer: torch.optim.Optimizer
    step: int = 0
    metrics: list[MetricRow] = field(default_factory=list)
    first_loss: float | None = None
    """The first train loss: divergence is judged against it."""
    train_seconds: float = 0.0
    """Time inside training steps (throughput), over every session of the run."""
    wall_seconds: float = 0.0
    """Wall time of the run's sessions before this one."""

    def saved(self, cfg: RunConfig, wall_now: float) -> dict[str, Any]:
        """The checkpoint: plain values and tensors; wall_now is this session's wall time so far."""
        return {"config": cfg.model_dump_json(), "step": self.step, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "metrics": [m.model_dump() for m in self.metrics],
                "first_loss": self.first_loss, "train_seconds": self.train_seconds,
                "wall_seconds": self.wall_seconds + wall_now}

    @classmethod
    def restored(cls, saved: dict[str, Any], cfg: RunConfig, model: Transformer,
                 optimizer: torch.optim.Optimizer) -> TrainState:
        """The state a checkpoint holds, put into a fresh model and optimizer; ValueError (or a
        torch error) when the file is damaged, ConfigError when it is another config's."""
        if saved.get("config") != cfg.model_dump_json():
            raise ConfigError(other_world_size(saved.get("config"), cfg)
                              or "holds a checkpoint of a different config; choose another output folder")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        for key, kind in (("step", int), ("train_seconds", float), ("wall_seconds", float)):
            if not isinstance(saved[key], kind):
                raise ValueError(f"{key} is a {type(saved[key]).__name__}")
        return cls(model, optimizer, saved["step"], [MetricRow(**m) for m in saved["metrics"]], saved["first_loss"],
                   saved["train_seconds"], saved["wall_seconds"])


def other_world_size(written: object, cfg: RunConfig) -> str | None:
    """Why a folder's run (its config JSON, `written`) is not this one when they differ in world size,
    in words; None when they do not (or `written` is not a config)."""
    try:
        theirs = RunConfig.model_validate_json(written).resolved_devices()  # type: ignore[arg-type]
    except (TypeError, ValueError):  # damaged, or not text: the caller's own message applies
        return None
    ours = cfg.resolved_devices()
    if theirs == ours:
        return None
    return (f"holds a run on {theirs} device(s) (loop.devices) and this one is on {ours}: a run keeps its world "
            f"size, which is part of what it computes; start it on {theirs}, or choose another output folder")
