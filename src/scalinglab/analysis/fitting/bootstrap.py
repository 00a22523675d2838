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

from scalinglab.analysis.fitting.joint import unit_covariance
from scalinglab.analysis.fitting.laws import Law
from scalinglab.analysis.fitting.optimize import minimize_from
from scalinglab.analysis.threads import single_threaded_blas
from scalinglab.config import ConfigError

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, eq=False)
class Draws:
    """Parameter draws behind a fit's intervals, natural parameters (E, A_k…, α_k…) in `law` order:
    a bootstrap's refits, or a posterior's draws (analysis.posterior)."""

    samples: np.ndarray
    """(n_ok, p): one row per resample whose fit converged off the bounds, or per posterior draw."""
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


RESAMPLINGS = ("residuals", "runs")
"""residuals: a wild bootstrap by run (Cameron, Gelbach & Miller 2008): each run's residuals, in
log loss, scaled back by its leverage (`resample`), flipped and scaled by one random weight and
added back to the fitted curve, then refitted.
It keeps every size in every resample, so a fit of five runs per arm does not collapse onto three
distinct points, and it keeps a run's checkpoints moving together. runs: resample whole runs
with replacement within each arm (the case bootstrap of Besiroglu et al. 2024), which needs many
runs per arm but assumes less about the law being right."""


def check_resampling(kind: str) -> None:
    if kind not in RESAMPLINGS:
        raise ConfigError(f"unknown choice '{kind}' (choose from {', '.join(RESAMPLINGS)})", option="resample")

# Webb (2014)'s six-point weights: with few runs the two-point (Rademacher) weights allow only
# 2^G distinct resamples; these allow 6^G and have mean 0 and variance 1.
_WEBB = np.sqrt(np.array([0.5, 1.0, 1.5]))
WEBB_WEIGHTS = np.concatenate([-_WEBB, _WEBB])


MAX_LEVERAGE = 0.99
"""A run the fit passes through (leverage → 1) has a residual of ~0 whatever its noise: its
inflation is capped at 1/√(1 − this) = 10× rather than dividing rounding error by ~0."""


def run_leverage(jac: np.ndarray, clusters: np.ndarray, covariance: np.ndarray | None) -> np.ndarray | None:
    """Each run's leverage: the share of its mean residual the fit absorbs, s_gᵀ(JᵀJ)⁺s_g / m_g with
    s_g the sum of its m_g rows of J = ∂ log L̂ / ∂θ (a row's hat value h_ii when a run is one row).
    The leverages sum to the parameters the fit spent; they are largest at the ends of a ladder,
    where the extrapolation leans hardest. covariance: (JᵀJ)⁺ (joint.unit_covariance); None where
    J was not finite, and then no leverage is known."""
    if covariance is None:
        return None
    sums = np.zeros((int(clusters.max()) + 1, jac.shape[1]))
    np.add.at(sums, clusters, jac)
    return np.einsum("gi,ij,gj->g", sums, covariance, sums) / np.bincount(clusters)


def leverage_inflation(leverage: np.ndarray | None) -> np.ndarray | None:
    """1/√(1 − h) per run: how much smaller than the noise its fitted residual is, given back (HC2)."""
    return None if leverage is None else 1.0 / np.sqrt(1.0 - np.minimum(leverage, MAX_LEVERAGE))


def resample(kind: str, fitted: np.ndarray, resid: np.ndarray, clusters: np.ndarray, n_free: int,
             rng: np.random.Generator, inflation: np.ndarray | None = None
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One resample as (log losses, row weights); None keeps the data's own (y) or weight 1 (w).

    inflation: each run's (leverage_inflation, computed once per bootstrap); without it every run
    gets the average leverage's, n_free / runs.
    """
    if kind == "runs":
        return None, resample_weights(clusters, rng)
    total = int(clusters.max()) + 1
    dof = total - n_free
    # A fitted residual is smaller than the noise by its run's leverage, var r = (1 − h)·σ²: each
    # is scaled back by 1/√(1 − h) (HC2, MacKinnon & White 1985; with the average leverage, HC1's
    # √(G/(G − k))). The ends of a ladder, which carry the extrapolation, have the most to give back.
    # And the residuals measure the noise with only G − k degrees of freedom: each resample also
    # draws the noise scale from its sampling distribution (σ*/σ̂ = √(ν/χ²_ν)), so with few runs
    # the spread widens as a t-interval does, instead of trusting σ̂.
    if inflation is None:
        inflation = np.full(total, np.sqrt(total / dof))
    scale = np.sqrt(dof / rng.chisquare(dof))
    return fitted + scale * (inflation * rng.choice(WEBB_WEIGHTS, total))[clusters] * resid, None


def bootstrap_fit(law: Law, theta0: np.ndarray, log_x: np.ndarray, y: np.ndarray, run_codes: np.ndarray,
                  n: int = DEFAULT_RESAMPLES, seed: int | tuple[int, ...] = 0, delta: float = 1e-3,
                  kind: str = "runs") -> Draws | None:
    """Refit `n` resamples of one group's runs; `run_codes` gives each row's run as 0..R-1.

    None when residuals are to be resampled and there are no more runs than parameters.
    """
    if kind == "residuals" and int(run_codes.max()) + 1 <= law.n_params:
        return None
    fitted = np.log(law.predict(law.from_theta(theta0), log_x))
    inflation = None
    if kind == "residuals":
        jac = law.log_loss_jacobian(theta0, log_x)
        inflation = leverage_inflation(run_leverage(jac, run_codes, unit_covariance(jac)))
    rng = np.random.default_rng(seed)
    rows, failed = [], 0
    with single_threaded_blas():
        for _ in range(n):
            y_star, w = resample(kind, fitted, y - fitted, run_codes, law.n_params, rng, inflation)
            sol = minimize_from(law, theta0, log_x, y if y_star is None else y_star,
                                np.ones_like(y) if w is None else w, delta)
            if sol.converged and not sol.at_bound and np.all(np.isfinite(sol.theta)):
                rows.append(law.from_theta(sol.theta))
            else:
                failed += 1
    samples = np.array(rows) if rows else np.empty((0, law.n_params))
    return Draws(samples, n, failed, seed)
