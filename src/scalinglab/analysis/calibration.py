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

from scalinglab.analysis.compare import Setup, analyse, prepare
from scalinglab.analysis.design import BUDGET_TOLERANCE
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.forecast import Target, noise_draws, win_probability
from scalinglab.analysis.laws import PARAMS_TOKENS
from scalinglab.analysis.observed import Observed
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError

BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Reliability bins of the named winner's probability max(P, 1 − P)."""
CONFIDENT = 0.9
CLUSTER_RESAMPLES = 2000
MIN_CLUSTERS = 5
"""Comparisons are the clusters where a dataset has at least this many, else held-out pairs."""


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


def _key_values(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame[{"N and D": "params", "compute": "compute", "width": "width"}[key]]


def held_out(df: pd.DataFrame, setup: Setup, observed: Observed, cut: float, label: str = "") -> list[Scored]:
    """Redo the comparison on the rows at or below `cut` (in the pairing key's units), as prepare() and
    analyse() would on that table alone, and forecast every pair above it.

    df: the prepared table's rows (Runs.frame, standard columns); observed: the full table's pairs.
    """
    tolerance = 1 + (BUDGET_TOLERANCE if observed.key == "compute" else 1e-9)
    train = df[_key_values(df, observed.key) <= cut * tolerance]
    sizes = np.array(observed.sizes)
    test = np.flatnonzero(sizes > cut * tolerance)
    if not len(test):
        return []
    fold, runs = prepare(train, setup.a, setup.b, **setup.options)
    comparison = analyse(runs.frame, fold, Target.at(float(np.max(np.array(observed.compute)[test]))))
    fa, fb = comparison.fit_a, comparison.fit_b
    compute = np.array(observed.compute)[test]
    ratio = np.array(observed.compute_ratio)[test]
    ca = 2 * compute / (1 + ratio)
    at_model = fold.law is PARAMS_TOKENS and observed.key == "N and D"
    n, d = sizes[test], np.array(observed.tokens)[test]
    la, lb = (_losses(fa, n, d, ca, at_model), _losses(fb, n, d, ca * ratio, at_model))
    p = np.full(len(test), np.nan)
    mix = comparison.models.mixture
    if mix is not None and fa.has_spread and fb.has_spread:
        sa, sb = _samples(fa, n, d, ca, at_model), _samples(fb, n, d, ca * ratio, at_model)
        m = min(len(sa), len(sb))
        sigma = noise_draws(mix.scatter[:m], None if mix.noise is None else mix.noise[:m],
                            comparison.observed.run_noise, np.random.default_rng(setup.seed))
        sa, sb = sa[:m], sb[:m]
        ok = np.all(np.isfinite(sa) & np.isfinite(sb), axis=1)  # a draw without a frontier says nothing
        if ok.any():
            p = win_probability(sa[ok], sb[ok], sigma[ok, None])
    # The no-model baselines, from the fold's own pairs: who led at its largest, and how often B led.
    fold_pairs = comparison.observed
    last = np.array(fold_pairs.sizes) == max(fold_pairs.sizes) if fold_pairs.sizes else np.array([], bool)
    persist = float(np.mean(np.array(fold_pairs.diff)[last]) < 0) if last.any() else float("nan")
    clim = float(np.mean(np.array(fold_pairs.diff) < 0)) if fold_pairs.diff else float("nan")
    sig = observed.significant[test]
    return [Scored(float(cut), float(sizes[i]), float(observed.tokens[i]), float(observed.compute[i]),
                   float(la[j]), float(lb[j]), float(observed.loss_a[i]), float(observed.loss_b[i]), float(p[j]),
                   bool(sig[j]), float(ratio[j]), persist, clim, label) for j, i in enumerate(test)]


def _losses(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict(n, d) if at_model else fit.frontier(c)


def _samples(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict_samples(n, d) if at_model else fit.frontier_samples(c)


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
