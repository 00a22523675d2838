"""How far the forecasts can be trusted, measured: backtests that redo the comparison on smaller scales.

A rolling-origin backtest (Tashman 2000) keeps the rows at or below the k-th smallest size (or
budget) and forecasts every pair the arms ran beyond them, for every k. Each fold redoes the whole
comparison on its own rows, as a user holding only those runs would: the design, the frontier, the
noise, the models and their posteriors (not the full table's choices). Each forecast is scored:
was the named winner right, what probability did it carry, how far off was the difference.
The probability scored is P(a run of B beats a run of A) at the held-out pair (analysis.forecast):
a held-out pair is one run of each arm, noise included.

Over all forecasts (`Scores`):
- counts: every forecast, and those with a probability (a fit without spread has none; the Brier
  score and its skill are over these, and both counts are said);
- accuracy: the share whose more likely winner is the observed one;
- Brier score: the mean of (P − 1[B won])²: 0 for certain and right, 0.25 for a coin;
- its skill against two baselines that need no model, 1 − Brier ÷ Brier_baseline (above 0: the
  model adds something): persistence, the arm ahead at the fold's largest size stays ahead
  (a 0/1 forecast), and climatology, the share of the fold's own pairs that B led;
- a cluster-robust 95% interval of the skill: forecasts of one comparison share its fits and the
  re-forecasts of one held-out pair (at every smaller cut) share its outcome, so they are not
  independent; the interval resamples whole clusters (comparisons where a dataset has several,
  else held-out pairs) and the design effect says how many independent outcomes the rows are worth;
- reliability: forecasts binned by the named winner's probability, against how often it won.
The comparison's own backtest is the last fold only: refitted without the largest size, forecast it.
A fold whose rows cannot be compared (too few points) is skipped and counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scalinglab.analysis.deciding.comparison import Setup, analyse, prepare
from scalinglab.analysis.deciding.holdout import held_out
from scalinglab.analysis.deciding.scored import Scored
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError

BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Reliability bins of the named winner's probability max(P, 1 − P)."""
CONFIDENT = 0.9
CLUSTER_RESAMPLES = 2000
MIN_CLUSTERS = 5
"""Comparisons are the clusters where a dataset has at least this many, else held-out pairs."""


@dataclass(frozen=True)
class Skill:
    """1 − Brier ÷ a baseline's Brier, over the forecasts with a probability, with its clustered interval."""

    baseline: str
    baseline_brier: float
    skill: float
    interval: tuple[float, float]
    clusters: int
    cluster_kind: str
    """'comparisons' or 'held-out pairs'."""

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    brier: float
    n_with_p: int
    """Forecasts with a probability (a fit without spread has none); Brier, skill and reliability use these."""
    confident_n: int
    confident_hit: float
    """Forecasts whose named winner has probability ≥ CONFIDENT, and how often that winner won."""
    reliability: tuple[tuple[float, float, int, float, float], ...]
    """(low, high, n, mean claimed probability, hit rate) per bin of BINS."""
    mean_abs_miss: float
    significant_n: int
    significant_accuracy: float
    significant_brier: float
    skills: tuple[Skill, ...] = ()
    """Against persistence and climatology."""
    effective_n: float = float("nan")
    """Forecasts ÷ the design effect of their clusters: how many independent outcomes they are worth."""

    def skill(self, baseline: str) -> Skill | None:
        return next((s for s in self.skills if s.baseline == baseline), None)

    def to_dict(self) -> dict:
        return jsonable(self.__dict__ | {"skills": [s.to_dict() for s in self.skills]})


def score(forecasts: list[Scored], seed: int = 0) -> Scores:
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

    skills, effective = (), nan
    if has.any():
        kept = [f for f, h in zip(forecasts, has) if h]
        clusters, kind = _clusters(kept)
        loss = (p[has] - b_won[has]) ** 2
        skills = tuple(_skill(name, loss, (base - b_won[has]) ** 2, clusters, kind, seed)
                       for name, base in (("persistence", np.array([f.persistence for f in kept])),
                                          ("climatology", np.array([f.climatology for f in kept])))
                       if np.all(np.isfinite(base)))
        effective = _effective_n(loss, clusters)
    return Scores(len(forecasts), float(right.mean()), brier(has), int(has.sum()), int(confident.sum()),
                  float(right[confident].mean()) if confident.any() else nan, tuple(bins),
                  float(np.mean(np.abs([f.miss for f in forecasts]))), int(sig.sum()),
                  float(right[sig].mean()) if sig.any() else nan, brier(has & sig), skills, effective)


def _clusters(forecasts: list[Scored]) -> tuple[np.ndarray, str]:
    comparisons = pd.factorize(pd.Series([f.comparison for f in forecasts]))[0]
    if comparisons.max() + 1 >= MIN_CLUSTERS:
        return comparisons, "comparisons"
    return pd.factorize(pd.Series([f.pair for f in forecasts]))[0], "held-out pairs"


def _skill(name: str, loss: np.ndarray, base: np.ndarray, clusters: np.ndarray, kind: str, seed: int) -> Skill:
    """1 − mean(loss)/mean(base), and its percentile interval over resamples of whole clusters."""
    groups = clusters.max() + 1
    loss_g, base_g = np.bincount(clusters, loss, groups), np.bincount(clusters, base, groups)
    point = 1 - loss.sum() / base.sum() if base.sum() > 0 else float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, groups, (CLUSTER_RESAMPLES, groups))
    counts = np.apply_along_axis(np.bincount, 1, picks, minlength=groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = 1 - (counts @ loss_g) / (counts @ base_g)
    draws = draws[np.isfinite(draws)]
    lo, hi = np.quantile(draws, [0.025, 0.975]) if len(draws) else (float("nan"), float("nan"))
    return Skill(name, float(base.mean()), float(point), (float(lo), float(hi)), int(groups), kind)


def _effective_n(values: np.ndarray, clusters: np.ndarray) -> float:
    """n ÷ the design effect: the clustered variance of the mean over its independent-rows variance
    (never above n: clusters whose rows happen to offset each other are not worth more than their rows)."""
    n = len(values)
    if n < 2 or np.var(values) == 0:
        return float(n)
    dev = np.bincount(clusters, values - values.mean())
    clustered = np.sum(dev**2) / n**2
    return float(min(n, np.var(values) / clustered)) if clustered > 0 else float(n)


@dataclass(frozen=True)
class Fold:
    """One fold of a rolling backtest."""

    cut: float
    """The largest size (in the pairing key's units) the fold keeps."""
    forecasts: int
    skipped: str = ""
    """Why the fold could not be compared ('' when it was)."""

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Calibration:
    """A rolling-origin backtest of one comparison, and its scores."""

    setup: Setup
    key: str
    folds: tuple[Fold, ...]
    forecasts: tuple[Scored, ...]
    scores: Scores
    seconds: float

    def to_dict(self) -> dict:
        return jsonable({"setup": self.setup.to_dict(), "key": self.key, "scores": self.scores.to_dict(),
                         "folds": [f.to_dict() for f in self.folds],
                         "forecasts": [f.to_dict() for f in self.forecasts], "seconds": self.seconds})


DEFAULT_BACKTEST_DRAWS = 1600
"""Posterior draws per fold: a backtest redoes the comparison once per size."""


def rolling_backtest(df, a: str, b: str, *, draws: int = DEFAULT_BACKTEST_DRAWS, label: str = "",
                     **options) -> Calibration:
    """For every k, redo the comparison on the k smallest sizes and forecast every larger pair;
    options as compare_arms."""
    start = time.perf_counter()
    setup, runs = prepare(df, a, b, draws=draws, **options)
    frame = runs.frame
    # The full table's pairs and their noise judge each held-out difference.
    observed = analyse(frame, replace(setup, draws=0), Target.at(float(frame["compute"].max()))).observed
    if observed.key == "none":
        raise ConfigError(f"{setup.source}: arms '{a}' and '{b}' share no point to forecast (no pair of rows at the "
                          f"same N and D, compute or width)")
    sizes = np.unique(observed.sizes)
    folds, forecasts = [], []
    for cut in sizes[:-1]:
        try:
            got = held_out(frame, setup, observed, float(cut), label or f"{a} vs {b}")
        except ConfigError as e:
            folds.append(Fold(float(cut), 0, str(e).split(": ", 1)[-1]))
            continue
        folds.append(Fold(float(cut), len(got)))
        forecasts += got
    if not forecasts:
        raise ConfigError(f"{setup.source}: no fold could be fitted ({folds[-1].skipped if folds else 'one size only'})")
    return Calibration(setup, observed.key, tuple(folds), tuple(forecasts), score(forecasts),
                       time.perf_counter() - start)
