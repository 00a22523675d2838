"""The comparison redone on the runs at or below a size, and its forecasts of every pair above it:
the comparison's own check (its largest size held out), and each fold of a rolling backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.analysis.deciding.comparison import Setup, analyse, prepare
from scalinglab.analysis.deciding.forecast import noise_draws, win_probability
from scalinglab.analysis.deciding.observed import Observed
from scalinglab.analysis.deciding.scored import Backtest, Scored
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.target import Target
from scalinglab.analysis.reading.design import BUDGET_TOLERANCE
from scalinglab.config import ConfigError


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
    at_model = not fold.law.is_frontier and observed.key == "N and D"
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
    return [Scored(cut=float(cut), size=float(sizes[i]), tokens=float(observed.tokens[i]),
                   compute=float(observed.compute[i]), predicted_a=float(la[j]), predicted_b=float(lb[j]),
                   observed_a=float(observed.loss_a[i]), observed_b=float(observed.loss_b[i]), p_b_beats_a=float(p[j]),
                   significant=bool(sig[j]), compute_ratio=float(ratio[j]), persistence=persist, climatology=clim,
                   comparison=label) for j, i in enumerate(test)]


def _losses(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict(n, d) if at_model else fit.frontier(c)


def _samples(fit: LawFit, n, d, c, at_model: bool) -> np.ndarray:
    return fit.predict_samples(n, d) if at_model else fit.frontier_samples(c)


def holdout_backtest(frame: pd.DataFrame, setup: Setup, observed: Observed) -> Backtest:
    sizes = np.unique(observed.sizes)
    if len(sizes) < 2:
        return Backtest("too_few", observed.key, reason="it needs two or more sizes that both arms ran")
    try:
        forecasts = held_out(frame, setup, observed, float(sizes[-2]))
    except ConfigError as e:
        return Backtest("too_few", observed.key, float(sizes[-1]), reason=str(e).split(": ", 1)[-1])
    return Backtest("ok", observed.key, float(sizes[-1]), tuple(forecasts))
