"""The data-constrained scaling law: repeated tokens and excess parameters are worth less than fresh ones.

Muennighoff et al. 2023, "Scaling Data-Constrained Language Models" (arXiv 2305.16264), Eq. 5–7:

    L(N, D, U) = E + A / N'^α + B / D'^β
    D' = U_D + U_D·R_D*·(1 − exp(−R_D / R_D*)),   R_D = D / U_D − 1   (repetitions beyond the first epoch)
    N' = U_N + U_N·R_N*·(1 − exp(−R_N / R_N*)),   R_N = N / U_N − 1
    U_N = min(N, N_opt(U_D)),   N_opt(U_D) = (α·A / (β·B))^(1/α) · U_D^(β/α)

U_D is the unique tokens a run saw: min(the unique tokens it could draw, D), so a run of less than
one epoch has R_D = 0 and the law is Hoffmann et al. 2022's L(N, D). The k-th repetition of the
data is worth exp(−k / R_D*) of fresh data (dD'/dR_D = U_D·exp(−R_D/R_D*)), so however often it is
repeated, the data is worth at most U_D·(1 + R_D*) fresh tokens. N_opt(U_D) is the model size that is
compute-optimal for U_D tokens seen once (at fixed 6ND the optimum has α·A/N^α = β·B/D^β); parameters
beyond it decay alike with R_N*. Muennighoff et al. fit R_D* ≈ 15.4 and R_N* ≈ 5.3.

It is one more `Law` (fitting.laws): L(N, D) whose terms see the effective inputs N', D', with R_D*
and R_N* as two further parameters, fitted by the shared stack (Huber on log residuals, multi-start
L-BFGS-B from Hoffmann et al.'s grid crossed with R* starts, a bootstrap by run). The min() in U_N
makes the objective piecewise smooth (its gradient, analytic, jumps where a run's N crosses N_opt(U_D)).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scalinglab.analysis.fitting.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, group_seed
from scalinglab.analysis.fitting.fit import DEFAULT_DELTA, default_resampling, fit_points
from scalinglab.analysis.fitting.lawfit import LawFit
from scalinglab.analysis.fitting.laws import (
    HOFFMANN_E,
    HOFFMANN_EXPONENT,
    HOFFMANN_LOG_A,
    Law,
    grid,
    split_inputs,
)
from scalinglab.analysis.reading.table import Columns, select_runs
from scalinglab.analysis.serialize import jsonable
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers

PAPER_R_D_STAR = 15.387
PAPER_R_N_STAR = 5.309
"""Muennighoff et al. 2023's fitted values (their Eq. 7): the fallback for R_N* when no run here has
more parameters than its unique data is worth (then the data cannot say what R_N* is)."""
R_STAR_BOUNDS = (np.log(1e-2), np.log(1e4))
"""log R*: from 'a repeat is worth nothing' (R* → 0, D' = U_D) to 'as good as fresh' (R* → ∞, D' = D)."""
R_D_STARTS = np.log([1.0, 5.0, 15.0, 50.0])
R_N_STARTS = np.log([1.0, 5.0, 20.0])


def _log_n_opt(theta: np.ndarray, log_ud: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log N_opt(U_D) = K/α + (β/α)·log U_D, K = log α + log A − log β − log B), broadcast."""
    alpha, beta = np.maximum(theta[..., 3], 1e-6), np.maximum(theta[..., 4], 1e-6)
    k = np.log(alpha) + theta[..., 1] - np.log(beta) - theta[..., 2]
    return k / alpha + beta / alpha * log_ud, k


def _worth(log_x: np.ndarray, log_unique: np.ndarray, log_r_star: np.ndarray):
    """log X' = log U + log1p(R*·(1 − exp(−R/R*))) (Eq. 5–6), with its slope by log U at fixed X and by log R*.

    R = X/U − 1 is capped at e^300: a far-off start of the optimizer (α → 0 sends N_opt to 0) then
    stays finite instead of turning the objective into inf − inf.
    """
    r = np.expm1(np.minimum(log_x - log_unique, 300.0))
    r_star = np.exp(log_r_star)
    x = r / r_star
    em = np.exp(-x)
    g = r_star * -np.expm1(-x)
    return log_unique + np.log1p(g), 1 - em * (1 + r) / (1 + g), (g - r * em) / (1 + g)


def effective_inputs(theta: np.ndarray, log_x: np.ndarray, jacobian: bool = False):
    """(log N', log D') at θ rows (..., 7) and log (N, D, U) rows (..., 3) → (..., 2), and where asked
    their ∂/∂θ (..., 2, 7): log N' moves with log N_opt (slope c) where N is beyond it."""
    th, log_x = np.asarray(theta, dtype=float), np.asarray(log_x, dtype=float)
    log_n, log_d = log_x[..., 0], log_x[..., 1]
    log_ud = np.minimum(log_x[..., 2], log_d)  # unique tokens seen: a run of less than an epoch saw D of them
    log_nopt, k = _log_n_opt(th, log_ud)
    excess = log_n > log_nopt
    log_np, slope_n, dn_drn = _worth(log_n, np.minimum(log_n, log_nopt), th[..., 6])
    log_dp, _, dd_drd = _worth(log_d, log_ud, th[..., 5])
    log_xt = np.stack([log_np, log_dp], axis=-1)
    if not jacobian:
        return log_xt, None
    alpha, beta = np.maximum(th[..., 3], 1e-6), np.maximum(th[..., 4], 1e-6)
    c = np.where(excess, slope_n, 0.0)
    jac = np.zeros((*log_xt.shape, th.shape[-1]))
    jac[..., 0, 1], jac[..., 0, 2] = c / alpha, -c / alpha
    jac[..., 0, 3] = c * (1 - k - beta * log_ud) / alpha**2
    jac[..., 0, 4] = c * (log_ud - 1 / beta) / alpha
    jac[..., 0, 6] = dn_drn
    jac[..., 1, 5] = dd_drd
    return log_xt, jac


def _starts(log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """Hoffmann et al.'s grid for (log E, log A, log B, α, β), crossed with R* starts."""
    a, expo = HOFFMANN_LOG_A, HOFFMANN_EXPONENT
    return grid(HOFFMANN_E, a, a, expo, expo, R_D_STARTS, R_N_STARTS)


def _fresh_split(params: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """With unique data enough to see once (U = D) the law is L(N, D), and so is its frontier."""
    log_nd = split_inputs(params, log_c)
    return np.concatenate([log_nd, log_nd[..., 1:]], axis=-1)


DATA_CONSTRAINED = Law(
    "data-constrained", ("params", "tokens", "unique_tokens"), ("A", "B"), ("alpha", "beta"),
    "L(N, D, U) = E + A/N'^alpha + B/D'^beta (Muennighoff et al. 2023)", _starts, _fresh_split,
    extras=("R_D_star", "R_N_star"), extra_bounds=R_STAR_BOUNDS, effective=effective_inputs,
    term_of_input=(0, 1, 1))


def excess_parameters(params: np.ndarray, n, d, u) -> np.ndarray:
    """One bool per point (N, D, U): more parameters than its unique data is worth (N > N_opt(U_D))
    under the law's parameters `params` (E, A, B, α, β, R_D*, R_N*)."""
    log_nopt, _ = _log_n_opt(DATA_CONSTRAINED.to_theta(params), np.log(np.minimum(u, d)))
    return np.log(n) - log_nopt > 1e-9


def effective(fit: LawFit, params, tokens, unique_tokens) -> tuple[np.ndarray, np.ndarray]:
    """(N', D'): the fresh-data-equivalent parameters and tokens of these runs under a fit of the law."""
    log_x = np.log(np.stack(np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float))
                                                  for v in (params, tokens, unique_tokens))), axis=-1))
    log_np, log_dp = np.moveaxis(effective_inputs(DATA_CONSTRAINED.to_theta(fit.vector), log_x)[0], -1, 0)
    return np.exp(log_np), np.exp(log_dp)


def fit_data_constrained(params, tokens, unique_tokens, loss, runs=None, *, group: str = "all",
                         bootstrap: int = DEFAULT_RESAMPLES, seed: int | tuple = 0, delta: float = DEFAULT_DELTA,
                         level: float = DEFAULT_LEVEL, resampling: str = "residuals") -> LawFit:
    """Fit the law to points (N, D, U, loss); `runs` labels rows by run (the unit of the bootstrap).

    R_N* is measured only when some point has more parameters than its unique data is worth; otherwise
    it changes no prediction here, and the fit holds Muennighoff et al.'s value, listed as unmeasured.
    """
    n, d, u = (np.asarray(v, dtype=float) for v in (params, tokens, unique_tokens))
    if not np.any(d > u):
        raise ConfigError(f"group '{group}': no row repeats data (tokens ≤ unique tokens in every row), so the worth "
                          f"of a repetition (R_D*) cannot be measured; fit the params-tokens law instead")
    # The unique tokens a run saw, min(U, D): two runs of less than an epoch on different U are one point.
    fit = fit_points(DATA_CONSTRAINED, np.column_stack([n, d, np.minimum(u, d)]), loss, runs, group=group,
                     bootstrap=bootstrap, seed=seed, delta=delta, level=level, resampling=resampling)
    if excess_parameters(fit.vector, n, d, u).any():
        return fit
    column = DATA_CONSTRAINED.param_names.index("R_N_star")
    draws = fit.draws
    if draws is not None:
        draws = replace(draws, samples=draws.samples.copy())
        draws.samples[:, column] = PAPER_R_N_STAR
    return replace(fit, params=fit.params | {"R_N_star": PAPER_R_N_STAR}, draws=draws, unmeasured=("R_N_star",))


@dataclass(frozen=True, eq=False)
class ConstrainedReport:
    """The law fitted to every group of a table, how many of each group's rows repeat data (what R_D*
    is measured on), and the rows left out."""

    source: str
    fits: dict[str, LawFit]
    repeated: dict[str, int]
    excluded: dict[str, int] = field(default_factory=dict)
    law: Law = DATA_CONSTRAINED

    def to_dict(self) -> dict:
        return jsonable({"source": self.source, "law": self.law.name, "formula": self.law.formula,
                         "excluded": self.excluded, "repeated": self.repeated,
                         "fits": [f.to_dict() for f in self.fits.values()]})


def fit_table(df: pd.DataFrame, *, columns: Columns | None = None, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0,
              delta: float = DEFAULT_DELTA, level: float = DEFAULT_LEVEL,
              resampling: str | None = None) -> ConstrainedReport:
    """Fit the data-constrained law to each group of a table with params, tokens, unique_tokens and loss
    columns, every row a point (checkpoints included, as for L(N, D))."""
    check_numbers(bootstrap=bootstrap, seed=seed, delta=delta, level=level)
    inputs = DATA_CONSTRAINED.inputs
    runs = select_runs(df, columns, need=(*inputs, "loss"), checkpoints="all")
    frame = runs.frame
    resampling = resampling or default_resampling(frame.groupby("group")["run"].nunique())
    fits, repeated = {}, {}
    for group, rows in frame.groupby("group", sort=False):
        try:
            fits[group] = fit_data_constrained(*(rows[c].to_numpy() for c in (*inputs, "loss")), rows["run"].to_numpy(),
                                               group=group, bootstrap=bootstrap, seed=group_seed(seed, group),
                                               delta=delta, level=level, resampling=resampling)
        except ConfigError as e:
            raise e.at(runs.source) from None
        repeated[group] = int((rows["tokens"] > rows["unique_tokens"]).sum())
    return ConstrainedReport(runs.source, fits, repeated, runs.excluded)
