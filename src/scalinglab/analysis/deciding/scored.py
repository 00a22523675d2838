"""A forecast checked against runs held out of its fit: one scored forecast, and the comparison's own
check on its largest size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.serialize import jsonable


@dataclass(frozen=True)
class Scored:
    """One forecast at a pair held out of the fit, and what was observed there."""

    cut: float
    """The largest size in the fit."""
    size: float
    tokens: float
    compute: float
    predicted_a: float
    predicted_b: float
    observed_a: float
    observed_b: float
    p_b_beats_a: float
    """P(a run of B beats a run of A) at this pair (NaN: a fit without spread)."""
    significant: bool
    """The observed difference exceeds twice its standard error (observed.SIGNIFICANT)."""
    compute_ratio: float = 1.0
    """Compute of b ÷ compute of a at this pair (≠ 1 when paired by width)."""
    persistence: float = float("nan")
    """1 if B was ahead at the fold's largest pair, else 0: the no-model forecast that the leader stays."""
    climatology: float = float("nan")
    """The share of the fold's pairs that B led: the no-model forecast of the base rate."""
    comparison: str = ""
    """Which comparison it belongs to (a cluster)."""

    @property
    def pair(self) -> str:
        """The held-out pair (a cluster of re-forecasts)."""
        return f"{self.comparison}|{self.size:.6g}|{self.tokens:.6g}|{self.compute:.6g}"

    @property
    def predicted_winner(self) -> str:
        if np.isfinite(self.p_b_beats_a) and self.p_b_beats_a != 0.5:
            return "b" if self.p_b_beats_a > 0.5 else "a"
        return "b" if self.predicted_b < self.predicted_a else "a"

    @property
    def observed_winner(self) -> str:
        return "b" if self.observed_b < self.observed_a else "a"

    @property
    def correct(self) -> bool:
        return self.predicted_winner == self.observed_winner

    @property
    def miss(self) -> float:
        """(predicted_b − predicted_a) − (observed_b − observed_a)."""
        return (self.predicted_b - self.predicted_a) - (self.observed_b - self.observed_a)

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"predicted_winner": self.predicted_winner,
                                         "observed_winner": self.observed_winner, "correct": self.correct,
                                         "miss": self.miss})


@dataclass(frozen=True)
class Backtest:
    """The comparison's own check: redone without the largest size, the forecasts of that size."""

    status: str
    """ok | too_few (fewer than two sizes, or too few points without the largest)."""
    key: str = ""
    held_out_size: float | None = None
    forecasts: tuple[Scored, ...] = ()
    reason: str = ""

    @property
    def accuracy(self) -> float:
        return float(np.mean([f.correct for f in self.forecasts])) if self.forecasts else float("nan")

    @property
    def correct(self) -> bool | None:
        return None if not self.forecasts else all(f.correct for f in self.forecasts)

    def to_dict(self) -> dict:
        return jsonable({"status": self.status, "key": self.key, "held_out_size": self.held_out_size,
                         "reason": self.reason, "accuracy": self.accuracy,
                         "forecasts": [f.to_dict() for f in self.forecasts]})
