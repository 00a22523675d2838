"""How far the forecasts can be trusted, measured: backtests that refit on smaller scales only.

A rolling-origin backtest (Tashman 2000) fits on the k smallest sizes (or budgets) and forecasts
every pair the arms ran beyond them, for every k; each forecast is scored: was the named winner
right, what probability did it carry, how far off was the difference. Over all forecasts:
- accuracy: the share whose more likely winner (P ≥ 0.5 for B) is the observed one;
- Brier score: the mean of (P(B beats A) − 1[B won])²: 0 for certain and right, 0.25 for a coin;
- reliability: forecasts binned by the named winner's probability, against how often it won —
  calibrated forecasts win about as often as they claim.
The comparison's own backtest is the last fold only: refit without the largest size, forecast it.
A fold whose training part cannot be fitted (too few points) is skipped and counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scalinglab.analysis.compare import Setup, analyse, prepare, run_noise
from scalinglab.analysis.design import BUDGET_TOLERANCE
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.forecast import Target, win_probability
from scalinglab.analysis.laws import PARAMS_TOKENS
from scalinglab.analysis.observed import Observed
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError

BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Reliability bins of the named winner's probability max(P, 1 − P)."""
CONFIDENT = 0.9


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
    significant: bool
    """The observed difference exceeds twice its standard error (observed.SIGNIFICANT)."""
    compute_ratio: float = 1.0
    """Compute of b ÷ compute of a at this pair (≠ 1 when paired by width)."""

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
class Scores:
    n: int
    accuracy: float
    brier: float
    n_with_p: int
    """Forecasts with a probability (a fit without spread has none); Brier and reliability use these."""
    confident_n: int
    confident_hit: float
    """Forecasts whose named winner has probability ≥ CONFIDENT, and how often that winner won."""
    reliability: tuple[tuple[float, float, int, float, float], ...]
    """(low, high, n, mean claimed probability, hit rate) per bin of BINS."""
    mean_abs_miss: float
    significant_n: int
    significant_accuracy: float
    significant_brier: float

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def score(forecasts: list[Scored]) -> Scores:
    nan = float("nan")
    if not forecasts:
        return Scores(0, nan, nan, 0, 0, nan, (), nan, 0, nan, nan)
    p = np.array([f.p_b_beats_a for f in forecasts])
    b_won = np.array([f.observed_winner == "b" for f in forecasts], dtype=float)
    right = np.array([f.correct for f in forecasts])
    sig = np.array([f.significant for f in forecasts])
    has = np.isfinite(p)
    claim = np.maximum(p, 1 - p)
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        inside = has & (claim >= lo) & ((claim < hi) | (hi == 1.0))
        if inside.any():
            bins.append((lo, hi, int(inside.sum()), float(claim[inside].mean()), float(right[inside].mean())))
    confident = has & (claim >= CONFIDENT)

    def brier(mask):
        return float(np.mean((p[mask] - b_won[mask]) ** 2)) if mask.any() else nan

    return Scores(len(forecasts), float(right.mean()), brier(has), int(has.sum()), int(confident.sum()),
                  float(right[confident].mean()) if confident.any() else nan, tuple(bins),
                  float(np.mean(np.abs([f.miss for f in forecasts]))), int(sig.sum()),
                  float(right[sig].mean()) if sig.any() else nan, brier(has & sig))


def _key_values(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame[{"N and D": "params", "compute": "compute", "width": "width"}[key]]


def held_out(frame: pd.DataFrame, setup: Setup, observed: Observed, cut: float) -> list[Scored]:
    """Fit on the rows at or below `cut` (in the pairing key's units), forecast every pair above it."""
    tolerance = 1 + (BUDGET_TOLERANCE if observed.key == "compute" else 1e-9)
    train = frame[_key_values(frame, observed.key) <= cut * tolerance]
    sizes = np.array(observed.sizes)
    test = np.flatnonzero(sizes > cut * tolerance)
    if not len(test):
        return []
    comparison = analyse(train, setup, Target.at(float(np.max(np.array(observed.compute)[test]))))
    fa, fb = comparison.fit_a, comparison.fit_b
    compute = np.array(observed.compute)[test]
    ratio = np.array(observed.compute_ratio)[test]
    ca = 2 * compute / (1 + ratio)
    at_model = setup.law is PARAMS_TOKENS and observed.key == "N and D"
    n, d = sizes[test], np.array(observed.tokens)[test]
    la, lb = (_losses(fa, n, d, ca, at_model), _losses(fb, n, d, ca * ratio, at_model))
    p = np.full(len(test), np.nan)
    if fa.has_spread and fb.has_spread:
        sa, sb = _samples(fa, n, d, ca, at_model), _samples(fb, n, d, ca * ratio, at_model)
        m = min(len(sa), len(sb))
        sa, sb = sa[:m], sb[:m]
        ok = np.all(np.isfinite(sa) & np.isfinite(sb), axis=1)  # a draw without a frontier says nothing
        p = win_probability(sa[ok], sb[ok], *run_noise(comparison.observed, fa, fb)) if ok.any() else p
    sig = observed.significant[test]
    return [Scored(float(cut), float(sizes[i]), float(observed.tokens[i]), float(observed.compute[i]),
                   float(la[j]), float(lb[j]), float(observed.loss_a[i]), float(observed.loss_b[i]), float(p[j]),
                   bool(sig[j]), float(ratio[j])) for j, i in enumerate(test)]


def _losses(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict(n, d) if at_model else fit.frontier(c)


def _samples(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict_samples(n, d) if at_model else fit.frontier_samples(c)


@dataclass(frozen=True)
class Backtest:
    """The comparison's own check: refitted without the largest size, the forecasts of that size."""

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


def holdout_backtest(frame: pd.DataFrame, setup: Setup, observed: Observed) -> Backtest:
    sizes = np.unique(observed.sizes)
    if len(sizes) < 2:
        return Backtest("too_few", observed.key, reason="it needs two or more sizes that both arms ran")
    try:
        forecasts = held_out(frame, setup, observed, float(sizes[-2]))
    except ConfigError as e:
        return Backtest("too_few", observed.key, float(sizes[-1]), reason=str(e).split(": ", 1)[-1])
    return Backtest("ok", observed.key, float(sizes[-1]), tuple(forecasts))


@dataclass(frozen=True)
class Calibration:
    """A rolling-origin backtest of one comparison, and its scores."""

    setup: Setup
    key: str
    folds: tuple[tuple[float, int, str], ...]
    """(cut, forecasts made, '' or why the fold was skipped) per fold."""
    forecasts: tuple[Scored, ...]
    scores: Scores
    seconds: float

    def to_dict(self) -> dict:
        return jsonable({"setup": self.setup.to_dict(), "key": self.key, "scores": self.scores.to_dict(),
                         "folds": [{"cut": c, "forecasts": n, "skipped": why} for c, n, why in self.folds],
                         "forecasts": [f.to_dict() for f in self.forecasts], "seconds": self.seconds})


def rolling_backtest(df, a: str, b: str, *, bootstrap: int = 200, **options) -> Calibration:
    """For every k, fit on the k smallest sizes and forecast every larger pair; options as compare_arms."""
    start = time.perf_counter()
    setup, runs = prepare(df, a, b, bootstrap=bootstrap, **options)
    frame = runs.frame
    # A point fit to all the data gives the noise that judges each held-out difference.
    observed = analyse(frame, replace(setup, bootstrap=0), Target.at(float(frame["compute"].max()))).observed
    if observed.key == "none":
        raise ConfigError(f"{setup.source}: arms '{a}' and '{b}' share no point to forecast (no pair of rows at the "
                          f"same N and D, compute or width)")
    sizes = np.unique(observed.sizes)
    folds, forecasts = [], []
    for cut in sizes[:-1]:
        try:
            got = held_out(frame, setup, observed, float(cut))
        except ConfigError as e:
            folds.append((float(cut), 0, str(e).split(": ", 1)[-1]))
            continue
        folds.append((float(cut), len(got), ""))
        forecasts += got
    if not forecasts:
        raise ConfigError(f"{setup.source}: no fold could be fitted ({folds[-1][2] if folds else 'one size only'})")
    return Calibration(setup, observed.key, tuple(folds), tuple(forecasts), score(forecasts),
                       time.perf_counter() - start)
