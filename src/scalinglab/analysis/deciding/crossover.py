"""Where two arms trade places: the crossing of their fitted frontiers L*(C).

A crossover is reported with its kind, never as a bare number (Xiao 2024 reads crossovers off
fitted curves, and a crossing can be an artefact of extrapolation):
- in_range: the fitted curves cross inside the compute both arms ran;
- extrapolated: they cross beyond it (within HORIZON_DECADES);
- none: they do not cross from the smallest compute up to the horizon (a crossing beyond the data
  that exists only because the fitted asymptotes E differ does not count while the data leave E
  open — the draws' interval of E_b − E_a includes 0 — see _e_only; where the data pin the two E
  apart, that crossing is as real as the forecast that rests on it);
- ambiguous: the curves cross more than once, or the bootstrap disagrees with the point fit
  (a crossing in fewer than half the resampled pairs, or no crossing in the fit but in most pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from scalinglab.analysis.fitting.bootstrap import percentile_interval
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import frontier_loss
from scalinglab.analysis.serialize import jsonable

HORIZON_DECADES = 6.0
"""How far beyond the largest compute a crossing is looked for."""
_GRID_POINTS = 1501


@dataclass(frozen=True)
class Crossing:
    """Where the fitted frontiers L*_a(C) and L*_b(C) cross."""

    kind: str
    compute: float | None
    """The first crossing of the central curves (None when they do not cross): where the mean over the
    draws of L_b − L_a changes sign (the point fits' without draws)."""
    interval: tuple[float, float]
    """Percentile interval of the crossing compute over bootstrap pairs that cross."""
    p_cross: float
    """Share of bootstrap pairs whose curves cross in the window (NaN without a bootstrap)."""
    crossings: tuple[float, ...]
    """Every crossing of the central curves in the window, in compute order (the leader swaps at each)."""
    winner_after: str | None
    """'a' or 'b': the arm ahead on the central curves just above the (first) crossing."""
    data_range: tuple[float, float]
    warning: str | None
    leader_first: str | None = None
    """'a' or 'b': the arm ahead on the central curves at the smallest compute run."""
    e_only: tuple[float, ...] = ()
    """Those of `crossings` beyond the data that exist only because the two E differ while the data do
    not tell them apart (they vanish when b takes a's E): kept, said as such, but not the crossing's kind."""

    @property
    def n_crossings(self) -> int:
        return len(self.crossings)

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


def _window(fit_a: LawFit, fit_b: LawFit) -> tuple[float, float, np.ndarray]:
    lo = min(fit_a.data_range["compute"][0], fit_b.data_range["compute"][0])
    hi = max(fit_a.data_range["compute"][1], fit_b.data_range["compute"][1])
    return lo, hi, np.linspace(np.log(lo), np.log(hi) + HORIZON_DECADES * np.log(10), _GRID_POINTS)


def _first_crossings(f: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """Log C of the first sign change of each row of f (NaN where none), by linear interpolation."""
    flips = np.signbit(f[:, :-1]) != np.signbit(f[:, 1:])
    has = flips.any(axis=1)
    i = np.argmax(flips, axis=1)
    rows = np.arange(len(f))
    f0, f1 = f[rows, i], f[rows, i + 1]
    # A flat step has no interior root (t = 0); a resample whose curve overflows (inf − inf) gives
    # NaN, which reads as no crossing for that resample.
    with np.errstate(invalid="ignore"):
        step = np.where(f1 != f0, f0 - f1, 1.0)
        t = np.where(f1 != f0, f0 / step, 0.0)
    x = log_c[i] + t * (log_c[i + 1] - log_c[i])
    return np.where(has, x, np.nan)


def _roots(gap, log_c: np.ndarray) -> list[float]:
    """Every C where gap(log C) = L_b − L_a changes sign, on the grid then by brentq."""
    f = gap(log_c)
    idx = np.flatnonzero(np.signbit(f[:-1]) != np.signbit(f[1:]))
    return [float(np.exp(brentq(lambda x: float(gap(np.array([x]))[0]), log_c[i], log_c[i + 1], xtol=1e-12)))
            for i in idx]


def central_gap(law, pa: np.ndarray, pb: np.ndarray):
    """L_b − L_a as a function of log C: at the point fits (rows (p,)), or its mean over paired draws
    (rows (n, p)) — the same mean the forecast gives at the target, so the two tell one story."""
    def gap(x):
        with np.errstate(invalid="ignore", over="ignore"):
            diff = frontier_loss(law, pb[..., None, :], np.exp(x)) - frontier_loss(law, pa[..., None, :], np.exp(x))
        return diff if diff.ndim == 1 else np.nanmean(np.where(np.isfinite(diff), diff, np.nan), axis=0)
    return gap


def find_crossing(fit_a: LawFit, fit_b: LawFit, level: float | None = None) -> Crossing:
    """Crossing of two arms' frontiers L*(C), its bootstrap interval, and its kind.

    The draws of the two fits are paired by row (one joint refit gives both arms' row i).
    """
    level = fit_a.level if level is None else level
    law = fit_a.law
    lo, hi, log_c = _window(fit_a, fit_b)
    draws = fit_a.has_spread and fit_b.has_spread
    m = min(len(fit_a.draws.samples), len(fit_b.draws.samples)) if draws else 0
    pa, pb = (fit_a.draws.samples[:m], fit_b.draws.samples[:m]) if draws else (fit_a.vector, fit_b.vector)
    gap = central_gap(law, pa, pb)
    every = _roots(gap, log_c)
    e_open = e_undecided(fit_a, fit_b, level)
    dropped = _e_only(law, pa, pb, every, hi, log_c) if e_open else []
    roots = [r for r in every if r not in dropped]
    p_cross, interval = float("nan"), (float("nan"), float("nan"))
    if draws:
        c = np.exp(log_c)
        front_a = frontier_loss(law, pa[:, None, :], c)
        x = _first_crossings(frontier_loss(law, pb[:, None, :], c) - front_a, log_c)
        if e_open:
            # As for the central curve: a draw whose curves meet only beyond the data, and only because
            # its E differ, does not cross.
            same_e = pb.copy()
            same_e[:, 0] = pa[:, 0]
            beyond = x > np.log(hi * (1 + 1e-9))
            x_same = _first_crossings(frontier_loss(law, same_e[:, None, :], c) - front_a, log_c)
            x = np.where(beyond & ~(x_same > np.log(hi * (1 + 1e-9))), np.nan, x)
        crossed = np.isfinite(x)
        p_cross = float(crossed.mean())
        if crossed.any():
            interval = tuple(float(np.exp(v)) for v in percentile_interval(x[crossed], level))

    first = roots[0] if roots else None
    if len(roots) > 1 or (np.isfinite(p_cross) and (first is not None) != (p_cross > 0.5)):
        kind = "ambiguous"
    elif first is None:
        kind = "none"
    else:
        kind = "in_range" if first <= hi * (1 + 1e-9) else "extrapolated"
    winner = None
    if first is not None:
        winner = "b" if float(gap(np.array([np.log(first * 1.001)]))[0]) < 0 else "a"
    warning = None
    if dropped:
        e_a, e_b = float(np.median(np.atleast_2d(pa)[:, 0])), float(np.median(np.atleast_2d(pb)[:, 0]))
        warning = (f"their asymptotes differ (E_a = {e_a:.4g}, E_b = {e_b:.4g}) but the data do not tell the two E "
                   f"apart, so where the curves meet only because of that is a forecast of E, not a crossing seen")
    start = float(gap(np.array([np.log(lo)]))[0])
    return Crossing(kind, first, interval, p_cross, tuple(every), winner, (lo, hi), warning,
                    None if not np.isfinite(start) else "b" if start < 0 else "a", tuple(dropped))


def e_undecided(fit_a: LawFit, fit_b: LawFit, level: float) -> bool:
    """Whether the data leave the two E undecided: the draws' interval of E_b − E_a includes 0 (so
    does a shared E, or fits without draws)."""
    if not (fit_a.has_spread and fit_b.has_spread):
        return True
    m = min(len(fit_a.draws.samples), len(fit_b.draws.samples))
    lo, hi = percentile_interval(fit_b.draws.samples[:m, 0] - fit_a.draws.samples[:m, 0], level)
    return bool(lo <= 0 <= hi)


def _e_only(law, pa: np.ndarray, pb: np.ndarray, roots: list[float], hi: float, log_c: np.ndarray) -> list[float]:
    """The crossings beyond the data that vanish when b takes a's E: the curves settling onto
    different asymptotes, which the data, far below, barely constrain."""
    beyond = [r for r in roots if r > hi * (1 + 1e-9)]
    if not beyond or np.all(pa[..., 0] == pb[..., 0]):
        return []
    same_e = pb.copy()
    same_e[..., 0] = pa[..., 0]
    kept = _roots(central_gap(law, pa, same_e), log_c)
    return beyond if not any(k > hi * (1 + 1e-9) for k in kept) else []


