"""Where two arms trade places: observed paired differences, and the crossing of fitted L(C) curves.

A crossover is reported with its kind, never as a bare number (Xiao 2024 reads crossovers off
fitted curves, and a crossing can be an artefact of extrapolation):
- in_range: the fitted curves cross inside the compute both arms ran;
- extrapolated: they cross beyond it (within HORIZON_DECADES);
- none: they do not cross from the smallest compute up to the horizon;
- ambiguous: the curves cross more than once, or the bootstrap disagrees with the point fit
  (a crossing in fewer than half the resampled pairs, or no crossing in the fit but in most pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from scalinglab.analysis.bootstrap import percentile_interval
from scalinglab.analysis.fit import LawFit
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.table import size_key

HORIZON_DECADES = 6.0
"""How far beyond the largest compute a crossing is looked for."""
FAR_DECADES = 1.0
"""A crossing this far beyond the data gets a warning when only E drives it."""
_GRID_POINTS = 1501


@dataclass(frozen=True)
class Observed:
    """Paired losses at the sizes both arms ran (mean over seeds), diff = loss_b − loss_a."""

    key: str
    """What a size is: width, params or compute (the first column both arms have)."""
    sizes: tuple[float, ...]
    compute: tuple[float, ...]
    """Mean of the two arms' compute at each size (they differ when the arms' models or budgets do)."""
    compute_ratio: tuple[float, ...]
    """Compute of b ÷ compute of a at each size."""
    loss_a: tuple[float, ...]
    loss_b: tuple[float, ...]
    diff: tuple[float, ...]
    sign_changes: tuple[tuple[float, float], ...]
    """Consecutive sizes between which the sign of diff flips."""

    def to_dict(self) -> dict:
        return jsonable(self.__dict__)


@dataclass(frozen=True)
class Crossing:
    """Where the fitted curves L_a(C) and L_b(C) cross."""

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


def _diff(pa: np.ndarray, pb: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """L_b − L_a on a log-C grid; pa, pb are (…, 3) rows of (E, A, α)."""
    def curve(p):
        return p[..., :1] + p[..., 1:2] * np.exp(-p[..., 2:3] * log_c)
    return curve(pb) - curve(pa)


def _first_crossings(f: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """Log C of the first sign change of each row of f (NaN where none), by linear interpolation."""
    flips = np.signbit(f[:, :-1]) != np.signbit(f[:, 1:])
    has = flips.any(axis=1)
    i = np.argmax(flips, axis=1)
    rows = np.arange(len(f))
    f0, f1 = f[rows, i], f[rows, i + 1]
    t = np.where(f1 != f0, f0 / (f0 - f1), 0.0)
    x = log_c[i] + t * (log_c[i + 1] - log_c[i])
    return np.where(has, x, np.nan)


def _roots(pa: np.ndarray, pb: np.ndarray, log_c: np.ndarray) -> list[float]:
    f = _diff(pa, pb, log_c)
    idx = np.flatnonzero(np.signbit(f[:-1]) != np.signbit(f[1:]))
    g = lambda x: float(_diff(pa, pb, np.array([x]))[0])  # noqa: E731
    return [float(np.exp(brentq(g, log_c[i], log_c[i + 1], xtol=1e-12))) for i in idx]


def find_crossing(fit_a: LawFit, fit_b: LawFit, level: float | None = None) -> Crossing:
    """Crossing of two L(C) fits, its bootstrap interval, and its kind."""
    level = fit_a.level if level is None else level
    lo, hi, log_c = _window(fit_a, fit_b)
    pa, pb = fit_a.vector, fit_b.vector
    roots = _roots(pa, pb, log_c)
    p_cross, interval = float("nan"), (float("nan"), float("nan"))
    if fit_a.bootstrap is not None and fit_b.bootstrap is not None:
        m = min(len(fit_a.bootstrap.samples), len(fit_b.bootstrap.samples))
        if m:
            x = _first_crossings(_diff(fit_a.bootstrap.samples[:m], fit_b.bootstrap.samples[:m], log_c), log_c)
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
        after = float(_diff(pa, pb, np.array([np.log(first) + 1e-3]))[0])
        winner = "b" if after < 0 else "a"
    return Crossing(kind, first, interval, p_cross, tuple(roots), winner, (lo, hi), _e_warning(pa, pb, first, hi, log_c))


def _e_warning(pa: np.ndarray, pb: np.ndarray, first: float | None, hi: float, log_c: np.ndarray) -> str | None:
    """Warn when a crossing far beyond the data exists only because the asymptotes E differ.

    With E set equal the reducible terms A·C^−α alone decide; if they do not cross, the crossing
    is the curves settling onto different asymptotes — which the data, far below, barely constrain.
    """
    if first is None or np.log10(first / hi) < FAR_DECADES:
        return None
    same_e = pb.copy()
    same_e[0] = pa[0]
    if _roots(pa, same_e, log_c):
        return None
    return (f"the curves cross at C = {first:.3g}, {np.log10(first / hi):.1f} decades beyond the data, only because "
            f"E differs (E_a = {pa[0]:.4g}, E_b = {pb[0]:.4g}); the data barely constrain E")


def observe(frame_a, frame_b) -> Observed:
    """Paired differences at the sizes both arms ran. Frames are Runs.frame rows of one arm each."""
    key = next(k for k in ("width", "params", "compute")
               if k in frame_a and frame_a[k].notna().all() and frame_b[k].notna().all())

    def by_size(frame):
        return frame.assign(size=size_key(frame[key])).groupby("size")[["compute", "loss"]].mean()

    a, b = by_size(frame_a), by_size(frame_b)
    both = a.merge(b, left_index=True, right_index=True, suffixes=("_a", "_b")).sort_index()
    diff = (both["loss_b"] - both["loss_a"]).to_numpy()
    sizes = both.index.to_numpy(dtype=float)
    nz = np.flatnonzero(diff != 0)
    changes = tuple((float(sizes[i]), float(sizes[j])) for i, j in zip(nz[:-1], nz[1:])
                    if np.sign(diff[i]) != np.sign(diff[j]))
    compute = ((both["compute_a"] + both["compute_b"]) / 2).to_numpy()
    ratio = (both["compute_b"] / both["compute_a"]).to_numpy()
    return Observed(key, tuple(sizes), tuple(compute), tuple(ratio), tuple(both["loss_a"]), tuple(both["loss_b"]),
                    tuple(diff), changes)
