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

Fitted like the other laws (analysis.optimize): Huber (δ = 1e-3) on log residuals, summed, in the
parameters θ = (log E, log A, log B, α, β, log R_D*, log R_N*), multi-start L-BFGS-B from a screened
grid, and a bootstrap by run (analysis.bootstrap.resample). The min() in U_N makes the objective
piecewise smooth (its gradient, analytic, jumps where a run's N crosses N_opt(U_D)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalinglab.analysis.fitting.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    REFIT_OPTIONS,
    RESAMPLINGS,
    Draws,
    group_seed,
    resample,
)
from scalinglab.analysis.fitting.fit import DEFAULT_DELTA, default_resampling
from scalinglab.analysis.fitting.optimize import EXPONENT_BOUNDS, LBFGS_OPTIONS, huber
from scalinglab.analysis.reading.table import Columns, select_runs
from scalinglab.analysis.serialize import jsonable
from scalinglab.analysis.threads import single_threaded_blas
from scalinglab.config import ConfigError
from scalinglab.config.numbers import check_numbers

PAPER_R_D_STAR = 15.387
PAPER_R_N_STAR = 5.309
"""Muennighoff et al. 2023's fitted values (their Eq. 7): the fallback for R_N* when no run here has
more parameters than its unique data is worth (then the data cannot say what R_N* is)."""
R_STAR_BOUNDS = (np.log(1e-2), np.log(1e4))
"""log R*: from 'a repeat is worth nothing' (R* → 0, D' = U_D) to 'as good as fresh' (R* → ∞, D' = D)."""
INPUTS = ("params", "tokens", "unique_tokens")
SCOUT_OPTIONS = {"maxiter": 60, "ftol": 1e-10, "gtol": 1e-8, "maxcor": 20}
FINISHED_STARTS = 3
"""Starts scouted for 60 L-BFGS iterations, then the 3 lowest finished: on planted truths the basin
of the optimum leads after a few dozen iterations, and full runs from ~30 starts cost 4× as much."""


@dataclass(frozen=True)
class DataConstrainedLaw:
    """What the CLI's parameter table and summary need to know of the law."""

    name: str = "data-constrained"
    formula: str = "L(N, D, U) = E + A/N'^alpha + B/D'^beta (Muennighoff et al. 2023)"
    param_names: tuple[str, ...] = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")

    @property
    def n_params(self) -> int:
        return len(self.param_names)


LAW = DataConstrainedLaw()


def _theta_to_params(theta: np.ndarray) -> np.ndarray:
    """(log E, log A, log B, α, β, log R_D*, log R_N*) → (E, A, B, α, β, R_D*, R_N*), row-wise."""
    t = np.asarray(theta, dtype=float)
    return np.concatenate([np.exp(t[..., :3]), t[..., 3:5], np.exp(t[..., 5:])], axis=-1)


def _params_to_theta(params: np.ndarray) -> np.ndarray:
    p = np.asarray(params, dtype=float)
    return np.concatenate([np.log(p[..., :3]), p[..., 3:5], np.log(p[..., 5:])], axis=-1)


def _log_effective(log_u: np.ndarray, r: np.ndarray, log_r_star: np.ndarray) -> np.ndarray:
    """log(U + U·R*·(1 − exp(−R/R*))) = log U + log1p(R*·(−expm1(−R/R*))), broadcast."""
    r_star = np.exp(log_r_star)
    return log_u + np.log1p(r_star * -np.expm1(-r / r_star))


def _repeats(log_x: np.ndarray, log_unique: np.ndarray) -> np.ndarray:
    """R = X/U − 1, capped at e^300: a far-off start of the optimizer (α → 0 sends N_opt to 0) then
    stays finite instead of turning the objective into inf − inf."""
    return np.expm1(np.minimum(log_x - log_unique, 300.0))


def log_inputs(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_u: np.ndarray):
    """(log N', log D', R_N, R_D) for parameter rows θ (..., 7) against points (n,) → (..., n) each."""
    th = np.asarray(theta, dtype=float)[..., None, :]
    log_ud = np.minimum(log_u, log_d)  # unique tokens seen: a run of less than an epoch saw D of them
    r_d = _repeats(log_d, log_ud)
    alpha, beta = np.maximum(th[..., 3], 1e-6), th[..., 4]
    # N_opt(U_D) in logs: (log α + log A − log β − log B)/α + (β/α)·log U_D.
    log_nopt = (np.log(alpha) + th[..., 1] - np.log(np.maximum(beta, 1e-6)) - th[..., 2]) / alpha + beta / alpha * log_ud
    log_un = np.minimum(log_n, log_nopt)
    r_n = _repeats(log_n, log_un)
    return (_log_effective(log_un, r_n, th[..., 6]), _log_effective(log_ud, r_d, th[..., 5]),
            np.broadcast_to(r_n, log_un.shape), np.broadcast_to(r_d, log_un.shape))


def log_loss(theta: np.ndarray, log_n, log_d, log_u) -> np.ndarray:
    """log L̂ = LSE(log E, log A − α·log N', log B − β·log D') for θ rows (..., 7) → (..., n)."""
    th = np.asarray(theta, dtype=float)
    log_np, log_dp, _, _ = log_inputs(th, log_n, log_d, log_u)
    th = th[..., None, :]
    return np.logaddexp(th[..., 0], np.logaddexp(th[..., 1] - th[..., 3] * log_np, th[..., 2] - th[..., 4] * log_dp))


def _objective(theta, log_n, log_d, log_u, y, w, delta) -> tuple[float, np.ndarray]:
    """J(θ) = Σ w·Huber(log L̂ − log L) and its gradient, for one θ (7,) against n points.

    With z = LSE(t0, t1, t2), t0 = log E, t1 = log A − α·log N', t2 = log B − β·log D' and p its
    softmax, dz/dθ follows the chain through N' and D'. Where N exceeds N_opt(U_D), log N' depends on
    log N_opt with slope c = 1 − e^(−x)(1 + R_N)/(1 + g) (x = R_N/R_N*, g = R_N*(1 − e^(−x))), and
    log N_opt = K/α + (β/α)·log U_D with K = log α + log A − log β − log B.
    """
    e, a, b, alpha, beta, rd, rn = theta
    alpha, beta = max(alpha, 1e-6), max(beta, 1e-6)
    log_ud = np.minimum(log_u, log_d)
    k = np.log(alpha) + a - np.log(beta) - b
    log_nopt = k / alpha + beta / alpha * log_ud
    excess = log_n > log_nopt
    log_un = np.where(excess, log_nopt, log_n)

    def effective(log_x, log_ux, log_r_star):
        r, r_star = _repeats(log_x, log_ux), np.exp(log_r_star)
        x = r / r_star
        em = np.exp(-x)
        g = r_star * -np.expm1(-x)
        return log_ux + np.log1p(g), r, em, g, r_star * (-np.expm1(-x) - x * em) / (1 + g)

    log_np, r_n, em_n, g_n, dn_drn = effective(log_n, log_un, rn)
    log_dp, _, _, _, dd_drd = effective(log_d, log_ud, rd)
    t = np.stack([np.full_like(log_np, e), a - alpha * log_np, b - beta * log_dp])
    z = np.logaddexp(t[0], np.logaddexp(t[1], t[2]))
    p0, p1, p2 = np.exp(t - z)
    r = z - y
    inside = np.abs(r) <= delta
    f = w @ np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    h = w * np.where(inside, r, delta * np.sign(r))  # w · Huber'(r)
    c = np.where(excess, 1 - em_n * (1 + r_n) / (1 + g_n), 0.0)
    dz = np.stack([p0, p1 * (1 - c), p2 + p1 * c,
                   p1 * (-log_np - c * (1 - k - beta * log_ud) / alpha),
                   -p2 * log_dp - p1 * c * (log_ud - 1 / beta),
                   -beta * p2 * dd_drd, -alpha * p1 * dn_drn])
    return float(f), dz @ h


def _start_grid() -> np.ndarray:
    """Hoffmann et al. 2022's grid (App. D.2) for (log E, log A, log B, α, β), crossed with R* starts."""
    e = np.arange(-1.0, 1.5, 0.5)
    a = np.arange(0.0, 30.0, 5.0)
    expo = np.arange(0.0, 2.5, 0.5)
    r_d = np.log([1.0, 5.0, 15.0, 50.0])
    r_n = np.log([1.0, 5.0, 20.0])
    g = np.meshgrid(e, a, a, expo, expo, r_d, r_n, indexing="ij")
    return np.stack([x.ravel() for x in g], axis=1)


def _bounds() -> list[tuple[float | None, float | None]]:
    return [(None, None)] * 3 + [EXPONENT_BOUNDS] * 2 + [R_STAR_BOUNDS] * 2


def _at_bound(theta: np.ndarray) -> bool:
    return any(v <= lo + 1e-6 or v >= hi - 1e-6 for v, (lo, hi) in zip(theta[3:], _bounds()[3:]))


def _minimize(theta0, args, options) -> tuple[np.ndarray, float, bool]:
    res = minimize(_objective, theta0, args=args, jac=True, method="L-BFGS-B", bounds=_bounds(), options=options)
    # An ABNORMAL line search at J's floor is L-BFGS's usual way to stop at ftol ≈ 0 (as in
    # analysis.optimize): a small gradient is convergence all the same.
    return res.x, float(res.fun), bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-6


def _fit_theta(log_n, log_d, log_u, y, w, delta, max_starts: int = 8) -> tuple[np.ndarray, float, bool]:
    """Screen the start grid at once, then L-BFGS from the best start of each exponent pair and the
    `max_starts` best overall (as analysis.optimize.fit_grid)."""
    grid = _start_grid()
    j0 = np.concatenate([huber(log_loss(grid[i : i + 2048], log_n, log_d, log_u) - y, delta) @ w
                         for i in range(0, len(grid), 2048)])
    order = np.argsort(j0, kind="stable")
    _, first = np.unique(grid[order][:, 3:5], axis=0, return_index=True)
    picks = np.union1d(order[:max_starts], order[first])
    args = (log_n, log_d, log_u, y, w, delta)
    with single_threaded_blas():
        # A short run from every start ranks the basins; only the best few are followed to the bottom.
        rough = sorted((_minimize(grid[i], args, SCOUT_OPTIONS) for i in picks), key=lambda found: found[1])
        best = min((_minimize(found[0], args, LBFGS_OPTIONS) for found in rough[:FINISHED_STARTS]),
                   key=lambda found: found[1])
    return best[0], best[1], best[2]


@dataclass(frozen=True, eq=False)
class ConstrainedFit:
    """The data-constrained law fitted to one group's points. status: ok | boundary | not_converged | exact."""

    group: str
    params: dict[str, float]
    objective: float
    status: str
    delta: float
    n_points: int
    n_runs: int
    n_repeated: int
    """Points that repeat data (D > U): what R_D* is measured on."""
    identified: dict[str, bool]
    """R_N_star is identified only when some point has more parameters than its unique data is
    worth (N > N_opt(U_D)); otherwise it is Muennighoff et al.'s value, marked here as not fitted."""
    data_range: dict[str, tuple[float, float]]
    residuals: np.ndarray
    """log L̂ − log L per point."""
    draws: Draws | None = None
    level: float = DEFAULT_LEVEL
    resampling: str = "residuals"
    law: DataConstrainedLaw = LAW
    shared: tuple[str, ...] = ()
    """Nothing is shared with another arm (the CLI's parameter table reads it)."""

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.params[n] for n in LAW.param_names])

    def predict(self, params, tokens, unique_tokens) -> np.ndarray:
        """Loss at N non-embedding parameters, D training tokens, of which `unique_tokens` unique; arrays broadcast."""
        n, d, u = (np.log(a) for a in np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in
                                                              (params, tokens, unique_tokens))))
        return np.exp(log_loss(_params_to_theta(self.vector), n.ravel(), d.ravel(), u.ravel()))

    def effective(self, params, tokens, unique_tokens) -> tuple[np.ndarray, np.ndarray]:
        """(N', D'): the fresh-data-equivalent parameters and tokens of these runs."""
        n, d, u = (np.log(np.atleast_1d(np.asarray(v, float))) for v in (params, tokens, unique_tokens))
        log_np, log_dp, _, _ = log_inputs(_params_to_theta(self.vector), *np.broadcast_arrays(n, d, u))
        return np.exp(log_np), np.exp(log_dp)

    def interval(self, name: str, level: float | None = None) -> tuple[float, float]:
        if self.draws is None or not self.identified.get(name, True):
            return (float("nan"), float("nan"))
        return self.draws.interval(LAW.param_names.index(name), self.level if level is None else level)

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        return {n: self.interval(n, level) for n in LAW.param_names}

    def to_dict(self) -> dict:
        boot = self.draws
        return jsonable({
            "group": self.group, "law": LAW.name, "formula": LAW.formula, "status": self.status,
            "params": self.params, "intervals": self.intervals(), "level": self.level, "identified": self.identified,
            "objective": self.objective, "delta": self.delta, "n_points": self.n_points, "n_runs": self.n_runs,
            "n_repeated": self.n_repeated, "data_range": self.data_range,
            "bootstrap": None if boot is None else {"resamples": boot.n_resamples, "failed": boot.n_failed,
                                                    "seed": boot.seed, "resampling": self.resampling},
        })


def fit_data_constrained(params, tokens, unique_tokens, loss, runs=None, *, group: str = "all",
                         bootstrap: int = DEFAULT_RESAMPLES, seed: int | tuple = 0, delta: float = DEFAULT_DELTA,
                         level: float = DEFAULT_LEVEL, resampling: str = "residuals") -> ConstrainedFit:
    """Fit the law to points (N, D, U, loss); `runs` labels rows by run (the unit of the bootstrap)."""
    n, d, u, loss = (np.asarray(v, dtype=float) for v in (params, tokens, unique_tokens, loss))
    if resampling not in RESAMPLINGS:
        raise ConfigError(f"unknown choice '{resampling}' (choose from {', '.join(RESAMPLINGS)})", option="resample")
    log_n, log_d, log_u, y = np.log(n), np.log(d), np.log(u), np.log(loss)
    repeated = int(np.sum(d > u))
    if not repeated:
        raise ConfigError(f"group '{group}': no row repeats data (tokens ≤ unique tokens in every row), so the worth "
                          f"of a repetition (R_D*) cannot be measured; fit the params-tokens law instead")
    distinct = len(np.unique(np.round(np.column_stack([log_n, log_d, np.minimum(log_u, log_d)]), 9), axis=0))
    if distinct < LAW.n_params:
        raise ConfigError(f"group '{group}': {distinct} distinct (N, D, U) points, fewer than the {LAW.n_params} "
                          f"parameters of the data-constrained law")
    codes = np.unique(np.arange(len(y)) if runs is None else np.asarray(runs), return_inverse=True)[1]
    w = np.ones_like(y)
    theta, objective, converged = _fit_theta(log_n, log_d, log_u, y, w, delta)
    r_n = log_inputs(theta, log_n, log_d, log_u)[2]
    identified = {"R_D_star": True, "R_N_star": bool(np.any(r_n > 1e-9))}
    if not identified["R_N_star"]:
        theta[6] = np.log(PAPER_R_N_STAR)  # no excess parameters: R_N* changes no prediction here
    exact = distinct == LAW.n_params
    boot = None if exact or bootstrap <= 0 else _bootstrap(theta, log_n, log_d, log_u, y, codes, bootstrap, seed,
                                                           delta, resampling)
    status = ("exact" if exact else "boundary" if _at_bound(theta) else "ok" if converged else "not_converged")
    values = _theta_to_params(theta)
    return ConstrainedFit(
        group, dict(zip(LAW.param_names, map(float, values))), objective, status, delta, len(y), int(codes.max()) + 1,
        repeated, identified,
        {name: (float(v.min()), float(v.max())) for name, v in zip(INPUTS, (n, d, u))},
        log_loss(theta, log_n, log_d, log_u) - y, boot, level, resampling)


def _bootstrap(theta, log_n, log_d, log_u, y, codes, n, seed, delta, kind) -> Draws | None:
    """Refit `n` resamples warm-started from θ̂ (runs, or residuals by run: analysis.bootstrap)."""
    if kind == "residuals" and int(codes.max()) + 1 <= LAW.n_params:
        return None
    fitted = log_loss(theta, log_n, log_d, log_u)
    rng = np.random.default_rng(seed)
    rows, failed = [], 0
    with single_threaded_blas():
        for _ in range(n):
            y_star, w = resample(kind, fitted, y - fitted, codes, LAW.n_params, rng)
            args = (log_n, log_d, log_u, y if y_star is None else y_star, np.ones_like(y) if w is None else w, delta)
            found, _, ok = _minimize(theta, args, REFIT_OPTIONS)
            if ok and not _at_bound(found) and np.all(np.isfinite(found)):
                rows.append(_theta_to_params(found))
            else:
                failed += 1
    return Draws(np.array(rows) if rows else np.empty((0, LAW.n_params)), n, failed, seed)


@dataclass(frozen=True, eq=False)
class ConstrainedReport:
    """The law fitted to every group of a table, and the rows left out."""

    source: str
    fits: dict[str, ConstrainedFit]
    excluded: dict[str, int] = field(default_factory=dict)
    law: DataConstrainedLaw = LAW

    def to_dict(self) -> dict:
        return jsonable({"source": self.source, "law": LAW.name, "formula": LAW.formula, "excluded": self.excluded,
                         "fits": [f.to_dict() for f in self.fits.values()]})


def fit_table(df: pd.DataFrame, *, columns: Columns | None = None, bootstrap: int = DEFAULT_RESAMPLES, seed: int = 0,
              delta: float = DEFAULT_DELTA, level: float = DEFAULT_LEVEL,
              resampling: str | None = None) -> ConstrainedReport:
    """Fit the data-constrained law to each group of a table with params, tokens, unique_tokens and loss
    columns, every row a point (checkpoints included, as for L(N, D))."""
    check_numbers(bootstrap=bootstrap, seed=seed, delta=delta, level=level)
    runs = select_runs(df, columns, need=(*INPUTS, "loss"), checkpoints="all")
    frame = runs.frame
    resampling = resampling or default_resampling(frame.groupby("group")["run"].nunique())
    fits = {}
    for group, rows in frame.groupby("group", sort=False):
        try:
            fits[group] = fit_data_constrained(*(rows[c].to_numpy() for c in (*INPUTS, "loss")), rows["run"].to_numpy(),
                                               group=group, bootstrap=bootstrap, seed=group_seed(seed, group),
                                               delta=delta, level=level, resampling=resampling)
        except ConfigError as e:
            raise e.at(runs.source) from None
    return ConstrainedReport(runs.source, fits, runs.excluded)
