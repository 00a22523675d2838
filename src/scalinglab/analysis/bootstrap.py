"""Bootstrap over runs: resample whole runs with replacement, refit, read percentile intervals.

Runs, not rows, are the unit (Besiroglu et al. 2024 resample data points; with several rows per
run — seeds of one run id, or checkpoints — rows of one run are not independent). A resample is
a vector of counts per run, passed to the objective as weights, so nothing is copied. Each
resample runs one L-BFGS warm-started from the full-data optimum: the resampled optimum is
close to it, and a 4,500-start grid per resample would cost minutes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.laws import Law
from scalinglab.analysis.optimize import minimize_from
from scalinglab.analysis.threads import single_threaded_blas

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Parameter draws of a bootstrap, natural parameters (E, A_k…, α_k…) in `law` order."""

    samples: np.ndarray
    """(n_ok, p): one row per resample whose fit converged off the bounds."""
    n_resamples: int
    n_failed: int
    seed: int | tuple[int, ...]

    def interval(self, column: int, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
        return percentile_interval(self.samples[:, column], level)


def group_seed(seed: int, group: str, *extra: int) -> tuple[int, ...]:
    """One seed per group, so adding an arm leaves the other arms' resamples unchanged.

    crc32, not hash(): Python salts str hashes per process, and a seed must reproduce.
    """
    return (seed, zlib.crc32(group.encode()), *extra)


def percentile_interval(values: np.ndarray, level: float = DEFAULT_LEVEL, axis: int = 0):
    """Percentile interval (Efron): the (1 − level)/2 and (1 + level)/2 quantiles."""
    values = np.asarray(values, dtype=float)
    if values.shape[axis] == 0:
        nan = np.full(np.delete(values.shape, axis), np.nan) if values.ndim > 1 else np.nan
        return nan, nan
    lo, hi = np.nanquantile(values, [(1 - level) / 2, (1 + level) / 2], axis=axis)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def resample_weights(run_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row weights of one resample: each row counts as often as its run was drawn."""
    n_runs = int(run_codes.max()) + 1
    counts = np.bincount(rng.integers(0, n_runs, n_runs), minlength=n_runs)
    return counts[run_codes].astype(float)


def bootstrap_fit(law: Law, theta0: np.ndarray, log_x: np.ndarray, y: np.ndarray, run_codes: np.ndarray,
                  n: int = DEFAULT_RESAMPLES, seed: int | tuple[int, ...] = 0, delta: float = 1e-3) -> Bootstrap:
    """Refit `n` resamples of runs; `run_codes` gives each row's run as 0..R-1."""
    rng = np.random.default_rng(seed)
    rows, failed = [], 0
    with single_threaded_blas():
        for _ in range(n):
            w = resample_weights(run_codes, rng)
            sol = minimize_from(law, theta0, log_x, y, w, delta)
            if sol.converged and not sol.at_bound and np.all(np.isfinite(sol.theta)):
                rows.append(law.from_theta(sol.theta))
            else:
                failed += 1
    samples = np.array(rows) if rows else np.empty((0, law.n_params))
    return Bootstrap(samples, n, failed, seed)
