"""The numerics: Huber loss in log space, multi-start L-BFGS, and variable projection.

Objective (Hoffmann et al. 2022 App. D.2; Besiroglu et al. 2024):
    J(θ) = Σ_i w_i · Huber_δ(LSE(log E, log A_k − α_k·log x_ik) − log L_i)
Summed, not averaged: the mean shrinks J by 1/n and L-BFGS's relative stopping test then fires
early. The weights w_i are bootstrap counts (1 for a plain fit), so a resample never copies rows.
Everything is vectorized over points (and over starting points when screening the grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, nnls

from scalinglab.analysis.fitting.laws import EXPONENT_BOUNDS, Law, grid
from scalinglab.analysis.threads import single_threaded_blas

# L-BFGS-B's ftol test divides by max(|J|, 1); with J ≈ 1e-3 the default 2.2e-9 would stop at a
# relative change of ~1e-6 and miss the golden optimum in the fourth digit.
LBFGS_OPTIONS = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 20}


@dataclass(frozen=True, eq=False)
class Solution:
    """An optimum in θ space and how it was reached."""

    theta: np.ndarray
    objective: float
    converged: bool
    at_bound: bool
    """An exponent (or a further parameter) sits on its bound: the law does not describe these points."""
    n_starts: int


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """scipy.special.huber: ½r² inside δ, δ(|r| − ½δ) outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def objective(theta: np.ndarray, law: Law, log_x: np.ndarray, y: np.ndarray, w: np.ndarray, delta: float):
    """J(θ) and its gradient. log_x: (n, m) log inputs; y: (n,) log loss; w: (n,) weights."""
    z, jac = law.log_loss_and_jacobian(theta, log_x)
    r = z - y
    g = w * np.where(np.abs(r) <= delta, r, delta * np.sign(r))  # w · Huber'(r)
    return float(w @ huber(r, delta)), g @ jac


def screen(law: Law, thetas: np.ndarray, log_x: np.ndarray, y: np.ndarray, w: np.ndarray, delta: float) -> np.ndarray:
    """J at many starting points at once: (S, p) → (S,)."""
    out = np.empty(len(thetas))
    for lo in range(0, len(thetas), 512):  # chunks keep the (S, n, k+1) block small
        out[lo : lo + 512] = huber(law.log_loss(thetas[lo : lo + 512, None, :], log_x) - y, delta) @ w
    return out


def _at_bound(law: Law, theta: np.ndarray) -> bool:
    return any(lo is not None and (v <= lo + 1e-6 or v >= hi - 1e-6) for v, (lo, hi) in zip(theta, law.bounds))


def minimize_from(law: Law, theta0, log_x, y, w, delta: float) -> Solution:
    """One L-BFGS-B run (with the analytic gradient) from θ0.

    The optimizer sees log x centred on its mean c and log A_k shifted to log A_k − α_k·c_k (the
    term's size at the centre): the same model, but log A and α are no longer tied together by
    log x ≈ 20–40 (on the Chinchilla bootstrap: 31 iterations per refit instead of 54).
    """
    log_xc, center = law.centred(log_x)
    res = minimize(objective, law.recentred(theta0, center), args=(law, log_xc, y, w, delta), jac=True,
                   method="L-BFGS-B", bounds=law.bounds, options=LBFGS_OPTIONS)
    theta = law.recentred(res.x, -center)
    # An ABNORMAL line search at J's floor is L-BFGS's usual way to stop at ftol ≈ 0: the point is
    # a minimum to machine precision, so count it as converged when the gradient is small.
    ok = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-6
    return Solution(theta, float(res.fun), ok, _at_bound(law, theta), 1)


def fit_grid(law: Law, log_x, y, w=None, delta: float = 1e-3, max_starts: int | None = 8) -> Solution:
    """Multi-start L-BFGS from the law's grid; the best optimum wins.

    Every grid point is scored at once (cheap); L-BFGS then runs from the best start of each
    exponent combination plus the `max_starts` best overall (all starts when None), since a start
    far worse than its neighbours on the same exponents ends in the same basin or a worse one.
    On the Chinchilla points 27 such starts find the optimum that all 4,500 find (1 s instead of minutes).
    """
    w = np.ones_like(y) if w is None else w
    starts = law.starts(log_x, y)
    j0 = screen(law, starts, log_x, y, w, delta)
    if max_starts is None:
        picks = np.arange(len(starts))
    else:
        order = np.argsort(j0, kind="stable")
        _, first = np.unique(starts[order][:, law.n_terms + 1 : 2 * law.n_terms + 1], axis=0, return_index=True)
        picks = np.union1d(order[:max_starts], order[first])
    best = None
    with single_threaded_blas():
        for i in picks:
            sol = minimize_from(law, starts[i], log_x, y, w, delta)
            if best is None or sol.objective < best.objective:
                best = sol
    return Solution(best.theta, best.objective, best.converged, best.at_bound, len(picks))


def _project(law: Law, expo: np.ndarray, log_x, loss, sw) -> np.ndarray:
    """For fixed exponents the law is linear in (E, A_k): non-negative least squares on the
    relative residual (L̂ − L)/L ≈ log L̂ − log L, with columns scaled to unit norm."""
    m = np.column_stack([np.ones(len(loss)), np.exp(-expo * log_x)]) * (sw / loss)[:, None]
    scale = np.linalg.norm(m, axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(m / scale, sw)
    return coef / scale


def _theta_of(law: Law, coef: np.ndarray, expo: np.ndarray, loss: np.ndarray) -> np.ndarray:
    # A coefficient that NNLS sets to 0 becomes a tiny positive one so log space stays finite.
    floor = 1e-12 * float(np.median(loss))
    return np.concatenate([np.log(np.maximum(coef, floor)), expo])


def fit_varpro(law: Law, log_x, y, w=None, delta: float = 1e-3) -> Solution:
    """Variable projection: an outer search over the exponents only, (E, A_k) solved exactly.

    The outer problem has k ≤ 2 dimensions, so an exhaustive grid covers it and the answer no
    longer depends on where a local optimizer starts; Nelder–Mead refines the best grid cell and
    one L-BFGS run polishes the full Huber objective from there.
    """
    w = np.ones_like(y) if w is None else w
    loss, sw = np.exp(y), np.sqrt(w)
    k = law.n_terms
    axis = np.linspace(0.02, 1.5, 75) if k == 1 else np.linspace(0.05, 1.5, 30)
    cands = grid(*[axis] * k)

    def profile(expo: np.ndarray) -> float:
        expo = np.clip(expo, *EXPONENT_BOUNDS)
        theta = _theta_of(law, _project(law, expo, log_x, loss, sw), expo, loss)
        return objective(theta, law, log_x, y, w, delta)[0]

    with single_threaded_blas():
        j = np.array([profile(c) for c in cands])
        res = minimize(profile, cands[int(np.argmin(j))], method="Nelder-Mead",
                       options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 2000})
        expo = np.clip(res.x, *EXPONENT_BOUNDS)
        theta0 = _theta_of(law, _project(law, expo, log_x, loss, sw), expo, loss)
        sol = minimize_from(law, theta0, log_x, y, w, delta)
    return Solution(sol.theta, sol.objective, sol.converged, sol.at_bound, len(cands))
