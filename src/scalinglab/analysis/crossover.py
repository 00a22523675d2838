"""Where two arms trade places: the crossing of their fitted frontiers L*(C).

A crossover is reported with its kind, never as a bare number (Xiao 2024 reads crossovers off
fitted curves, and a crossing can be an artefact of extrapolation):
- in_range: the fitted curves cross inside the compute both arms ran;
- extrapolated: they cross beyond it (within HORIZON_DECADES);
- none: they do not cross from the smallest compute up to the horizon (a crossing beyond the data
  that exists only because the fitted asymptotes E differ does not count: see _e_only);
- ambiguous: the curves cross more than once, or the bootstrap disagrees with the point fit
  (a crossing in fewer than half the resampled pairs, or no crossing in the fit but in most pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from scalinglab.analysis.allocation import frontier_loss
from scalinglab.analysis.bootstrap import percentile_interval
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.serialize import jsonable

HORIZON_DECADES = 6.0
"""How far beyond the largest compute a crossing is looked for."""
_GRID_POINTS = 1501


@dataclass(frozen=True)
class Crossing:
    """Where the fitted frontiers L*_a(C) and L*_b(C) cross."""

    kind: str
    compute: float | None
    """The first crossing of the point fits (None when they do not cross)."""
    interval: tuple[float, float]
    """Percentile interval of the crossing compute over bootstrap pairs that cross."""
    p_cross: float
    """Share of bootstrap pairs whose curves cross in the window (NaN without a bootstrap)."""
    crossings: tuple[float, ...]
    """Every crossing of the point fits in the window, in compute order."""
    winner_after: str | None
    """'a' or 'b': the arm with the lower fitted loss just above the (first) crossing."""
    data_range: tuple[float, float]
    warning: str | None

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


def _roots(law, pa: np.ndarray, pb: np.ndarray, log_c: np.ndarray) -> list[float]:
    """Every C where the frontiers of parameter rows pa and pb cross, on the grid then by brentq."""
    def g(x):
        return frontier_loss(law, pb, np.exp(x)) - frontier_loss(law, pa, np.exp(x))
    f = g(log_c)
    idx = np.flatnonzero(np.signbit(f[:-1]) != np.signbit(f[1:]))
    return [float(np.exp(brentq(lambda x: float(g(np.array([x]))[0]), log_c[i], log_c[i + 1], xtol=1e-12)))
            for i in idx]


def find_crossing(fit_a: LawFit, fit_b: LawFit, level: float | None = None) -> Crossing:
    """Crossing of two arms' frontiers L*(C), its bootstrap interval, and its kind.

    The draws of the two fits are paired by row (one joint refit gives both arms' row i).
    """
    level = fit_a.level if level is None else level
    law = fit_a.law
    lo, hi, log_c = _window(fit_a, fit_b)
    pa, pb = fit_a.vector, fit_b.vector
    roots = _roots(law, pa, pb, log_c)
    dropped = _e_only(law, pa, pb, roots, hi, log_c)
    roots = [r for r in roots if r not in dropped]
    p_cross, interval = float("nan"), (float("nan"), float("nan"))
    if fit_a.has_spread and fit_b.has_spread:
        m = min(len(fit_a.bootstrap.samples), len(fit_b.bootstrap.samples))
        c = np.exp(log_c)
        sa, sb = fit_a.bootstrap.samples[:m], fit_b.bootstrap.samples[:m]
        front_a = frontier_loss(law, sa[:, None, :], c)
        x = _first_crossings(frontier_loss(law, sb[:, None, :], c) - front_a, log_c)
        # As for the point fit: a draw whose curves meet only beyond the data, and only because its
        # E differ, does not cross.
        same_e = sb.copy()
        same_e[:, 0] = sa[:, 0]
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
        after = float((fit_b.frontier(first * 1.001) - fit_a.frontier(first * 1.001))[0])
        winner = "b" if after < 0 else "a"
    warning = None
    if dropped:
        warning = (f"the fitted curves also meet at C = {dropped[0]:.3g}, {np.log10(dropped[0] / hi):.1f} decades "
                   f"beyond the data, only because their asymptotes differ (E_a = {pa[0]:.4g}, E_b = {pb[0]:.4g}); "
                   f"with one E they would not: the data barely constrain E, so that is not reported as a crossing")
    return Crossing(kind, first, interval, p_cross, tuple(roots), winner, (lo, hi), warning)


def _e_only(law, pa: np.ndarray, pb: np.ndarray, roots: list[float], hi: float, log_c: np.ndarray) -> list[float]:
    """The crossings beyond the data that vanish when b takes a's E: the curves settling onto
    different asymptotes, which the data, far below, barely constrain."""
    beyond = [r for r in roots if r > hi * (1 + 1e-9)]
    if not beyond or pa[0] == pb[0]:
        return []
    same_e = pb.copy()
    same_e[0] = pa[0]
    kept = _roots(law, pa, same_e, log_c)
    return beyond if not any(k > hi * (1 + 1e-9) for k in kept) else []


